"""docker-compose.yml, checked offline against the Compose Specification and the services' own
settings (no Docker engine needed).

The file is read as Compose reads it (PyYAML resolves the anchors and `<<` merge keys), then
each Metaconnect service's environment is held against the variables its settings classes
read and is loaded by those classes, so a misspelt variable, a missing secret, a provider
account the delivery service would refuse or a port nobody listens on fails here instead of
in `docker compose up`.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shlex
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest
import yaml
from cryptography.fernet import Fernet
from pydantic import TypeAdapter
from sqlalchemy.engine import make_url

from metaconnect_cli.dev import TWILIO_STATUS_PATH
from metaconnect_cli.local.sandbox import SANDBOX_PORT, SANDBOX_SMTP_PORT, ingest_webhook_env, sandbox_providers
from metaconnect_common.migrations import alembic_config
from metaconnect_delivery.config import ProviderSettings
from metaconnect_sandbox.config import SandboxConfig
from tests.deploy import environment

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
SCHEMA = Path(__file__).parent / "schemas" / "compose-spec.json"
PROMETHEUS_CONFIG = "/etc/prometheus/prometheus.yml"
GRAFANA_DATASOURCES = "/etc/grafana/provisioning/datasources"
SANDBOX = "sandbox"
SANDBOX_HEALTH = "/_sandbox/health"
SERVICES = tuple(environment.SERVICES)
CONSOLE = environment.CONSOLE
CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}
PREFIXES = ("MC_", "OTEL_")
# Metaconnect's own containers (built from deploy/docker): hardened, run as the images' user.
IMAGE_USER = "10001:10001"


@cache
def compose() -> dict[str, Any]:
    document = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(document, dict)
    return document


def services() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose()["services"]
    return found


def is_job(name: str) -> bool:
    """One-shot containers (topics, migrations, demo routes) never restart."""
    return str(services()[name].get("restart", "no")) == "no"


def built_here(name: str) -> bool:
    return "build" in services()[name]


def env_of(name: str) -> dict[str, str]:
    raw = services()[name].get("environment", {})
    if isinstance(raw, list):  # the `KEY=value` list form
        raw = dict(item.partition("=")[::2] for item in raw)
    return {str(key): "" if value is None else str(value) for key, value in raw.items()}


def healthcheck_url(name: str) -> tuple[str, int, str]:
    """(host, port, path) of the URL a service's healthcheck calls."""
    test = services()[name]["healthcheck"]["test"]
    command = " ".join(test) if isinstance(test, list) else str(test)
    [url] = re.findall(r"https?://[^'\"\s]+", command)
    parts = urlsplit(url)
    assert parts.hostname is not None, url
    assert parts.port is not None, url
    return parts.hostname, parts.port, parts.path


def published(name: str) -> Iterator[tuple[str | None, str | None, int]]:
    """(host ip, host port, container port) of every published port."""
    for entry in services()[name].get("ports", []):
        if isinstance(entry, dict):
            yield entry.get("host_ip"), str(entry.get("published")), int(entry["target"])
            continue
        *outside, inside = str(entry).split(":")
        host_ip = outside[0] if len(outside) == 2 else None
        host_port = outside[-1] if outside else None
        yield host_ip, host_port, int(inside.split("/")[0])


def command_words(name: str) -> list[str]:
    command = services()[name].get("command", [])
    return shlex.split(command) if isinstance(command, str) else [str(word) for word in command]


def bind_mounts(name: str) -> Iterator[tuple[str, str]]:
    """(host path, container path) of every bind mount (short or long syntax)."""
    for volume in services()[name].get("volumes", []):
        if isinstance(volume, dict):
            if volume.get("type") == "bind":
                yield str(volume["source"]), str(volume["target"])
            continue
        source, target, *_ = str(volume).split(":")
        if source.startswith((".", "/", "~")):
            yield source, target


def mounted(name: str, target: str) -> Path:
    [source] = [source for source, inside in bind_mounts(name) if inside == target]
    return (COMPOSE.parent / source).resolve()


def sandbox_port() -> int:
    words = command_words(SANDBOX)
    return int(words[words.index("--port") + 1])


