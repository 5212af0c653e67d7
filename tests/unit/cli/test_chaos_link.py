"""`crosscloud chaos link|partition`: wrong input gets one line and exit 2, before anything
is touched."""

from __future__ import annotations

from pathlib import Path

import pytest

from crosscloud.adapters.local import netns
from crosscloud.cli import main as cli

pytestmark = pytest.mark.timeout(30)


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as done:
        cli.main(argv)
    return int(done.value.code or 0), capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["chaos", "link", "region-b", "--latency", "80"], "'80' is not a duration"),
        (["chaos", "link", "region-b", "--jitter", "soon"], "'soon' is not a duration"),
        (["chaos", "link", "region-b", "--latency", "5m"], "is over 60s"),
        (["chaos", "partition", "region-b", "maybe"], "'maybe' is not one of 'on', 'off'"),
    ],
)
def test_bad_flags_are_refused(
    argv: list[str], words: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = _run(argv, capsys)
    assert code == 2
    assert words in err


def test_a_region_that_is_not_isolated_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CROSSCLOUD_HOME", str(tmp_path / "home"))
    code, err = _run(["chaos", "partition", "region-b", "on"], capsys)
    assert code == 2
    if netns.unavailable() is None:
        assert err.startswith("error: no isolated region 'region-b' is deployed; isolated: none")
    else:
        assert err.startswith("error: chaos on a region's link needs root and `ip`")
    assert not (tmp_path / "home" / "net").exists()  # nothing recorded
