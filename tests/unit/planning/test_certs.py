"""Table tests for certificate renewal and root rotation decisions (planning/certs.py)."""

from __future__ import annotations

import pytest

from crosscloud.planning import certs
from crosscloud.planning.certs import LeafInfo, RootInfo

DAY = 24 * 3600.0
ID = "spiffe://crosscloud.local/dep/svc"


@pytest.mark.parametrize(
    ("now", "due"),
    [
        (0.0, False),
        (DAY * 0.49, False),
        (DAY * 0.5, True),  # half its life: renew (Istio renews at about half too)
        (DAY * 0.9, True),
        (DAY * 2, True),  # expired
    ],
)
def test_renewal_due_at_half_life(now: float, due: bool) -> None:
    leaf = LeafInfo(not_before=0.0, not_after=DAY, issuer="r1", identity=ID)
    assert certs.renewal_due(leaf, now=now) is due


@pytest.mark.parametrize(
    ("roots", "now", "signer", "trusted"),
    [
        ([RootInfo("r1", 0)], 5, "r1", ["r1"]),
        # a rotation: r2 trusted at once, signs only from 10, r1 trusted until 100
        ([RootInfo("r1", 0, 100), RootInfo("r2", 10)], 5, "r1", ["r1", "r2"]),
        ([RootInfo("r1", 0, 100), RootInfo("r2", 10)], 10, "r2", ["r1", "r2"]),
        ([RootInfo("r1", 0, 100), RootInfo("r2", 10)], 100, "r2", ["r2"]),
        # two active at the same moment: the one added last signs
        ([RootInfo("r1", 0, 100), RootInfo("r2", 0)], 0, "r2", ["r1", "r2"]),
        ([RootInfo("r1", 0, 1)], 2, None, []),
    ],
)
def test_signer_and_trust_bundle(
    roots: list[RootInfo], now: float, signer: str | None, trusted: list[str]
) -> None:
    found = certs.signer(roots, now=now)
    assert (found.id if found else None) == signer
    assert [r.id for r in certs.trusted(roots, now=now)] == trusted


@pytest.mark.parametrize(
    ("leaf", "now", "needed"),
    [
        (None, 0, True),
        (LeafInfo(0, DAY, "r1", ID), 1, False),
        (LeafInfo(0, DAY, "r1", ID + "x"), 1, True),  # another identity
        (LeafInfo(0, DAY, "r1", ID), DAY * 0.6, True),  # half-life
        (LeafInfo(0, DAY, "r0", ID), 1, True),  # signed by a root that no longer signs
    ],
)
def test_needs_leaf(leaf: LeafInfo | None, now: float, needed: bool) -> None:
    roots = [RootInfo("r0", 0, 1000), RootInfo("r1", 0)]
    assert certs.needs_leaf(leaf, identity=ID, roots=roots, now=now) is needed


def test_rotated_keeps_old_root_through_the_overlap() -> None:
    roots = [RootInfo("r1", 0)]
    after = certs.rotated(roots, "r2", now=50, propagation=5, overlap=60)
    assert after == [RootInfo("r1", 0, 115), RootInfo("r2", 55)]
    assert certs.signer(after, now=54).id == "r1"  # type: ignore[union-attr]
    assert certs.signer(after, now=55).id == "r2"  # type: ignore[union-attr]
    # a second rotation drops roots already retired and keeps the others' end
    again = certs.rotated(after, "r3", now=200, propagation=5, overlap=60)
    assert again == [RootInfo("r2", 55, 265), RootInfo("r3", 205)]
