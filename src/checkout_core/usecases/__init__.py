"""Use cases: plain functions over the ports. Library, HTTP and CLI all call these."""
