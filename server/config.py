"""An instance's folder: its config file, and opening its database and federation context."""
from __future__ import annotations

import tomllib
from contextlib import asynccontextmanager
from dataclasses import fields
from pathlib import Path
from typing import AsyncIterator

import tomli_w

from federation.context import Federation
from federation.settings import Settings, SettingsError
from models import Database

CONFIG_NAME = "config.toml"
SETTING_NAMES = {f.name for f in fields(Settings)} - {"extra", "local_testing"}


class ConfigError(Exception):
    pass


def config_path(data_dir: Path) -> Path:
    return Path(data_dir) / CONFIG_NAME


def default_database_url(data_dir: Path) -> str:
    return f"sqlite:///{(Path(data_dir) / 'interpeople.db').resolve()}"


def load_settings(data_dir: Path) -> Settings:
    path = config_path(data_dir)
    if not path.exists():
        raise ConfigError(f"no instance in {data_dir}: run `interpeople --data {data_dir} init --base-url URL` first")
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path} is not valid TOML: {error}") from None
    known = {k: v for k, v in raw.items() if k in SETTING_NAMES}
    extra = {k: v for k, v in raw.items() if k not in SETTING_NAMES}
    try:
        return Settings(**known, extra=extra)
    except (TypeError, SettingsError) as error:
        raise ConfigError(f"{path}: {error}") from None


def write_settings(data_dir: Path, values: dict) -> None:
    path = config_path(data_dir)
    path.write_text(
        "# Interpeople instance configuration. Other settings and their defaults: see README.md.\n"
        + tomli_w.dumps(values)
    )


@asynccontextmanager
async def open_instance(data_dir: Path) -> AsyncIterator[Federation]:
    """The federation context of the instance in data_dir, closed on exit."""
    settings = load_settings(data_dir)
    db = Database(settings.database_url)
    fed = Federation(settings, db)
    try:
        yield fed
    finally:
        await fed.close()
        await db.close()
