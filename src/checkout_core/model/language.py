"""The language a buyer's contract is written in.

Quebec's Charter of the French language requires contracts of adhesion (a dealer's standard
purchase agreement is one) to be drawn up in French for a buyer in Quebec; everyone else gets
English. The signing page uses the same choice for its own words, so the buyer reads the page
and the agreement in one language.
"""

from __future__ import annotations

from typing import Literal

from checkout_core.model.order import Order

#: The languages an agreement (and its signing page) can be written in.
Language = Literal["en", "fr"]

#: Provinces whose buyers get the agreement in French.
FRENCH_PROVINCES = frozenset({"QC"})


def language_for_province(province: str) -> Language:
    """``"fr"`` for a Quebec address, ``"en"`` for any other province or territory."""
    return "fr" if province.strip().upper() in FRENCH_PROVINCES else "en"


def agreement_language(order: Order) -> Language:
    """The language of ``order``'s agreement and signing page: French when the buyer's address
    (``contactInfo.address.province``) is in Quebec, English otherwise."""
    return language_for_province(order.contact.address.province)
