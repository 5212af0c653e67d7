"""The shipped price catalog and user catalogs read from disk (`--catalog`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from crosscloud import errors
from crosscloud.adapters.clouds import catalog as catalog_files

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


# The GPUs a user can ask for on each cloud. Azure offers no L4 and no A10G: its A10
# (NVadsA10 v5) stands in for both. GCP offers no A10 or A10G.
REQUIRED_GPUS = {
    "aws": ("T4", "L4", "A10G", "A100", "A100-80GB", "H100"),
    "azure": ("T4", "A10", "A100", "A100-80GB", "H100"),
    "gcp": ("T4", "L4", "A100", "A100-80GB", "H100"),
}
# Known data gaps, not missing offerings: GCP sells A100 80GB (a2-ultragpu) in more regions,
# but the public Billing-catalog figures found were self-contradictory (on-demand below spot)
# everywhere except us-east5 and asia-southeast1 (see the catalog's header).
FEWER_REGIONS = {("gcp", "A100-80GB"): 2}


@pytest.mark.parametrize(
    ("provider", "gpu"), [(p, g) for p, gpus in REQUIRED_GPUS.items() for g in gpus]
)
def test_every_required_gpu_is_priced_in_three_regions(provider: str, gpu: str) -> None:
    rows = [r for r in catalog_files.shipped() if (r.provider, r.accelerator) == (provider, gpu)]
    regions = {r.region for r in rows}
    assert len(regions) >= FEWER_REGIONS.get((provider, gpu), 3), (provider, gpu, regions)
    assert all(r.accelerator_count >= 1 and r.read_on is not None and r.source for r in rows)
    # Azure lists no spot price for its H100 sizes; every other GPU has one somewhere.
    no_spot = (provider, gpu) == ("azure", "H100")
    assert any(r.spot_price_hour is not None for r in rows) != no_spot, (provider, gpu)


def test_clouds_without_a_gpu_have_no_rows_for_it() -> None:
    offered = {(r.provider, r.accelerator) for r in catalog_files.shipped()}
    assert not {("azure", "L4"), ("azure", "A10G"), ("gcp", "A10"), ("gcp", "A10G")} & offered
