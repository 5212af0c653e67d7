"""The control plane's web dashboard in a real browser: Debian's Chromium, headless,
driven by Playwright (never a downloaded browser). Three local regions of a service,
real traffic through the gateway with an API token; the page takes the control plane's
token, shows the deployment, each region live, the ledger's cost and the token in use,
follows `crosscloud scale`, and turns a region red when its replicas
are SIGKILLed (only pids of this test's own state directory).

The README's screenshot is taken here: `CROSSCLOUD_UPDATE_SCREENSHOT=1` writes
docs/dashboard.png; otherwise the test checks that the committed file is a screenshot of
this page's size and that the page it takes now shows every panel."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import struct
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ROOT
from tests.e2e.deploy import Deployer, app_folder

playwright = pytest.importorskip("playwright.sync_api")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = [
    pytest.mark.timeout(300),
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed"),
]
SCREENSHOT = ROOT / "docs" / "dashboard.png"
VIEWPORT = {"width": 1280, "height": 900}
SLOW_MARK = "slow-setup"  # in the app's folder: replicas started from now on load for 6 s

SERVICE = f"""
import time
from pathlib import Path

from crosscloud import Service, endpoint


class Echo(Service):
    def setup(self) -> None:
        if Path({SLOW_MARK!r}).exists():  # a model that takes a while to load
            time.sleep(6)

    @endpoint
    def echo(self, text: str) -> str:
        return text
"""
MANIFEST = """\
apiVersion: crosscloud.dev/v1
kind: CloudDeployment
metadata:
  name: shop
spec:
  services:
    - name: echo
      source: service.py:Echo
  placements:
    - {provider: local, region: region-a, pricePerHour: 0.5, services: [{name: echo, replicas: 1}]}
    - {provider: local, region: region-b, pricePerHour: 0.4, services: [{name: echo}]}
    - {provider: local, region: region-c, pricePerHour: 0.3, services: [{name: echo}]}
