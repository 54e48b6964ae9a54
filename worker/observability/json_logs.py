"""Structured logs: one JSON object per line, for a log pipeline rather than a terminal.

``TICKETFUSION_LOG_FORMAT=json`` swaps the formatter of the worker's log handlers (the root
logger's and Celery's task logger's) for :class:`JsonFormatter`. Each line carries ``ts`` (UTC,
ISO 8601, milliseconds), ``level``, ``logger``, ``message``, ``process``, and, for a line logged
while a task runs, its ``task_id``, ``task`` name and ``ticket_id`` (null outside a task). The
ticket id is read from the task id, which the producers make ``triage-<hex>-<ticket_id>`` and
``crm-<hex>-<ticket_id>`` (:func:`worker.app.chain_ids`), else from the task's payload. The
message, traceback and ids go through :func:`worker.pii.redaction.redact_text`, so a card number
or e-mail address never reaches the log, whatever filter the handler has.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import datetime, timezone
from typing import Any

from celery._state import get_current_task
from celery.signals import after_setup_logger, after_setup_task_logger

from worker.pii.redaction import redact_text
from worker.settings import get_settings

CHAIN_TASK_ID = re.compile(r"^(?:triage|crm)-[0-9a-f]{32}-(?P<ticket_id>.+)$", re.DOTALL)
TASK_LOGGER = "celery.task"


def ticket_of(task_id: str, args: Any = None) -> str | None:
    """The ticket a task works on: from a chain's task id, else from its first argument (a ticket,
    or a crm_update payload holding a result)."""
    match = CHAIN_TASK_ID.match(task_id)
    if match:
        return match["ticket_id"]
    first = args[0] if isinstance(args, list | tuple) and args else None
    if isinstance(first, dict):
        if isinstance(first.get("ticket_id"), str):
            return first["ticket_id"]
        result = first.get("result")
        if isinstance(result, dict) and isinstance(result.get("ticket_id"), str):
            return result["ticket_id"]
    return None


def task_context() -> dict[str, str | None]:
    """The running task's ids (all None outside a task)."""
    task = get_current_task()
    request = getattr(task, "request", None)
    task_id = getattr(request, "id", None)
    if not task_id:
        return {"task_id": None, "task": None, "ticket_id": None}
    ticket_id = ticket_of(str(task_id), getattr(request, "args", None))
    return {
        "task_id": redact_text(str(task_id)),
        "task": getattr(task, "name", None),
        "ticket_id": redact_text(ticket_id) if ticket_id else None,
    }


class JsonFormatter(logging.Formatter):
    """A record as one line of JSON (newlines inside the message are escaped), PII masked."""

    def format(self, record: logging.LogRecord) -> str:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken format string still logs what it has
            message = f"{record.msg} {record.args}"
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, tz=timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact_text(message),
            "process": record.process,
            **task_context(),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exc_info"] = redact_text(record.exc_text)
        if record.stack_info:
            line["stack_info"] = redact_text(record.stack_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def use_json(logger: logging.Logger) -> None:
    """Give every handler of ``logger`` the JSON formatter (idempotent)."""
    for handler in logger.handlers:
        if not isinstance(handler.formatter, JsonFormatter):
            handler.setFormatter(JsonFormatter())


def use_json_logs() -> None:
    """JSON for the root logger's handlers and Celery's task logger's, when the settings ask for it."""
    if get_settings().log_format == "json":
        logging.captureWarnings(True)  # warnings too become log records, hence JSON lines
        for logger in (logging.getLogger(), logging.getLogger(TASK_LOGGER)):
            use_json(logger)


def _on_logger_setup(logger: logging.Logger | None = None, **_: Any) -> None:
    if logger is not None and get_settings().log_format == "json":
        use_json(logger)


def connect() -> None:
    """Apply the format each time Celery sets up its loggers (main process and pool processes)."""
    after_setup_logger.connect(_on_logger_setup, weak=False, dispatch_uid="ticketfusion.json_logs")
    after_setup_task_logger.connect(_on_logger_setup, weak=False, dispatch_uid="ticketfusion.json_logs.task")
