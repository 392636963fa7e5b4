"""The cluster deployment in deploy/k8s/ (README "Running on a cluster"), checked offline: every manifest is valid
against the Kubernetes API schemas that kubernetes-validate ships, and the deployment keeps the invariants the
hospital relies on (one beat, readiness on /healthz, secrets only from the cluster, pinned images, non-root pods)."""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from django.conf import settings

pytestmark = pytest.mark.unit

BASE_DIR = Path(settings.BASE_DIR)
K8S = BASE_DIR / "deploy" / "k8s"
# The oldest Kubernetes release a hospital's managed cluster is still likely to run, and the newest schemas shipped.
KUBERNETES_VERSIONS = ["1.29.0", kubernetes_validate.latest_version()]
SECRET_SETTINGS = {
    "SECRET_KEY",
    "DATABASE_URL",
    "CELERY_BROKER_URL",
    "CACHE_URL",
    "EMAIL_HOST_PASSWORD",
    "IVIG_WEBHOOK_SECRET",
    "IVIG_METRICS_TOKEN",
    "OIDC_RP_CLIENT_SECRET",
    "SENTRY_DSN",
}
# CACHE_URL too: the pods' root is read-only, so the file cache the embedded default uses cannot be written.
REQUIRED_SECRETS = {"SECRET_KEY", "DATABASE_URL", "CELERY_BROKER_URL", "CACHE_URL"}


def kustomization() -> dict[str, Any]:
    return yaml.safe_load((K8S / "kustomization.yaml").read_text())


def manifests() -> list[dict[str, Any]]:
    """What `kubectl apply -k deploy/k8s` sends: the base has no generators or patches, so it is its resources."""
    documents: list[dict[str, Any]] = []
    for name in kustomization()["resources"]:
        documents.extend(doc for doc in yaml.safe_load_all((K8S / name).read_text()) if doc)
    return documents


def of_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for doc in manifests() if doc["kind"] == kind}


def pod_specs() -> dict[str, dict[str, Any]]:
    workloads = {**of_kind("Deployment"), **of_kind("Job")}
    return {name: doc["spec"]["template"]["spec"] for name, doc in workloads.items()}


def all_containers() -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{name}/{container['name']}", container)
        for name, spec in pod_specs().items()
        for container in [*spec.get("initContainers", []), *spec["containers"]]
    ]


def deployment(component: str) -> dict[str, Any]:
    return of_kind("Deployment")[f"ivig-tracker-{component}"]


def main_container(component: str) -> dict[str, Any]:
    [container] = deployment(component)["spec"]["template"]["spec"]["containers"]
    return container


def command_line(container: dict[str, Any]) -> str:
    return shlex.join(container["command"])


def test_kustomization_lists_every_manifest_in_the_folder_and_nothing_else() -> None:
    listed = set(kustomization()["resources"])
    on_disk = {path.name for path in K8S.glob("*.yaml")} - {"kustomization.yaml"}

    assert listed == on_disk
    assert not {"patches", "configMapGenerator", "secretGenerator", "images", "labels"} & set(kustomization())


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_manifest_is_valid_against_the_kubernetes_api_schemas(version: str) -> None:
    documents = manifests()
    for doc in documents:
        kubernetes_validate.validate(doc, version, strict=True)

    assert {doc["kind"] for doc in documents} >= {
        "Deployment",
        "Job",
        "Service",
        "ConfigMap",
        "PodDisruptionBudget",
        "ServiceAccount",
        "NetworkPolicy",
    }


def test_the_validator_refuses_a_misspelt_field_so_the_check_above_can_fail() -> None:
    broken = manifests()[0] | {"spec": {"replica": 2}}
    broken["kind"] = "Deployment"
    broken["apiVersion"] = "apps/v1"

    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSIONS[0], strict=True)


def test_exactly_one_beat_runs_even_during_a_rollout() -> None:
    beat = deployment("beat")

    assert beat["spec"]["replicas"] == 1
    assert beat["spec"]["strategy"] == {"type": "Recreate"}
    assert command_line(main_container("beat")).startswith("celery -A ivig_tracker beat")
    assert sum("beat" in command_line(c) for _, c in all_containers()) == 1


def test_web_is_ready_on_healthz_and_alive_on_the_lighter_livez() -> None:
    web = main_container("web")
    allowed_hosts = of_kind("ConfigMap")["ivig-tracker"]["data"]["ALLOWED_HOSTS"].split(",")

    assert web["readinessProbe"]["httpGet"]["path"] == "/healthz"
    assert web["livenessProbe"]["httpGet"]["path"] == "/livez"
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        headers = {h["name"]: h["value"] for h in web[probe]["httpGet"]["httpHeaders"]}
        # Django answers 400 to a Host it does not allow, and would redirect plain HTTP to HTTPS.
        assert headers["Host"] in allowed_hosts, probe
        assert headers["X-Forwarded-Proto"] == "https", probe
    assert of_kind("ConfigMap")["ivig-tracker"]["data"]["BEHIND_TLS_PROXY"] == "true"


