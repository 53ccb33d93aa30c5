"""Every link into a section of our documents lands on a heading: the alert rules' runbook links
(an on-call engineer follows them at 3 a.m.) and the documents' links to each other.

Written after a re-run of the benchmark tables deleted operations.md's runbook, flash-sale and
bucket-migration sections with everything else between two headings, and nothing noticed: every
alert's runbook link and two documents' links pointed at nothing for a day."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
#: ``[text](file.md#anchor)`` (relative to the linking document) and ``(#anchor)`` (in it).
MARKDOWN_LINK = re.compile(r"\]\(([A-Za-z0-9_./-]*\.md)?#([^)\s]+)\)")
#: ``runbook: "docs/operations.md#anchor"`` in the alert rules (relative to the repository).
RUNBOOK_LINK = re.compile(r'runbook:\s*"([^"#]+)#([^"]+)"')
HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$")


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped (letters, digits,
    spaces, hyphens and underscores kept), each space a hyphen."""
    text = re.sub(r"[`*]", "", heading).strip().lower()
    text = "".join(c for c in text if c.isalnum() or c in " -_")
    return text.replace(" ", "-")


def anchors(document: Path) -> set[str]:
    """The anchors of a document's headings (fenced code blocks skipped), repeats numbered."""
    found: set[str] = set()
    fenced = False
    for line in document.read_text(encoding="utf-8").splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        match = None if fenced else HEADING.match(line)
        if match:
            anchor = slug(match.group(1))
            number, unique = 0, anchor
            while unique in found:
                number += 1
                unique = f"{anchor}-{number}"
            found.add(unique)
    return found


def test_slugs_follow_githubs_rule() -> None:
    assert slug("The flash sale, measured") == "the-flash-sale-measured"
    assert slug("Past one machine: a flash sale and a capacity model") == (
        "past-one-machine-a-flash-sale-and-a-capacity-model"
    )
    assert slug("Statements sent straight to psycopg (PostgreSQL)") == "statements-sent-straight-to-psycopg-postgresql"
    assert slug("`checkout serve` — the API") == "checkout-serve--the-api"


def test_every_runbook_link_of_the_alert_rules_lands_on_a_heading() -> None:
    rules = (ROOT / "ops" / "prometheus" / "alerts.yml").read_text(encoding="utf-8")
    links = RUNBOOK_LINK.findall(rules)
    assert len(links) >= 8, "the alert rules name their runbook sections"
    missing = [f"{path}#{anchor}" for path, anchor in links if anchor not in anchors(ROOT / path)]
    assert not missing, f"runbook links to no heading: {missing}"


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: p.name)
def test_every_link_to_a_section_lands_on_a_heading(document: Path) -> None:
    missing = []
    for target, anchor in MARKDOWN_LINK.findall(document.read_text(encoding="utf-8")):
        linked = (document.parent / target).resolve() if target else document
        if not linked.is_file():
            missing.append(f"{target}#{anchor} (no such file)")
        elif anchor not in anchors(linked):
            missing.append(f"{target or document.name}#{anchor}")
    assert not missing, f"{document.name} links to no heading: {missing}"
