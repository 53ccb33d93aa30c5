"""Card numbers and secrets never reach a log line: the card-number matcher and the log redaction.

Shared by the HTTP card guard (:mod:`entrypoints.http.card_guard`, which refuses requests that
carry a card number) and by every process that logs: :func:`install_log_redaction` is called by
``bootstrap()`` — before the database migrations run, so Alembic's lines are covered — and again
by ``create_app``. It has no dependency beyond the standard library, so the CLI does not load the
web framework to get it.

**What counts as a card number.** A *run* is a stretch of digit groups joined by single spaces,
dashes or dots (``4242 4242 4242 4242``, ``4242-4242-…``, ``4242.4242.…``, ``3782 822463 10005``,
``42424242424242421227123``), also URL-encoded as a logged request line shows them (``+`` or
``%20`` for a space, ``%2D``, ``%2E``). Within a run, each stretch of groups joined by one and the same
separator is read as one string of digits (so two phone numbers written
``416-555-1234 416-555-9876`` are not read as one 20-digit number), and one dot between two groups
is a decimal point, not a separator (``1766484000.123456`` is two numbers). A stretch holds a
card number when **any window** of 13 to 19 of its digits that does not start with 0 (no card
number does) passes the Luhn check — wherever the window starts and ends, so a card number with
its expiry date and CVC (or anything else) run on before or after it is still found. A stretch of
more than :data:`LONG_STRETCH` (32) digits is taken to hold one without computing it: a random
one avoids all of its windows with a probability below 10^-5, nothing we accept is that long, and
it bounds the work a hostile request can cause. The digits of a UUID (8-4-4-4-12 hex digits) are
never read as a card number. The whole *run* holding a card number is masked, so an expiry date
or CVC run on to it goes too.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterator
from typing import Any

# A separator between two digit groups: a space, dash or dot, also as it appears in a URL that
# is logged as sent (uvicorn's access log): ``+`` or ``%20`` for a space, ``%2D``, ``%2E``.
_SEPARATOR = r"(?:[ .+-]|%2[0DEde])"
_SEPARATOR_KIND = {"+": " ", "%20": " ", "%2D": "-", "%2d": "-", "%2E": ".", "%2e": "."}
# A run of digit groups joined by single separators. finditer scans left to right and [0-9]+
# is greedy, so every match starts and ends at the edge of a run of digits (the digits of a
# percent-escape, ``%20``, are not the start of one).
_DIGIT_RUN = re.compile(rf"(?<!%)(?<!%[0-9A-Fa-f])[0-9]+(?:{_SEPARATOR}[0-9]+)*")
_SPLIT = re.compile(f"({_SEPARATOR})")
# Every card-number-like stretch holds 13 digits with at most one separator between two of
# them. Almost all text has no such stretch, and one search in C rules it out before the exact
# (Python) scan runs: the card guard scans every request and the redaction every log record.
_CANDIDATE = re.compile(rf"[0-9](?:{_SEPARATOR}?[0-9]){{12}}")
_UUID = re.compile(r"(?<![0-9A-Fa-f])[0-9A-Fa-f]{8}(?:-[0-9A-Fa-f]{4}){3}-[0-9A-Fa-f]{12}(?![0-9A-Fa-f])")
MIN_DIGITS, MAX_DIGITS = 13, 19
#: A stretch of more digits than this is treated as holding a card number without being scanned.
LONG_STRETCH = 32
CARD_MASK = "[REDACTED-PAN]"
_DOUBLED = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)  # a digit doubled by the Luhn check, digits summed


def luhn_valid(digits: str) -> bool:
    """The Luhn (mod 10) check every payment card number passes."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        total += _DOUBLED[value] if index % 2 else value
    return total % 10 == 0


