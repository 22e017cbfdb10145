"""What the services read from their environment, and where they listen: the facts the
deployment tests check docker-compose.yml and the Kubernetes manifests against.

Read from the settings classes themselves, so a new setting or a renamed one shows up here
without anyone listing it by hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import SecretStr
from pydantic_settings import BaseSettings

from metaconnect_common.settings import CommonSettings, KafkaSettings
from metaconnect_console.config import ConsoleSettings
from metaconnect_delivery.config import DeliverySettings
from metaconnect_ingest.config import IngestSettings
from metaconnect_profile.config import ProfileSettings
from metaconnect_router.config import RouterSettings

SERVICES: dict[str, type[BaseSettings]] = {
    "ingest": IngestSettings,
    "profile": ProfileSettings,
    "router": RouterSettings,
    "delivery": DeliverySettings,
    "console": ConsoleSettings,
}
# The event pipeline: the services that talk to each other over Kafka. The console calls their
# HTTP APIs and needs no Kafka.
PIPELINE = ("ingest", "profile", "router", "delivery")
CONSOLE = "console"
# Probe and scrape paths every service serves (metaconnect_common.http.add_operational_routes).
LIVENESS, READINESS, METRICS = "/healthz", "/readyz", "/metrics"
# Settings whose defaults only suit one machine (loopback addresses, development secrets): a
# deployment sets them for every service, and the secret ones from a secret store.
DEPLOYMENT_REQUIRED = frozenset({"MC_ENV", "MC_DATABASE_URL", "MC_AUTH_JWT_SECRET", "OTEL_EXPORTER_OTLP_ENDPOINT"})
SECRET = frozenset({"MC_DATABASE_URL", "MC_AUTH_JWT_SECRET", "MC_DELIVERY_SECRETS_KEY"})
# Plain settings whose values hold secrets (provider accounts carry their API keys).
HOLDS_SECRETS = frozenset({"MC_DELIVERY_PROVIDERS"})
# Per service, on top of DEPLOYMENT_REQUIRED: the pipeline needs its broker; the console where
# browsers reach it, where the four services are and who signs people in.
SERVICE_REQUIRED = {
    **{service: frozenset({"MC_KAFKA_BOOTSTRAP"}) for service in PIPELINE},
    "delivery": frozenset({"MC_KAFKA_BOOTSTRAP", "MC_DELIVERY_SECRETS_KEY", "MC_DELIVERY_PROVIDERS"}),
    CONSOLE: frozenset(
        {"MC_CONSOLE_PUBLIC_URL", "MC_CONSOLE_OIDC_ISSUER", *(f"MC_CONSOLE_{s.upper()}_URL" for s in PIPELINE)}
    ),
}


@dataclass(frozen=True)
class Variable:
    name: str
    default: Any
    secret: bool


def _variables(settings: type[BaseSettings]) -> dict[str, Variable]:
    prefix = str(settings.model_config.get("env_prefix", ""))
    found: dict[str, Variable] = {}
    for field_name, info in settings.model_fields.items():
        kind = info.annotation
        if isinstance(kind, type) and issubclass(kind, BaseSettings):
            found |= _variables(kind)  # read on its own, with its own prefix
            continue
        name = f"{prefix}{field_name}".upper()
        secret = name in SECRET or name in HOLDS_SECRETS or kind in (SecretStr, SecretStr | None)
        found[name] = Variable(name, info.get_default(call_default_factory=False), secret)
    return found


def variables(service: str) -> dict[str, Variable]:
    """Every environment variable `service` reads (its own settings and the common ones)."""
    return _variables(SERVICES[service]) | _variables(CommonSettings)


def kafka_variables() -> frozenset[str]:
    """The `MC_KAFKA_*` settings (read by every service's common block, used by the pipeline only)."""
    return frozenset(_variables(KafkaSettings))


def required(service: str) -> frozenset[str]:
    """What a deployment must set for `service`."""
    return DEPLOYMENT_REQUIRED | SERVICE_REQUIRED.get(service, frozenset())


def port(service: str) -> int:
    """The port `service` listens on by default (`MC_<SERVICE>_PORT`)."""
    value = SERVICES[service].model_fields["port"].default
    assert isinstance(value, int)
    return value


def credentials(service: str) -> frozenset[str]:
    """What `service` reads that a deployment takes from a secret store, never from plain config:
    `SECRET`, every `SecretStr` setting (the webhook secrets, the console's OIDC client secret),
    and `MC_DELIVERY_PROVIDERS` (the provider accounts, their secrets inside)."""
    return frozenset(name for name, variable in variables(service).items() if variable.secret)
