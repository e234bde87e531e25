"""`calsync sandbox`: the daemon plus built-in Google and Graph emulators, an SMTP sink and demo data.

Everything runs in one process on loopback. The demo is seeded through the daemon's own
public API (an API key, an organization, a coach profile, a Google account whose primary
calendar is the push calendar, a Microsoft account whose calendar is a pull calendar, a few
appointments) plus a few foreign events written straight into the emulators, as a person
editing their own calendar would. The emulators keep their state in memory, so the sandbox
starts from a fresh database each time.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import aiohttp
import structlog
from aiohttp import web
from aiosmtpd.controller import Controller
from cryptography.fernet import Fernet

from calsync.clock import SystemClock
from channels.emulators.google import EmulatorConfig, GoogleEmulator
from channels.emulators.google import create_app as google_app
from channels.emulators.graph import GraphEmulator, GraphEmulatorConfig
from channels.emulators.graph import create_app as graph_app
from daemon.app import create_app
from daemon.appkeys import DATABASE
from daemon.config import Settings
from store.api_keys import create_key

log = structlog.get_logger("calsync.sandbox")

COACH = "coach@sandbox.example"
OUTLOOK_USER = "coach@sandbox-outlook.example"
CLIENT = "client@sandbox.example"


@dataclass(slots=True)
class SandboxInfo:
    """What `GET /sandbox.json` serves and what is printed at start-up."""

    daemon_url: str
    google_api_url: str
    graph_api_url: str
    smtp: str
    api_key: str = ""
    organization: str = "demo"
    profile: str = "demo-coach"
    calendars: dict[str, str] = field(default_factory=dict)
    appointments: list[str] = field(default_factory=list)
    ready: bool = False
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        auth = f"Authorization: Bearer {self.api_key}"
        return {
            "ready": self.ready,
            "error": self.error,
            "daemon": self.daemon_url,
            "emulators": {"google": self.google_api_url, "graph": self.graph_api_url},
            "smtp_sink": self.smtp,
            "outbox": f"{self.daemon_url}/sandbox/outbox",
            "api_key": self.api_key,
            "organization": self.organization,
            "profile": self.profile,
            "calendars": self.calendars,
            "appointments": self.appointments,
            "try": [
                f"curl -s -H '{auth}' {self.daemon_url}/v1/profiles/{self.profile}/sync-status",
                f"curl -s -H '{auth}' '{self.daemon_url}/v1/appointments?profile={self.profile}&{_window()}'",
                f"curl -s -X DELETE -H '{auth}' {self.daemon_url}/v1/appointments/{self.appointments[0]}"
                if self.appointments
                else "",
            ],
        }


def _window() -> str:
    """A query window around today, for the example curl line."""
    today = datetime.now(UTC).date()
    return f"start={today - timedelta(days=1)}T00:00:00Z&end={today + timedelta(days=60)}T00:00:00Z"


class MailSink:
    """An aiosmtpd handler that keeps every message it is given (the sandbox's outbox)."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:  # aiosmtpd's hook name
        message = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        return "250 Message accepted for delivery"

    def as_json(self) -> list[dict[str, Any]]:
        out = []
        for msg in self.messages:
            part = msg.get_body(preferencelist=("plain", "html"))
            text = part.get_content() if isinstance(part, EmailMessage) else ""
            out.append(
                {"to": msg["To"], "subject": msg["Subject"], "message_id": msg["Message-ID"], "text": text}
            )
        return out


SANDBOX = web.AppKey("sandbox_info", SandboxInfo)
MAIL = web.AppKey("sandbox_mail", MailSink)


async def sandbox_json(request: web.Request) -> web.Response:
    return web.json_response(request.app[SANDBOX].as_json())


async def sandbox_outbox(request: web.Request) -> web.Response:
    return web.json_response({"messages": request.app[MAIL].as_json()})


async def _serve(app: web.Application, host: str, port: int) -> web.AppRunner:
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner


def _free_port(host: str) -> int:
    import socket

    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


async def _seed(app: web.Application, google: GoogleEmulator, graph: GraphEmulator) -> None:
    """Seed through the public API, as a host app would, once the daemon listens."""
    info = app[SANDBOX]
    google_refresh = google.create_user(COACH, time_zone="Europe/London")
    outlook = graph.add_user(OUTLOOK_USER, "Demo Coach")
    outlook_calendar = graph.seed_calendar(outlook.id, "Clinic")
    now = SystemClock().now()
    async with app[DATABASE].session() as session:
        info.api_key, _ = await create_key(session, "sandbox", None, now)
    headers = {"Authorization": f"Bearer {info.api_key}"}
    base = info.daemon_url
    async with aiohttp.ClientSession(headers=headers, timeout=aiohttp.ClientTimeout(total=30)) as http:

        async def call(method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
            async with http.request(method, base + path, json=body) as response:
                payload: dict[str, Any] = await response.json()
                if response.status >= 300:
                    raise RuntimeError(f"{method} {path} -> {response.status}: {payload}")
                return payload

        await call("PUT", f"/v1/organizations/{info.organization}", {"name": "Demo Coaching"})
        await call(
            "POST",
            "/v1/profiles",
            {"id": info.profile, "organization": info.organization, "name": "Demo Coach", "email": COACH,
             "time_zone": "Europe/London"},
        )  # fmt: skip
        google_account = await call(
            "POST",
            "/v1/accounts",
            {"profile": info.profile, "provider": "google", "client_id": "sandbox-client",
             "client_secret": "sandbox-secret", "refresh_token": google_refresh, "external_account": COACH},
        )  # fmt: skip
        ms_account = await call(
            "POST",
            "/v1/accounts",
            {"profile": info.profile, "provider": "microsoft", "client_id": outlook.client_id,
             "client_secret": "sandbox-secret", "refresh_token": outlook.refresh_token,
             "external_account": OUTLOOK_USER},
        )  # fmt: skip
        await call(
            "PUT",
            f"/v1/profiles/{info.profile}/calendars",
            {"push": {"account": google_account["id"], "calendar": COACH},
             "pull": [{"account": ms_account["id"], "calendar": outlook_calendar}]},
        )  # fmt: skip
        info.calendars = {"google_push": COACH, "outlook_pull": outlook_calendar}
        start = (now + timedelta(days=1)).replace(hour=9, minute=0, second=0, microsecond=0)
        for i, title in enumerate(["Intro session", "Follow-up", "Weekly check-in"]):
            appointment_id = f"demo-{i + 1}"
            body: dict[str, Any] = {
                "profile": info.profile,
                "start": (start + timedelta(days=i, hours=i)).isoformat(),
                "end": (start + timedelta(days=i, hours=i, minutes=50)).isoformat(),
                "title": title,
                "client": {"name": "Sam Client", "email": CLIENT},
            }
            if i == 2:
                body["recurrence"] = {"rrule": "FREQ=WEEKLY;COUNT=6"}
            await call("PUT", f"/v1/appointments/{appointment_id}", body)
            info.appointments.append(appointment_id)
    # Foreign events, as the coach would add them in Outlook: busy time for availability.
    lunch = (now + timedelta(days=1)).replace(hour=12, minute=0, second=0, microsecond=0)
    graph.seed_event(
        outlook.id,
        {"subject": "Lunch with a friend", "showAs": "busy",
         "start": {"dateTime": lunch.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"},
         "end": {"dateTime": (lunch + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"}},
        outlook_calendar,
    )  # fmt: skip
    graph.seed_event(
        outlook.id,
        {"subject": "Maybe gym", "showAs": "free",
         "start": {"dateTime": (lunch + timedelta(hours=5)).strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"},
         "end": {"dateTime": (lunch + timedelta(hours=6)).strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"}},
        outlook_calendar,
    )  # fmt: skip


def build_sandbox(settings: Settings, workdir: Path) -> web.Application:
    """The daemon app with the emulators and SMTP sink it talks to, all owned by its cleanup_ctx."""
    host = settings.listen_host
    google_port, graph_port, smtp_port = _free_port(host), _free_port(host), _free_port(host)
    google = GoogleEmulator(config=EmulatorConfig(allow_http_callbacks=True))
    graph = GraphEmulator(config=GraphEmulatorConfig(allow_http_callbacks=True))
    settings = replace(
        settings,
        database_url=f"sqlite:///{workdir / 'sandbox.db'}",
        google_api_url=f"http://{host}:{google_port}/calendar/v3",
        google_token_url=f"http://{host}:{google_port}/token",
        graph_api_url=f"http://{host}:{graph_port}/v1.0",
        graph_token_url=f"http://{host}:{graph_port}/common/oauth2/v2.0/token",
        smtp_url=f"smtp://{host}:{smtp_port}",
        secret_keys=settings.secret_keys or (Fernet.generate_key().decode(),),
    )
    from store.migrate import upgrade

    upgrade(settings.database_url)
    app = create_app(settings)
    info = SandboxInfo(
        daemon_url=settings.public_url,
        google_api_url=settings.google_api_url,
        graph_api_url=settings.graph_api_url,
        smtp=f"{host}:{smtp_port}",
    )
    app[SANDBOX] = info
    app[MAIL] = MailSink()
    app.router.add_get("/sandbox.json", sandbox_json)
    app.router.add_get("/sandbox/outbox", sandbox_outbox)

    async def providers(app: web.Application) -> AsyncIterator[None]:
        controller = Controller(app[MAIL], hostname=host, port=smtp_port)
        controller.start()
        runners = [
            await _serve(google_app(google), host, google_port),
            await _serve(graph_app(graph), host, graph_port),
        ]
        seeding = asyncio.create_task(_seed_when_listening(app, google, graph))
        yield
        seeding.cancel()
        for runner in runners:
            await runner.cleanup()
        await google.close()
        controller.stop()

    # First in, last out: the emulators outlive the daemon's own shutdown.
    app.cleanup_ctx.insert(0, providers)
    return app


async def _seed_when_listening(app: web.Application, google: GoogleEmulator, graph: GraphEmulator) -> None:
    info = app[SANDBOX]
    async with aiohttp.ClientSession() as http:
        for _ in range(200):
            try:
                async with http.get(info.daemon_url + "/healthz") as response:
                    if response.status == 200:
                        break
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
    try:
        await _seed(app, google, graph)
        info.ready = True
        print(_banner(info), file=sys.stderr, flush=True)
    except Exception as err:  # the sandbox stays up so the error can be read at /sandbox.json
        info.error = f"{type(err).__name__}: {err}"
        log.error("sandbox_seed_failed", error=info.error)


def _banner(info: SandboxInfo) -> str:
    data = info.as_json()
    lines = [
        "",
        "calsync sandbox is ready",
        f"  daemon          {info.daemon_url}   (details: {info.daemon_url}/sandbox.json)",
        f"  google emulator {info.google_api_url}",
        f"  graph emulator  {info.graph_api_url}",
        f"  mails sent      {info.daemon_url}/sandbox/outbox",
        f"  api key         {info.api_key}",
        f"  profile         {info.profile}   calendars {json.dumps(info.calendars)}",
        "  try:",
        *[f"    {line}" for line in data["try"] if line],
        "",
    ]
    return "\n".join(lines)
