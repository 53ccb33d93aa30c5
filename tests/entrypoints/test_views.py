"""The spec's JSON shapes built from the core's values (entrypoints.views): moments and the
disclosure checklist, which are kept per distinct list of disclosures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from checkout_core.model.disclosures import disclosure_checklist
from checkout_core.model.vehicle import Disclosure, DisclosureKind, Vehicle
from checkout_core.money import Money
from entrypoints.views import iso, vehicle_contents_to_dict


def test_moments_are_utc_to_the_second_with_a_z() -> None:
    assert iso(None) is None
    assert iso(datetime(2025, 12, 23, 11, 0, 0, 987654, tzinfo=UTC)) == "2025-12-23T11:00:00Z"
    toronto = timezone(timedelta(hours=-5))
    assert iso(datetime(2025, 12, 23, 6, 30, 15, 1, tzinfo=toronto)) == "2025-12-23T11:30:15Z"
    assert iso(datetime(2025, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=2)))) == "2025-12-31T21:59:59Z"


def _car(*disclosures: Disclosure) -> Vehicle:
    return Vehicle(
        id="veh_1",
        vin="1HGCM82633A004352",
        year=2020,
        make="Honda",
        model="Civic",
        price=Money(1_000_00),
        disclosures=disclosures,
    )


def _shown(vehicle: Vehicle) -> list[dict[str, str]]:
    checklist: list[dict[str, str]] = vehicle_contents_to_dict(vehicle)["disclosureChecklist"]
    return checklist


def test_the_checklist_shown_is_the_cores_for_each_list_of_disclosures() -> None:
    clean = _car()
    damaged = _car(Disclosure(kind=DisclosureKind.ACCIDENT_DAMAGE, detail="Rear bumper, 2022: $4,800"))
    twice = _car(
        Disclosure(kind=DisclosureKind.ACCIDENT_DAMAGE, detail="Rear bumper, 2022: $4,800"),
        Disclosure(kind=DisclosureKind.ACCIDENT_DAMAGE, detail=" Hood, 2023 "),
    )
    for vehicle in (clean, damaged, twice, clean, damaged):  # again: kept answers, not shared ones
        expected = [
            {"kind": item.kind.value, "answer": item.answer.value, "details": item.details}
            for item in disclosure_checklist(vehicle)
        ]
        assert _shown(vehicle) == expected
    answers = {row["kind"]: (row["answer"], row["details"]) for row in _shown(twice)}
    assert answers["accident_damage"] == ("yes", "Rear bumper, 2022: $4,800; Hood, 2023")
    assert all(row["answer"] == "no" for row in _shown(clean))


def test_a_shown_checklist_is_the_callers_own() -> None:
    first = _shown(_car())
    first[0]["answer"] = "tampered"
    assert _shown(_car())[0]["answer"] == "no"