def sandbox_smtp_port() -> int:
    words = command_words(SANDBOX)
    return int(words[words.index("--smtp-port") + 1])


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No MC_* / OTEL_* from the machine running the tests: only what compose sets counts."""
    for key in list(os.environ):
        if key.startswith(PREFIXES):
            monkeypatch.delenv(key)
    return monkeypatch


def test_validates_against_the_compose_specification() -> None:
    schema = json.loads(SCHEMA.read_text())
    validator = jsonschema.validators.validator_for(schema)  # the draft the schema's $schema names
    validator.check_schema(schema)
    errors = [
        f"{'/'.join(map(str, error.absolute_path))}: {error.message}"
        for error in validator(schema, format_checker=validator.FORMAT_CHECKER).iter_errors(compose())
    ]
    assert errors == []
    assert "version" not in compose(), "the Compose specification has no version"


def test_the_schema_catches_a_misspelt_key() -> None:
    schema = json.loads(SCHEMA.read_text())
    broken = copy.deepcopy(compose())
    broken["services"]["router"]["enviroment"] = broken["services"]["router"].pop("environment")
    assert not jsonschema.validators.validator_for(schema)(schema).is_valid(broken)


def test_every_metaconnect_service_is_there() -> None:
    for service in (*SERVICES, SANDBOX):
        assert service in services()
        assert not is_job(service)


def test_every_dependency_names_its_condition() -> None:
    for name, service in services().items():
        depends_on = service.get("depends_on", {})
        assert isinstance(depends_on, dict), f"{name}: depends_on as a mapping, each with its condition"
        for target, rule in depends_on.items():
            assert target in services(), f"{name} depends on an unknown service {target}"
            assert rule.get("condition") in CONDITIONS, f"{name} -> {target}: no condition"
            if rule["condition"] == "service_completed_successfully":
                assert is_job(target), f"{name} waits for {target} to finish, but it never does"
            if rule["condition"] == "service_healthy":
                assert "healthcheck" in services()[target], f"{name} waits for {target} to be healthy"


def test_long_running_services_have_healthchecks_and_restart() -> None:
    for name, service in services().items():
        if is_job(name):
            continue
        assert service.get("restart") == "unless-stopped", name
        healthcheck = service.get("healthcheck", {})
        assert healthcheck.get("test"), f"{name} has no healthcheck"
        assert not healthcheck.get("disable"), f"{name} has its healthcheck disabled"


@pytest.mark.parametrize("service", SERVICES)
def test_environment_sets_what_a_deployment_must(service: str) -> None:
    assert environment.required(service) <= set(env_of(service))


@pytest.mark.parametrize("service", SERVICES)
def test_environment_sets_only_what_the_service_reads(service: str) -> None:
    ours = {key for key in env_of(service) if key.startswith(PREFIXES)}
    assert ours - set(environment.variables(service)) == set(), "not read by the service (a typo?)"


@pytest.mark.parametrize("service", SERVICES)
def test_environment_loads_in_production(service: str, clean_env: pytest.MonkeyPatch) -> None:
    """The service's own settings accept it: production secrets, URL patterns, provider JSON."""
    for key, value in env_of(service).items():
        clean_env.setenv(key, value)
    settings: Any = environment.SERVICES[service]()
    assert settings.common.env == "production"
    assert settings.port == environment.port(service)


def test_jobs_set_only_what_they_read() -> None:
    for name in services():
        if is_job(name) and name != "demo-routes":
            service = image_service(name)
            assert set(env_of(name)) <= set(environment.variables(service)), name


def test_every_service_uses_one_signing_secret() -> None:
    secrets = {env_of(name)["MC_AUTH_JWT_SECRET"] for name in (*SERVICES, "demo-routes")}
    assert len(secrets) == 1, "tokens minted for one service must verify at every other"


