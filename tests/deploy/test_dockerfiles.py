"""The images in deploy/docker, read offline with dockerfile-parse (no Docker engine needed).

Each Dockerfile builds one workspace member from the repository root in two stages: uv
installs the locked dependencies (a layer that changes only with uv.lock), then the code,
into a virtualenv; a slim runtime stage gets only that virtualenv and runs it as a non-root
user on a read-only root filesystem. A Dockerfile that copies a file that is gone, syncs a
package that is not a member, probes the wrong port or bakes a secret in fails here.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import tomllib
import zipfile
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from dockerfile_parse import DockerfileParser

from metaconnect_cli.local.sandbox import SANDBOX_PACKAGE, SANDBOX_PORT, SANDBOX_SMTP_PORT
from metaconnect_cli.services import SERVICES as CLI_SERVICES
from tests.deploy import environment

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "deploy" / "docker"
DOCKERIGNORE = ROOT / ".dockerignore"
SANDBOX_HEALTH = "/_sandbox/health"
RUNTIME_BASE = re.compile(r"^python:3\.11(\.\d+)?-slim(-\w+)?$")
UV_IMAGE = re.compile(r"^ghcr\.io/astral-sh/uv:\d+\.\d+\.\d+$")
SECRET_WORDS = ("SECRET", "TOKEN", "PASSWORD")


@dataclass(frozen=True)
class Image:
    """What one Dockerfile must build: the members it syncs, how it runs, what it probes."""

    name: str
    packages: tuple[str, ...]
    entrypoint: tuple[str, ...]
    port: int | None = None  # probed and exposed; None for one-shot tools
    health_path: str | None = None


SERVICE_IMAGES = {
    service: Image(
        service,
        (f"metaconnect-{service}",),
        ("python", "-m", f"metaconnect_{service}"),
        environment.port(service),
        environment.LIVENESS,
    )
    for service in environment.SERVICES
}
IMAGES = {
    **SERVICE_IMAGES,
    "sandbox": Image(
        "sandbox", ("metaconnect-sandbox",), ("python", "-m", SANDBOX_PACKAGE), SANDBOX_PORT, SANDBOX_HEALTH
    ),
    "cli": Image("cli", ("metaconnect-cli",), ("metaconnect",)),
}


@dataclass(frozen=True)
class Instruction:
    kind: str
    value: str
    line: int


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, kind: str) -> list[Instruction]:
        return [i for i in self.instructions if i.kind == kind]


@cache
def stages(name: str) -> tuple[Stage, ...]:
    with (DOCKER / f"{name}.Dockerfile").open("rb") as handle:
        parser = DockerfileParser(fileobj=handle)
        structure: list[dict[str, Any]] = parser.structure
    found: list[Stage] = []
    for entry in structure:
        kind, value = str(entry["instruction"]).upper(), str(entry["value"])
        if kind == "FROM":
            base, *alias = re.split(r"\s+as\s+", value.strip(), flags=re.IGNORECASE)
            found.append(Stage(base, alias[0] if alias else None))
        elif found:
            found[-1].instructions.append(Instruction(kind, value, int(entry["startline"]) + 1))
    return tuple(found)


def pinned(image: str) -> bool:
    """`name:tag` (not latest) or `name@sha256:...`; a registry's `host:port/` is no tag."""
    if "@sha256:" in image:
        return True
    _, colon, tag = image.rpartition("/")[2].rpartition(":")
    return bool(colon) and tag not in ("", "latest")


def runtime(name: str) -> Stage:
    return stages(name)[-1]


def flags_and_args(value: str) -> tuple[dict[str, str], list[str]]:
    """`--from=x --chown=y a b` as ({"from": "x", "chown": "y"}, ["a", "b"])."""
    words = shlex.split(value)
    flags = {}
    while words and words[0].startswith("--"):
        key, _, flag_value = words.pop(0)[2:].partition("=")
        flags[key] = flag_value
    return flags, words


def exec_form(value: str) -> list[str]:
    parsed = json.loads(value)
    assert isinstance(parsed, list), f"not the exec (JSON) form: {value}"
    return [str(word) for word in parsed]


def uv_syncs(name: str) -> list[tuple[int, list[str]]]:
    """Every `uv sync` of the builder: (its index among the stage's instructions, its words)."""
    builder = stages(name)[0]
    syncs = []
    for index, instruction in enumerate(builder.instructions):
        if instruction.kind == "RUN" and "uv sync" in instruction.value:
            _, words = flags_and_args(instruction.value)
            syncs.append((index, words))
    return syncs


