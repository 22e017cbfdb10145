"""The Kubernetes manifests in deploy/k8s, rendered with kustomize and checked offline.

The base and both overlays are built with the pinned kustomize (scripts/kustomize builds it
once with Go); every object must pass the Kubernetes OpenAPI schema, strictly, and the facts
the services define (ports, probe paths, the variables their settings read, which of them are
secret) must hold in what would be applied: a wrong port, a misspelt variable, a secret in a
ConfigMap, a pod the default-deny policy misses or a consumer scaled past its partitions fails.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import kubernetes_validate
import pytest
import yaml

from tests.deploy import environment

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
TARGETS = {"base": K8S / "base", "dev": K8S / "overlays" / "dev", "prod": K8S / "overlays" / "prod"}
NAMESPACES = {"base": None, "dev": "metaconnect-dev", "prod": "metaconnect"}
# The oldest Kubernetes the manifests support (preStop `sleep` is on by default from 1.30) and
# the newest kubernetes-validate knows.
KUBERNETES_VERSIONS = ("1.30", "1.37")
SECRET_NAME = "metaconnect-secrets"
CONSUMERS = ("profile", "router", "delivery")  # one consumer group each: replicas beyond partitions idle
GRACEFUL_SHUTDOWN_S = 30  # metaconnect_common.service.serve
POSTGRES_PORT = 5432
PROVIDER_PORTS = {443, 587, 465}  # delivery: HTTPS provider APIs, SMTP submission and SMTPS
OIDC_PORTS = {443}  # the console's identity provider
INGRESS_FROM = {"ingress-nginx", "monitoring"}  # the only namespaces that may call a service
CONSOLE = environment.CONSOLE
# The namespaces of the peers outside Metaconnect's (the placeholders of networkpolicies.yaml).
DNS_NAMESPACE = "kube-system"
POSTGRES_NAMESPACE = "postgres"
OTLP_NAMESPACE = "observability"
KAFKA_NAMESPACE = "kafka"
PRIVATE_RANGES = {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "169.254.0.0/16"}

Manifest = dict[str, Any]
# What the second step of the rollout applies (`app.kubernetes.io/component: server`).
SERVING_KINDS = {"Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget", "ServiceMonitor"}

# kubernetes-validate knows only built-in kinds; the CRDs used get a schema of the fields the
# manifests use (from the prometheus-operator CRD), strict like the others: a field outside it
# fails until it is added here.
_DURATION = {
    "type": "string",
    "pattern": r"^(0|"
    r"(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$",
}
_LABELS = {"type": "object", "additionalProperties": {"type": "string"}}


def _strict(required: list[str], **properties: Any) -> dict[str, Any]:
    return {"type": "object", "required": required, "additionalProperties": False, "properties": properties}


CRD_SCHEMAS: dict[tuple[str, str], dict[str, Any]] = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"): _strict(
        ["apiVersion", "kind", "metadata", "spec"],
        apiVersion={"const": "monitoring.coreos.com/v1"},
        kind={"const": "ServiceMonitor"},
        metadata=_strict(["name"], name={"type": "string"}, namespace={"type": "string"}, labels=_LABELS),
        spec=_strict(
            ["selector", "endpoints"],
            jobLabel={"type": "string"},
            selector=_strict([], matchLabels=_LABELS, matchExpressions={"type": "array"}),
            endpoints={
                "type": "array",
                "minItems": 1,
                "items": _strict(
                    ["port"],
                    port={"type": "string"},
                    path={"type": "string"},
                    scheme={"enum": ["http", "https"]},
                    interval=_DURATION,
                    scrapeTimeout=_DURATION,
                ),
            },
        ),
    ),
}


@dataclass(frozen=True)
class Rendering:
    """What `kustomize build <target>` prints, one dict per object."""

    target: str
    objects: tuple[Manifest, ...]

    def of_kind(self, kind: str) -> list[Manifest]:
        return [o for o in self.objects if o["kind"] == kind]

    def named(self, kind: str, name: str) -> Manifest:
        (found,) = [o for o in self.of_kind(kind) if o["metadata"]["name"] == name]
        return found

    def deployment(self, service: str) -> Manifest:
        (found,) = [
            d for d in self.of_kind("Deployment") if d["metadata"]["labels"]["app.kubernetes.io/name"] == service
        ]
        return found

    def pod_templates(self) -> Iterator[tuple[str, dict[str, Any]]]:
        for kind in ("Deployment", "Job"):
            for o in self.of_kind(kind):
                yield f"{kind}/{o['metadata']['name']}", o["spec"]["template"]

    def config(self) -> dict[str, str]:
        """Every ConfigMap's data together (shared, Kafka's, the console's): no key in two."""
        data: dict[str, str] = {}
        for config_map in self.of_kind("ConfigMap"):
            assert not set(data) & set(config_map["data"]), f"{config_map['metadata']['name']} repeats a key"
            data |= config_map["data"]
        return data