def has_card_window(digits: str) -> bool:
    """Whether some window of 13–19 consecutive ``digits`` not starting with 0 passes the Luhn
    check (``digits``: ASCII digits only).

    With ``sums[c][k]`` the Luhn sum of ``digits[:k]`` weighted as for a window whose last digit
    has parity ``c`` (the digits of that parity counted as they are, the others doubled), the
    window ``[i, j)`` passes when ``sums[c][j] - sums[c][i]`` is a multiple of 10, for ``c`` the
    parity of ``j - 1``: one comparison per window."""
    n = len(digits)
    if n < MIN_DIGITS:
        return False
    if n > LONG_STRETCH:
        return True
    if n == MIN_DIGITS:
        return digits[0] != "0" and luhn_valid(digits)
    even, odd = [0] * (n + 1), [0] * (n + 1)
    for k, char in enumerate(digits):
        value = ord(char) - 48
        if k % 2:
            even[k + 1], odd[k + 1] = even[k] + _DOUBLED[value], odd[k] + value
        else:
            even[k + 1], odd[k + 1] = even[k] + value, odd[k] + _DOUBLED[value]
    for end in range(MIN_DIGITS, n + 1):
        sums = even if end % 2 else odd
        target = sums[end] % 10
        for start in range(max(0, end - MAX_DIGITS), end - MIN_DIGITS + 1):
            if sums[start] % 10 == target and digits[start] != "0":
                return True
    return False


def _stretches(token: str) -> Iterator[str]:
    """The digit strings of a run's stretches: groups joined by one and the same separator, a
    lone dot between two groups being a decimal point (see the module's docstring)."""
    parts = _SPLIT.split(token)  # group, separator, group, …
    groups = parts[0::2]
    if len(groups) == 1:
        yield token
        return
    separators = [_SEPARATOR_KIND.get(separator, separator) for separator in parts[1::2]]
    first = 0
    while first < len(separators):
        separator = separators[first]
        last = first
        while last + 1 < len(separators) and separators[last + 1] == separator:
            last += 1
        # Separators first..last join groups first..last+1.
        if separator == "." and last == first:
            yield groups[first]
            yield groups[first + 1]
        else:
            yield "".join(groups[first : last + 2])
        first = last + 1


def _card_spans(text: str) -> Iterator[tuple[int, int]]:
    """Spans of the runs of ``text`` that hold a card number."""
    if "-" in text:
        # A UUID's digits are never a card number (one in 150 random UUIDs holds a Luhn-valid
        # window across its dashes): blanked out, same length, so spans stay those of ``text``.
        text = _UUID.sub(lambda m: "u" * len(m.group()), text)
    for run in _DIGIT_RUN.finditer(text):
        token = run.group()
        if len(token) < MIN_DIGITS:
            continue
        if any(has_card_window(digits) for digits in _stretches(token)):
            yield run.start(), run.end()


def contains_card_number(text: str) -> bool:
    """True if ``text`` holds something that looks like a payment card number."""
    if _CANDIDATE.search(text) is None:
        return False
    return next(_card_spans(text), None) is not None


def mask_card_numbers(text: str) -> str:
    """``text`` with every run holding a card number replaced by a mask."""
    if _CANDIDATE.search(text) is None:
        return text
    spans = list(_card_spans(text))
    if not spans:
        return text
    out, cursor = [], 0
    for start, end in spans:
        out.append(text[cursor:start])
        out.append(CARD_MASK)
        cursor = end
    out.append(text[cursor:])
    return "".join(out)


# -- secrets in logs ----------------------------------------------------------------------

_SECRET_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9\-._~+/]+=*"), r"\1 [REDACTED]"),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"), "[REDACTED-JWT]"),
    (re.compile(r"\b(sk|rk)_(live|test)_[A-Za-z0-9]{6,}"), r"\1_\2_[REDACTED]"),
    (re.compile(r"\bwhsec_[A-Za-z0-9+/=]{6,}"), "whsec_[REDACTED]"),
    # The envelope id in a signing link is the signer's credential.
    (re.compile(r"\benv_[A-Za-z0-9_-]{12,}"), "env_[REDACTED]"),
    (
        re.compile(
            r"(?i)\b(password|passwd|secret|api[_-]?key|access[_-]?token|refresh[_-]?token|jwt[_-]?secret"
            r"|authorization|client[_-]?secret)(\"?'?\s*[:=]\s*\"?'?)([^\s\"'&,;]+)"
        ),
        r"\1\2[REDACTED]",
    ),
)