def packages_of(words: list[str]) -> tuple[str, ...]:
    return tuple(words[i + 1] for i, word in enumerate(words) if word == "--package")


@cache
def workspace_members() -> dict[str, Path]:
    """Member name -> its directory (relative to the repository), from the root's member globs."""
    root = tomllib.loads((ROOT / "pyproject.toml").read_text())
    members: dict[str, Path] = {}
    for pattern in root["tool"]["uv"]["workspace"]["members"]:
        for manifest in sorted(ROOT.glob(f"{pattern}/pyproject.toml")):
            members[tomllib.loads(manifest.read_text())["project"]["name"]] = manifest.parent.relative_to(ROOT)
    return members


def env_pairs(value: str) -> dict[str, str]:
    """`ENV A=1 B="x y"` or the legacy `ENV A 1`."""
    words = shlex.split(value)
    if words and "=" not in words[0]:
        return {words[0]: " ".join(words[1:])}
    return dict(word.partition("=")[::2] for word in words)


def dockerignore_excludes(path: str) -> bool:
    """Docker's rule: the last pattern matching the path, or a parent of it, decides."""
    excluded = False
    for raw in DOCKERIGNORE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = line.lstrip("!").strip("/")
        regex = re.compile(_glob_regex(pattern))
        parts = path.strip("/").split("/")
        if any(regex.fullmatch("/".join(parts[: i + 1])) for i in range(len(parts))):
            excluded = not negate
    return excluded


def _glob_regex(pattern: str) -> str:
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        elif pattern[i] == "[":
            end = pattern.index("]", i)
            out, i = out + pattern[i : end + 1], end + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return out


def test_every_dockerfile_is_checked() -> None:
    assert {p.name.removesuffix(".Dockerfile") for p in DOCKER.glob("*.Dockerfile")} == set(IMAGES)


@pytest.mark.parametrize("name", IMAGES)
def test_builds_in_stages_from_pinned_images(name: str) -> None:
    found = stages(name)
    assert len(found) >= 2, "a builder stage and a runtime stage"
    assert RUNTIME_BASE.match(runtime(name).base), f"runtime base {runtime(name).base}"
    for stage in found:
        if stage.base in {s.name for s in found}:
            continue  # built on an earlier stage
        assert pinned(stage.base), f"{stage.base} is not pinned to a tag or digest"
    # The virtualenv's interpreter is a link to the image's Python: build and run on the same one.
    assert found[0].base == runtime(name).base


@pytest.mark.parametrize("name", IMAGES)
def test_uv_comes_from_a_pinned_image(name: str) -> None:
    builder = stages(name)[0]
    sources = [flags_and_args(i.value)[0].get("from", "") for i in builder.all("COPY")]
    uv = [s for s in sources if s.startswith("ghcr.io/astral-sh/uv")]
    assert uv, "uv is copied from ghcr.io/astral-sh/uv"
    assert all(UV_IMAGE.match(image) for image in uv), f"uv image not pinned to a version: {uv}"


@pytest.mark.parametrize("name", IMAGES)
def test_dependencies_are_a_layer_of_their_own(name: str) -> None:
    builder = stages(name)[0]
    syncs = uv_syncs(name)
    assert len(syncs) == 2, "one sync for the dependencies, one for the code"
    (deps_at, deps), (code_at, code) = syncs
    assert {"--frozen", "--no-install-workspace", "--no-dev"} <= set(deps)
    assert {"--frozen", "--no-dev", "--no-editable"} <= set(code)
    assert "--no-install-workspace" not in code
    for index in (deps_at, code_at):
        assert "--mount=type=cache,target=/root/.cache/uv" in builder.instructions[index].value

    manifests = {"uv.lock", "pyproject.toml"} | {f"{d}/pyproject.toml" for d in workspace_members().values()}
    early = [i for i in builder.instructions[:deps_at] if i.kind == "COPY" and "from" not in flags_and_args(i.value)[0]]
    copied = {source for i in early for source in flags_and_args(i.value)[1][:-1]}
    assert copied == manifests, (
        "before the dependency sync: the lock and every member's pyproject.toml (uv resolves the whole "
        "workspace), nothing that changes more often"
    )
    for instruction in early:  # each one where uv looks for it: the same path under WORKDIR
        *sources, destination = flags_and_args(instruction.value)[1]
        assert all(Path(source).parent == Path(destination) for source in sources), instruction.value
    sources_at = [
        index for index, i in enumerate(builder.instructions) if i.kind == "COPY" and "--from=" not in i.value
    ]
    code_copies = [index for index in sources_at if index > deps_at]
    assert code_copies, "sources copied after the dependency sync"
    assert all(index < code_at for index in code_copies), "and before the code sync"


