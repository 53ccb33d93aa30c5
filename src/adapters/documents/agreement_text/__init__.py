"""The words of the purchase agreement, one catalogue per language: :mod:`.en`, :mod:`.fr`
(the :class:`~.catalogue.Catalogue` class says what a catalogue holds)."""

from __future__ import annotations

from adapters.documents.agreement_text import en, fr
from adapters.documents.agreement_text.catalogue import NBSP, Catalogue

__all__ = ["NBSP", "Catalogue", "catalogue"]

_CATALOGUES: dict[str, Catalogue] = {"en": en.CATALOGUE, "fr": fr.CATALOGUE}


def catalogue(language: str) -> Catalogue:
    """The catalogue of ``language`` (``en`` or ``fr``); ValueError for any other."""
    found = _CATALOGUES.get(language)
    if found is None:
        raise ValueError(f"no agreement catalogue for language {language!r}")
    return found
