"""Redis adapters (redis-py): state every API process and host shares."""
