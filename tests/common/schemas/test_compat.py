"""The checked-in JSON Schemas (docs/schemas) are what consumers in the field rely on:
today's models must still read every record those schemas allowed."""

from __future__ import annotations

import json
from pathlib import Path

from metaconnect_cli.schema_compat import compatibility_problems
from metaconnect_common.schemas import TOPIC_SCHEMAS, export_json_schemas

STORED = Path(__file__).resolve().parents[3] / "docs" / "schemas"


def test_every_topic_has_a_checked_in_schema() -> None:
    assert {p.stem for p in STORED.glob("*.json")} == set(TOPIC_SCHEMAS)


def test_current_models_are_backward_compatible_with_checked_in_schemas() -> None:
    current = export_json_schemas()
    for path in sorted(STORED.glob("*.json")):
        problems = compatibility_problems(json.loads(path.read_text()), current[path.stem])
        assert problems == [], f"{path.name}: {problems} (add a new versioned topic instead)"


def test_every_schema_carries_a_schema_version() -> None:
    for topic, schema in export_json_schemas().items():
        assert "schema_version" in schema["properties"], topic
