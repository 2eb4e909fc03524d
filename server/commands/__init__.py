"""CLI subcommands contributed by feature modules: each has add_commands(subparsers)."""
