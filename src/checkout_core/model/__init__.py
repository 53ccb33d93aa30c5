"""Domain model: entities (reservation, order, payments) and the value objects they hold."""
