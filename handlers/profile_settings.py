"""A profile's sync settings: window, privacy of pushed events, and policies for external changes.

Stored as JSON in ``profile.settings``; this module is the one place that knows
their names, defaults and allowed values. Unknown keys are refused by the API;
missing keys take the defaults below, so old rows keep working as settings grow.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

OnExternalDelete = Literal["cancel_and_notify", "restore", "ignore"]
OnExternalMove = Literal["accept", "revert", "ignore"]
OnCalendarChange = Literal["reassign", "revert"]

TEMPLATE_FIELDS = frozenset({"title", "client_name", "ticket", "priority", "location", "profile_name"})


class ProfileSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    sync_days_back: int = Field(default=30, ge=0, le=366)
    sync_days_ahead: int = Field(default=365, ge=1, le=731)
    # What pushed events show: a practitioner's privacy choice.
    title_template: str = Field(default="{title}", max_length=500)
    include_description: bool = True
    include_location: bool = True
    include_client: bool = False
    # What to do when someone changes one of our events in their own calendar.
    on_external_delete: OnExternalDelete = "cancel_and_notify"
    on_external_move: OnExternalMove = "revert"
    on_calendar_change: OnCalendarChange = "revert"
    # Availability: whether all-day and tentative foreign events block time.
    all_day_blocks: bool = True
    tentative_blocks: bool = True

    @field_validator("title_template")
    @classmethod
    def _known_placeholders(cls, template: str) -> str:
        try:
            names = {field for _, field, _, _ in string.Formatter().parse(template) if field is not None}
        except ValueError as err:
            raise ValueError(f"malformed template: {err}") from err
        unknown = names - TEMPLATE_FIELDS
        if unknown:
            raise ValueError(f"unknown placeholder(s) {sorted(unknown)}; allowed: {sorted(TEMPLATE_FIELDS)}")
        return template

    @classmethod
    def from_stored(cls, raw: Mapping[str, Any] | None) -> ProfileSettings:
        """Settings from the JSON column; values that no longer validate fall back to defaults."""
        known = {k: v for k, v in (raw or {}).items() if k in cls.model_fields}
        try:
            return cls.model_validate(known)
        except ValueError:
            return cls()

    def render_title(self, values: Mapping[str, str]) -> str:
        """Fill the template; placeholders without a value render empty rather than failing."""
        return self.title_template.format_map({name: values.get(name, "") for name in TEMPLATE_FIELDS})