"""


class Traffic:
    """Requests through the gateway with an API token from one thread, one every `every`
    seconds (paced: the machine is shared), so the page has live figures to show."""

    def __init__(self, url: str, token: str, *, every: float) -> None:
        self.url, self.every = url, every
        self.headers = {"authorization": f"Bearer {token}"}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(trust_env=False, timeout=10) as client:
            while not self.stop.wait(self.every):
                with contextlib.suppress(httpx.HTTPError):  # a killed region: retried or 502
                    client.post(self.url, json={"text": "hi"}, headers=self.headers)

    def __enter__(self) -> Traffic:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=15)


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Deployer, Path]]:
    tmp = tmp_path_factory.mktemp("dashboard")
    deployer = Deployer(tmp / "home")
    folder = app_folder(tmp, MANIFEST, SERVICE)
    try:
        deployer.run("up", str(folder / "crosscloud.yaml"))
        url = f"{deployer.gateway()}/echo/echo"
        create = ("token", "create", "shop", "--name")
        token = deployer.run(*create, "storefront", "--rps", "100").stdout.strip()
        noisy = deployer.run(*create, "batch-job", "--rps", "5").stdout.strip()
        with Traffic(url, token, every=0.025), Traffic(url, noisy, every=0.05):
            yield deployer, folder
    finally:
        deployer.kill_everything()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield chromium
        finally:
            chromium.close()


def _printed(deployer: Deployer) -> tuple[str, str]:
    """The URL and token file `crosscloud dashboard` prints."""
    out = deployer.run("dashboard").stdout
    url = next(line.split()[-1] for line in out.splitlines() if line.startswith("dashboard:"))
    token_file = next(w for w in out.split() if w.endswith(".token"))
    return url, token_file


@pytest.fixture(scope="module")
def page(deployed: tuple[Deployer, Path], browser: Any) -> Iterator[Any]:
    """The dashboard open and signed in with the token from the file the CLI names;
    every console message and page error kept in `page.problems`."""
    deployer, _folder = deployed
    url, token_file = _printed(deployer)
    tab = browser.new_page(viewport=VIEWPORT)
    tab.problems = []
    tab.on(
        "console",
        lambda m: (
            tab.problems.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None
        ),
    )
    tab.on("pageerror", lambda e: tab.problems.append(f"pageerror: {e}"))
    tab.goto(url)
    tab.fill("#token", Path(token_file).read_text().strip())
    tab.click("#login button[type=submit]")
    try:
        yield tab
    finally:
        tab.close()


def _region(page: Any, placement: str) -> Any:
    return page.locator(f'tr[data-region="echo {placement}"]')


def test_the_page_loads_without_a_console_error_and_shows_the_deployment(page: Any) -> None:
    expect = playwright.expect
    expect(page.locator('#deployments tr[data-deployment="shop"]')).to_contain_text("v1")
    for placement in ("local/region-a", "local/region-b", "local/region-c"):
        expect(_region(page, placement)).to_have_class("health-ok", timeout=30_000)
        expect(_region(page, placement).locator(".replicas")).to_have_text("1/1")
    # live traffic: a request rate appears for each region (the paced load reaches all three)
    expect(_region(page, "local/region-a").locator(".rps")).not_to_have_text("—", timeout=30_000)
    expect(page.locator("#events")).to_contain_text("Ready")
    # cost from the ledger at the manifest's prices: 0.5 + 0.4 + 0.3 per hour
    expect(page.locator("#cost-hour")).to_have_text("$1.20", timeout=30_000)
    # the API tokens in use with their quotas: ~40 req/s under 100/s, ~20 req/s past 5/s
    quiet = page.locator('#quotas tr[data-token="storefront"]')
    expect(quiet).to_contain_text("100 req/s")
    expect(quiet.locator(".in-use")).not_to_have_text("0.0 req/s", timeout=30_000)
    expect(quiet.locator(".refused")).to_have_text("0.0 refused/s")
    noisy = page.locator('#quotas tr[data-token="batch-job"]')
    expect(noisy).to_contain_text("5 req/s")
    expect(noisy.locator(".refused")).not_to_have_text("0.0 refused/s", timeout=30_000)
    assert "token" not in page.url and "#" not in page.url
    assert page.problems == []


def test_a_replica_count_change_after_crosscloud_scale(
    page: Any, deployed: tuple[Deployer, Path]
) -> None:
    deployer, _folder = deployed
    cell = _region(page, "local/region-a").locator(".replicas")
    playwright.expect(cell).to_have_text("1/1", timeout=30_000)
    deployer.run("scale", "echo", "2", "--placement", "local/region-a")
    playwright.expect(cell).to_have_text("2/2", timeout=60_000)
    playwright.expect(page.locator("#events")).to_contain_text("echo in local/region-a to 2")
    playwright.expect(page.locator("#cost-hour")).to_have_text("$1.70")  # 2 x 0.5 + 0.4 + 0.3
    assert page.problems == []


def test_a_region_goes_red_when_its_replicas_are_killed(
    page: Any, deployed: tuple[Deployer, Path]
) -> None:
    deployer, folder = deployed
    row = _region(page, "local/region-b")
    playwright.expect(row).to_have_class("health-ok", timeout=30_000)
    victims = [r for r in deployer.replicas() if r["placement"] == "local/region-b"]
    ours = {pid for pids in deployer.processes().values() for pid in pids}
    assert victims and all(r["pid"] in ours for r in victims)  # started for this test
    (folder / SLOW_MARK).touch()  # the replacement takes 6 s to load: long enough to see
    try:
        for replica in victims:
            os.kill(replica["pid"], signal.SIGKILL)
        playwright.expect(row).to_have_class("health-down", timeout=30_000)
        playwright.expect(row.locator(".why")).to_contain_text("0/1 replicas ready")
        other = _region(page, "local/region-c")
        assert other.get_attribute("class") == "health-ok"
        playwright.expect(row).to_have_class("health-ok", timeout=60_000)  # restarted
    finally:
        (folder / SLOW_MARK).unlink(missing_ok=True)
    assert page.problems == []


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_the_readme_screenshot(page: Any) -> None:
    """Taken once the regions are green and traffic figures are in; written to docs/ only
    when asked, else the committed one must be a screenshot of this page's size."""
    playwright.expect(page.locator("tr.health-ok")).to_have_count(3, timeout=60_000)
    page.wait_for_timeout(2500)  # one more poll: the rates cover a few seconds
    for panel in ("#deployments", "#regions", "#cost", "#quotas", "#events"):
        box = page.locator(panel).bounding_box()
        assert box and box["width"] > 300 and box["height"] > 30, panel
    shot = page.screenshot(full_page=False)
    assert _png_size(shot) == (VIEWPORT["width"], VIEWPORT["height"])
    if os.environ.get("CROSSCLOUD_UPDATE_SCREENSHOT") == "1":
        SCREENSHOT.write_bytes(shot)
    assert SCREENSHOT.exists(), "run with CROSSCLOUD_UPDATE_SCREENSHOT=1 to take it"
    assert _png_size(SCREENSHOT.read_bytes()) == _png_size(shot)


def test_without_the_right_token_the_page_shows_no_data(
    deployed: tuple[Deployer, Path], browser: Any
) -> None:
    deployer, _folder = deployed
    url, token_file = _printed(deployer)
    tab = browser.new_page()
    try:
        tab.goto(url)
        playwright.expect(tab.locator("#login")).to_be_visible()
        assert tab.locator("#board").is_hidden()
        tab.fill("#token", "not-the-token")
        tab.click("#login button[type=submit]")
        playwright.expect(tab.locator("#login-error")).to_contain_text("refused this token")
        assert tab.locator("#board").is_hidden()
        assert tab.locator("tr[data-region]").count() == 0
    finally:
        tab.close()
    token = Path(token_file).read_text().strip()
    base = url.removesuffix("/dashboard/")
    with httpx.Client(base_url=base, trust_env=False, timeout=10) as http:
        page_answer = http.get("/dashboard/")
        assert page_answer.status_code == 200  # the files carry no data: no token needed
        csp = page_answer.headers["content-security-policy"]
        assert "default-src 'none'" in csp and "connect-src 'self'" in csp
        assert http.get("/v1/traffic").status_code == 401
        assert http.get("/v1/status").status_code == 401
        cross = http.get(
            "/v1/traffic",
            headers={"authorization": f"Bearer {token}", "origin": "http://evil.example"},
        )
        assert cross.status_code == 403
        rebound = http.get(
            "/dashboard/", headers={"host": f"evil.example:{base.rsplit(':', 1)[1]}"}
        )
        assert rebound.status_code == 421
    log = (deployer.home / "logs" / "controlplane.log").read_text()
    assert token not in log