def test_database_url_is_the_postgres_service() -> None:
    postgres = env_of("postgres")
    for name in services():
        if "MC_DATABASE_URL" not in env_of(name):
            continue
        url = make_url(env_of(name)["MC_DATABASE_URL"])
        assert url.drivername == "postgresql+asyncpg"
        assert url.host == "postgres"
        assert url.host in services()
        assert (url.username, url.password, url.database) == (
            postgres["POSTGRES_USER"],
            postgres["POSTGRES_PASSWORD"],
            postgres["POSTGRES_DB"],
        )


def test_kafka_bootstrap_is_an_advertised_listener() -> None:
    advertised = {listener.partition("://")[2] for listener in env_of("kafka")["KAFKA_ADVERTISED_LISTENERS"].split(",")}
    for name in services():
        if bootstrap := env_of(name).get("MC_KAFKA_BOOTSTRAP"):
            assert set(bootstrap.split(",")) <= advertised, name
            assert bootstrap.partition(":")[0] in services()


def test_traces_go_to_jaeger_over_otlp_http() -> None:
    for service in SERVICES:
        url = urlsplit(env_of(service)["OTEL_EXPORTER_OTLP_ENDPOINT"])
        assert url.hostname in services()
        assert url.port == 4318


@pytest.mark.parametrize("service", SERVICES)
def test_listens_where_it_is_probed_and_published(service: str) -> None:
    port = environment.port(service)
    assert env_of(service).get(f"MC_{service.upper()}_PORT", str(port)) == str(port)
    assert port in {inside for _, _, inside in published(service)}
    assert str(port) in {outside for _, outside, inside in published(service) if inside == port}
    host, probed, path = healthcheck_url(service)
    assert host in ("127.0.0.1", "localhost")
    assert probed == port
    assert path in (environment.READINESS, environment.LIVENESS)


def test_sandbox_listens_where_it_is_probed_and_published() -> None:
    _, probed, path = healthcheck_url(SANDBOX)
    assert (probed, path) == (sandbox_port(), SANDBOX_HEALTH)
    assert (sandbox_port(), sandbox_smtp_port()) == (SANDBOX_PORT, SANDBOX_SMTP_PORT)
    assert {sandbox_port(), sandbox_smtp_port()} <= {inside for _, _, inside in published(SANDBOX)}
    words = command_words(SANDBOX)
    assert words[words.index("--host") + 1] == "0.0.0.0", "reachable from the other containers"


def test_ports_are_published_on_loopback_only() -> None:
    """The demo secrets in this file must not be reachable from the network."""
    for name in services():
        for host_ip, _, inside in published(name):
            assert host_ip == "127.0.0.1", f"{name}: port {inside}"


def image_service(name: str) -> str:
    """The Metaconnect service whose Dockerfile builds `name`'s image."""
    dockerfile = Path(services()[name]["build"]["dockerfile"]).name
    return dockerfile.removesuffix(".Dockerfile")


def test_images_are_built_from_deploy_docker() -> None:
    for name in services():
        if not built_here(name):
            continue
        build = services()[name]["build"]
        assert build["context"] == "."
        assert (ROOT / build["dockerfile"]).is_file()
        assert Path(build["dockerfile"]).parent == Path("deploy/docker")
        assert services()[name]["image"] == f"metaconnect/{image_service(name)}:local"
    for service in (*SERVICES, SANDBOX):
        assert image_service(service) == service


def test_jobs_run_the_service_image_with_migrate_or_topics() -> None:
    for service in SERVICES:
        job = f"migrate-{service}"
        assert services()[job]["build"] == services()[service]["build"], f"{job} runs {service}'s image"
        assert services()[job]["image"] == services()[service]["image"]
        assert command_words(job) == ["migrate"]
        assert is_job(job)
        alembic_config(f"metaconnect_{service}", "postgresql://unused")  # it has migrations to run
        waits = services()[service]["depends_on"]
        assert waits[job]["condition"] == "service_completed_successfully"
        if service in environment.PIPELINE:
            assert waits["topics"]["condition"] == "service_completed_successfully"
    topics = services()["topics"]
    assert image_service("topics") in SERVICES
    assert topics["build"] == services()[image_service("topics")]["build"]
    assert command_words("topics") == ["topics"]
    assert int(env_of("topics")["MC_KAFKA_TOPIC_PARTITIONS"]) >= 1