@pytest.mark.parametrize("name", IMAGES)
def test_syncs_workspace_members(name: str) -> None:
    for _, words in uv_syncs(name):
        assert packages_of(words) == IMAGES[name].packages
        assert set(packages_of(words)) <= set(workspace_members()), "every --package is a workspace member"


@pytest.mark.parametrize("name", IMAGES)
def test_copies_the_members_it_installs(name: str) -> None:
    """The code sync installs the packages and their workspace dependencies: all copied."""
    members = workspace_members()
    needed: set[str] = set()
    todo = list(IMAGES[name].packages)
    while todo:
        package = todo.pop()
        if package in needed:
            continue
        needed.add(package)
        project = tomllib.loads((ROOT / members[package] / "pyproject.toml").read_text())["project"]
        names = (re.split(r"[\s\[<>=!~;@]", requirement, maxsplit=1)[0] for requirement in project["dependencies"])
        todo += [name for name in names if name in members]
    builder = stages(name)[0]
    copied = {arg for i in builder.all("COPY") for arg in flags_and_args(i.value)[1][:-1]}
    assert {str(members[package]) for package in needed} <= copied


@pytest.mark.parametrize("name", IMAGES)
def test_every_copy_source_is_in_the_build_context(name: str) -> None:
    for stage in stages(name):
        for instruction in stage.all("COPY") + stage.all("ADD"):
            flags, args = flags_and_args(instruction.value)
            if "from" in flags:
                continue
            for source in args[:-1]:
                assert (ROOT / source).exists(), f"line {instruction.line}: {source} is not in the repository"
                assert not dockerignore_excludes(source), f"line {instruction.line}: .dockerignore leaves out {source}"


@pytest.mark.parametrize("name", IMAGES)
def test_runtime_gets_only_the_virtualenv(name: str) -> None:
    final = runtime(name)
    for instruction in final.all("COPY") + final.all("ADD"):
        flags, _ = flags_and_args(instruction.value)
        assert flags.get("from") == stages(name)[0].name, f"line {instruction.line}: only from the builder"
    assert "/app/.venv" in {flags_and_args(i.value)[1][0] for i in final.all("COPY")}
    assert not any("uv " in i.value for i in final.all("RUN")), "no uv in the runtime stage"


@pytest.mark.parametrize("name", IMAGES)
def test_runs_as_a_non_root_user(name: str) -> None:
    users = runtime(name).all("USER")
    assert users, "the runtime stage sets USER"
    user, _, group = users[-1].value.partition(":")
    assert user.isdigit(), "a numeric uid (Kubernetes' runAsNonRoot can check it)"
    assert int(user) != 0
    if group:
        assert group.isdigit()
        assert int(group) != 0


@pytest.mark.parametrize("name", IMAGES)
def test_is_ready_for_a_read_only_root(name: str) -> None:
    builder = {k: v for i in stages(name)[0].all("ENV") for k, v in env_pairs(i.value).items()}
    final = {k: v for i in runtime(name).all("ENV") for k, v in env_pairs(i.value).items()}
    assert builder.get("UV_COMPILE_BYTECODE") == "1", "bytecode compiled at build time"
    assert final.get("PYTHONDONTWRITEBYTECODE") == "1", "nothing written next to the code at run time"
    assert final.get("PATH", "").startswith("/app/.venv/bin:")


@pytest.mark.parametrize("name", [n for n, image in IMAGES.items() if image.port is not None])
def test_probes_and_exposes_its_port(name: str) -> None:
    image, final = IMAGES[name], runtime(name)
    exposed = {int(port.split("/")[0]) for i in final.all("EXPOSE") for port in i.value.split()}
    assert image.port in exposed
    [healthcheck] = final.all("HEALTHCHECK")
    command = healthcheck.value.partition("CMD")[2].strip()
    assert exec_form(command)[:2] == ["python", "-c"], "python's urllib: the slim image has no curl"
    urls = re.findall(r"https?://(?:127\.0\.0\.1|localhost):(\d+)(/[^'\"\s]*)", command)
    assert urls == [(str(image.port), image.health_path)]
    if name == "sandbox":
        assert SANDBOX_SMTP_PORT in exposed


