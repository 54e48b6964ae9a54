"""The production compose file keeps the guarantees the README promises."""

from __future__ import annotations

from pathlib import Path

import yaml

from worker.app import ALL_QUEUES

COMPOSE = Path(__file__).resolve().parent.parent / "docker-compose.yml"


def test_compose_persists_redis_and_serves_every_queue() -> None:
    """Redis runs with AOF persistence and the workers together consume every queue."""
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    assert "--appendonly" in services["redis"]["command"]
    consumed: set[str] = set()
    for service in services.values():
        command = service.get("command", [])
        if command[:2] == ["ticketfusion", "worker"]:
            consumed |= set(command[command.index("--queues") + 1].split(","))
    assert consumed == set(ALL_QUEUES)
    assert "flower" in services


def test_compose_takes_secrets_from_the_environment() -> None:
    """No password is written into the compose file."""
    text = COMPOSE.read_text()
    assert "POSTGRES_PASSWORD: ${POSTGRES_PASSWORD" in text
    assert "password=" not in text.lower()


def test_compose_serves_the_api_behind_the_probes() -> None:
    """The API service runs `ticketfusion api`, waits for the migration and is checked by /readyz."""
    api = yaml.safe_load(COMPOSE.read_text())["services"]["api"]
    assert api["command"][:2] == ["ticketfusion", "api"]
    assert "readyz" in " ".join(api["healthcheck"]["test"])
    assert api["depends_on"]["migrate"]["condition"] == "service_completed_successfully"


def test_compose_gives_workers_time_to_finish() -> None:
    """Workers get more than Docker's default 10-second stop grace, so a deploy lets tickets finish."""
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    for name in ("worker", "media-worker"):
        assert services[name]["stop_grace_period"] in ("2m", "5m")
