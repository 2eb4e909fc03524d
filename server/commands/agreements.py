"""CLI commands of the agreements feature (placeholder until it lands)."""


def add_commands(sub) -> None:
    pass
