"""An instance's folder: its config file, and opening its database and federation context."""

from __future__ import annotations

import difflib
import tomllib
from contextlib import asynccontextmanager
from dataclasses import fields
from pathlib import Path
from typing import AsyncIterator

import tomli_w

from federation.context import Federation
from federation.settings import Settings, SettingsError
from models import Database
from server import passwords

CONFIG_NAME = "config.toml"
SETTING_NAMES = {f.name for f in fields(Settings)} - {"extra", "local_testing"}
# Settings read by feature modules from Settings.extra, all of them text.
TEXT_SETTINGS = {"title", "description", "contact_email"}


class ConfigError(Exception):
    pass


def config_path(data_dir: Path) -> Path:
    return Path(data_dir) / CONFIG_NAME


def default_database_url(data_dir: Path) -> str:
    return f"sqlite:///{(Path(data_dir) / 'interpeople.db').resolve()}"


MIN_PASSWORD_MEMORY_KIB = 64  # Argon2 needs 8 KiB per lane, and argon2-cffi uses 4 lanes


def load_settings(data_dir: Path) -> Settings:
    path = config_path(data_dir)
    if not path.exists():
        raise ConfigError(
            f"no instance in {data_dir}: run `interpeople --data {data_dir} init --base-url URL` first"
        )
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as error:
        raise ConfigError(f"{path} is not UTF-8 text (byte {error.start}): save it as UTF-8") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path} is not valid TOML: {error}") from None
    except OSError as error:
        raise ConfigError(f"cannot read {path}: {error.strerror}") from None
    check_names(path, raw)
    known = {k: v for k, v in raw.items() if k in SETTING_NAMES}
    extra = {k: v for k, v in raw.items() if k not in SETTING_NAMES}
    for name in TEXT_SETTINGS & set(extra):
        if not isinstance(extra[name], str):
            raise ConfigError(f"{path}: {name} must be a string, got {extra[name]!r}")
    try:
        settings = Settings(**known, extra=extra)
    except (TypeError, SettingsError) as error:
        raise ConfigError(f"{path}: {error}") from None
    if settings.password_memory_kib < MIN_PASSWORD_MEMORY_KIB:
        raise ConfigError(f"{path}: password_memory_kib must be at least {MIN_PASSWORD_MEMORY_KIB}")
    passwords.use_cost(settings.password_time_cost, settings.password_memory_kib)
    return settings


def check_names(path: Path, raw: dict) -> None:
    """A misspelt setting would otherwise be ignored without a word: name it, and what was probably meant."""
    names = SETTING_NAMES | TEXT_SETTINGS
    for name in raw:
        if name not in names:
            close = difflib.get_close_matches(name, sorted(names), n=1)
            hint = f" (did you mean {close[0]}?)" if close else " (the settings are listed in README.md)"
            raise ConfigError(f"{path}: unknown setting {name!r}{hint}")


def sqlite_file(database_url: str) -> Path | None:
    """The file of a SQLite database URL (None for other databases)."""
    return Path(database_url[len("sqlite:///") :]) if database_url.startswith("sqlite:///") else None


def check_sqlite_file(database_url: str) -> None:
    """Only `init` (and `restore`) create a database: a missing file is an error, never silently recreated."""
    path = sqlite_file(database_url)
    if path is None:
        return
    if not path.parent.is_dir():
        raise ConfigError(
            f"the database's folder {path.parent} does not exist (database_url = {database_url!r})"
        )
    if not path.exists():
        raise ConfigError(
            f"the database file {path} is missing; only `interpeople init` creates one "
            "(restore a backup with `interpeople restore FILE`)"
        )


async def check_database(db: Database) -> None:
    """Connects once and reads the schema, so a corrupt file or unreachable server is one clear error."""
    from sqlalchemy import text
    from sqlalchemy.exc import SQLAlchemyError

    probe = "SELECT count(*) FROM sqlite_master" if db.is_sqlite else "SELECT 1"
    try:
        async with db.engine.connect() as conn:
            await conn.execute(text(probe))
    except (SQLAlchemyError, OSError) as error:
        reason = getattr(error, "orig", None) or error
        raise ConfigError(f"cannot use the database: {str(reason).splitlines()[0]}") from None


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
    check_sqlite_file(settings.database_url)
    db = Database(settings.database_url)
    fed = Federation(settings, db)
    try:
        await check_database(db)
        yield fed
    finally:
        await fed.close()
        await db.close()
