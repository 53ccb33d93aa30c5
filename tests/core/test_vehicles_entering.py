"""VINs are checked wherever a car enters (library, CLI, demo), and what the agreement says
about a car (stock number, certificate, warranty, disclosure checklist) is in its API form."""

from __future__ import annotations

import pytest

from checkout_core.demo import demo_vehicles
from checkout_core.errors import Conflict, Forbidden, ValidationFailed
from checkout_core.model.disclosures import CHECKLIST, Answer, disclosure_checklist
from checkout_core.model.vehicle import Disclosure, DisclosureKind, Vehicle, VehicleStatus
from checkout_core.model.vin import check_digit, is_valid_vin, model_year_code, validate_vin, with_check_digit
from checkout_core.money import Money
from checkout_core.usecases.context import Actor, Role
from checkout_core.usecases.vehicles import add_vehicle
from entrypoints.bootstrap import App
from entrypoints.views import vehicle_to_dict

SARAH = Actor("adv_sarah", Role.ADVISOR)
JOHN = Actor("cus_demo")


@pytest.mark.parametrize("vin", ["1HGCM82633A004352", "11111111111111111", "1M8GDM9AXKP042788", "2HGFE2F5XMH512345"])
def test_valid_vins_pass_and_are_put_in_capitals(vin: str) -> None:
    assert validate_vin(f"  {vin.lower()} ") == vin
    assert is_valid_vin(vin)


@pytest.mark.parametrize(
    ("vin", "reason"),
    [
        ("2HGFE2F59MH512345", "fails its check digit"),  # the spec's, and the old demo's
        ("1HGCM82633A00435", "must have 17 characters, not 16"),
        ("1HGCM82633A0043521", "must have 17 characters, not 18"),
        ("1HGCM8O633A004352", "contains 'O'"),
        ("1HGCM82633A00435Q", "contains 'Q'"),
        ("IHGCM82633A004352", "contains 'I'"),
        ("1HGCM82633A-04352", "contains '-'"),
        ("", "must have 17 characters, not 0"),
    ],
)
def test_invalid_vins_are_refused_saying_why(vin: str, reason: str) -> None:
    with pytest.raises(ValidationFailed, match=reason) as refused:
        validate_vin(vin)
    assert refused.value.code == "validation_error"
    assert not is_valid_vin(vin)


def test_check_digit_helpers() -> None:
    assert check_digit("1M8GDM9AXKP042788") == "X"
    assert with_check_digit("2HGFE2F50MH512345") == "2HGFE2F5XMH512345"
    assert model_year_code(2021) == "M"
    assert model_year_code(2001) == "1"


def test_every_demo_car_has_a_valid_vin_a_stock_number_and_a_safety_statement() -> None:
    cars = demo_vehicles()
    assert all(is_valid_vin(car.vin) for car in cars)
    assert len({car.vin for car in cars}) == len(cars)
    assert all(car.stock_number and not car.stock_number.startswith("veh_") for car in cars)
    assert any(car.sold_as_is for car in cars) and any(not car.sold_as_is for car in cars)
    assert {car.warranty.kind.value for car in cars} == {"none", "manufacturer", "extended"}
    assert cars[0].vin == "2HGFE2F5XMH512345"


def _car(**changes: object) -> Vehicle:
    fields: dict[str, object] = {
        "id": "veh_new",
        "vin": "1hgcm82633a004352",
        "year": 2003,
        "make": "Honda",
        "model": "Accord",
        "price": Money(499900),
    }
    fields.update(changes)
    return Vehicle(**fields)  # type: ignore[arg-type]  # test helper: attrs checks the fields


def test_a_car_enters_through_the_library_only_with_a_valid_vin(memory_app: App) -> None:
    ctx = memory_app.ctx
    with pytest.raises(ValidationFailed, match="check digit"):
        add_vehicle(ctx, SARAH, _car(vin="1HGCM82633A004353"))
    with pytest.raises(Forbidden):
        add_vehicle(ctx, JOHN, _car())
    with pytest.raises(ValidationFailed, match="price"):
        add_vehicle(ctx, SARAH, _car(price=Money(0)))
    car = add_vehicle(ctx, SARAH, _car())
    assert car.vin == "1HGCM82633A004352"
    with ctx.uow() as uow:
        assert uow.vehicles.get("veh_new") == car
    with pytest.raises(Conflict):
        add_vehicle(ctx, SARAH, _car())
    with ctx.uow() as uow:
        uow.vehicles.set_status("veh_new", VehicleStatus.RESERVED)
        uow.commit()
    replaced = add_vehicle(ctx, SARAH, _car(colour="Blue"), replace=True)
    assert replaced.colour == "Blue" and replaced.status is VehicleStatus.RESERVED  # keeps its place in the funnel


def test_the_checklist_answers_every_category_from_the_declared_disclosures() -> None:
    car = _car(
        disclosures=(
            Disclosure(kind=DisclosureKind.POLICE, detail="OPP cruiser"),
            Disclosure(kind=DisclosureKind.OUT_OF_PROVINCE, detail="Michigan"),
            Disclosure(kind=DisclosureKind.OUT_OF_PROVINCE, detail="Quebec"),
        )
    )
    checklist = disclosure_checklist(car)
    assert [item.kind for item in checklist] == list(CHECKLIST)
    assert set(CHECKLIST) == set(DisclosureKind)
    answers = {item.kind: (item.answer, item.details) for item in checklist}
    assert answers[DisclosureKind.POLICE] == (Answer.YES, "OPP cruiser")
    assert answers[DisclosureKind.OUT_OF_PROVINCE] == (Answer.YES, "Michigan; Quebec")
    assert answers[DisclosureKind.FLOOD_DAMAGE] == (Answer.NO, "")
    body = vehicle_to_dict(car)
    assert body["disclosureChecklist"][1] == {"kind": "police", "answer": "yes", "details": "OPP cruiser"}
    assert body["disclosureChecklist"][5] == {"kind": "flood_damage", "answer": "no", "details": ""}
    assert body["disclosures"] == [
        {"kind": "police", "detail": "OPP cruiser"},
        {"kind": "out_of_province", "detail": "Michigan"},
        {"kind": "out_of_province", "detail": "Quebec"},
    ]
    assert body["soldAsIs"] is True and body["safetyCertificate"] is None
    assert body["warranty"] == {"kind": "none", "detail": ""}
