"""Client e-mails: rendered from ``handlers/templates`` and sent over SMTP with aiosmtplib.

Rendering is pure (``render_when``, ``compose``): dates and times are shown in the
profile's time zone, every value is HTML-escaped in the HTML part. Sending wraps the
whole SMTP conversation in ``asyncio.wait_for``, because aiosmtplib's own timeout applies
per socket operation and a slow-drip server could otherwise hold a send for ever.
SMTP replies map to the notifier's retry policy: 4xx and connection trouble are
transient, 5xx permanent.
"""

from __future__ import annotations

import asyncio
import html
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from email.message import EmailMessage
from email.utils import formataddr
from pathlib import Path
from string import Template
from typing import Final
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import aiosmtplib

from handlers.notify_policy import PermanentDeliveryError, TransientDeliveryError

SUBJECTS: Final = {
    "cancelled": "Cancelled: $title on $when",
    "occurrence_cancelled": "Cancelled: $title on $when",
    "rescheduled": "Moved: $title, now $when",
    "reassigned": "$title on $when is now with $profile_name",
}


@dataclass(frozen=True, slots=True)
class SmtpTarget:
    hostname: str
    port: int
    username: str | None = None
    password: str | None = None
    use_tls: bool = False


def parse_smtp_url(url: str) -> SmtpTarget:
    """``smtp://[user:pass@]host:port`` (``smtps://`` for implicit TLS); validated by the config."""
    parts = urlsplit(url)
    tls = parts.scheme == "smtps"
    return SmtpTarget(
        hostname=parts.hostname or "localhost",
        port=parts.port or (465 if tls else 25),
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        use_tls=tls,
    )


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def render_when(
    start: datetime | date, end: datetime | date | None, zone_name: str, *, all_day: bool = False
) -> str:
    """``Monday, 12 January 2026, 10:00–11:00 (Europe/Berlin)``, or the date alone when all-day."""
    if all_day or not isinstance(start, datetime):
        day = start.date() if isinstance(start, datetime) else start
        return f"{day:%A}, {day.day} {day:%B %Y} (all day)"
    zone = _zone(zone_name)
    local = start.astimezone(zone)
    text = f"{local:%A}, {local.day} {local:%B %Y}, {local:%H:%M}"
    if isinstance(end, datetime):
        local_end = end.astimezone(zone)
        text += f"–{local_end:%H:%M}" if local_end.date() == local.date() else f" – {local_end:%d %b %H:%M}"
    return f"{text} ({zone.key})"


TEMPLATE_DIR = Path(__file__).parent / "templates"  # shipped as package data beside this module


def _template(name: str) -> Template:
    # A plain path next to the module: importlib.resources returns a MultiplexedPath for this
    # package under an editable install, and its multi-part joinpath fails on Python 3.11.
    return Template((TEMPLATE_DIR / name).read_text(encoding="utf-8"))


@dataclass(frozen=True, slots=True)
class Mail:
    kind: str  # a template name: cancelled | occurrence_cancelled | rescheduled | reassigned
    values: Mapping[str, str]
    message_id: str  # the row's deterministic id; a resend carries the same Message-ID
    sender: str
    recipient: str
    reply_to: str | None = None


def compose(mail: Mail) -> EmailMessage:
    """The MIME message: plain text with an HTML alternative, deterministic Message-ID."""
    values = dict(mail.values)
    escaped = {key: html.escape(value) for key, value in values.items()}
    message = EmailMessage()
    message["Subject"] = Template(SUBJECTS[mail.kind]).safe_substitute(values)
    message["From"] = mail.sender
    message["To"] = formataddr((values.get("client_name", ""), mail.recipient))
    if mail.reply_to:
        message["Reply-To"] = mail.reply_to
    domain = mail.sender.rpartition("@")[2].rstrip(">") or "calsync.invalid"
    message["Message-ID"] = f"<{mail.message_id}@{domain}>"
    message.set_content(_template(f"{mail.kind}.txt").safe_substitute(values))
    message.add_alternative(_template(f"{mail.kind}.html").safe_substitute(escaped), subtype="html")
    return message


def _classify(err: aiosmtplib.SMTPException) -> Exception:
    code: int | None = None
    if isinstance(err, aiosmtplib.SMTPRecipientsRefused):
        codes = [refused.code for refused in err.recipients]
        code = min(codes) if codes else None
    elif isinstance(err, aiosmtplib.SMTPResponseException):
        code = err.code
    text = f"SMTP {code}: {err}" if code is not None else f"SMTP: {type(err).__name__}: {err}"
    if code is not None and code >= 500:
        return PermanentDeliveryError(text)
    return TransientDeliveryError(text)


class SmtpMailer:
    def __init__(self, target: SmtpTarget, *, timeout: float = 30.0, socket_timeout: float = 10.0) -> None:
        self._target, self._timeout, self._socket_timeout = target, timeout, socket_timeout

    async def send(self, message: EmailMessage) -> None:
        """Deliver or raise Transient/PermanentDeliveryError."""
        t = self._target
        try:
            sending = aiosmtplib.send(
                message,
                hostname=t.hostname,
                port=t.port,
                username=t.username,
                password=t.password,
                use_tls=t.use_tls,
                timeout=self._socket_timeout,
            )
            await asyncio.wait_for(sending, self._timeout)
        except aiosmtplib.SMTPException as err:
            raise _classify(err) from err
        except (TimeoutError, OSError) as err:
            raise TransientDeliveryError(f"SMTP unreachable: {type(err).__name__}: {err}") from err
