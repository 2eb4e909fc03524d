"""CLI commands of the spaces feature (placeholder until it lands)."""


def add_commands(sub) -> None:
    pass
