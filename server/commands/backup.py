"""`interpeople backup` and `restore`: one archive with the config and the whole database (keys included)."""

from __future__ import annotations

import io
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
import tomllib
from pathlib import Path

from sqlalchemy import func, inspect, select

from federation.settings import Settings, SettingsError, check_database_url
from federation.vocabulary import iso
from models import Actor, Base, Database, utcnow
from models.migrate import upgrade
from server.commands.progress import Progress, note
from server.config import (
    CONFIG_NAME,
    check_database,
    config_path,
    default_database_url,
    load_settings,
    sqlite_file,
    write_settings,
)

FORMAT = "interpeople-backup/1"
MANIFEST = "manifest.json"
SQLITE_MEMBER = "database.sqlite"
PG_MEMBER = "database.pgdump"
PAGES_PER_STEP = 256


def _error(message: str) -> Exception:
    from server.commands.errors import CliError

    return CliError(message)


def libpq_url(database_url: str) -> str:
    """The URL as pg_dump and pg_restore read it (no SQLAlchemy driver suffix)."""
    scheme, rest = database_url.split("://", 1)
    return "postgresql://" + rest if scheme.startswith("postgres") else database_url


def _run_pg_tool(command: list[str], what: str) -> None:
    """Runs pg_dump/pg_restore with --verbose, showing one line per table as progress."""
    if shutil.which(command[0]) is None:
        raise _error(f"{command[0]} is not installed (Debian: apt-get install postgresql-client)")
    process = subprocess.Popen(command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    errors = []
    for line in process.stderr:
        line = line.rstrip()
        if "contents of table" in line or "processing data for table" in line:
            note(f"{what}: {line.split('table', 1)[1].strip()}")
        elif "error" in line.lower():
            errors.append(line)
    if process.wait() != 0:
        raise _error(f"{command[0]} failed: {errors[0] if errors else f'exit status {process.returncode}'}")


def _sqlite_copy(source: Path, target: Path, label: str) -> None:
    """A consistent copy of a live SQLite database through SQLite's online backup API."""
    progress = Progress(label, 0, "pages")

    def step(_status, remaining, total):
        progress.total = total
        progress.update(total - remaining)

    src = sqlite3.connect(source)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst, pages=PAGES_PER_STEP, progress=step)
    finally:
        dst.close()
        src.close()
    progress.done()


async def _table_counts(db: Database) -> dict[str, int]:
    async with db.engine.connect() as conn:
        present = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
        return {
            t.name: await conn.scalar(select(func.count()).select_from(t))
            for t in Base.metadata.sorted_tables
            if t.name in present
        }


def _default_output(data: Path, host: str) -> Path:
    stamp = utcnow().strftime("%Y%m%d-%H%M%S")
    return data / "backups" / f"interpeople-{host.replace(':', '_')}-{stamp}.tar.gz"


