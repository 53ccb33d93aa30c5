"""One log format for the whole process: ours, uvicorn's, Alembic's and the lines ``checkout
serve`` and the workers print.

``json`` (one object per line, for log shippers) or ``console`` (for people); ``auto`` picks
console on a terminal and JSON otherwise (``CHECKOUT_LOG_FORMAT``). Every line carries the
request id and, when tracing is on, the trace id. Records are masked (card numbers, secrets) by
the record factory :func:`entrypoints.redaction.install_log_redaction` installs before any
formatter sees them; the formatters mask again whatever reached them unmasked."""

from __future__ import annotations

import json
import logging
import logging.config
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

from entrypoints.observability.request_context import ACTOR_ID, REQUEST_ID
from entrypoints.redaction import install_log_redaction, redact

#: Attributes every LogRecord has: anything else on a record was passed with ``extra=``.
#: (``color_message`` is uvicorn's ANSI-coloured copy of the message: not for a log line.)
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
    "taskName",
    "color_message",
}


def trace_id() -> str:
    """The current OpenTelemetry trace id as 32 hex digits, "" when tracing is off (the API is
    looked up only if something already imported it: logging never loads OpenTelemetry)."""
    trace = sys.modules.get("opentelemetry.trace")
    if trace is None:
        return ""
    context = trace.get_current_span().get_span_context()
    return f"{context.trace_id:032x}" if context.is_valid else ""


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    """The structured members of a record: request id, trace id, actor, and its ``extra=``."""
    fields: dict[str, Any] = {}
    request_id = getattr(record, "requestId", None) or REQUEST_ID.get()
    if request_id:
        fields["requestId"] = request_id
    actor = ACTOR_ID.get()
    if actor:
        fields["actorId"] = actor
    trace = trace_id()
    if trace:
        fields["traceId"] = trace
    for name, value in vars(record).items():
        if name not in _STANDARD and not name.startswith("_") and name not in fields:
            fields[name] = value
    return fields


def _message(record: logging.LogRecord) -> str:
    message = record.getMessage()
    return message if record.__dict__.get("_checkout_redacted") else redact(message)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``time``, ``level``, ``logger``, ``message``, the request and
    trace ids, the record's extras, and ``exception`` with the traceback."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as a line of JSON."""
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": _message(record),
        }
        line.update(_fields(record))
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(self.formatException(record.exc_info))
        if record.exc_text:
            line["exception"] = record.exc_text
        return json.dumps(line, default=str, ensure_ascii=False)


class ConsoleFormatter(logging.Formatter):
    """``time level logger: message key=value …`` for a person at a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as a readable line (and its traceback)."""
        moment = datetime.fromtimestamp(record.created, UTC).strftime("%H:%M:%S.%f")[:-3]
        extras = " ".join(f"{key}={value}" for key, value in _fields(record).items())
        text = f"{moment} {record.levelname:<7} {record.name}: {_message(record)}"
        if extras:
            text += "  " + extras
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(self.formatException(record.exc_info))
        if record.exc_text:
            text += "\n" + record.exc_text
        return text


FORMATTERS: dict[str, type[logging.Formatter]] = {"json": JsonFormatter, "console": ConsoleFormatter}


def resolve_format(setting: str, stream: TextIO | None = None) -> str:
    """``json`` or ``console`` for the ``CHECKOUT_LOG_FORMAT`` setting (``auto``: console on a terminal)."""
    if setting in FORMATTERS:
        return setting
    stream = stream or sys.stderr
    return "console" if stream.isatty() else "json"


def logging_config(level: str, log_format: str) -> dict[str, Any]:
    """A :func:`logging.config.dictConfig` for the process: the root logger (so Alembic's,
    Litestar's and every library's records), uvicorn's and ours, one handler on stderr. Handed
    to uvicorn as its ``log_config`` too, so each of its worker processes sets up the same."""
    formatter = FORMATTERS[resolve_format(log_format)]
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"checkout": {"()": f"{formatter.__module__}.{formatter.__qualname__}"}},
        "handlers": {
            "stderr": {"class": "logging.StreamHandler", "formatter": "checkout", "stream": "ext://sys.stderr"}
        },
        "root": {"handlers": ["stderr"], "level": "WARNING"},
        "loggers": {
            # Their own handlers would print a second, differently formatted line: propagate to root.
            "uvicorn": {"handlers": [], "level": level, "propagate": True},
            "uvicorn.error": {"handlers": [], "level": level, "propagate": True},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": True},
            "alembic": {"handlers": [], "level": level, "propagate": True},
            # One line per Alembic plugin at every start says nothing an operator needs.
            "alembic.runtime.plugins": {"handlers": [], "level": "WARNING", "propagate": True},
            "checkout": {"handlers": [], "level": level, "propagate": True},
        },
    }


def configure_logging(level: str, log_format: str) -> None:
    """Set up the process's logging (masking first, so no record escapes it)."""
    install_log_redaction()
    logging.config.dictConfig(logging_config(level, log_format))
