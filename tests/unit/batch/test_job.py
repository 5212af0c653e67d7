"""A whole batch job in this process: counts, values, `_errors`, formats, flags."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest

from crosscloud import errors
from crosscloud.batch import inprocess, job, progress, unit

ECHO = "examples/echo/service.py:Echo.echo"
SERVICES = str(Path(__file__).with_name("services.py"))


def run(target: str, inputs: list[Path], output: Path, **kw: object) -> job.Summary:
    spec = job.JobSpec(target=target, inputs=tuple(map(str, inputs)), output=str(output), **kw)  # type: ignore[arg-type]
    return job.run(spec, inprocess.InProcessEngine(), progress.Silent())


def test_echo_keeps_columns_adds_result_and_sends_bad_rows_to_errors(
    texts: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out.parquet"
    summary = run(ECHO, [texts], out)
    table = pq.read_table(out).sort_by("id")
    assert table.column_names == ["id", "text", "echo"]
    assert table.num_rows == 99
    assert table.column("echo").to_pylist() == table.column("text").to_pylist()
    bad = pq.read_table(out / "_errors")
    assert bad.column("id").to_pylist() == [13]
    assert bad.column("_row").to_pylist() == [13]
    assert bad.column("_error")[0].as_py().startswith("text: Input should be a valid string")
    assert (summary.rows, summary.ok, summary.errors) == (100, 99, 1)
    assert json.loads((out / "_SUCCESS").read_text())["rows"] == 100
    assert not Path(f"{out}.partial").exists()


def test_batch_failure_is_retried_row_by_row(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"t": t}) + "\n" for t in ["a", "b", "boom", "c", "d"]))
    out = tmp_path / "out.jsonl"
    summary = run(f"{SERVICES}:Upper.upper", [src], out, columns=(("texts", "t"),))
    rows = [
        json.loads(line) for p in sorted(out.glob("part-*")) for line in p.read_text().splitlines()
    ]
    assert sorted(r["upper"] for r in rows) == ["A", "B", "C", "D"]
    errs = [
        json.loads(line) for p in (out / "_errors").glob("*") for line in p.read_text().splitlines()
    ]
    assert [(e["t"], e["_error"]) for e in errs] == [("boom", "ValueError: cannot shout boom")]
    assert summary.ok + summary.errors == 5


def test_wrong_result_count_and_type_are_row_errors(tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    src.write_text("text\nx\nlie\nabc\n")
    short = run(
        f"{SERVICES}:Upper.short", [src], tmp_path / "a.parquet", columns=(("texts", "text"),)
    )
    assert (short.ok, short.errors) == (0, 3)
    length = run(f"{SERVICES}:Upper.length", [src], tmp_path / "b.csv")
    assert (length.ok, length.errors) == (2, 1)
    got = pa_csv.read_csv(next((tmp_path / "b.csv").glob("part-*")))
    assert got.column("length").to_pylist() == [1, 3]
    err = pa_csv.read_csv(next((tmp_path / "b.csv" / "_errors").glob("part-*")))
    assert "result does not fit" in err.column("_error")[0].as_py()


def test_async_endpoint_and_coercion_from_strings(tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    src.write_text("n\n1\n2\n3\n")
    summary = run(f"{SERVICES}:Upper.double", [src], tmp_path / "o.parquet")
    assert sorted(pq.read_table(tmp_path / "o.parquet").column("double").to_pylist()) == [2, 4, 6]
    assert summary.errors == 0


def test_folder_and_glob_inputs_cover_every_file_once(texts: Path, tmp_path: Path) -> None:
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(3):
        pq.write_table(pa.table({"text": [f"{i}-{j}" for j in range(7)]}), folder / f"p{i}.parquet")
    (folder / "_ignored.parquet").write_text("not parquet")
    by_folder = run(ECHO, [folder], tmp_path / "a.parquet")
    by_glob = run(ECHO, [folder / "p*.parquet"], tmp_path / "b.parquet")
    assert by_folder.rows == by_glob.rows == 21
    assert sorted(pq.read_table(tmp_path / "a.parquet").column("echo").to_pylist()) == sorted(
        f"{i}-{j}" for i in range(3) for j in range(7)
    )


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"columns": (("nope", "text"),)}, "has no parameter 'nope'"),
        ({"columns": (("text", "missing"),)}, "has no column 'missing'"),
        ({"keep": ("id", "zzz")}, "--keep 'zzz'"),
        ({"result_column": "id"}, "would replace the input column"),
    ],
)
def test_bad_flags_name_the_problem(
    texts: Path, tmp_path: Path, kw: dict[str, object], message: str
) -> None:
    with pytest.raises(errors.UserError, match=message):
        run(ECHO, [texts], tmp_path / "o.parquet", **kw)
    assert not (tmp_path / "o.parquet").exists()


def test_existing_output_needs_overwrite(texts: Path, tmp_path: Path) -> None:
    out = tmp_path / "o.parquet"
    run(ECHO, [texts], out)
    with pytest.raises(errors.UserError, match="already exists"):
        run(ECHO, [texts], out)
    again = run(ECHO, [texts], out, overwrite=True, keep=("id",))
    assert again.rows == 100
    assert pq.read_table(out).column_names == ["id", "echo"]
    done = run(ECHO, [texts], out, resume=True)
    assert done.already_complete


def test_max_errors_stops_without_committing(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"text": None}) + "\n" for _ in range(50)))
    with pytest.raises(errors.PermanentError, match="more than --max-errors 5"):
        run(ECHO, [src], tmp_path / "o.parquet", max_errors=5)
    assert not (tmp_path / "o.parquet").exists()


def test_results_stay_with_their_rows_across_conversions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(unit, "CONVERT_ROWS", 6)  # several conversions, not batch-aligned
    texts = ["boom" if i % 7 == 3 else "lie" if i % 5 == 1 else f"t{i}" for i in range(40)]
    src = tmp_path / "in.parquet"
    pq.write_table(pa.table({"id": list(range(40)), "text": texts}), src)
    out = tmp_path / "o.parquet"
    summary = run(f"{SERVICES}:Upper.mixed", [src], out, columns=(("texts", "text"),))
    table = pq.read_table(out).sort_by("id")
    good = [i for i, t in enumerate(texts) if t not in ("boom", "lie")]
    assert table.column("id").to_pylist() == good
    assert table.column("mixed").to_pylist() == [texts[i].upper() for i in good]
    bad = pq.read_table(out / "_errors").sort_by("id")
    assert bad.column("id").to_pylist() == [i for i in range(40) if i not in good]
    ids, why = bad.column("id").to_pylist(), bad.column("_error").to_pylist()
    reasons = dict(zip(ids, why, strict=True))
    assert reasons[3] == "ValueError: cannot shout boom"
    assert reasons[1].startswith("result does not fit the declared type")
    assert (summary.rows, summary.ok, summary.errors) == (40, len(good), 40 - len(good))
