"""WaitingCalendars: the in-process shortcut over pending_sync rows (single-process deployments)."""

from __future__ import annotations

from handlers.signals import WaitingCalendars


def test_a_committed_claim_lets_later_notifications_skip_the_database() -> None:
    waiting = WaitingCalendars(enabled=True)
    assert waiting.unknown({"c1", "c2"}) == {"c1", "c2"}
    waiting.learned({"c1", "c2"}, waiting.epoch)
    assert waiting.unknown({"c1", "c2", "c3"}) == {"c3"}


def test_a_pass_start_makes_the_next_notification_claim_again() -> None:
    waiting = WaitingCalendars(enabled=True)
    waiting.learned({"c1", "c2"}, waiting.epoch)
    waiting.pass_starting("c1")
    assert waiting.unknown({"c1", "c2"}) == {"c1"}


def test_a_pass_starting_during_the_webhook_transaction_voids_what_it_learned() -> None:
    # Either order of the two commits is possible, so nothing seen meanwhile is trusted.
    waiting = WaitingCalendars(enabled=True)
    epoch = waiting.epoch  # the webhook's transaction begins
    waiting.pass_starting("c9")  # some pass starts (any calendar) before it commits
    waiting.learned({"c1"}, epoch)
    assert waiting.unknown({"c1"}) == {"c1"}


def test_disabled_it_never_skips() -> None:
    waiting = WaitingCalendars(enabled=False)
    waiting.learned({"c1"}, waiting.epoch)
    assert waiting.unknown({"c1"}) == {"c1"}
