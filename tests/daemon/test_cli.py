"""The `calsync` command as an operator meets it: help, and one-line exit-2 failures."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

CALSYNC = [sys.executable, "-m", "daemon.cli"]


def run(
    args: list[str], env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("CALSYNC_")}
    return subprocess.run(
        CALSYNC + args, env={**base, **(env or {})}, cwd=cwd, capture_output=True, text=True, timeout=60
    )


def test_help_lists_the_subcommands() -> None:
    result = run(["--help"])
    assert result.returncode == 0
    for command in ("run", "sandbox", "db", "channels", "apikey"):
        assert command in result.stdout
    db_help = run(["db", "--help"])
    assert "upgrade" in db_help.stdout


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"CALSYNC_LISTEN": "127.0.0.1:70000"}, "CALSYNC_LISTEN"),
        ({"CALSYNC_LOG_FORMAT": "yaml"}, "CALSYNC_LOG_FORMAT"),
        ({"CALSYNC_DATABASE_URL": "oracle://x"}, "CALSYNC_DATABASE_URL"),
        ({"CALSYNC_KAFKA_BOOTSTRAP": "nohostport"}, "CALSYNC_KAFKA_BOOTSTRAP"),
    ],
)
def test_bad_configuration_is_one_line_and_exit_2(env: dict[str, str], variable: str, tmp_path: Path) -> None:
    result = run(["run"], env=env, cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and variable in lines[0]
    assert "Traceback" not in result.stderr


def test_unreachable_database_is_one_line_and_exit_2(tmp_path: Path) -> None:
    # A port nothing listens on: the driver fails fast and the operator gets the variable's name.
    result = run(
        ["run"],
        env={"CALSYNC_DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2"},
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert "CALSYNC_DATABASE_URL" in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_unwritable_sqlite_path_is_one_line_and_exit_2(tmp_path: Path) -> None:
    result = run(
        ["run"], env={"CALSYNC_DATABASE_URL": f"sqlite:///{tmp_path}/missing/dir/x.db"}, cwd=tmp_path
    )
    assert result.returncode == 2
    assert "CALSYNC_DATABASE_URL" in result.stderr and "does not exist" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_secret_key_prints_a_usable_key() -> None:
    from cryptography.fernet import Fernet

    result = run(["secret-key"])
    assert result.returncode == 0
    Fernet(result.stdout.strip().encode())  # raises if not a valid key


def test_a_second_daemon_on_the_same_sqlite_file_is_refused(tmp_path: Path) -> None:
    # One daemon per SQLite file (it leads and sees every sync pass start): a second is one line,
    # exit 2; the lock goes with the first process, so a restart after it is fine.
    from tests.daemon_process import Daemon, base_env, free_port

    env = base_env(CALSYNC_DATABASE_URL=f"sqlite:///{tmp_path}/one.db")
    first = Daemon(env, tmp_path, free_port()).start()
    try:
        second = run(["run"], env={**env, "CALSYNC_LISTEN": f"127.0.0.1:{free_port()}"}, cwd=tmp_path)
        assert second.returncode == 2
        lines = second.stderr.strip().splitlines()
        assert len(lines) == 1 and "another calsync daemon" in lines[0] and "CALSYNC_DATABASE_URL" in lines[0]
    finally:
        first.signal(signal.SIGKILL)
        first.wait(10)
    restarted = Daemon(env, tmp_path, free_port()).start()
    restarted.signal(signal.SIGTERM)
    assert restarted.wait(10) == 0
