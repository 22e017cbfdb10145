"""docs/tutorial.md names only commands the CLI has, with options they take."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
import typer
from typer.core import TyperCommand, TyperGroup
from typer.testing import CliRunner

from metaconnect_cli.main import app
from metaconnect_profile.personality.scoring import score_colours24

TUTORIAL = Path(__file__).resolve().parents[2] / "docs" / "tutorial.md"
README = TUTORIAL.parents[1] / "README.md"


def cli_lines(doc: Path) -> list[list[str]]:
    """Every `metaconnect ...` invocation in the document's bash blocks, as words (up to a pipe,
    redirect or comment)."""
    blocks = re.findall(r"```bash\n(.*?)```", doc.read_text(), re.DOTALL)
    found = []
    for block in blocks:
        for line in block.replace("\\\n", " ").splitlines():
            if (start := line.find("metaconnect ")) < 0:
                continue
            words = shlex.split(line[start:], comments=True)
            end = next((i for i, w in enumerate(words) if w in ("|", ">", ">>", "&&", ";")), len(words))
            found.append(words[1:end])
    return found


def resolve(words: list[str]) -> tuple[TyperCommand, list[str]]:
    """The command the words name, and the options given to it."""
    command = typer.main.get_command(app)
    rest = list(words)
    while isinstance(command, TyperGroup) and rest and not rest[0].startswith("-"):
        name = rest.pop(0)
        sub = command.get_command(None, name)  # type: ignore[arg-type]  # no context needed to look up
        assert sub is not None, f"`metaconnect {' '.join(words)}`: no command {name!r}"
        command = sub
    assert isinstance(command, TyperCommand), f"`metaconnect {' '.join(words)}` names a group, not a command"
    return command, [w.split("=", 1)[0] for w in rest if w.startswith("--")]


@pytest.mark.parametrize("doc", [TUTORIAL, README], ids=["tutorial", "readme"])
def test_every_command_the_doc_names_exists_with_its_options(doc: Path) -> None:
    invocations = cli_lines(doc)
    assert invocations, f"{doc.name} names no metaconnect command"
    for words in invocations:
        command, options = resolve(words)
        known = {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)}
        assert set(options) <= known, f"`metaconnect {' '.join(words)}`: unknown {set(options) - known}"


def test_the_tutorial_covers_the_first_hour() -> None:
    named = {" ".join(w for w in words if not w.startswith("-"))[:40] for words in cli_lines(TUTORIAL)}
    for command in ("sandbox tail", "demo questionnaire", "demo traffic", "routes plan", "routes apply"):
        assert any(n.startswith(command) for n in named), command


@pytest.mark.parametrize("colour", ["red", "yellow", "green", "blue"])
def test_demo_questionnaire_prints_an_event_scoring_the_colour(colour: str) -> None:
    result = CliRunner().invoke(app, ["demo", "questionnaire", "--colour", colour, "--customer-id", "c-1042"])

    assert result.exit_code == 0, result.output
    event = json.loads(result.stdout)
    assert event["type"] == "questionnaire.submitted"
    assert event["customer"] == {"customer_id": "c-1042"}
    assert event["properties"]["instrument"] == "colours24"
    scored = score_colours24(event["properties"]["answers"])
    assert {str(c): n for c, n in scored.most.items()}[colour] == 24


def test_demo_questionnaire_refuses_unknown() -> None:
    result = CliRunner().invoke(app, ["demo", "questionnaire", "--colour", "unknown", "--customer-id", "c-1"])

    assert result.exit_code == 2