def test_several_web_and_listener_pods_run_and_a_drain_never_takes_the_last() -> None:
    budgets = of_kind("PodDisruptionBudget")
    for component in ("web", "hl7"):
        labels = deployment(component)["spec"]["template"]["metadata"]["labels"]
        [budget] = [b for b in budgets.values() if b["spec"]["selector"]["matchLabels"].items() <= labels.items()]

        assert deployment(component)["spec"]["replicas"] >= 2
        assert budget["spec"]["minAvailable"] == 1


def test_every_secret_comes_from_the_clusters_secret_and_none_is_written_here() -> None:
    assert "Secret" not in {doc["kind"] for doc in manifests()}
    assert not SECRET_SETTINGS & set(of_kind("ConfigMap")["ivig-tracker"]["data"])
    for where, container in all_containers():
        env = {item["name"]: item for item in container.get("env", [])}
        assert set(env) >= REQUIRED_SECRETS, where
        for name, item in env.items():
            if name in SECRET_SETTINGS:
                reference = item["valueFrom"]["secretKeyRef"]
                assert "value" not in item, where
                assert (reference["name"], reference["key"]) == ("ivig-tracker", name), where
                assert reference.get("optional", False) is (name not in REQUIRED_SECRETS), where


def test_every_configured_setting_is_one_the_application_reads() -> None:
    settings_source = (BASE_DIR / "ivig_tracker" / "settings.py").read_text()

    for name in of_kind("ConfigMap")["ivig-tracker"]["data"]:
        assert f'"{name}"' in settings_source, name


def test_every_image_is_this_release_pinned_by_its_tag() -> None:
    version = tomllib.loads((BASE_DIR / "pyproject.toml").read_text())["project"]["version"]
    images = {container["image"] for _, container in all_containers()}

    [image] = images
    assert re.fullmatch(r"[a-z0-9.-]+(/[a-z0-9._-]+)+:[0-9A-Za-z._-]+", image)
    assert image.rsplit(":", 1)[1] == version
    assert all(container["imagePullPolicy"] == "IfNotPresent" for _, container in all_containers())


def test_every_pod_runs_as_the_images_user_with_a_read_only_root_and_no_privileges() -> None:
    dockerfile_uid = int(re.search(r"useradd .*--uid (\d+)", (BASE_DIR / "Dockerfile").read_text())[1])
    for name, spec in pod_specs().items():
        volumes = {volume["name"]: volume for volume in spec["volumes"]}
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["securityContext"]["runAsUser"] == dockerfile_uid, name
        assert spec["automountServiceAccountToken"] is False, name
        assert "emptyDir" in volumes["tmp"], name
    for where, container in all_containers():
        security = container["securityContext"]
        assert security["readOnlyRootFilesystem"] is True, where
        assert security["allowPrivilegeEscalation"] is False, where
        assert security["capabilities"]["drop"] == ["ALL"], where
        assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"], where
        # gunicorn opens its control socket under $HOME, which the image's user does not have.
        assert {"name": "HOME", "value": "/tmp"} in container["env"], where
        assert set(container["resources"]["requests"]) == {"cpu", "memory"}, where
        assert "memory" in container["resources"]["limits"], where


def test_beat_keeps_its_schedule_on_the_writable_tmp_not_in_the_read_only_image() -> None:
    assert "--schedule /tmp/celerybeat-schedule" in command_line(main_container("beat"))


def test_the_migrate_job_migrates_and_every_pod_waits_for_it() -> None:
    [job] = of_kind("Job").values()
    [migrate] = job["spec"]["template"]["spec"]["containers"]

    assert command_line(migrate) == "python manage.py migrate --noinput"
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    for component in ("web", "worker", "beat", "hl7"):
        [wait] = deployment(component)["spec"]["template"]["spec"]["initContainers"]
        assert "manage.py migrate --check" in command_line(wait), component


def test_the_commands_are_those_of_docker_compose() -> None:
    compose = yaml.safe_load((BASE_DIR / "docker-compose.yml").read_text())["services"]

    for component in ("web", "worker"):
        assert main_container(component)["command"] == compose[component]["command"], component
    assert main_container("hl7")["command"] == compose["hl7"]["command"]


def test_the_listener_is_reachable_on_hl7s_port_through_a_tcp_service() -> None:
    service = of_kind("Service")["ivig-tracker-hl7"]
    [port] = service["spec"]["ports"]
    [container_port] = main_container("hl7")["ports"]

    assert (port["port"], port["protocol"], port["targetPort"]) == (2575, "TCP", container_port["name"])
    assert container_port["containerPort"] == 2575
    assert service["spec"]["selector"].items() <= deployment("hl7")["spec"]["template"]["metadata"]["labels"].items()


def test_every_service_selects_pods_that_exist_on_a_port_they_open() -> None:
    for name, service in of_kind("Service").items():
        matches = [
            deployment
            for deployment in of_kind("Deployment").values()
            if service["spec"]["selector"].items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
        ]
        [target] = matches
        port_names = {p["name"] for c in target["spec"]["template"]["spec"]["containers"] for p in c.get("ports", [])}
        assert {p["targetPort"] for p in service["spec"]["ports"]} <= port_names, name
