"""Run a real `calsync run` subprocess for end-to-end tests (signals, kill -9, restarts)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def base_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALSYNC_")}
    env.update({"CALSYNC_LOG_FORMAT": "json", "CALSYNC_LOG_LEVEL": "warning", **extra})
    return env


def cli(args: list[str], env: dict[str, str], cwd: Path) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "daemon.cli", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if result.returncode != 0:
        raise RuntimeError(f"calsync {' '.join(args)} failed: {result.stderr}")
    return result.stdout.strip()


class Daemon:
    def __init__(self, env: dict[str, str], cwd: Path, port: int) -> None:
        self.env = {**env, "CALSYNC_LISTEN": f"127.0.0.1:{port}"}
        self.cwd = cwd
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = cwd / f"daemon-{port}.log"

    def start(self, ready_timeout: float = 30.0, expect_ready: bool = True) -> Daemon:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "daemon.cli", "run"], env=self.env, cwd=self.cwd, stdout=log, stderr=log
        )
        deadline = time.monotonic() + ready_timeout
        path = "/readyz" if expect_ready else "/healthz"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"daemon exited with {self.proc.returncode}: {self.log_path.read_text()[-3000:]}"
                )
            try:
                with urllib.request.urlopen(self.url + path, timeout=1) as response:
                    if response.status == 200:
                        return self
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.1)
        raise TimeoutError(f"daemon not ready: {self.log_path.read_text()[-3000:]}")

    def signal(self, sig: signal.Signals) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def wait(self, timeout: float) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout=timeout)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def logs(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""
