"""Parsing price catalog CSV text: good rows become CatalogRows, every bad line is reported
with file:line:column, the column and what is allowed."""

from __future__ import annotations

from datetime import date

import pytest

from crosscloud import errors
from crosscloud.domain import catalog

HEADER = "provider,region,instance_type,accelerator,accelerator_count,vcpus,memory_gib,price_hour"


def test_parses_rows_normalizing_names() -> None:
    text = (
        "# a comment\n"
        f"{HEADER},spot_price_hour,read_on\n"
        "AWS,us-east-1,g4dn.xlarge,t4,1,4,16,0.526,0.18,2026-11-27\n"
        "Google,us-central1,e2-standard-4,,0,4,16,0.134,,\n"
    )
    gpu, cpu = catalog.parse_catalog(text, "c.csv")
    assert gpu == catalog.CatalogRow(
        "aws", "us-east-1", "g4dn.xlarge", "T4", 1, 4.0, 16.0, 0.526, 0.18, date(2026, 11, 27)
    )
    assert (cpu.provider, cpu.accelerator, cpu.spot_price_hour, cpu.read_on) == (
        "gcp",
        None,
        None,
        None,
    )
    assert cpu.memory_bytes == 16 * 2**30


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            "oracle,r,t,,0,4,16,1",
            "c.csv:2:1 provider: unknown provider 'oracle' (allowed: aws, azure, gcp, local)",
        ),
        ("aws,r,t,,0,4,16,cheap", "c.csv:2:17 price_hour: 'cheap' is not a number"),
        ("aws,r,t,,0,0,16,1", "c.csv:2:12 vcpus: '0' must be more than 0"),
        (
            "aws,r,t,A100x,1,4,16,1",
            "c.csv:2:9 accelerator: unknown accelerator 'A100x'; did you mean 'A100'?",
        ),
        ("aws,r,t,T4,0,4,16,1", "c.csv:2:1 accelerator_count: accelerator T4 needs"),
        ("aws,r,t,,2,4,16,1", "c.csv:2:1 accelerator_count: 2 accelerators given"),
        ("aws,r,t,,0,4,16", "c.csv:2:1 has 7 fields, the header has 8"),
        ("aws,r,t,,0,4,-16,1", "c.csv:2:14 memory_gib: '-16' must be a finite number >= 0"),
    ],
)
def test_bad_rows_name_file_line_and_column(line: str, expected: str) -> None:
    with pytest.raises(errors.ManifestError) as caught:
        catalog.parse_catalog(f"{HEADER}\n{line}\n", "c.csv")
    assert str(caught.value).startswith(expected)


def test_every_bad_line_is_reported_together() -> None:
    text = f"{HEADER}\naws,r,a,,0,4,16,x\naws,r,b,,0,4,16,1\naws,r,c,,0,y,16,1\n"
    with pytest.raises(errors.ManifestError) as caught:
        catalog.parse_catalog(text, "c.csv")
    assert [(p.line, p.path) for p in caught.value.problems] == [(2, "price_hour"), (4, "vcpus")]


def test_duplicates_and_header_mistakes() -> None:
    dup = f"{HEADER}\naws,r,t,,0,4,16,1\naws,r,t,,0,8,32,2\n"
    with pytest.raises(errors.ManifestError, match="aws/r/t is listed twice \\(first at line 2\\)"):
        catalog.parse_catalog(dup, "c.csv")
    typo = HEADER.replace("price_hour", "price_hr") + "\n"
    with pytest.raises(errors.ManifestError) as caught:
        catalog.parse_catalog(typo, "c.csv")
    message = str(caught.value)
    assert "unknown column 'price_hr'; did you mean 'price_hour'?" in message
    assert "missing column(s) price_hour" in message
    with pytest.raises(errors.ManifestError, match="empty price catalog"):
        catalog.parse_catalog("# only a comment\n", "c.csv")


def test_merge_lets_later_rows_win_and_local_rows_are_free() -> None:
    base = catalog.parse_catalog(f"{HEADER}\naws,r,t,,0,4,16,1\naws,r,u,,0,4,16,2\n", "a")
    extra = catalog.parse_catalog(f"{HEADER}\naws,r,t,,0,4,16,0.5\n", "b")
    merged = {row.instance_type: row.price_hour for row in catalog.merge(base, extra)}
    assert merged == {"t": 0.5, "u": 2.0}
    (local,) = catalog.local_rows(cpus=8, memory_bytes=16 * 2**30)
    assert (local.provider, local.price_hour, local.max_instances, local.vcpus) == (
        "local",
        0.0,
        1,
        8.0,
    )
