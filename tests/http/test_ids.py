"""Random ids: ``prefix_`` + 16 base32 characters (a-z, 2-7), unguessable and unique."""

from __future__ import annotations

import re

from adapters.system.ids import RandomIds

_ID = re.compile(r"^res_[a-z2-7]{16}$")


def test_format_is_prefix_and_sixteen_base32_characters() -> None:
    ids = RandomIds()

    for _ in range(2000):
        assert _ID.match(ids.new("res"))
    assert ids.new("veh").startswith("veh_")
    assert ids.new("idem_key").startswith("idem_key_")


def test_every_character_of_the_alphabet_occurs() -> None:
    # 80 bits spread over the whole alphabet: a generator that used fewer characters (or an
    # uppercase one) would have fewer bits than the format promises.
    ids = RandomIds()
    seen = set("".join(ids.new("x")[2:] for _ in range(500)))

    assert seen == set("abcdefghijklmnopqrstuvwxyz234567")


def test_ids_are_unique() -> None:
    ids = RandomIds()
    made = [ids.new("ord") for _ in range(50_000)]

    assert len(set(made)) == len(made)
