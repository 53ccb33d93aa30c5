"""``printable``: what a buyer or a browser typed can neither break a line nor reorder the page."""

from __future__ import annotations

import sys
import unicodedata

from adapters.documents.agreement_pdf import printable


def _reference(value: str) -> str:
    """The rule spelled out: every control, format or separator character but the ASCII space
    becomes a space, then runs of whitespace collapse."""
    text = "".join(" " if unicodedata.category(ch)[0] in "CZ" and ch != " " else ch for ch in value)
    return " ".join(text.split())


def test_every_control_format_and_separator_character_becomes_a_space() -> None:
    hostile = [chr(c) for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c))[0] in "CZ"]
    for ch in hostile:
        assert printable(f"a{ch}b") == _reference(f"a{ch}b"), hex(ord(ch))
    assert printable("John\u202eeoD\nSmith\u200b\tJr.") == "John eoD Smith Jr."


def test_ordinary_text_is_kept_and_trimmed() -> None:
    for value in ["John Doe", "  Zoë  Tremblay ", "Québec", "123 Main St", "1994224", "", "   "]:
        assert printable(value) == _reference(value)
    assert printable("x" * 20, limit=10) == "x" * 9 + "…"