@dataclass(frozen=True)
class Setting:
    """One environment variable of a container and where its value comes from."""

    value: str | None = None
    secret_key: str | None = None


@pytest.fixture(scope="session")
def kustomize() -> str:
    # The first run builds kustomize with Go (about a minute from empty caches).
    done = subprocess.run([ROOT / "scripts" / "kustomize"], capture_output=True, text=True, timeout=240, check=False)
    assert done.returncode == 0, f"scripts/kustomize failed:\n{done.stderr}"
    return done.stdout.strip()


@pytest.fixture(scope="session")
def renderings(kustomize: str) -> dict[str, Rendering]:
    rendered = {}
    for target, path in TARGETS.items():
        done = subprocess.run([kustomize, "build", path], capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, f"kustomize build {path.relative_to(ROOT)}:\n{done.stderr}"
        rendered[target] = Rendering(target, tuple(o for o in yaml.safe_load_all(done.stdout) if o))
    return rendered


@pytest.fixture(params=list(TARGETS))
def rendering(request: pytest.FixtureRequest, renderings: dict[str, Rendering]) -> Rendering:
    return renderings[request.param]


def containers(pod: dict[str, Any]) -> list[dict[str, Any]]:
    return [*pod["spec"].get("initContainers", []), *pod["spec"]["containers"]]


def container_env(rendering: Rendering, container: dict[str, Any]) -> dict[str, Setting]:
    """The container's variables as Kubernetes resolves them (`env` over `envFrom`)."""
    found: dict[str, Setting] = {}
    for source in container.get("envFrom", []):
        assert set(source) == {"configMapRef"}, "envFrom only from the ConfigMap: secrets by name, in env"
        config_map = rendering.named("ConfigMap", source["configMapRef"]["name"])
        found |= {name: Setting(value=value) for name, value in config_map["data"].items()}
    for variable in container.get("env", []):
        ref = variable.get("valueFrom", {}).get("secretKeyRef")
        if ref is not None:
            assert ref["name"] == SECRET_NAME
            found[variable["name"]] = Setting(secret_key=ref["key"])
        else:
            assert "valueFrom" not in variable, f"{variable['name']}: a literal, the ConfigMap or {SECRET_NAME}"
            found[variable["name"]] = Setting(value=variable["value"])
    return found


def image_parts(image: str) -> tuple[str, str]:
    """`registry:5000/metaconnect/ingest:0.1.0` -> (`registry:5000/metaconnect/ingest`, `0.1.0`)."""
    name, colon, tag = image.rpartition(":")
    return (name, tag) if colon and "/" not in tag else (image, "")


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """A Kubernetes label selector (matchLabels, matchExpressions) against a set of labels."""
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expression in selector.get("matchExpressions", []):
        key, operator, values = expression["key"], expression["operator"], expression.get("values", [])
        matched = {
            "In": key in labels and labels[key] in values,
            "NotIn": labels.get(key) not in values,
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }[operator]
        if not matched:
            return False
    return True


def quantity(value: str | int) -> Decimal:
    units = {"m": Decimal("0.001"), "k": Decimal(1000), "M": Decimal(1000**2), "G": Decimal(1000**3)}
    units |= {"Ki": Decimal(1024), "Mi": Decimal(1024**2), "Gi": Decimal(1024**3)}
    text = str(value)
    for suffix in sorted(units, key=len, reverse=True):
        if text.endswith(suffix):
            return Decimal(text[: -len(suffix)]) * units[suffix]
    return Decimal(text)


def test_objects_match_the_kubernetes_schema(rendering: Rendering) -> None:
    for manifest in rendering.objects:
        where = f"{rendering.target}: {manifest['kind']}/{manifest['metadata']['name']}"
        crd = CRD_SCHEMAS.get((manifest["apiVersion"], manifest["kind"]))
        if crd is not None:
            for error in jsonschema.Draft202012Validator(crd).iter_errors(manifest):
                pytest.fail(f"{where}: {'.'.join(str(p) for p in error.path)}: {error.message}")
            continue
        for version in KUBERNETES_VERSIONS:
            try:
                kubernetes_validate.validate(manifest, version, strict=True)
            except kubernetes_validate.ValidationError as error:
                path = ".".join(str(p) for p in error.path)
                pytest.fail(f"{where} (Kubernetes {version}): {path}: {error.message}")
            except kubernetes_validate.SchemaNotFoundError:
                pytest.fail(f"{where}: no schema for {manifest['apiVersion']} in Kubernetes {version}; add one")


def test_base_and_dev_need_no_crds(renderings: dict[str, Rendering]) -> None:
    # So they apply to a cluster without the Prometheus Operator; prod adds its ServiceMonitor.
    for target in ("base", "dev"):
        assert not [o for o in renderings[target].objects if (o["apiVersion"], o["kind"]) in CRD_SCHEMAS]
    assert renderings["prod"].of_kind("ServiceMonitor")


def test_pods_run_locked_down(rendering: Rendering) -> None:
    for where, pod in rendering.pod_templates():
        spec = pod["spec"]
        assert spec["securityContext"]["runAsNonRoot"] is True, where
        assert spec["securityContext"]["runAsUser"] == 10001, where
        assert spec["securityContext"]["fsGroup"] == 10001, where
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, where
        assert spec["automountServiceAccountToken"] is False, where
        tmp = {v["name"] for v in spec["volumes"] if "emptyDir" in v}
        for container in containers(pod):
            name = f"{where} {container['name']}"
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True, name
            assert context["allowPrivilegeEscalation"] is False, name
            assert context["capabilities"] == {"drop": ["ALL"]}, name
            assert not {"runAsUser", "runAsNonRoot", "privileged"} & set(context), f"{name}: the pod's user only"
            mounted = {m["name"] for m in container["volumeMounts"] if m["mountPath"] == "/tmp"}
            assert mounted, f"{name}: no writable /tmp"
            assert mounted <= tmp, f"{name}: /tmp is not an emptyDir"
            resources = container["resources"]
            for resource in ("cpu", "memory"):
                request, limit = resources["requests"][resource], resources["limits"][resource]
                assert quantity(request) <= quantity(limit), f"{name}: {resource} request above limit"
    (account,) = rendering.of_kind("ServiceAccount")
    assert account["automountServiceAccountToken"] is False


@pytest.mark.parametrize("service", list(environment.SERVICES))
def test_deployment_serves_and_probes_its_port(rendering: Rendering, service: str) -> None:
    deployment = rendering.deployment(service)
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert labels == {
        "app.kubernetes.io/name": service,
        "app.kubernetes.io/part-of": "metaconnect",
        "app.kubernetes.io/component": "server",
    }
    assert selects(deployment["spec"]["selector"], labels)
    spec = deployment["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    assert image_parts(container["image"])[0] == f"metaconnect/{service}"
    assert container["args"] == ["serve"]
    (http,) = [p for p in container["ports"] if p["name"] == "http"]
    assert http["containerPort"] == environment.port(service)
    for probe, path in (
        ("startupProbe", environment.LIVENESS),
        ("livenessProbe", environment.LIVENESS),
        ("readinessProbe", environment.READINESS),
    ):
        assert container[probe]["httpGet"]["path"] == path, probe
        assert container[probe]["httpGet"]["port"] in ("http", environment.port(service)), probe
    pre_stop = container.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds", 0)
    assert spec["terminationGracePeriodSeconds"] > pre_stop + GRACEFUL_SHUTDOWN_S
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == str(environment.port(service))
    assert annotations["prometheus.io/path"] == environment.METRICS
    assert spec["topologySpreadConstraints"]
    assert all(selects(c["labelSelector"], labels) for c in spec["topologySpreadConstraints"])


@pytest.mark.parametrize("service", list(environment.SERVICES))
def test_service_targets_the_http_port(rendering: Rendering, service: str) -> None:
    service_object = rendering.named("Service", service)
    pod_labels = rendering.deployment(service)["spec"]["template"]["metadata"]["labels"]
    assert service_object["spec"]["type"] == "ClusterIP"
    assert selects({"matchLabels": service_object["spec"]["selector"]}, pod_labels)
    (port,) = service_object["spec"]["ports"]
    assert port["name"] == "http"
    assert port["port"] == environment.port(service)
    assert port["targetPort"] in ("http", environment.port(service))


@pytest.mark.parametrize("service", list(environment.SERVICES))
def test_environment_is_complete_secret_and_known(
    rendering: Rendering, service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    (container,) = rendering.deployment(service)["spec"]["template"]["spec"]["containers"]
    env = container_env(rendering, container)
    missing = environment.required(service) - set(env)
    assert not missing, f"{service} needs {sorted(missing)}"
    for name in environment.credentials(service) & set(env):
        assert env[name].secret_key is not None, f"{name} must come from {SECRET_NAME}"
    known = environment.variables(service)
    unknown = {n for n in env if n.startswith(("MC_", "OTEL_")) and n not in known}
    assert not unknown, f"{service} reads none of {sorted(unknown)}"
    # The values parse: the settings accept them, secrets standing in for the Secret's keys.
    for name in [n for n in os.environ if n.startswith(("MC_", "OTEL_"))]:
        monkeypatch.delenv(name)
    stand_ins = {"MC_DELIVERY_PROVIDERS": "[]"}
    for name, setting in env.items():
        monkeypatch.setenv(name, setting.value if setting.value is not None else stand_ins.get(name, "x" * 44))
    environment.SERVICES[service]()


def test_console_calls_the_services_signs_tokens_like_them_and_needs_no_kafka(rendering: Rendering) -> None:
    def env_of(service: str) -> dict[str, Setting]:
        (container,) = rendering.deployment(service)["spec"]["template"]["spec"]["containers"]
        return container_env(rendering, container)

    console = env_of(CONSOLE)
    assert not set(console) & environment.kafka_variables(), "the console needs no Kafka"
    for service in environment.PIPELINE:
        url = urlsplit(console[f"MC_CONSOLE_{service.upper()}_URL"].value or "")
        (port,) = rendering.named("Service", service)["spec"]["ports"]
        assert (url.scheme, url.hostname, url.port) == ("http", service, port["port"]), "its Service, in-namespace"
        # Operator tokens the console mints must verify at every service: one signing key.
        assert env_of(service)["MC_AUTH_JWT_SECRET"] == console["MC_AUTH_JWT_SECRET"]
    assert console["MC_CONSOLE_OIDC_CLIENT_SECRET"].secret_key is not None
    assert console["MC_ENV"].value == "production"
    assert "MC_CONSOLE_DEV_SIGN_IN" not in console, "one-time sign-in links are for development only"
    assert urlsplit(console["MC_CONSOLE_PUBLIC_URL"].value or "").scheme == "https", "Secure cookies"


def test_no_secret_values_in_the_repository(rendering: Rendering) -> None:
    assert not [s["metadata"]["name"] for s in rendering.of_kind("Secret") if s.get("data") or s.get("stringData")]
    every_secret = set().union(*(environment.credentials(s) for s in environment.SERVICES))
    assert not every_secret & set(rendering.config()), "a secret in the ConfigMap"


@pytest.mark.parametrize("service", list(environment.SERVICES))
def test_deployment_has_an_autoscaler_and_a_disruption_budget(rendering: Rendering, service: str) -> None:
    deployment = rendering.deployment(service)
    name, labels = deployment["metadata"]["name"], deployment["spec"]["template"]["metadata"]["labels"]
    # The autoscaler owns the replica count: one in the Deployment would reset it on every apply.
    assert "replicas" not in deployment["spec"]
    (hpa,) = [h for h in rendering.of_kind("HorizontalPodAutoscaler") if h["spec"]["scaleTargetRef"]["name"] == name]
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"]["kind"] == "Deployment"
    assert [m["resource"]["name"] for m in hpa["spec"]["metrics"]] == ["cpu"]
    low, high = hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]
    assert 1 <= low <= high
    if service in CONSUMERS:
        partitions = int(rendering.config()["MC_KAFKA_TOPIC_PARTITIONS"])
        assert high <= partitions, f"{service}: replicas beyond {partitions} partitions would idle"
    (pdb,) = [p for p in rendering.of_kind("PodDisruptionBudget") if selects(p["spec"]["selector"], labels)]
    budget = pdb["spec"]
    assert budget.get("maxUnavailable") == 1 or budget.get("minAvailable") == 1
    # A drain must be possible at the autoscaler's minimum.
    assert "minAvailable" not in budget or budget["minAvailable"] < low


def _policies(rendering: Rendering, labels: dict[str, str], direction: str) -> list[dict[str, Any]]:
    return [
        p["spec"]
        for p in rendering.of_kind("NetworkPolicy")
        if direction in p["spec"]["policyTypes"] and selects(p["spec"]["podSelector"], labels)
    ]


def _ports(rules: list[dict[str, Any]]) -> set[int | str]:
    return {port["port"] for rule in rules for port in rule.get("ports", [])}


def test_network_policies_deny_by_default(rendering: Rendering) -> None:
    config = rendering.config()
    kafka_ports = {int(address.rsplit(":", 1)[1]) for address in config["MC_KAFKA_BOOTSTRAP"].split(",")}
    otlp_port = urlsplit(config["OTEL_EXPORTER_OTLP_ENDPOINT"]).port
    for where, pod in rendering.pod_templates():
        labels = pod["metadata"]["labels"]
        for direction in ("Ingress", "Egress"):
            deny = [p for p in _policies(rendering, labels, direction) if not p.get(direction.lower())]
            assert deny, f"{where}: no default-deny {direction} policy selects it"
        ingress = [r for p in _policies(rendering, labels, "Ingress") for r in p.get("ingress", [])]
        egress = [r for p in _policies(rendering, labels, "Egress") for r in p.get("egress", [])]
        assert all(r.get("to") for r in egress), f"{where}: an egress rule to anywhere"
        assert all(r.get("ports") for r in egress), f"{where}: an egress rule on any port"
        assert 53 in _ports(egress), f"{where}: no DNS"
        component, name = labels["app.kubernetes.io/component"], labels["app.kubernetes.io/name"]
        # From the ingress controller and Prometheus; from the namespace's pods only the console's
        # calls to the four services.
        for rule in ingress:
            peers = rule.get("from", [])
            assert peers, f"{where}: ingress from anywhere"
            for peer in peers:
                if "namespaceSelector" in peer:
                    namespace = peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
                    assert namespace in INGRESS_FROM, where
                    continue
                assert name in environment.PIPELINE, f"{where}: ingress from the namespace's pods"
                assert _selected(rendering, peer["podSelector"]) == {CONSOLE}, f"{where}: only the console calls it"
        wanted: set[int | str] = set()
        if (component == "server" and name in environment.PIPELINE) or component == "topics":
            wanted |= kafka_ports
        if component in ("server", "migration"):
            wanted.add(POSTGRES_PORT)
        if component == "server":
            assert otlp_port is not None
            wanted.add(otlp_port)
            assert _ports(ingress) <= {"http", environment.port(name)}, where
            assert _ports(ingress), f"{where}: unreachable"
        else:
            assert not ingress, f"{where}: a job takes no connections"
        if name == "delivery":
            wanted |= PROVIDER_PORTS
        if name == CONSOLE:
            wanted |= OIDC_PORTS
        assert wanted <= _ports(egress), f"{where}: egress lacks {wanted - _ports(egress)}"
        internet = [r for r in egress if any("ipBlock" in peer for peer in r["to"])]
        assert name in ("delivery", CONSOLE) or not internet, f"{where}: internet egress"
        assert _ports(internet) <= (OIDC_PORTS if name == CONSOLE else PROVIDER_PORTS), where
        for rule in internet:
            for peer in rule["to"]:
                if ":" not in peer["ipBlock"]["cidr"]:
                    assert PRIVATE_RANGES <= set(peer["ipBlock"]["except"]), f"{where}: the internet only"
        in_namespace = [peer for rule in egress for peer in rule["to"] if set(peer) == {"podSelector"}]
        assert name == CONSOLE or not in_namespace, f"{where}: egress to the namespace's pods"


def _selected(rendering: Rendering, selector: dict[str, Any]) -> set[str]:
    """The services (by name) whose pods a podSelector picks in the namespace."""
    return {
        service
        for service in environment.SERVICES
        if selects(selector, rendering.deployment(service)["spec"]["template"]["metadata"]["labels"])
    }


def _egress_peers(rendering: Rendering, labels: dict[str, str]) -> list[tuple[dict[str, Any], set[int | str]]]:
    """(peer, ports) of every egress rule of the policies that select a pod with `labels`."""
    return [
        (peer, _ports([rule]))
        for policy in _policies(rendering, labels, "Egress")
        for rule in policy.get("egress", [])
        for peer in rule["to"]
    ]


def test_console_reaches_the_services_postgres_telemetry_and_its_identity_provider(rendering: Rendering) -> None:
    """Its pod may call the four services' HTTP ports, PostgreSQL, the collector, DNS and the identity
    provider (HTTPS on public addresses): no Kafka, no other pod of the namespace."""
    labels = rendering.deployment(CONSOLE)["spec"]["template"]["metadata"]["labels"]
    config = rendering.config()
    kafka_ports = {int(address.rsplit(":", 1)[1]) for address in config["MC_KAFKA_BOOTSTRAP"].split(",")}
    otlp_port = urlsplit(config["OTEL_EXPORTER_OTLP_ENDPOINT"]).port
    assert otlp_port is not None
    allowed_ports: dict[str, set[int | str]] = {
        DNS_NAMESPACE: {53},
        POSTGRES_NAMESPACE: {POSTGRES_PORT},
        OTLP_NAMESPACE: {otlp_port},
    }
    reached: set[str] = set()
    for peer, ports in _egress_peers(rendering, labels):
        if "ipBlock" in peer:
            assert ports == OIDC_PORTS, peer
        elif "namespaceSelector" in peer:
            namespace = peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
            assert namespace != KAFKA_NAMESPACE, "the console needs no Kafka"
            assert namespace in allowed_ports, f"egress to namespace {namespace}"
            assert ports <= allowed_ports[namespace], (namespace, ports)
            reached.add(namespace)
        else:
            assert _selected(rendering, peer["podSelector"]) == set(environment.PIPELINE), peer
            assert ports == {"http"}, "each service's own port, by its name"
            reached.add("services")
        assert not ports & kafka_ports
    assert reached == {*allowed_ports, "services"}
    # ... and each service takes those calls.
    for service in environment.PIPELINE:
        pod = rendering.deployment(service)["spec"]["template"]["metadata"]["labels"]
        rules = [r for p in _policies(rendering, pod, "Ingress") for r in p.get("ingress", [])]
        from_console = [
            rule
            for rule in rules
            if any(set(peer) == {"podSelector"} and _selected(rendering, peer["podSelector"]) for peer in rule["from"])
        ]
        assert from_console, f"{service} refuses the console's calls"
        assert _ports(from_console) == {"http"}


def test_jobs_migrate_and_create_topics_with_the_service_images(rendering: Rendering) -> None:
    migrate = rendering.named("Job", "metaconnect-migrate")
    topics = rendering.named("Job", "metaconnect-topics")
    for job in (migrate, topics):
        assert job["spec"]["backoffLimit"] >= 1
        assert job["spec"]["ttlSecondsAfterFinished"] > 0
        assert job["spec"]["template"]["spec"]["restartPolicy"] in ("Never", "OnFailure")
    steps = containers(migrate["spec"]["template"])
    assert [image_parts(c["image"])[0] for c in steps] == [f"metaconnect/{s}" for s in environment.SERVICES]
    for step in steps:
        assert step["args"] == ["migrate"]
        assert container_env(rendering, step)["MC_DATABASE_URL"].secret_key is not None
    (creator,) = containers(topics["spec"]["template"])
    assert image_parts(creator["image"])[0] in {f"metaconnect/{s}" for s in environment.PIPELINE}
    assert creator["args"] == ["topics"]
    kafka = container_env(rendering, creator)
    assert {"MC_KAFKA_BOOTSTRAP", "MC_KAFKA_TOPIC_PARTITIONS", "MC_KAFKA_TOPIC_REPLICATION"} <= set(kafka)


def test_setup_applies_before_the_services(rendering: Rendering) -> None:
    # deploy/README.md applies `-l app.kubernetes.io/component!=server` first (config, network
    # policies, jobs), waits for the jobs, then everything: the split must hold.
    for manifest in rendering.objects:
        serving = manifest["metadata"].get("labels", {}).get("app.kubernetes.io/component") == "server"
        assert serving == (manifest["kind"] in SERVING_KINDS), f"{manifest['kind']}/{manifest['metadata']['name']}"


def test_service_monitor_names_jobs_as_the_dashboards_do(renderings: dict[str, Rendering]) -> None:
    prod = renderings["prod"]
    (monitor,) = prod.of_kind("ServiceMonitor")
    selected = [s for s in prod.of_kind("Service") if selects(monitor["spec"]["selector"], s["metadata"]["labels"])]
    job_label = monitor["spec"]["jobLabel"]
    assert sorted(s["metadata"]["labels"][job_label] for s in selected) == sorted(environment.SERVICES)
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] == "http"
    assert endpoint["path"] == environment.METRICS


def test_overlays_differ_in_namespace_tags_and_replicas(renderings: dict[str, Rendering]) -> None:
    for target, namespace in NAMESPACES.items():
        placed = {o["metadata"].get("namespace") for o in renderings[target].objects if o["kind"] != "Namespace"}
        assert placed == {namespace}, target
        for ns in renderings[target].of_kind("Namespace"):
            assert ns["metadata"]["name"] == namespace
            assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"

    def images(target: str) -> set[str]:
        return {c["image"] for _, pod in renderings[target].pod_templates() for c in containers(pod)}

    assert {image_parts(image)[1] for image in images("dev")} == {"dev"}
    prod_tags = {image_parts(image)[1] for image in images("prod")}
    assert len(prod_tags) == 1, "one release: every image at the same tag"
    assert not prod_tags & {"", "latest", "dev"}

    def least_replicas(target: str) -> list[int]:
        return [h["spec"]["minReplicas"] for h in renderings[target].of_kind("HorizontalPodAutoscaler")]

    assert max(least_replicas("dev")) < min(least_replicas("prod"))
