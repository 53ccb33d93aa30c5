"""``checkout quote``: price a purchase without touching any data."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation

import click

from checkout_core.money import Money
from checkout_core.pricing.financing import financed_amount, monthly_payment
from checkout_core.pricing.quote import price_purchase
from entrypoints.cli.output import domain_errors, emit_json, table
from entrypoints.settings import fee_schedule, load_settings
from entrypoints.views import pricing_to_dict


def _cents(value: int, name: str) -> Money:
    if value < 0:
        raise click.BadParameter(f"must not be negative (got {value})", param_hint=name)
    return Money(value)


@click.command()
@click.option("--price", type=int, required=True, help="Vehicle price in cents.")
@click.option("--province", required=True, help="Buyer's province or territory (ON, QC, BC, …).")
@click.option("--trade-in", "trade_in", type=int, default=0, show_default=True, help="Trade-in credit in cents.")
@click.option("--deposit", type=int, default=10000, show_default=True, help="Deposit paid, in cents.")
@click.option("--down-payment", type=int, default=0, show_default=True, help="Down payment in cents.")
@click.option("--apr", type=str, default=None, help="APR in percent for financing, e.g. 5.99.")
@click.option("--term-months", type=int, default=None, help="Financing term in months.")
@click.option("--on", "on", type=click.DateTime(["%Y-%m-%d"]), default=None, help="Price with the rates of this day.")
@click.option("--json", "as_json", is_flag=True, help="Print the spec's pricing JSON.")
def quote(
    price: int,
    province: str,
    trade_in: int,
    deposit: int,
    down_payment: int,
    apr: str | None,
    term_months: int | None,
    on: datetime | None,
    as_json: bool,
) -> None:
    """Print the pricing breakdown of a purchase: fees, each sales tax, total, financing."""
    if (apr is None) != (term_months is None):
        raise click.UsageError("--apr and --term-months go together")
    with domain_errors():
        settings = load_settings()
        fees = fee_schedule(settings)
        day: date = on.date() if on else datetime.now(UTC).date()
        pricing = price_purchase(
            vehicle_price=_cents(price, "--price"),
            trade_in_credit=_cents(trade_in, "--trade-in"),
            province=province,
            on=day,
            fees=fees,
        )
        data = pricing_to_dict(pricing)
        financing: dict[str, int | float] | None = None
        if apr is not None and term_months is not None:
            try:
                rate = Decimal(apr)
            except InvalidOperation:
                raise click.BadParameter(f"not a number: {apr!r}", param_hint="--apr") from None
            principal = financed_amount(
                pricing.total_due, _cents(deposit, "--deposit"), _cents(down_payment, "--down-payment")
            )
            financing = {
                "financedAmount": principal.cents,
                "aprPercent": float(rate),
                "termMonths": term_months,
                "monthlyPayment": monthly_payment(principal, rate, term_months).cents,
            }
            data["financing"] = financing
    if as_json:
        emit_json(data)
        return
    rows: list[tuple[str, str]] = [
        ("Vehicle price", pricing.vehicle_price.format()),
        ("Trade-in credit", (-pricing.trade_in_credit).format()),
        ("Admin fee", pricing.admin_fee.format()),
        ("Documentation fee", pricing.documentation_fee.format()),
        ("Subtotal", pricing.subtotal.format()),
    ]
    rows += [(f"{line.kind} {(line.rate * 100).normalize():f}%", line.amount.format()) for line in pricing.tax.lines]
    rows += [("Total tax", pricing.tax.total.format()), ("Licence and plate fee", pricing.licence_fee.format())]
    rows += [("Total due", pricing.total_due.format())]
    if financing is not None:
        rows += [
            ("Financed amount", Money(int(financing["financedAmount"])).format()),
            (f"Monthly payment ({term_months} months)", Money(int(financing["monthlyPayment"])).format()),
        ]
    table(rows, ("Item", f"Amount ({pricing.province})"))
