"""Library users import from ``checkout_core``: a curated, typed public API."""

from __future__ import annotations

from pathlib import Path

import checkout_core


def test_every_public_name_is_exported_and_sorted() -> None:
    assert all(hasattr(checkout_core, name) for name in checkout_core.__all__)
    assert len(set(checkout_core.__all__)) == len(checkout_core.__all__)
    assert {"reserve_vehicle", "place_order", "PlaceOrder", "Money", "Actor", "Role", "Context", "Policy"} <= set(
        checkout_core.__all__
    )


def test_the_package_is_marked_typed() -> None:
    assert (Path(checkout_core.__file__).parent / "py.typed").is_file()
