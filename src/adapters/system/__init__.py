"""Clock and id adapters."""
