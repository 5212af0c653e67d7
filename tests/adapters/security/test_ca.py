"""The CA: files 0600 in a 0700 directory, leaves that OpenSSL verifies against the trust
bundle with the SPIFFE URI SAN and a 24 h life, rotation, import of a company CA, and the
`crosscloud ca` command."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cryptography import x509

from crosscloud.adapters.security import ca as camod
from crosscloud.adapters.security import files
from crosscloud.domain import identity

pytestmark = pytest.mark.timeout(60)
ID = "spiffe://crosscloud.local/demo/embedder"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _verify(tmp: Path, bundle: bytes, leaf: camod.Leaf) -> subprocess.CompletedProcess[str]:
    (tmp / "bundle.pem").write_bytes(bundle)
    (tmp / "leaf.pem").write_bytes(leaf.cert_pem)
    return subprocess.run(
        ["openssl", "verify", "-CAfile", str(tmp / "bundle.pem"), str(tmp / "leaf.pem")],
        capture_output=True,
        text=True,
        check=False,
    )


def test_created_root_is_private(tmp_path: Path) -> None:
    authority = camod.Authority.open(tmp_path / "ca", now=time.time())
    assert _mode(tmp_path / "ca") == 0o700
    written = sorted(p.name for p in (tmp_path / "ca").iterdir() if not p.name.startswith("."))
    root = authority.roots[0].id
    assert written == sorted([f"{root}.crt", f"{root}.key", "roots.json"])
    for path in (tmp_path / "ca").iterdir():
        assert _mode(path) == 0o600, path
    assert json.loads((tmp_path / "ca" / "roots.json").read_text())["trustDomain"] == (
        identity.DEFAULT_TRUST_DOMAIN
    )
    # opening again reads the same CA, never a new one
    again = camod.Authority.open(tmp_path / "ca", now=time.time())
    assert [r.id for r in again.roots] == [root]


def test_leaf_has_spiffe_san_24h_and_verifies(tmp_path: Path) -> None:
    now = time.time()
    authority = camod.Authority.open(tmp_path / "ca", now=now)
    leaf = authority.issue(ID, now=now)
    cert = x509.load_pem_x509_certificate(leaf.cert_pem)
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.UniformResourceIdentifier) == [ID]
    life = cert.not_valid_after_utc.timestamp() - now
    assert 24 * 3600 - 5 <= life <= 24 * 3600 + 5
    assert leaf.info == camod.leaf_info(leaf.pem)
    assert leaf.info is not None and leaf.info.issuer == authority.roots[0].id
    result = _verify(tmp_path, authority.bundle_pem(now=now), leaf)
    assert result.returncode == 0, result.stdout + result.stderr


def test_leaf_from_another_ca_does_not_verify(tmp_path: Path) -> None:
    now = time.time()
    mine = camod.Authority.open(tmp_path / "a", now=now)
    theirs = camod.Authority.open(tmp_path / "b", now=now)
    result = _verify(tmp_path, mine.bundle_pem(now=now), theirs.issue(ID, now=now))
    assert result.returncode != 0


def test_rotation_trusts_both_then_signs_with_the_new(tmp_path: Path) -> None:
    now = time.time()
    authority = camod.Authority.open(tmp_path / "ca", now=now)
    old_leaf = authority.issue(ID, now=now)
    new_root = authority.rotate(now=now, propagation=5, overlap=60)
    bundle = authority.bundle_pem(now=now + 1)
    assert bundle.count(b"BEGIN CERTIFICATE") == 2
    assert authority.issue(ID, now=now + 1).info.issuer != new_root.id  # not signing yet
    new_leaf = authority.issue(ID, now=now + 6)
    assert new_leaf.info.issuer == new_root.id
    for leaf in (old_leaf, new_leaf):  # during the overlap both verify
        assert _verify(tmp_path, authority.bundle_pem(now=now + 6), leaf).returncode == 0
    after = authority.bundle_pem(now=now + 66)  # overlap over: only the new root
    assert after.count(b"BEGIN CERTIFICATE") == 1
    assert _verify(tmp_path, after, old_leaf).returncode != 0
    assert _verify(tmp_path, after, new_leaf).returncode == 0
    # another process (the control plane) reads the same schedule
    seen = camod.Authority.read(tmp_path / "ca")
    assert seen is not None and seen.roots == authority.roots


def test_import_company_ca_and_refusals(tmp_path: Path) -> None:
    now = time.time()
    company = camod.Authority.open(tmp_path / "company", now=now)
    root_id = company.roots[0].id
    cert_pem = (tmp_path / "company" / f"{root_id}.crt").read_bytes()
    key_pem = (tmp_path / "company" / f"{root_id}.key").read_bytes()
    mine = camod.Authority.open(tmp_path / "ca", now=now)
    added = mine.import_root(cert_pem, key_pem, now=now, propagation=0, overlap=0)
    assert added.id == root_id
    leaf = mine.issue(ID, now=now + 1)
    assert leaf.info.issuer == root_id
    (tmp_path / "company.pem").write_bytes(company.bundle_pem(now=now))
    assert _verify(tmp_path, company.bundle_pem(now=now), leaf).returncode == 0
    assert _mode(tmp_path / "ca" / f"{root_id}.key") == 0o600
    other = camod.Authority.open(tmp_path / "other", now=now)
    other_key = (tmp_path / "other" / f"{other.roots[0].id}.key").read_bytes()
    with pytest.raises(Exception, match="does not belong"):
        mine.import_root(cert_pem, other_key, now=now, propagation=0, overlap=0)
    with pytest.raises(Exception, match="not a CA"):
        mine.import_root(leaf.cert_pem, leaf.key_pem, now=now, propagation=0, overlap=0)
    with pytest.raises(Exception, match="already"):
        mine.import_root(cert_pem, key_pem, now=now, propagation=0, overlap=0)


def test_write_private_replaces_whole_and_0600(tmp_path: Path) -> None:
    target = tmp_path / "d" / "x.pem"
    files.write_private(target, b"one")
    files.write_private(target, b"two")
    assert target.read_bytes() == b"two"
    assert _mode(target) == 0o600
    assert _mode(target.parent) == 0o700
    assert files.write_if_changed(target, b"two") is False
    assert os.listdir(target.parent) == ["x.pem"]


def _cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CROSSCLOUD_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "crosscloud.cli.main", "ca", *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


def test_ca_command_show_rotate_import(tmp_path: Path) -> None:
    home = tmp_path / "home"
    missing = _cli(home, "show")
    assert missing.returncode == 2 and "no CA" in missing.stderr
    rotated = _cli(home, "rotate", "--propagation", "0s", "--overlap", "10m")
    assert rotated.returncode == 0, rotated.stderr
    shown = json.loads(_cli(home, "show", "-o", "json").stdout)
    assert shown["trustDomain"] == identity.DEFAULT_TRUST_DOMAIN
    statuses = [r["status"] for r in shown["roots"]]
    assert statuses[1] == "signing" and statuses[0].startswith("trusted until"), statuses
    bad = _cli(home, "rotate", "--overlap", "soon")
    assert bad.returncode == 2 and "not a duration" in bad.stderr
    company = camod.Authority.open(tmp_path / "company", now=time.time())
    rid = company.roots[0].id
    imported = _cli(
        home,
        "import",
        "--cert",
        str(tmp_path / "company" / f"{rid}.crt"),
        "--key",
        str(tmp_path / "company" / f"{rid}.key"),
        "--propagation",
        "0s",
    )
    assert imported.returncode == 0, imported.stderr
    table = _cli(home, "show").stdout
    assert f"root {rid}  signing" in table
    assert "BEGIN" not in table + imported.stderr  # no key material printed