def _private(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.mode, info.uid, info.gid, info.uname, info.gname = 0o600, 0, 0, "", ""
    return info


def _add_bytes(archive: tarfile.TarFile, name: str, payload: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(payload), int(utcnow().timestamp()), 0o600
    archive.addfile(info, io.BytesIO(payload))


async def cmd_backup(args) -> None:
    settings = load_settings(args.data)
    db = Database(settings.database_url, pool_size=1)
    try:
        await check_database(db)
        counts = await _table_counts(db)
    finally:
        await db.close()
    output = args.output or _default_output(args.data, settings.host)
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="interpeople-backup-") as work:
        source = sqlite_file(settings.database_url)
        if source is not None:
            dump, member = Path(work) / SQLITE_MEMBER, SQLITE_MEMBER
            _sqlite_copy(source, dump, "copying the SQLite database")
        else:
            dump, member = Path(work) / PG_MEMBER, PG_MEMBER
            _run_pg_tool(
                [
                    "pg_dump",
                    "--format=custom",
                    "--no-owner",
                    "--no-privileges",
                    "--verbose",
                    f"--file={dump}",
                    f"--dbname={libpq_url(settings.database_url)}",
                ],
                "dumped",
            )
        manifest = {
            "format": FORMAT,
            "created": iso(utcnow()),
            "base_url": settings.base_url,
            "database": "sqlite" if source is not None else "postgresql",
            "tables": counts,
        }
        partial = output.with_name(output.name + ".partial")
        note(f"writing {output}")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz") as archive:
            _add_bytes(archive, MANIFEST, json.dumps(manifest, indent=2).encode())
            _add_bytes(archive, CONFIG_NAME, config_path(args.data).read_bytes())
            archive.add(dump, arcname=member, filter=_private)
        partial.replace(output)
    print(
        f"backed up {settings.base_url} ({counts.get('actors', 0)} actors, "
        f"{counts.get('objects', 0)} objects, "
        f"keys and config) to {output}"
    )


def _read_archive(path: Path) -> tuple[dict, bytes, tarfile.TarFile]:
    try:
        archive = tarfile.open(path, mode="r:gz")
        manifest = json.loads(archive.extractfile(MANIFEST).read())
        config = archive.extractfile(CONFIG_NAME).read()
    except (OSError, tarfile.TarError, KeyError, AttributeError, ValueError) as error:
        raise _error(f"{path} is not an Interpeople backup: {error}") from None
    if manifest.get("format") != FORMAT:
        raise _error(f"{path} is a backup in format {manifest.get('format')!r}; this version reads {FORMAT}")
    return manifest, config, archive


async def _check_empty(database_url: str) -> None:
    db = Database(database_url, pool_size=1)
    try:
        await check_database(db)
        async with db.engine.connect() as conn:
            tables = await conn.run_sync(lambda c: inspect(c).get_table_names())
    finally:
        await db.close()
    if tables:
        raise _error(f"the database {database_url.rsplit('@', 1)[-1]} is not empty; restore into a new one")


def _copy_member(archive: tarfile.TarFile, name: str, target: Path) -> None:
    member = archive.getmember(name)
    progress = Progress(f"restoring {name}", member.size, "bytes")
    done = 0
    with archive.extractfile(member) as source, open(target, "xb") as out:
        while chunk := source.read(1 << 20):
            out.write(chunk)
            done += len(chunk)
            progress.update(done)
    progress.done()


async def _restore_database(archive: tarfile.TarFile, manifest: dict, database_url: str) -> None:
    kind = manifest.get("database")
    target_file = sqlite_file(database_url)
    if (kind == "sqlite") != (target_file is not None):
        raise _error(
            f"this backup holds a {kind} database; restore it into the same kind, then use "
            "`interpeople migrate-db` to move from SQLite to PostgreSQL"
        )
    if target_file is not None:
        if target_file.exists():
            raise _error(f"{target_file} exists; restore into a new folder or remove it first")
        if not target_file.parent.is_dir():
            raise _error(f"the database's folder {target_file.parent} does not exist")
        _copy_member(archive, SQLITE_MEMBER, target_file)
        return
    await _check_empty(database_url)
    with tempfile.TemporaryDirectory(prefix="interpeople-restore-") as work:
        dump = Path(work) / PG_MEMBER
        _copy_member(archive, PG_MEMBER, dump)
        _run_pg_tool(
            [
                "pg_restore",
                "--no-owner",
                "--no-privileges",
                "--exit-on-error",
                "--verbose",
                f"--dbname={libpq_url(database_url)}",
                str(dump),
            ],
            "restored",
        )


async def cmd_restore(args) -> None:
    data: Path = args.data
    if config_path(data).exists():
        raise _error(f"an instance already exists in {data}; restore into a new folder")
    manifest, config_bytes, archive = _read_archive(args.file)
    with archive:
        values = tomllib.loads(config_bytes.decode("utf-8"))
        if args.database_url:
            values["database_url"] = args.database_url
        elif manifest.get("database") == "sqlite":
            values["database_url"] = default_database_url(data)
        try:
            check_database_url(values["database_url"])
            Settings(**{k: v for k, v in values.items() if k in ("base_url", "database_url")})
        except (SettingsError, KeyError) as error:
            raise _error(f"the backup's config cannot be used: {error}") from None
        created_dir = not data.exists()
        data.mkdir(parents=True, exist_ok=True)
        try:
            await _restore_database(archive, manifest, values["database_url"])
        except Exception:
            if created_dir:
                shutil.rmtree(data, ignore_errors=True)
            raise
    write_settings(data, values)
    db = Database(values["database_url"], pool_size=1)
    try:
        await upgrade(db)
        async with db.session() as session:
            actors = await session.scalar(
                select(func.count()).select_from(Actor).where(Actor.local.is_(True))
            )
    finally:
        await db.close()
    print(
        f"restored {manifest.get('base_url')} (backup of {manifest.get('created')}, {actors} local actors) "
        f"into {data}; start it with `interpeople --data {data} serve`"
    )


def add_commands(sub) -> None:
    p = sub.add_parser(
        "backup",
        help="write one archive with the config and the database (keys included); safe while serving",
    )
    p.add_argument(
        "--output",
        type=Path,
        metavar="FILE",
        help="the archive to write (default: DATA/backups/interpeople-HOST-TIME.tar.gz)",
    )
    p.set_defaults(run=cmd_backup)

    p = sub.add_parser(
        "restore",
        help="create the instance in --data from a backup archive (the folder must "
        "hold no instance; migrations run when it starts)",
    )
    p.add_argument("file", type=Path, metavar="FILE")
    p.add_argument(
        "--database-url",
        help="restore into this database (PostgreSQL: an empty one; default: "
        "SQLite in the data folder, or the backup's PostgreSQL URL)",
    )
    p.set_defaults(run=cmd_restore)
