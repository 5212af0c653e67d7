"""What one replica of a service costs per hour in one placement, for the cost ledger. Pure.

- A placement's `pricePerHour` (manifest) is the price of one replica-hour there, for any
  provider, and `spotPricePerHour` that of a spot replica (default: `pricePerHour`); a
  local placement without them is free (it runs on this machine).
- Otherwise the catalog decides, as `crosscloud plan` would: the cheapest instance type in
  that provider and region (only the placement's `instanceType` when it names one) that
  holds a replica, its price divided by the replicas one instance holds (replicas of a
  service share instances), at the spot price for a spot replica when the catalog has one.
- A cloud placement the catalog has no fitting row for costs 0 and says so (`unpriced`),
  so `crosscloud cost` can tell the user rather than invent a price.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from crosscloud.domain import catalog, manifest, targets
from crosscloud.planning import from_manifest, packing

LOCAL = targets.Target.LOCAL


@dataclass(frozen=True)
class Price:
    """USD per replica-hour on demand and on spot (None: no spot price known), and the
    instance type it came from ("" when set by the manifest or free)."""

    on_demand: float
    spot: float | None = None
    instance_type: str = ""
    unpriced: bool = False

    def billed(self, *, spot: bool) -> float:
        return self.spot if spot and self.spot is not None else self.on_demand


def price_of(
    doc: manifest.Manifest,
    *,
    service: str,
    placement: str,
    rows: Sequence[catalog.CatalogRow],
) -> Price:
    """One replica-hour of `service` at `placement` ("provider/region")."""
    where = _placement(doc, placement)
    if where is not None and where.price_per_hour is not None:
        spot = where.spot_price_per_hour
        return Price(
            on_demand=where.price_per_hour, spot=where.price_per_hour if spot is None else spot
        )
    if targets.target_of(placement) is LOCAL:
        spot = where.spot_price_per_hour if where is not None else None
        return Price(on_demand=0.0, spot=spot)
    found = _from_catalog(doc, service=service, placement=placement, rows=rows)
    if where is not None and where.spot_price_per_hour is not None:
        return Price(
            found.on_demand, where.spot_price_per_hour, found.instance_type, found.unpriced
        )
    return found


def _from_catalog(
    doc: manifest.Manifest, *, service: str, placement: str, rows: Sequence[catalog.CatalogRow]
) -> Price:
    where = _placement(doc, placement)
    provider, _, region = placement.partition("/")
    wanted = where.instance_type if where is not None else None
    needs = from_manifest.effective_resources(doc.service(service))
    need = packing.Need(
        cpu=needs.cpu,
        memory_bytes=needs.memory_bytes,
        accelerator=needs.accelerators[0] if needs.accelerators else None,
    )
    best: Price | None = None
    for row in rows:
        if (row.provider, row.region) != (provider, region):
            continue
        if wanted and row.instance_type != wanted:
            continue
        held = packing.per_instance(row, need)
        if held < 1:
            continue
        spot = None if row.spot_price_hour is None else row.spot_price_hour / held
        found = Price(row.price_hour / held, spot, row.instance_type)
        if best is None or (found.on_demand, found.instance_type) < (
            best.on_demand,
            best.instance_type,
        ):
            best = found
    return best or Price(on_demand=0.0, unpriced=True)


def _placement(doc: manifest.Manifest, placement: str) -> manifest.Placement | None:
    return next((p for p in doc.placements() if p.id == placement), None)
