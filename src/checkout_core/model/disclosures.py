"""The full disclosure checklist printed on every agreement.

OMVIC expects each category of material fact to be answered, not only the ones that apply: a
"no" is a statement by the dealer too. The checklist is derived from the car's declared
disclosures (and its warranty): a category the dealer declared is "yes" with the dealer's
details, any other is "no".
"""

from __future__ import annotations

import enum

import attrs

from checkout_core.model.vehicle import Disclosure, DisclosureKind, Vehicle

#: The categories every agreement answers, in the order they are printed (``other`` last).
CHECKLIST: tuple[DisclosureKind, ...] = (
    DisclosureKind.DAILY_RENTAL,
    DisclosureKind.POLICE,
    DisclosureKind.TAXI_LIMOUSINE,
    DisclosureKind.EMERGENCY,
    DisclosureKind.FIRE_DAMAGE,
    DisclosureKind.FLOOD_DAMAGE,
    DisclosureKind.ODOMETER,
    DisclosureKind.MANUFACTURER_WARRANTY_CANCELLED,
    DisclosureKind.BRANDED,
    DisclosureKind.ACCIDENT_DAMAGE,
    DisclosureKind.OUT_OF_PROVINCE,
    DisclosureKind.TOTAL_LOSS,
    DisclosureKind.STRUCTURAL_ALTERATION,
    DisclosureKind.INOPERATIVE_SAFETY_SYSTEM,
    DisclosureKind.OTHER,
)


class Answer(enum.StrEnum):
    """The dealer's answer to one category."""

    YES = "yes"
    NO = "no"


@attrs.frozen(kw_only=True)
class ChecklistItem:
    """One category, answered: ``details`` joins what the dealer declared for it (empty for a no)."""

    kind: DisclosureKind
    answer: Answer
    details: str = ""


def disclosure_checklist(vehicle: Vehicle) -> tuple[ChecklistItem, ...]:
    """Every category of :data:`CHECKLIST`, answered from ``vehicle``'s declared disclosures."""
    return checklist_of(vehicle.disclosures)


def checklist_of(disclosures: tuple[Disclosure, ...]) -> tuple[ChecklistItem, ...]:
    """:func:`disclosure_checklist` of a car with these disclosures (the order view keeps its
    rendering per distinct list: ``entrypoints.views``)."""
    declared: dict[DisclosureKind, list[str]] = {}
    for disclosure in disclosures:
        declared.setdefault(disclosure.kind, []).append(disclosure.detail.strip())
    items = []
    for kind in CHECKLIST:
        details = declared.get(kind)
        if details is None:
            items.append(ChecklistItem(kind=kind, answer=Answer.NO))
        else:
            items.append(ChecklistItem(kind=kind, answer=Answer.YES, details="; ".join(d for d in details if d)))
    return tuple(items)
