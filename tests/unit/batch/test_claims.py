"""Tasks share a run's units through claims: every unit goes to exactly one task, a retried
attempt of a task gets its own units back, and a stop ends all claiming."""

from __future__ import annotations

from pathlib import Path

import pytest

from crosscloud.batch import claims, dataset, plan, sink
from crosscloud.batch.unit import Unit


def units(count: int) -> list[Unit]:
    file = dataset.InputFile("/f", "parquet", count * 10, 1, 1, ("x",))
    return plan.split([file], parallelism=count, batch_size=10)[:count]


@pytest.mark.parametrize(("count", "tasks"), [(8, 2), (7, 3), (2, 2), (1, 1), (5, 1)])
def test_blocks_cover_every_unit_once_in_order(count: int, tasks: int) -> None:
    parts = claims.blocks(units(count), tasks)
    assert len(parts) == tasks
    assert [u.index for block in parts for u in block] == list(range(count))
    assert max(map(len, parts)) - min(map(len, parts)) <= 1


def test_order_is_own_block_then_others_from_their_far_end() -> None:
    parts = claims.blocks(units(8), 2)
    assert [u.index for u in claims.order(parts, 0)] == [0, 1, 2, 3, 7, 6, 5, 4]
    assert [u.index for u in claims.order(parts, 1)] == [4, 5, 6, 7, 3, 2, 1, 0]


def test_each_unit_goes_to_one_task(tmp_path: Path) -> None:
    parts = claims.blocks(units(8), 2)
    a, b = claims.Claims(tmp_path, 0), claims.Claims(tmp_path, 1)
    ran: dict[int, list[int]] = {0: [], 1: []}
    orders = {0: claims.order(parts, 0), 1: claims.order(parts, 1)}
    for step in range(8):  # the two tasks take turns, as if running side by side
        for owner, mine in ((0, a), (1, b)):
            unit = orders[owner][step]
            if mine.take(unit.index):
                ran[owner].append(unit.index)
    assert sorted(ran[0] + ran[1]) == list(range(8))
    assert ran == {0: [0, 1, 2, 3], 1: [4, 5, 6, 7]}
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())  # no temp files left


def test_a_retried_attempt_takes_back_its_own_claims(tmp_path: Path) -> None:
    assert claims.Claims(tmp_path, 3).take(5)
    assert claims.Claims(tmp_path, 3).take(5)  # the retry of task 3
    assert not claims.Claims(tmp_path, 4).take(5)


def test_stop_ends_claiming_for_every_task(tmp_path: Path) -> None:
    first = claims.Claims(tmp_path, 0)
    assert first.take(0)
    first.stop()
    assert not claims.Claims(tmp_path, 1).take(1)
    assert not first.take(2)


def test_claims_live_in_the_work_folders_metadata(tmp_path: Path) -> None:
    assert claims.folder(tmp_path, "ab12") == tmp_path / "_crosscloud" / "claims-ab12"


def test_commit_leaves_no_claims_of_a_killed_run_in_the_output(tmp_path: Path) -> None:
    work = sink.WorkDir(tmp_path / "o.parquet.partial", "parquet")
    work.create()
    claims.Claims(claims.folder(work.path, "dead"), 0).path.mkdir()
    assert claims.Claims(claims.folder(work.path, "dead"), 0).take(0)
    work.commit(tmp_path / "o.parquet", {"rows": 0}, overwrite=False)
    assert not list((tmp_path / "o.parquet" / "_crosscloud").glob("claims-*"))