def test_topics_come_from_the_job_alone() -> None:
    """Services must not create topics with other settings than the job's."""
    for service in environment.PIPELINE:
        assert env_of(service).get("MC_KAFKA_CREATE_TOPICS") == "false"
        for key in ("MC_KAFKA_TOPIC_PARTITIONS", "MC_KAFKA_TOPIC_REPLICATION"):
            assert env_of(service).get(key) == env_of("topics").get(key)


def test_metaconnect_containers_are_hardened() -> None:
    for name in services():
        if not built_here(name):
            continue
        service = services()[name]
        assert service.get("user") == IMAGE_USER, f"{name}: the images' non-root user"
        assert service.get("read_only") is True, name
        assert "/tmp" in service.get("tmpfs", []), f"{name}: a tmpfs /tmp on the read-only root"


def test_images_are_pinned() -> None:
    for name, service in services().items():
        image = str(service.get("image", ""))
        assert image, f"{name}: an image (built here or pulled)"
        assert pinned(image), f"{name}: {image} is not pinned to a tag or digest"


def pinned(image: str) -> bool:
    """`name:tag` (not latest) or `name@sha256:...`; a registry's `host:port/` is no tag."""
    if "@sha256:" in image:
        return True
    _, colon, tag = image.rpartition("/")[2].rpartition(":")
    return bool(colon) and tag not in ("", "latest")


def test_bind_mounts_exist() -> None:
    for name in services():
        for source, _ in bind_mounts(name):
            assert source.startswith("./"), f"{name}: {source} is relative to the repository"
            assert (COMPOSE.parent / source).exists(), f"{name}: {source} does not exist"


def test_prometheus_scrapes_the_services() -> None:
    config = yaml.safe_load(mounted("prometheus", PROMETHEUS_CONFIG).read_text())
    for rule_file in config.get("rule_files", []):  # relative to the config file, inside the container
        inside = f"{Path(PROMETHEUS_CONFIG).parent}/{rule_file}"
        [(source, target)] = [(s, t) for s, t in bind_mounts("prometheus") if inside.startswith(f"{t}/")]
        assert (COMPOSE.parent / source / inside.removeprefix(f"{target}/")).is_file(), f"{rule_file} not mounted"
    targets = {
        job["job_name"]: {target for static in job.get("static_configs", []) for target in static["targets"]}
        for job in config["scrape_configs"]
    }
    for service in SERVICES:
        assert targets.get(service) == {f"{service}:{environment.port(service)}"}
    for job, found in targets.items():
        for target in found:
            host, _, port = target.partition(":")
            if host != "localhost":
                assert host in SERVICES, f"job {job} scrapes {target}, which is no Metaconnect service"
                assert int(port) == environment.port(host)


def test_grafana_reads_the_prometheus_service() -> None:
    directory = mounted("grafana", GRAFANA_DATASOURCES)
    for path in directory.glob("*.yml"):
        for source in yaml.safe_load(path.read_text()).get("datasources", []):
            url = urlsplit(source["url"])
            assert url.hostname == "prometheus"
            assert url.port == 9090
            assert 9090 in {inside for _, _, inside in published("prometheus")}


def test_console_calls_the_services_and_needs_no_kafka(clean_env: pytest.MonkeyPatch) -> None:
    console = env_of(CONSOLE)
    assert not {key for key in console if key in environment.kafka_variables()}, "the console needs no Kafka"
    assert "kafka" not in services()[CONSOLE]["depends_on"]
    assert "topics" not in services()[CONSOLE]["depends_on"]
    for service in environment.PIPELINE:
        url = urlsplit(console[f"MC_CONSOLE_{service.upper()}_URL"])
        assert (url.scheme, url.hostname, url.port) == ("http", service, environment.port(service))
        assert url.hostname in services()
        # Started after them, not held back by them: a page whose service is down says so.
        assert services()[CONSOLE]["depends_on"][service]["condition"] == "service_started"
    public = urlsplit(console["MC_CONSOLE_PUBLIC_URL"])
    assert public.hostname in ("localhost", "127.0.0.1")
    assert str(public.port) in {outside for _, outside, inside in published(CONSOLE) if inside == public.port}
    for key, value in console.items():
        clean_env.setenv(key, value)
    settings: Any = environment.SERVICES[CONSOLE]()
    assert settings.dev_sign_in is False, "one-time sign-in links are for development only"
    assert settings.oidc_issuer is None, "a placeholder: the sign-in page says no provider is configured"
    assert settings.oidc_client_secret is None, "no secret written here: an override sets it"
    trace = settings.trace_url_template
    assert trace is not None
    assert urlsplit(trace.format(trace_id="0" * 32)).port in {int(o or 0) for _, o, _ in published("jaeger")}