@pytest.mark.parametrize("name", IMAGES)
def test_entrypoint(name: str) -> None:
    final = runtime(name)
    [entrypoint] = final.all("ENTRYPOINT")
    assert tuple(exec_form(entrypoint.value)) == IMAGES[name].entrypoint
    [command] = final.all("CMD")
    if name in SERVICE_IMAGES:
        # Jobs run the same image with `migrate` or `topics` in place of `serve`.
        assert exec_form(command.value) == ["serve"]
    if name == "cli":
        scripts = tomllib.loads((ROOT / workspace_members()["metaconnect-cli"] / "pyproject.toml").read_text())
        assert "metaconnect" in scripts["project"]["scripts"]
        assert final.all("HEALTHCHECK")[-1].value.strip().upper() == "NONE"


def test_cli_installs_every_service_it_migrates() -> None:
    """`metaconnect db upgrade` and `metaconnect dev` import every service's package (its
    migrations, its app): the cli image has them only as declared dependencies."""
    project = tomllib.loads((ROOT / workspace_members()["metaconnect-cli"] / "pyproject.toml").read_text())["project"]
    declared = {re.split(r"[\s\[<>=!~;@]", requirement, maxsplit=1)[0] for requirement in project["dependencies"]}
    assert {spec.package.replace("_", "-") for spec in CLI_SERVICES} <= declared


@pytest.mark.parametrize("name", IMAGES)
def test_labels(name: str) -> None:
    labels = {k: v for i in runtime(name).all("LABEL") for k, v in env_pairs(i.value).items()}
    assert labels.get("org.opencontainers.image.title") == f"metaconnect-{name}"
    assert {"description", "version", "revision"} <= {key.removeprefix("org.opencontainers.image.") for key in labels}


@pytest.mark.parametrize("name", IMAGES)
def test_bakes_in_no_secret(name: str) -> None:
    for stage in stages(name):
        for instruction in stage.all("ENV") + stage.all("ARG"):
            pairs = env_pairs(instruction.value) if instruction.kind == "ENV" else _args(instruction.value)
            for key, value in pairs.items():
                assert key not in environment.SECRET, f"line {instruction.line}: {key} belongs in a secret store"
                secretive = any(word in key.upper() for word in SECRET_WORDS)
                assert not (secretive and value), f"line {instruction.line}: {key} has a value baked in"


def _args(value: str) -> dict[str, str]:
    return {word.partition("=")[0]: word.partition("=")[2] for word in shlex.split(value)}


def test_service_dockerfiles_differ_only_in_their_names() -> None:
    """ingest, profile, router, delivery: one template, so a diff shows only the service."""

    def normalised(name: str) -> list[str]:
        lines = []
        for line in (DOCKER / f"{name}.Dockerfile").read_text().splitlines():
            if "org.opencontainers.image.description" in line:
                continue
            if not re.match(r"COPY \S+/pyproject\.toml ", line):  # every member's, in every file
                line = line.replace(name, "<service>").replace(str(environment.port(name)), "<port>")
            lines.append(line)
        return lines

    first, *others = SERVICE_IMAGES
    for name in others:
        assert normalised(name) == normalised(first), f"{name}.Dockerfile drifted from {first}.Dockerfile"


@pytest.mark.parametrize(
    "path", [".venv", ".git", ".metaconnect", "tests", "docs", "libs/common/src/x/__pycache__", ".mypy_cache"]
)
def test_dockerignore_leaves_out(path: str) -> None:
    assert dockerignore_excludes(path)


@pytest.mark.parametrize(
    "path",
    [
        "uv.lock",
        "pyproject.toml",
        "libs/common/src",
        "services/router/pyproject.toml",
        "services/console/src/metaconnect_console/templates/base.html",
        "services/console/src/metaconnect_console/static/vendor",
    ],
)
def test_dockerignore_keeps(path: str) -> None:
    assert not dockerignore_excludes(path)


def test_console_wheel_carries_its_pages_and_migrations(tmp_path: Path) -> None:
    """The image installs the console as a wheel (`--no-editable`): the pages' templates, CSS,
    JavaScript, vendored htmx and the migrations `migrate` runs must be inside it, not files left
    in the sources."""
    uv = shutil.which("uv")
    assert uv, "uv builds the wheel (scripts/_bootstrap.sh installs it)"
    package = ROOT / workspace_members()["metaconnect-console"] / "src" / "metaconnect_console"
    done = subprocess.run(
        [uv, "build", "--package", "metaconnect-console", "--wheel", "--out-dir", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    [wheel] = tmp_path.glob("metaconnect_console-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        packaged = set(archive.namelist())
    data = [
        path.relative_to(package.parent).as_posix()
        for folder in ("templates", "static", "migrations")
        for path in sorted((package / folder).rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    ]
    assert any(name.endswith(".html") for name in data)
    assert any(name.startswith("metaconnect_console/static/vendor/htmx-") for name in data)
    assert [name for name in data if name not in packaged] == []
