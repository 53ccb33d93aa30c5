"""The province's local day: what a date on a document, a tax rate in force or a business
deadline means for a buyer.

Timestamps are kept in UTC, but a sale made in Toronto at 20:30 on December 23 (01:30 UTC on
the 24th) is a sale of December 23: the date of sale, the rates in force on it, the bank
transfer's due date and the return window are all counted in the local day of the buyer's
province (its main time zone; a province spanning zones uses the one most of its people live in).
"""

from __future__ import annotations

import functools
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from checkout_core.tax.rates import normalize_province

#: Province or territory → its time zone (the IANA name of its most populous zone).
PROVINCE_TIME_ZONES: dict[str, str] = {
    "AB": "America/Edmonton",
    "BC": "America/Vancouver",
    "MB": "America/Winnipeg",
    "NB": "America/Moncton",
    "NL": "America/St_Johns",
    "NS": "America/Halifax",
    "NT": "America/Yellowknife",
    "NU": "America/Iqaluit",
    "ON": "America/Toronto",
    "PE": "America/Halifax",
    "QC": "America/Toronto",  # Montreal's zone (``America/Montreal`` is a link to it)
    "SK": "America/Regina",
    "YT": "America/Whitehorse",
}


@functools.cache
def province_zone(province: str) -> ZoneInfo:
    """The time zone of ``province`` (a two-letter code); ValidationFailed for an unknown one."""
    return ZoneInfo(PROVINCE_TIME_ZONES[normalize_province(province)])


def local_time(moment: datetime, province: str) -> datetime:
    """``moment`` (UTC-aware; naive is taken as UTC) on the province's wall clock."""
    aware = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
    return aware.astimezone(province_zone(province))


def local_day(moment: datetime, province: str) -> date:
    """The calendar day it is in ``province`` at ``moment``."""
    return local_time(moment, province).date()


def start_of_local_day(day: date, province: str) -> datetime:
    """The UTC instant ``day`` begins in ``province``."""
    return datetime.combine(day, time(0), tzinfo=province_zone(province)).astimezone(UTC)


def end_of_local_days(moment: datetime, days: int, province: str) -> datetime:
    """The UTC instant the ``days``-th local day after ``moment``'s day ends in ``province``
    (a window of ``days`` days that starts on ``moment``'s day and lasts to the end of the last day)."""
    return start_of_local_day(local_day(moment, province) + timedelta(days=days + 1), province)
