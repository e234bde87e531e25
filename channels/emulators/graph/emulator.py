"""GraphEmulator: the state object behind the app, and the test/fault operations on it.

It owns the identity registry, mailbox store, delta engine, subscriptions and the notifier, and is
the one place where a mutation becomes notifications. Every operation here is also reachable over
HTTP through the control API (``control.py``) for out-of-process use such as ``calsync sandbox``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from calsync.clock import Clock, FakeClock, SystemClock

from .auth import AuthRegistry, User
from .config import DeltaResetMode, GraphEmulatorConfig
from .delivery import Notifier
from .delta import DeltaEngine
from .faults import Counters, RequestFaults
from .ids import IdFactory
from .state import Change, Mailbox, Store
from .subscriptions import Subscription, SubscriptionRules, change_item, lifecycle_item
from .wire import GraphError

DEFAULT_SCOPES = ["https://graph.microsoft.com/Calendars.ReadWrite", "offline_access"]


@dataclass(frozen=True, slots=True)
class SeededUser:
    id: str
    email: str
    refresh_token: str
    tenant_id: str
    client_id: str


class GraphEmulator:
    def __init__(self, clock: Clock | None = None, config: GraphEmulatorConfig | None = None) -> None:
        self.clock: Clock = clock or SystemClock()
        self.config = config or GraphEmulatorConfig()
        self.ids = IdFactory(self.config.seed)
        self.auth = AuthRegistry(
            self.ids, self.config.access_token_lifetime, self.config.refresh_token_lifetime
        )
        self.store = Store(self.ids)
        self.delta = DeltaEngine(self.ids)
        self.delta_reset_mode: DeltaResetMode = self.config.delta_reset_mode
        self.rules = SubscriptionRules(self.config, self.ids)
        self.subscriptions: dict[str, Subscription] = {}
        self.counters = Counters()
        self.request_faults = RequestFaults()
        self.notifier = Notifier(self.config, self.clock, self.ids, self.counters)

    async def start(self) -> None:
        await self.notifier.start()

    async def stop(self) -> None:
        await self.notifier.stop()

    def now(self) -> datetime:
        return self.clock.now()

    # --- identity ---
    def add_user(
        self,
        email: str,
        display_name: str | None = None,
        *,
        user_id: str | None = None,
        client_id: str | None = None,
        scopes: list[str] | None = None,
    ) -> SeededUser:
        user = self.auth.add_user(email, display_name, user_id)
        self.store.add_mailbox(user)
        client = client_id or self.config.application_id
        refresh = self.auth.issue_refresh_token(user.id, client, scopes or DEFAULT_SCOPES, self.now())
        return SeededUser(user.id, user.email, refresh, self.config.tenant_id, client)

    def issue_refresh_token(self, user_id: str, client_id: str | None = None) -> str:
        return self.auth.issue_refresh_token(
            user_id, client_id or self.config.application_id, DEFAULT_SCOPES, self.now()
        )

    def issue_access_token(self, user_id: str) -> str:
        return self.auth.issue_access_token(user_id, self.config.application_id, self.now())

    def revoke(self, user_id: str, *, access_tokens: bool = False) -> None:
        self.auth.revoke(user_id, access_tokens=access_tokens)

    def mailbox(self, user_id: str) -> Mailbox:
        try:
            return self.store.mailbox(user_id)
        except KeyError as err:
            raise GraphError(404, "ErrorInvalidUser", f"The requested user '{user_id}' is invalid.") from err

    # --- mutations (API and seeding share these so both notify) ---
    def create_event(
        self, user_id: str, calendar_id: str | None, body: dict[str, Any], *, trusted: bool = False
    ) -> str:
        box = self.mailbox(user_id)
        event, changes = self.store.create_event(box, calendar_id, body, self.now(), trusted=trusted)
        self._publish(box.user, changes)
        return event.id

    def patch_event(
        self,
        user_id: str,
        event_id: str,
        body: dict[str, Any],
        *,
        calendar_id: str | None = None,
        trusted: bool = False,
    ) -> None:
        box = self.mailbox(user_id)
        self._publish(
            box.user,
            self.store.patch_event(box, event_id, body, self.now(), calendar_id=calendar_id, trusted=trusted),
        )

    def delete_event(self, user_id: str, event_id: str, *, calendar_id: str | None = None) -> None:
        box = self.mailbox(user_id)
        self._publish(box.user, self.store.delete_event(box, event_id, self.now(), calendar_id=calendar_id))

    def seed_calendar(self, user_id: str, name: str) -> str:
        return self.store.create_calendar(self.mailbox(user_id), {"name": name}).id

    def seed_event(self, user_id: str, body: dict[str, Any], calendar_id: str | None = None) -> str:
        """Create an event as another client would (notifies); may set organizer, responseStatus…"""
        return self.create_event(user_id, calendar_id, body, trusted=True)

    def _publish(self, user: User, changes: list[Change]) -> None:
        now = self.now()
        for change in changes:
            for sub in self.subscriptions.values():
                if sub.matches(user.id, change, now):
                    self.notifier.enqueue(
                        sub.notification_url, change_item(sub, change, self.config.tenant_id)
                    )

    # --- subscriptions ---
    def active_subscription(self, sub_id: str, user_id: str | None = None) -> Subscription:
        sub = self.subscriptions.get(sub_id)
        if sub is not None and sub.expiration <= self.now():
            # Expired subscriptions are deleted by Graph; treat them as gone.
            del self.subscriptions[sub_id]
            sub = None
        if sub is None or (user_id is not None and sub.creator_id != user_id):
            raise GraphError(404, "ResourceNotFound", f"The object was not found. Subscription '{sub_id}'.")
        return sub

    def active_in_mailbox(self, user_id: str) -> list[Subscription]:
        now = self.now()
        return [s for s in self.subscriptions.values() if s.user_id == user_id and s.expiration > now]

    async def create_subscription(self, user: User, client_id: str, body: dict[str, Any]) -> Subscription:
        box = self.mailbox(user.id)
        sub = self.rules.parse_create(
            body,
            user,
            client_id,
            self.now(),
            self.auth.find_user,
            set(box.calendars),
            len(self.active_in_mailbox(user.id)),
        )
        for url in (sub.notification_url, sub.lifecycle_url):
            if url and not await self.notifier.validate(url):
                raise GraphError(
                    400,
                    "ValidationError",
                    "Subscription validation request failed. Notification endpoint must respond with 200 OK "
                    "to validation request.",
                )
        self.subscriptions[sub.id] = sub
        return sub

    async def update_subscription(self, sub: Subscription, body: dict[str, Any]) -> Subscription:
        if "lifecycleNotificationUrl" in body and body["lifecycleNotificationUrl"] != sub.lifecycle_url:
            raise GraphError(
                400, "InvalidRequest", "lifecycleNotificationUrl cannot be added or changed by an update."
            )
        if "notificationUrl" in body and body["notificationUrl"] != sub.notification_url:
            url = self.rules.check_url(body["notificationUrl"], "notificationUrl")
            if not await self.notifier.validate(url):
                raise GraphError(400, "ValidationError", "Subscription validation request failed.")
            sub.notification_url = url
        if "expirationDateTime" in body:
            sub.expiration = self.rules.grant_expiry(body["expirationDateTime"], self.now())
        return sub

    # --- fault and test operations ---
    def inject_429(self, user_id: str, count: int = 1, retry_after_s: int = 2) -> None:
        self.request_faults.inject_429(user_id, count, retry_after_s)

    def drop_notifications(self, count: int) -> None:
        self.notifier.faults.drop_next += count

    def duplicate_notifications(self, count: int) -> None:
        self.notifier.faults.duplicate_next += count

    def delay_notifications(self, delay: timedelta) -> None:
        self.notifier.faults.delay = delay

    def invalidate_delta_tokens(self, user_id: str | None = None, mode: DeltaResetMode | None = None) -> int:
        if mode is not None:
            self.delta_reset_mode = mode
        return self.delta.invalidate(user_id)

    def replay_delta_changes(self, count: int) -> None:
        self.delta.replay_next = count

    def serve_empty_delta_pages(self, count: int) -> None:
        self.delta.empty_pages = count

    def fire_lifecycle(self, sub_id: str, event: str) -> None:
        sub = self.active_subscription(sub_id)
        if sub.lifecycle_url is None:
            raise ValueError(
                "subscription has no lifecycleNotificationUrl; Graph would not send lifecycle events"
            )
        self.notifier.enqueue(
            sub.lifecycle_url, lifecycle_item(sub, event, self.config.tenant_id), "lifecycle"
        )
        if event == "subscriptionRemoved":
            del self.subscriptions[sub_id]

    def advance(self, delta: timedelta | float) -> None:
        """Move emulator time (FakeClock only): tokens and subscriptions expire, retries come due."""
        if not isinstance(self.clock, FakeClock):
            raise TypeError("advance() needs the emulator to run on a FakeClock")
        self.clock.advance(delta)
        self.notifier.kick()

    async def wait_idle(self, limit_s: float = 10.0) -> None:
        await self.notifier.wait_idle(limit_s)

    def counters_snapshot(self) -> dict[str, Any]:
        return {**self.counters.snapshot(), "endpoints": self.notifier.throttle.snapshot()}
