"""The lifecycle as code: one YAML file holding the deployment's lifecycle, applied to, compared
with and exported from the profile service. The service checks the spec
(`POST /v1/lifecycle/plan`) before anything is written; the errors it names are reported at the
line of the file where the field is written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from metaconnect_cli import specs_code
from metaconnect_cli.client import ApiProblem, ProfileClient
from metaconnect_cli.specs_code import InvalidSpecs, SpecFile, SpecFileError


def load(path: Path) -> SpecFile:
    """The one lifecycle document in `path`."""
    if path.is_dir():
        raise SpecFileError(f"{path}: a lifecycle is one file, not a directory")
    found = specs_code.load(path, kind="lifecycle")
    if len(found) != 1:
        raise SpecFileError(f"{path}: holds {len(found)} lifecycles; a deployment has one")
    return found[0]


def plan(client: ProfileClient, file: SpecFile) -> dict[str, Any]:
    """What applying the file would do; raises `InvalidSpecs` naming the file's lines when it is refused."""
    try:
        return client.plan_lifecycle(file.spec)
    except ApiProblem as problem:
        if not specs_code.refused(problem):
            raise
        raise InvalidSpecs(specs_code.error_lines(file, problem.body.errors)) from None


def apply(client: ProfileClient, file: SpecFile) -> str:
    """Put the file's lifecycle once checked; a line saying what changed (nothing, when it is the current one)."""
    found = plan(client, file)
    if found["action"] == "none":
        return f"{file.spec.get('name')}: unchanged (version {found['current_version']})"
    written = client.put_lifecycle(file.spec)
    return f"{written['spec']['name']}: now at version {written['version']} ({file.path})"


def diff(found: dict[str, Any]) -> str:
    """A unified diff between the lifecycle the service has and the one the file describes."""
    version = found["current_version"]
    return specs_code.unified_diff(
        found["current"],
        found["proposed"],
        fromfile="profile/lifecycle" + (f"@v{version}" if version else ""),
        tofile="file/lifecycle",
    )


def stranded(found: dict[str, Any]) -> list[str]:
    """One line per stage the proposal drops while customers sit in it (they keep it)."""
    return [
        f"{count} customer(s) in stage {stage}, which the file no longer has: they keep it, ranked below every stage"
        for stage, count in sorted(found.get("customers_in_removed_stages", {}).items())
    ]


def export(client: ProfileClient) -> str:
    """The current lifecycle's spec as YAML, ready for `apply`."""
    return specs_code.dump(client.get_lifecycle()["spec"])
