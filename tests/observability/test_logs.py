"""``CHECKOUT_LOG_FORMAT`` and the two formatters."""

from __future__ import annotations

import io
import json
import logging

import pytest

from entrypoints.observability.logs import ConsoleFormatter, JsonFormatter, logging_config, resolve_format
from entrypoints.observability.request_context import bind_request_id, reset_request_id
from entrypoints.settings import SettingsError, load_settings


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_format_setting() -> None:
    assert load_settings({}).log_format == "auto"
    assert load_settings({"CHECKOUT_LOG_FORMAT": "json"}).log_format == "json"
    with pytest.raises(SettingsError, match="CHECKOUT_LOG_FORMAT"):
        load_settings({"CHECKOUT_LOG_FORMAT": "xml"})
    assert resolve_format("auto", _Terminal()) == "console"
    assert resolve_format("auto", io.StringIO()) == "json"
    assert resolve_format("console", io.StringIO()) == "console"


def test_uvicorn_and_alembic_lines_go_through_the_one_handler() -> None:
    config = logging_config("INFO", "json")
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "alembic"):
        assert config["loggers"][name] == {"handlers": [], "level": config["loggers"][name]["level"], "propagate": True}
    assert config["formatters"]["checkout"]["()"] == "entrypoints.observability.logs.JsonFormatter"


def record(message: str, *args: object, **extra: object) -> logging.LogRecord:
    made = logging.LogRecord("uvicorn.error", logging.ERROR, __file__, 1, message, args, None)
    made.__dict__.update(extra)
    return made


def test_every_line_carries_the_request_id_and_masks_card_numbers() -> None:
    token = bind_request_id("req-42")
    try:
        line = json.loads(JsonFormatter().format(record("card %s", "4111111111111111", color_message="\x1b[1m")))
        console = ConsoleFormatter().format(record("card %s", "4111 1111 1111 1111"))
    finally:
        reset_request_id(token)

    assert line["requestId"] == "req-42"
    assert line["logger"] == "uvicorn.error"
    assert "4111111111111111" not in line["message"]
    assert "color_message" not in line
    assert "requestId=req-42" in console
    assert "4111 1111 1111 1111" not in console
