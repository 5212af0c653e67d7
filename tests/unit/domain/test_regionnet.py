"""Local regions as network hosts, the pure part: names that fit the kernel's limits,
a /30 per region that stays the same and avoids addresses in use, the link profile's delays,
and the manifest's `network` setting with its errors."""

from __future__ import annotations

import ipaddress

import pytest
import yaml

from crosscloud import errors
from crosscloud.domain import manifest, regionnet
from crosscloud.domain.manifest.network import NetworkSpec


class _Fixed:
    """An rng whose uniform(a, b) returns the point `at` (0..1) of the way from a to b."""

    def __init__(self, at: float) -> None:
        self.at = at

    def uniform(self, a: float, b: float) -> float:
        return a + (b - a) * self.at


def test_names_fit_the_kernel_and_tell_state_directories_apart() -> None:
    name = regionnet.netns_name("/home/u/.crosscloud", "shop", "local/region-b")
    assert name.startswith(regionnet.home_prefix("/home/u/.crosscloud"))
    assert name.endswith("-shop-region-b")
    other = regionnet.netns_name("/tmp/other", "shop", "local/region-b")
    assert other != name and not other.startswith(regionnet.home_prefix("/home/u/.crosscloud"))
    net = regionnet.region_net(name, taken=set())
    assert len(net.host_if) <= 15 and len(net.ns_if) <= 15  # IFNAMSIZ - 1
    assert net.host_if != net.ns_if


def test_a_region_has_its_own_slash_30() -> None:
    net = regionnet.region_net("cc-abc-d-r", taken=set())
    host, ns = ipaddress.IPv4Address(net.host_addr), ipaddress.IPv4Address(net.ns_addr)
    assert host in regionnet.POOL and ns in regionnet.POOL
    assert ipaddress.IPv4Network(f"{net.host_addr}/30", strict=False) == ipaddress.IPv4Network(
        f"{net.ns_addr}/30", strict=False
    )
    assert int(ns) == int(host) + 1 and int(host) % 4 == 1  # .1 and .2 of the /30
    assert regionnet.slot_of(net.host_addr) == net.slot == regionnet.slot_of(net.ns_addr)
    assert regionnet.slot_of("192.168.1.1") is None and regionnet.slot_of("nonsense") is None


@pytest.mark.parametrize("taken", [0, 1, 5])
def test_the_slot_is_stable_and_skips_those_in_use(taken: int) -> None:
    first = regionnet.region_net("cc-abc-d-r", taken=set()).slot
    busy = {(first + i) % regionnet.SLOTS for i in range(taken)}
    chosen = regionnet.region_net("cc-abc-d-r", taken=busy).slot
    assert chosen == (first + taken) % regionnet.SLOTS
    assert regionnet.region_net("cc-abc-d-r", taken=busy).slot == chosen  # same input, same slot


def test_no_slot_left_is_an_error() -> None:
    with pytest.raises(ValueError, match="every /30"):
        regionnet.region_net("x", taken=set(range(regionnet.SLOTS)))


@pytest.mark.parametrize(
    ("latency", "jitter", "at", "there", "back"),
    [
        (0.0, 0.0, 0.5, 0.0, 0.0),
        (0.080, 0.0, 0.9, 0.040, 0.040),  # half each way
        (0.080, 0.005, 0.0, 0.040, 0.035),  # the jitter goes on the way back
        (0.080, 0.005, 1.0, 0.040, 0.045),
        (0.010, 0.010, 0.0, 0.005, 0.0),  # never below zero
    ],
)
def test_link_delays(latency: float, jitter: float, at: float, there: float, back: float) -> None:
    profile = regionnet.LinkProfile(latency=latency, jitter=jitter)
    got = profile.delays(_Fixed(at))
    assert got == pytest.approx((there, back))


@pytest.mark.parametrize(
    ("profile", "text"),
    [
        (regionnet.LinkProfile(), "no added latency"),
        (regionnet.LinkProfile(latency=0.08), "+80 ms round trip"),
        (regionnet.LinkProfile(latency=0.08, jitter=0.005), "+80 ms +- 5 ms round trip"),
        (regionnet.LinkProfile(latency=0.08, partitioned=True), "partitioned (link down)"),
    ],
)
def test_profile_descriptions(profile: regionnet.LinkProfile, text: str) -> None:
    assert profile.describe() == text


def _manifest(placement: dict[str, object]) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "crosscloud.dev/v1",
            "kind": "CloudDeployment",
            "metadata": {"name": "demo"},
            "spec": {
                "services": [{"name": "svc", "source": "./service.py:Svc"}],
                "placements": [placement],
            },
        },
        sort_keys=False,
    )


def test_network_is_read_with_its_durations() -> None:
    text = _manifest(
        {
            "provider": "local",
            "region": "region-b",
            "network": {"isolated": True, "latency": "80ms", "jitter": "5ms"},
        }
    )
    network = manifest.load_manifest(text, "m.yaml").placement("local/region-b").network
    assert network == NetworkSpec(isolated=True, latency=0.08, jitter=0.005)
    default = manifest.load_manifest(_manifest({"provider": "local", "region": "r"}), "m.yaml")
    assert not default.placement("local/r").network.isolated


@pytest.mark.parametrize(
    ("placement", "path", "words"),
    [
        (
            {"provider": "local", "region": "r", "network": {"latency": "80ms"}},
            "spec.placements[0].network.isolated",
            "need isolated: true",
        ),
        (
            {
                "provider": "local",
                "region": "r",
                "network": {"isolated": True, "latency": "5ms", "jitter": "10ms"},
            },
            "spec.placements[0].network.jitter",
            "at most latency",
        ),
        (
            {"provider": "local", "region": "r", "network": {"isolated": True, "latency": "soon"}},
            "spec.placements[0].network.latency",
            "not a duration",
        ),
        (
            {"provider": "local", "region": "r", "network": {"isolated": "maybe"}},
            "spec.placements[0].network.isolated",
            "expected true or false",
        ),
        (
            {
                "provider": "aws",
                "region": "us-west-2",
                "context": "c",
                "network": {"isolated": True},
            },
            "spec.placements[0].network",
            "network is for local regions",
        ),
    ],
)
def test_bad_network_settings_are_named(
    placement: dict[str, object], path: str, words: str
) -> None:
    with pytest.raises(errors.ManifestError) as info:
        manifest.load_manifest(_manifest(placement), "m.yaml")
    problems = info.value.problems
    assert [p.path for p in problems] == [path]
    assert words in str(problems[0])
    assert problems[0].line > 0
