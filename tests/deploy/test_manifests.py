"""The Kubernetes manifests of deploy/k8s: valid for the API server, and safe to run Tandem with.

Every kustomization is rendered with ``kubectl kustomize`` and every resource validated
offline, strictly (unknown fields rejected), against the Kubernetes JSON schemas shipped by
``kubernetes-validate``, for the oldest and newest versions we support. Then the properties
the drain, the probes, the security posture and document affinity rely on are asserted.
"""

from __future__ import annotations

import copy
from typing import Any
from urllib.parse import urlsplit

import kubernetes_validate
import pytest

from tests.deploy.manifests import (
    ALL_INTERFACES,
    KUSTOMIZATIONS,
    TMP,
    Resource,
    containers,
    documented_settings,
    find,
    labels_match,
    pod_specs,
    render,
)

KUBERNETES_VERSIONS = ("1.30.0", "1.37.0")
EXAMPLE = "overlays/example"


@pytest.fixture(scope="module")
def example() -> list[Resource]:
    return render(EXAMPLE)


@pytest.fixture(scope="module")
def deployment(example: list[Resource]) -> Resource:
    return find(example, "Deployment", "tandem")


@pytest.fixture(scope="module")
def app(deployment: Resource) -> Resource:
    """The Tandem container of the Deployment."""
    (container,) = [c for c in deployment["spec"]["template"]["spec"]["containers"]]
    return container


@pytest.fixture(scope="module")
def config(example: list[Resource]) -> dict[str, str]:
    return find(example, "ConfigMap", "tandem-config")["data"]


@pytest.fixture(scope="module")
def secrets(example: list[Resource]) -> dict[str, str]:
    return find(example, "Secret", "tandem-secrets")["stringData"]


# --- schema validation ---------------------------------------------------------------------


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_every_resource_validates_against_the_kubernetes_schemas(
    kustomization: str, version: str
) -> None:
    resources = render(kustomization)
    assert resources, f"{kustomization} renders nothing"
    for resource in resources:
        kubernetes_validate.validate(resource, version, strict=True)


def test_the_schema_validation_rejects_a_misspelt_field(deployment: Resource) -> None:
    broken = copy.deepcopy(deployment)
    container = broken["spec"]["template"]["spec"]["containers"][0]
    container["readinesProbe"] = container.pop("readinessProbe")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSIONS[-1], strict=True)


def test_the_example_overlay_has_every_part_of_the_deployment(example: list[Resource]) -> None:
    kinds = {(r["kind"], r["metadata"]["name"]) for r in example}
    assert kinds >= {
        ("Namespace", "tandem"),
        ("ConfigMap", "tandem-config"),
        ("Secret", "tandem-secrets"),
        ("Deployment", "tandem"),
        ("Service", "tandem"),
        ("Ingress", "tandem"),
        ("Ingress", "tandem-websocket"),
        ("HorizontalPodAutoscaler", "tandem"),
        ("PodDisruptionBudget", "tandem"),
        ("Job", "tandem-migrate"),
        ("StatefulSet", "tandem-postgres"),
        ("Service", "tandem-postgres"),
        ("Deployment", "tandem-redis"),
        ("Service", "tandem-redis"),
    }
    for resource in example:
        if resource["kind"] != "Namespace":
            assert resource["metadata"].get("namespace") == "tandem", resource["metadata"]


# --- probes and drain ----------------------------------------------------------------------


def _probe_port(container: Resource, probe: Resource) -> int:
    port = probe["httpGet"]["port"]
    if isinstance(port, int):
        return port
    (number,) = [p["containerPort"] for p in container["ports"] if p["name"] == port]
    return int(number)