def redact(text: str) -> str:
    """``text`` with card numbers and secrets masked (idempotent)."""
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return mask_card_numbers(text)


_STANDARD_RECORD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


def redact_record(record: logging.LogRecord) -> None:
    """Mask card numbers and secrets in a log record, in place.

    Arguments are masked one by one where that is enough, so formatters that read
    ``record.args`` themselves (uvicorn's access log does) keep working; otherwise the message
    is collapsed into an already-formatted, masked string."""
    if getattr(record, "_checkout_redacted", False):
        return
    try:
        message = record.getMessage()
    except Exception:  # a broken format string: logging reports it itself; we mask what we can
        message = str(record.msg)
    masked = redact(message)
    if masked != message:
        if isinstance(record.args, tuple):
            record.msg = redact(str(record.msg)) if isinstance(record.msg, str) else record.msg
            record.args = tuple(_redact_arg(arg) for arg in record.args)
        try:
            retry = record.getMessage()
        except Exception:
            retry = None
        if retry is None or redact(retry) != retry:
            record.msg, record.args = masked, ()
    if record.exc_info and not record.exc_text:
        record.exc_text = logging.Formatter().formatException(record.exc_info)
    if record.exc_text:
        record.exc_text = redact(record.exc_text)
    if record.stack_info:
        record.stack_info = redact(record.stack_info)
    for name, value in list(vars(record).items()):
        if name not in _STANDARD_RECORD_ATTRS and isinstance(value, str):
            setattr(record, name, redact(value))
    record.__dict__["_checkout_redacted"] = True


def _redact_arg(arg: object) -> object:
    if isinstance(arg, str):
        return redact(arg)
    if isinstance(arg, int | float) and not isinstance(arg, bool):
        text = str(arg)
        return arg if redact(text) == text else redact(text)
    return arg


class RedactingFilter(logging.Filter):
    """A logging filter that masks card numbers and secrets in every record it sees."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Mask, never drop."""
        redact_record(record)
        return True


#: Loggers that also get a :class:`RedactingFilter` of their own: those that log request lines
#: (uvicorn's access and error logs, Litestar, ours) and the migrations (Alembic). The record
#: factory already masks their records; the filters keep doing so should a library replace the
#: factory. (A logger's filters see only the records logged on that very logger.)
FILTERED_LOGGERS = (
    "uvicorn",
    "uvicorn.access",
    "uvicorn.error",
    "alembic",
    "alembic.runtime.migration",
    "litestar",
    "checkout",
    "checkout.http",
)

_install_lock = threading.Lock()
_FILTER = RedactingFilter()


def install_log_redaction() -> None:
    """Mask every log record created in this process from now on (idempotent).

    Done in the record factory rather than on a logger or handler, so that records of every
    logger (uvicorn's access log, Alembic, Litestar, libraries, ours) are masked before any
    handler, formatter or test capture sees them; the loggers of :data:`FILTERED_LOGGERS` also
    get a :class:`RedactingFilter`."""
    with _install_lock:
        for name in FILTERED_LOGGERS:
            logger = logging.getLogger(name)
            if _FILTER not in logger.filters:
                logger.addFilter(_FILTER)
        current = logging.getLogRecordFactory()
        if getattr(current, "_checkout_redacting", False):
            return

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = current(*args, **kwargs)
            redact_record(record)
            return record

        factory.__dict__["_checkout_redacting"] = True  # a marker, so the factory is wrapped once
        logging.setLogRecordFactory(factory)