def delivery_providers() -> list[ProviderSettings]:
    raw = json.loads(env_of("delivery")["MC_DELIVERY_PROVIDERS"])
    return TypeAdapter(list[ProviderSettings]).validate_python(raw)


def test_delivery_providers_are_the_sandbox() -> None:
    providers = delivery_providers()
    assert {p.channel for p in providers} >= {"push", "sms", "whatsapp", "email"}
    for provider in providers:
        url = urlsplit(provider.base_url)
        assert url.hostname == SANDBOX, f"{provider.name} must not leave the machine"
        expected = sandbox_smtp_port() if provider.kind == "smtp" else sandbox_port()
        assert url.port == expected, provider.name


def test_delivery_providers_carry_the_sandbox_credentials() -> None:
    """Exactly what `metaconnect dev` configures, with the compose service names as hosts."""
    sandbox = f"http://{SANDBOX}:{sandbox_port()}"
    callback = f"{env_of('ingest')['MC_INGEST_PUBLIC_URL']}{TWILIO_STATUS_PATH}"
    expected = sandbox_providers(sandbox, sandbox_smtp_port(), twilio_status_callback_url=callback)
    for provider in expected:
        if provider["kind"] == "smtp":
            provider["base_url"] = f"smtp://{SANDBOX}:{sandbox_smtp_port()}"
    assert delivery_providers() == TypeAdapter(list[ProviderSettings]).validate_python(expected)


def test_delivery_secrets_key_is_a_fernet_key() -> None:
    Fernet(env_of("delivery")["MC_DELIVERY_SECRETS_KEY"])


def test_ingest_checks_the_sandbox_webhooks() -> None:
    ingest = env_of("ingest")
    assert ingest_webhook_env().items() <= ingest.items()
    public = urlsplit(ingest["MC_INGEST_PUBLIC_URL"])
    assert (public.hostname, public.port) == ("ingest", environment.port("ingest"))
    [config] = services()[SANDBOX]["configs"]
    words = command_words(SANDBOX)
    assert words[words.index("--config") + 1] == config["target"]
    sandbox_config = SandboxConfig.model_validate_json(compose()["configs"][config["source"]]["content"])
    assert sandbox_config.whatsapp_webhook_url is not None
    webhook = urlsplit(sandbox_config.whatsapp_webhook_url)
    assert (webhook.hostname, webhook.port) == ("ingest", environment.port("ingest"))


def test_demo_routes_apply_once_the_router_is_ready() -> None:
    demo = services()["demo-routes"]
    assert is_job("demo-routes")
    assert image_service("demo-routes") == "cli"
    assert demo["depends_on"]["router"]["condition"] == "service_healthy"
    script = " ".join(command_words("demo-routes"))
    assert "metaconnect tokens issue --role editor" in script, "a least-privilege token, minted in the job"
    assert f"metaconnect routes apply /opt/metaconnect/routes --url http://router:{environment.port('router')}" in (
        script
    )
    assert env_of("demo-routes")["MC_ENV"] == "production"


def _all_strings(node: object) -> Iterator[str]:
    if isinstance(node, Mapping):
        for value in node.values():
            yield from _all_strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _all_strings(value)
    elif isinstance(node, str):
        yield node


def test_no_variable_is_left_to_the_host() -> None:
    """`docker compose up` needs no .env: every value is in the file (`$$` is a literal `$`)."""
    for value in _all_strings(compose()):
        assert not re.search(r"\$\{?\w", value.replace("$$", "")), value