def test_probes_use_the_health_endpoints_on_the_served_port(
    app: Resource, config: dict[str, str]
) -> None:
    assert app["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert app["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert app["startupProbe"]["httpGet"]["path"] == "/healthz"
    env = {e["name"]: e.get("value") for e in app.get("env", [])}
    allowed_hosts = config["ALLOWED_HOSTS"].split(",")
    for kind in ("readinessProbe", "livenessProbe", "startupProbe"):
        probe = app[kind]
        assert _probe_port(app, probe) == int(env["PORT"]) == 8000
        # Django answers 400 to a Host it does not serve, /healthz included.
        headers = {h["name"].lower(): h["value"] for h in probe["httpGet"].get("httpHeaders", [])}
        assert headers.get("host") in allowed_hosts, f"{kind} Host header is not allowed"
    assert env["HOST"] == ALL_INTERFACES


def test_grace_period_covers_prestop_and_the_drain(
    deployment: Resource, app: Resource, config: dict[str, str]
) -> None:
    command = app["lifecycle"]["preStop"]["exec"]["command"]
    assert command[0] == "sleep"
    pre_stop = int(command[1])
    assert pre_stop >= 3, "the pod must leave the endpoints before SIGTERM"
    drain = int(config["GRACEFUL_SHUTDOWN_SECONDS"])
    grace = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert grace >= pre_stop + drain + 5, (pre_stop, drain, grace)


def test_rollouts_never_drop_below_the_desired_replicas(deployment: Resource) -> None:
    rolling = deployment["spec"]["strategy"]["rollingUpdate"]
    assert rolling["maxUnavailable"] == 0
    # The autoscaler owns the replica count: `kubectl apply` must not reset it.
    assert "replicas" not in deployment["spec"]


# --- security ------------------------------------------------------------------------------


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_every_pod_meets_the_restricted_pod_security_standard(kustomization: str) -> None:
    for name, spec in pod_specs(render(kustomization)):
        security = spec.get("securityContext", {})
        assert security.get("runAsNonRoot") is True, name
        assert security.get("runAsUser", 0) > 0, name
        assert security.get("seccompProfile", {}).get("type") == "RuntimeDefault", name
        assert spec.get("automountServiceAccountToken") is False, name
        for volume in spec.get("volumes", []):
            assert set(volume) - {"name"} <= {"emptyDir", "secret", "configMap"}, (name, volume)
        for container in containers(spec):
            where = f"{name} container {container['name']}"
            context = container.get("securityContext", {})
            assert context.get("allowPrivilegeEscalation") is False, where
            assert context.get("readOnlyRootFilesystem") is True, where
            assert context.get("capabilities", {}).get("drop") == ["ALL"], where
            assert not context.get("privileged"), where
            resources = container.get("resources", {})
            for bound in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(resources.get(bound, {})), (where, bound)


def test_the_app_writes_only_to_an_empty_dir(deployment: Resource) -> None:
    spec = deployment["spec"]["template"]["spec"]
    empty_dirs = {v["name"] for v in spec["volumes"] if "emptyDir" in v}
    for container in containers(spec):
        mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
        assert mounts.get(TMP) in empty_dirs, container["name"]
        assert set(mounts.values()) <= empty_dirs, container["name"]


def test_the_image_runs_as_the_user_the_pods_expect(deployment: Resource) -> None:
    from tests.deploy.test_container import final_stage_user

    uid = deployment["spec"]["template"]["spec"]["securityContext"]["runAsUser"]
    assert final_stage_user() == f"{uid}:{uid}"


# --- configuration -------------------------------------------------------------------------


def test_settings_come_from_the_configmap_and_secret(
    example: list[Resource], app: Resource
) -> None:
    for name, spec in pod_specs(example):
        for container in containers(spec):
            for source in container.get("envFrom", []):
                if "configMapRef" in source:
                    find(example, "ConfigMap", source["configMapRef"]["name"])
                if "secretRef" in source:
                    find(example, "Secret", source["secretRef"]["name"])
            for variable in container.get("env", []):
                ref = variable.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    secret = find(example, "Secret", ref["name"])
                    assert ref["key"] in secret["stringData"], (name, ref)
    refs = {next(iter(s.values()))["name"] for s in app["envFrom"]}
    assert refs == {"tandem-config", "tandem-secrets"}


def test_every_setting_is_a_documented_variable(
    config: dict[str, str], secrets: dict[str, str], app: Resource
) -> None:
    documented = documented_settings()
    names = set(config) | set(secrets) | {e["name"] for e in app.get("env", [])}
    assert names <= documented, f"not in README.md's configuration table: {names - documented}"


def test_the_secrets_hold_marked_examples_of_the_production_settings(
    example: list[Resource], secrets: dict[str, str]
) -> None:
    # Production serves /metrics only with METRICS_TOKEN: the app must get one.
    assert {"SECRET_KEY", "DATABASE_URL", "REDIS_URL", "METRICS_TOKEN"} <= set(secrets)
    # Every secret value shipped is visibly an example (the Redis URL holds no secret).
    for secret in (r for r in example if r["kind"] == "Secret"):
        for key, value in secret["stringData"].items():
            assert key == "REDIS_URL" or "EXAMPLE-ONLY" in value, (key, value)
    assert secrets["DATABASE_URL"].startswith("postgres://")
    assert "DEBUG" not in find(example, "ConfigMap", "tandem-config")["data"]


def test_the_urls_point_at_the_demo_datastores(
    example: list[Resource], secrets: dict[str, str]
) -> None:
    database = urlsplit(secrets["DATABASE_URL"])
    postgres = find(example, "StatefulSet", "tandem-postgres")
    assert postgres["spec"]["serviceName"] == database.hostname
    service = find(example, "Service", database.hostname or "")
    assert service["spec"]["ports"][0]["port"] == database.port
    password = find(example, "Secret", "tandem-postgres")["stringData"]["POSTGRES_PASSWORD"]
    assert database.password == password
    env = {e["name"]: e for e in postgres["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["POSTGRES_USER"]["value"] == database.username
    assert env["POSTGRES_DB"]["value"] == database.path.lstrip("/")
    redis = urlsplit(secrets["REDIS_URL"])
    find(example, "Service", redis.hostname or "")
    find(example, "Deployment", redis.hostname or "")


# --- service, ingress, autoscaling, disruption ---------------------------------------------


def _pod_labels(resource: Resource) -> dict[str, str]:
    return dict(resource["spec"]["template"]["metadata"]["labels"])


def test_the_service_selects_the_app_pods(example: list[Resource], deployment: Resource) -> None:
    service = find(example, "Service", "tandem")
    assert labels_match(service["spec"]["selector"], _pod_labels(deployment))
    port_names = {p["name"] for p in find_app_container(deployment)["ports"]}
    for port in service["spec"]["ports"]:
        assert port["targetPort"] in port_names
    selected = [
        r["metadata"]["name"]
        for r in example
        if r["kind"] in {"Deployment", "StatefulSet"}
        and labels_match(service["spec"]["selector"], _pod_labels(r))
    ]
    assert selected == ["tandem"], "the Service must select the app pods only"


def find_app_container(deployment: Resource) -> Resource:
    return dict(deployment["spec"]["template"]["spec"]["containers"][0])


def _routes(ingress: Resource) -> dict[str, tuple[str, Any]]:
    return {
        path["path"]: (path["backend"]["service"]["name"], path["backend"]["service"]["port"])
        for rule in ingress["spec"]["rules"]
        for path in rule["http"]["paths"]
    }


def test_the_ingresses_route_websockets_and_the_api_to_tandem(
    example: list[Resource], config: dict[str, str]
) -> None:
    ingresses = [r for r in example if r["kind"] == "Ingress"]
    routes = {path: route for ingress in ingresses for path, route in _routes(ingress).items()}
    assert routes["/ws/"] == ("tandem", {"name": "http"})
    assert routes["/api/"] == ("tandem", {"name": "http"})
    allowed_hosts = config["ALLOWED_HOSTS"].split(",")
    trusted = config["CSRF_TRUSTED_ORIGINS"].split(",")
    for ingress in ingresses:
        assert ingress["spec"]["ingressClassName"] == "nginx"
        for rule in ingress["spec"]["rules"]:
            assert rule["host"] in allowed_hosts, rule["host"]
            assert f"https://{rule['host']}" in trusted
            assert any(rule["host"] in tls["hosts"] for tls in ingress["spec"]["tls"])


def test_websockets_are_hashed_on_the_document_id_in_the_path(example: list[Resource]) -> None:
    websocket = find(example, "Ingress", "tandem-websocket")
    annotations = websocket["metadata"]["annotations"]
    hash_by = annotations["nginx.ingress.kubernetes.io/upstream-hash-by"]
    # $uri is the path without the query string: on an Ingress serving only /ws/ it is
    # /ws/documents/<id>, a function of the document id alone, never of the token.
    assert hash_by == "$uri"
    assert list(_routes(websocket)) == ["/ws/"]
    for ingress in (r for r in example if r["kind"] == "Ingress"):
        for key, value in ingress["metadata"].get("annotations", {}).items():
            for query_variable in ("$request_uri", "$args", "$arg_", "$query_string"):
                assert query_variable not in value, (key, value)
    http = find(example, "Ingress", "tandem")
    assert "nginx.ingress.kubernetes.io/upstream-hash-by" not in http["metadata"].get(
        "annotations", {}
    ), "the REST API is round-robin"
    assert "/ws/" not in _routes(http)


def test_the_websocket_ingress_logs_no_query_string(example: list[Resource]) -> None:
    # ingress-nginx's default access log line holds $request, query string (token) included,
    # and its format is controller-wide: the Ingress that carries tokens logs no access lines.
    annotations = find(example, "Ingress", "tandem-websocket")["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/enable-access-log"] == "false"


def test_websocket_connections_outlive_idle_periods(example: list[Resource]) -> None:
    annotations = find(example, "Ingress", "tandem-websocket")["metadata"]["annotations"]
    for timeout in ("proxy-read-timeout", "proxy-send-timeout"):
        assert int(annotations[f"nginx.ingress.kubernetes.io/{timeout}"]) >= 3600


def test_the_autoscaler_scales_the_deployment_on_cpu(
    example: list[Resource], deployment: Resource
) -> None:
    hpa = find(example, "HorizontalPodAutoscaler", "tandem")["spec"]
    assert hpa["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "tandem",
    }
    assert 2 <= hpa["minReplicas"] < hpa["maxReplicas"]
    (metric,) = hpa["metrics"]
    assert metric["resource"]["name"] == "cpu"
    assert 0 < metric["resource"]["target"]["averageUtilization"] <= 90
    assert "cpu" in find_app_container(deployment)["resources"]["requests"]
    # Scaling down drains replicas (their clients reconnect): slowly, one at a time.
    assert hpa["behavior"]["scaleDown"]["stabilizationWindowSeconds"] >= 300
    assert hpa["behavior"]["scaleDown"]["policies"] == [
        {"type": "Pods", "value": 1, "periodSeconds": 120}
    ]


def test_the_disruption_budget_keeps_a_replica_serving(
    example: list[Resource], deployment: Resource
) -> None:
    pdb = find(example, "PodDisruptionBudget", "tandem")["spec"]
    assert labels_match(pdb["selector"]["matchLabels"], _pod_labels(deployment))
    hpa = find(example, "HorizontalPodAutoscaler", "tandem")["spec"]
    assert pdb["maxUnavailable"] < hpa["minReplicas"]


# --- migrations and datastores -------------------------------------------------------------


def test_migrations_run_in_a_job_and_the_app_waits_for_them(
    example: list[Resource], deployment: Resource, app: Resource
) -> None:
    job = find(example, "Job", "tandem-migrate")["spec"]["template"]["spec"]
    (migrate,) = job["containers"]
    assert migrate["command"][-3:] == ["manage.py", "migrate", "--noinput"]
    assert migrate["image"] == app["image"] == "tandem:local"
    assert migrate["envFrom"] == app["envFrom"]
    assert job["restartPolicy"] == "Never"
    (wait,) = deployment["spec"]["template"]["spec"]["initContainers"]
    assert wait["image"] == app["image"]
    assert "migrate --check" in " ".join(wait["command"])


def test_postgres_keeps_its_data_on_a_persistent_volume(example: list[Resource]) -> None:
    postgres = find(example, "StatefulSet", "tandem-postgres")
    (claim,) = postgres["spec"]["volumeClaimTemplates"]
    (container,) = postgres["spec"]["template"]["spec"]["containers"]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert mounts[claim["metadata"]["name"]] == "/var/lib/postgresql/data"
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["PGDATA"].startswith("/var/lib/postgresql/data/")
    headless = find(example, "Service", postgres["spec"]["serviceName"])
    assert headless["spec"]["clusterIP"] == "None"


def test_redis_keeps_nothing_on_disk(example: list[Resource]) -> None:
    redis = find(example, "Deployment", "tandem-redis")
    (container,) = redis["spec"]["template"]["spec"]["containers"]
    args = container["args"]
    assert args[args.index("--save") + 1] == ""
    assert args[args.index("--appendonly") + 1] == "no"


@pytest.mark.parametrize("kustomization", ["base", EXAMPLE])
def test_the_app_image_is_the_same_everywhere(kustomization: str) -> None:
    images = {
        container["image"]
        for name, spec in pod_specs(render(kustomization))
        if "tandem-postgres" not in name and "tandem-redis" not in name
        for container in containers(spec)
    }
    assert len(images) == 1, images
