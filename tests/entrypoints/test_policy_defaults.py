"""The business defaults (bank account, dealer) are stated once, by the core's ``Policy``: the
settings read them and ``policy_from`` hands every one of them back unchanged."""

from __future__ import annotations

from checkout_core.usecases.context import Policy
from entrypoints.bootstrap import policy_from
from entrypoints.settings import Settings, load_settings


def test_an_unconfigured_start_runs_on_the_cores_bank_and_dealer() -> None:
    core = Policy()
    for settings in (Settings(), load_settings({})):
        policy = policy_from(settings)
        assert policy.bank == core.bank
        assert policy.dealer == core.dealer


def test_the_dealers_phone_and_email_reach_the_agreement_policy() -> None:
    core = Policy().dealer
    assert core.phone and core.email  # the defaults printed on the agreement are not blank
    policy = policy_from(load_settings({"CHECKOUT_DEALER_PHONE": "1-800-555-0199", "CHECKOUT_DEALER_EMAIL": "a@b.ca"}))
    assert (policy.dealer.phone, policy.dealer.email) == ("1-800-555-0199", "a@b.ca")
    assert policy.dealer.name == core.name
