"""Rendering client e-mails: profile time zone, escaping, deterministic Message-ID."""

from __future__ import annotations

from datetime import UTC, date, datetime

from handlers.mailer import Mail, compose, parse_smtp_url, render_when


def test_times_render_in_the_profiles_zone() -> None:
    start = datetime(2026, 1, 12, 9, 0, tzinfo=UTC)
    end = datetime(2026, 1, 12, 10, 0, tzinfo=UTC)
    assert render_when(start, end, "Europe/Berlin") == "Monday, 12 January 2026, 10:00–11:00 (Europe/Berlin)"
    assert render_when(start, end, "America/New_York").startswith("Monday, 12 January 2026, 04:00–05:00")
    all_day = render_when(date(2026, 1, 12), date(2026, 1, 13), "Asia/Tokyo")
    assert all_day == "Monday, 12 January 2026 (all day)"


def test_compose_escapes_html_and_sets_a_stable_message_id() -> None:
    mail = Mail(
        kind="cancelled",
        values={
            "client_name": "Ann <b>",
            "title": "Check-up & more",
            "profile_name": "Ada",
            "when": "Monday",
            "organization": "Acme",
        },
        message_id="msg_abc",
        sender="calsync@acme.test",
        recipient="ann@example.com",
        reply_to="ada@example.com",
    )
    message = compose(mail)
    assert message["Message-ID"] == "<msg_abc@acme.test>"
    assert message["Subject"] == "Cancelled: Check-up & more on Monday"
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None and html is not None
    assert '"Check-up & more" with Ada on Monday has been cancelled' in text.get_content()
    assert "Check-up &amp; more" in html.get_content() and "Ann &lt;b&gt;" in html.get_content()
    assert compose(mail)["Message-ID"] == message["Message-ID"]


def test_smtp_url() -> None:
    target = parse_smtp_url("smtp://u%40x:p%3Aw@mail.test:2525")
    assert (target.hostname, target.port, target.username, target.password, target.use_tls) == (
        "mail.test", 2525, "u@x", "p:w", False,
    )  # fmt: skip
    assert parse_smtp_url("smtps://mail.test").port == 465
