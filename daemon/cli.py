"""The `calsync` command: run, sandbox, db upgrade, channels, apikey create, secret-key.

Configuration and start-up failures print one line naming the setting and exit
with status 2; no traceback reaches an operator for a mistake of theirs.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from calsync.errors import CalsyncError, ConfigError, NotMigrated, StoreError
from daemon.config import Settings, load_settings

if TYPE_CHECKING:
    from aiohttp import web

EXIT_CONFIG = 2


def _fail(message: str) -> NoReturn:
    print(f"calsync: {message}", file=sys.stderr)
    raise SystemExit(EXIT_CONFIG)


def _settings() -> Settings:
    try:
        return load_settings(os.environ)
    except ConfigError as err:
        _fail(f"configuration error: {err}")


def _check_sqlite_path(url: str) -> None:
    """Name the real problem (missing or read-only directory) before any driver tries the file."""
    from store.engine import sqlite_path

    path = sqlite_path(url)
    if path is None:
        return
    directory = path.parent
    if not directory.is_dir():
        _fail(f"CALSYNC_DATABASE_URL: directory {directory} does not exist")
    if not os.access(directory, os.W_OK):
        _fail(f"CALSYNC_DATABASE_URL: directory {directory} is not writable")


_SQLITE_OWNER: list[int] = []  # the lock's file descriptor, held for the life of the process


def _own_sqlite_file(url: str) -> None:
    """One daemon per SQLite file: it leads, and it must see every sync pass start itself.

    An exclusive ``flock`` on ``<file>.lock``; the kernel releases it when the process ends
    however it ends (kill -9 included), so a restart never finds a stale lock.
    """
    import fcntl

    from store.engine import sqlite_path

    path = sqlite_path(url)
    if path is None:
        return
    fd = os.open(f"{path}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        _fail(
            f"CALSYNC_DATABASE_URL: another calsync daemon is using {path} "
            "(one daemon per SQLite file; run replicas on PostgreSQL)"
        )
    _SQLITE_OWNER.append(fd)


def _prepare_database(settings: Settings) -> None:
    """Reachable and migrated, or a one-line reason. Auto-migrates where configured (SQLite default)."""
    from store.db import Database
    from store.migrate import ensure_current, upgrade

    _check_sqlite_path(settings.database_url)

    async def check() -> None:
        db = Database(settings.database_url)
        try:
            await db.ping()
            await ensure_current(db)
        finally:
            await db.close()

    try:
        try:
            asyncio.run(check())
        except NotMigrated:
            if not settings.auto_migrate:
                raise
            upgrade(settings.database_url)
    except NotMigrated as err:
        _fail(f"CALSYNC_DATABASE_URL: {err}")
    except StoreError as err:
        _fail(f"CALSYNC_DATABASE_URL: {err}")
    except Exception as err:  # driver errors carry the reason; the traceback helps no operator
        _fail(f"CALSYNC_DATABASE_URL: cannot use the database: {type(err).__name__}: {err}")


def _serve(settings: Settings, app: web.Application) -> None:
    """Run until SIGTERM/SIGINT; failing to listen or to start is one line and exit 2."""
    from aiohttp import web

    try:
        web.run_app(
            app,
            host=settings.listen_host,
            port=settings.listen_port,
            shutdown_timeout=settings.shutdown_timeout,
            access_log=None,
            print=None,
            handle_signals=True,
        )
    except OSError as err:
        _fail(
            f"CALSYNC_LISTEN: cannot listen on {settings.listen_host}:{settings.listen_port}: {err.strerror}"
        )
    except CalsyncError as err:
        _fail(str(err))


def cmd_run(_args: argparse.Namespace) -> int:
    settings = _settings()
    from daemon.logging import configure_logging

    configure_logging(settings.log_format, settings.log_level)
    _prepare_database(settings)
    _own_sqlite_file(settings.database_url)
    from daemon.app import create_app

    _serve(settings, create_app(settings))
    return 0


def cmd_sandbox(_args: argparse.Namespace) -> int:
    settings = _settings()
    from daemon.logging import configure_logging

    configure_logging(settings.log_format, settings.log_level)
    from daemon.sandbox import build_sandbox

    # The emulators keep their state in memory, so each sandbox starts on a fresh database.
    workdir = Path(os.environ.get("CALSYNC_SANDBOX_DIR") or tempfile.mkdtemp(prefix="calsync-sandbox-"))
    _serve(settings, build_sandbox(settings, workdir))
    return 0


def cmd_channels(args: argparse.Namespace) -> int:
    """Channel health from the configured database (works while daemons run elsewhere)."""
    from daemon.channels_cli import collect, emit

    settings = _settings()
    _check_sqlite_path(settings.database_url)
    try:
        items = asyncio.run(
            collect(
                settings.database_url, organization=args.organization, provider=args.provider,
                state=args.state, include_stopped=args.all,
            )
        )  # fmt: skip
    except Exception as err:  # driver errors carry the reason; the traceback helps no operator
        _fail(f"CALSYNC_DATABASE_URL: cannot read channels: {type(err).__name__}: {err}")
    emit(items, sys.stdout, as_json=args.json)
    return 0


def cmd_db_upgrade(_args: argparse.Namespace) -> int:
    from store.migrate import head_revision, upgrade

    settings = _settings()
    try:
        upgrade(settings.database_url)
    except StoreError as err:
        _fail(f"CALSYNC_DATABASE_URL: {err}")
    except Exception as err:  # one line for the operator, whatever the driver raised
        _fail(f"CALSYNC_DATABASE_URL: migration failed: {type(err).__name__}: {err}")
    print(f"database is at revision {head_revision()}")
    return 0


def cmd_apikey_create(args: argparse.Namespace) -> int:
    from store.api_keys import create_key
    from store.db import Database

    settings = _settings()
    _prepare_database(settings)

    async def create() -> str:
        from calsync.clock import SystemClock

        db = Database(settings.database_url)
        try:
            async with db.session() as session:
                plaintext, _row = await create_key(
                    session, args.name, args.organization, SystemClock().now(), read_only=args.read_only
                )
            return plaintext
        finally:
            await db.close()

    plaintext = asyncio.run(create())
    print(plaintext)
    print("Store this key now: calsync keeps only its hash and cannot show it again.", file=sys.stderr)
    return 0


def cmd_secret_key(_args: argparse.Namespace) -> int:
    from cryptography.fernet import Fernet

    print(Fernet.generate_key().decode())
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="calsync",
        description="Real-time calendar sync daemon. Configured by CALSYNC_* environment variables.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    sub.add_parser("run", help="run the daemon").set_defaults(func=cmd_run)
    sub.add_parser(
        "sandbox", help="run the daemon with built-in provider emulators and demo data"
    ).set_defaults(func=cmd_sandbox)
    db = sub.add_parser("db", help="database maintenance")
    db_sub = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    db_sub.add_parser("upgrade", help="apply schema migrations").set_defaults(func=cmd_db_upgrade)
    channels = sub.add_parser("channels", help="show push channel health, soonest expiry first")
    channels.add_argument("--json", action="store_true", help="print JSON (as GET /v1/channels items)")
    channels.add_argument("--organization", default=None, help="only this organization")
    channels.add_argument("--provider", choices=("google", "microsoft"), default=None)
    channels.add_argument(
        "--state", choices=("active", "renewing", "expiring_soon", "error", "stopped"), default=None
    )
    channels.add_argument("--all", action="store_true", help="include stopped channels")
    channels.set_defaults(func=cmd_channels)
    apikey = sub.add_parser("apikey", help="manage API keys")
    apikey_sub = apikey.add_subparsers(dest="apikey_command", metavar="ACTION", required=True)
    create = apikey_sub.add_parser("create", help="create an API key and print it once")
    create.add_argument("--name", required=True, help="a label for the key")
    create.add_argument("--organization", default=None, help="restrict the key to one organization")
    create.add_argument("--read-only", action="store_true", help="the key may only read")
    create.set_defaults(func=cmd_apikey_create)
    sub.add_parser("secret-key", help="print a new CALSYNC_SECRET_KEY").set_defaults(func=cmd_secret_key)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
