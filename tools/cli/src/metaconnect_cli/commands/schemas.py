"""`metaconnect schemas`: one JSON Schema per Kafka topic, and the backward-compatibility check."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from metaconnect_cli.commands.common import fail
from metaconnect_cli.schema_compat import compatibility_problems
from metaconnect_common.schemas import export_json_schemas

app = typer.Typer(help="Event schemas: one JSON Schema per Kafka topic.", no_args_is_help=True)


@app.command("export")
def schemas_export(
    out: Annotated[Path | None, typer.Option(help="Write <topic>.json files here instead of printing.")] = None,
) -> None:
    """Print (or write) the JSON Schema of every topic's value."""
    schemas = export_json_schemas()
    if out is None:
        typer.echo(json.dumps(schemas, indent=2))
        return
    out.mkdir(parents=True, exist_ok=True)
    for topic, schema in schemas.items():
        (out / f"{topic}.json").write_text(json.dumps(schema, indent=2) + "\n")
        typer.echo(out / f"{topic}.json")


@app.command("check")
def schemas_check(
    against: Annotated[Path, typer.Option(help="Directory of stored <topic>.json schemas.")],
) -> None:
    """Fail when a current schema cannot read what a stored one allowed (backward compatibility)."""
    stored_files = sorted(against.glob("*.json"))
    if not stored_files:
        fail(f"no stored schemas (*.json) in {against}", code=2)
    current = export_json_schemas()
    broken = False
    for path in stored_files:
        topic = path.stem
        if topic not in current:
            typer.echo(f"{topic}: topic schema removed")
            broken = True
            continue
        problems = compatibility_problems(json.loads(path.read_text()), current[topic])
        for problem in problems:
            typer.echo(f"{topic}: {problem}")
        broken = broken or bool(problems)
        if not problems:
            typer.echo(f"{topic}: backward compatible")
    for topic in sorted(set(current) - {p.stem for p in stored_files}):
        typer.echo(f"{topic}: new (not stored yet; run `metaconnect schemas export --out {against}`)")
    if broken:
        raise typer.Exit(1)
