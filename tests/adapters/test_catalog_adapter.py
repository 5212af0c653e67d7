"""The shipped price catalog and user catalogs read from disk (`--catalog`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from crosscloud import errors
from crosscloud.adapters import catalog as catalog_files

HEADER = "provider,region,instance_type,accelerator,accelerator_count,vcpus,memory_gib,price_hour"


def test_shipped_catalog_covers_the_gpus_people_deploy_on() -> None:
    rows = catalog_files.shipped()
    assert {"T4", "L4", "A10G", "A100", "A100-80GB", "H100"} <= {r.accelerator for r in rows}
    for provider in ("aws", "azure", "gcp"):
        regions = {r.region for r in rows if r.provider == provider}
        assert len(regions) >= 3, (provider, regions)
        assert any(r.accelerator is None for r in rows if r.provider == provider)
    assert all(r.price_hour > 0 and r.read_on is not None and r.source for r in rows)
    assert all(r.spot_price_hour is None or r.spot_price_hour < r.price_hour for r in rows)


def test_user_catalog_extends_or_replaces(tmp_path: Path) -> None:
    mine = tmp_path / "mine.csv"
    mine.write_text(
        f"{HEADER}\naws,us-east-1,g4dn.xlarge,T4,1,4,16,0.40\naws,my-zone,x1,,0,2,4,0.01\n"
    )
    extended = {r.key: r for r in catalog_files.load(mine)}
    assert extended[("aws", "us-east-1", "g4dn.xlarge")].price_hour == 0.40
    assert ("aws", "my-zone", "x1") in extended
    assert ("aws", "us-west-2", "g4dn.xlarge") in extended
    assert ("local", "local", "this-machine") in extended
    replaced = catalog_files.load(mine, replace=True, local_regions=("lab",))
    assert sorted(r.key for r in replaced) == [
        ("aws", "my-zone", "x1"),
        ("aws", "us-east-1", "g4dn.xlarge"),
        ("local", "lab", "this-machine"),
    ]


def test_bad_user_catalogs_are_user_errors(tmp_path: Path) -> None:
    with pytest.raises(errors.UserError, match="missing.csv: cannot read price catalog"):
        catalog_files.load(tmp_path / "missing.csv")
    bad = tmp_path / "bad.csv"
    bad.write_text(f"{HEADER}\naws,r,t,,0,4,16,free\n")
    with pytest.raises(
        errors.ManifestError, match=r"bad.csv:2:17 price_hour: 'free' is not a number"
    ):
        catalog_files.load(bad)
    with pytest.raises(errors.UserError, match="needs a catalog file"):
        catalog_files.load(None, replace=True)


def test_this_machine_is_free_and_real() -> None:
    (row,) = catalog_files.this_machine()
    assert (row.provider, row.price_hour) == ("local", 0.0)
    assert row.vcpus >= 1
    assert row.memory_bytes > 2**28
