"""The digest's settings form (pure): addresses normalised, each error naming its field and rule."""

from __future__ import annotations

from datetime import time

from metaconnect_console.digest.cadence import Cadence
from metaconnect_console.digest.form import DigestConfig, Typed, checked, recipients_of


def test_recipients_are_split_normalised_and_kept_once() -> None:
    found, bad = recipients_of("CFO@Example.com, ops@example.com\nops@example.com;  not-an-address ")
    assert found == ["cfo@example.com", "ops@example.com"]
    assert bad == ["not-an-address"]


def test_a_valid_form_is_the_settings() -> None:
    typed = Typed(enabled=True, recipients="a@example.com", webhook=True, weekday="4", time="17:30", time_zone="UTC")
    config, errors = checked(typed)
    assert errors == {}
    assert config == DigestConfig(True, ("a@example.com",), True, Cadence(4, time(17, 30), "UTC"))
    assert Typed.of(config) == typed


def test_each_bad_field_names_its_rule() -> None:
    config, errors = checked(Typed(recipients="x@", weekday="9", time="25:00", time_zone="Mars/Olympus"))
    assert config is None
    assert {field: error.split(":")[0] for field, error in errors.items()} == {
        "recipients": "email",
        "weekday": "weekday",
        "time": "time",
        "time_zone": "time_zone",
    }


def test_a_digest_that_is_on_needs_somewhere_to_go() -> None:
    _, errors = checked(Typed(enabled=True))
    assert errors["recipients"].startswith("required:")
    config, errors = checked(Typed(enabled=True, webhook=True))
    assert errors == {}
    assert config is not None
    assert config.sends


def test_the_default_settings_are_off() -> None:
    assert not DigestConfig().sends
    assert DigestConfig().document() == {
        "enabled": False,
        "recipients": [],
        "webhook": False,
        "weekday": 0,
        "time": "08:00",
        "time_zone": "Europe/Berlin",
    }
