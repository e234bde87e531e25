"""Profile settings: defaults, validation and title rendering."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from handlers.profile_settings import ProfileSettings


def test_defaults() -> None:
    s = ProfileSettings()
    assert (s.on_external_delete, s.on_external_move, s.on_calendar_change) == (
        "cancel_and_notify",
        "revert",
        "revert",
    )
    assert s.sync_days_back == 30 and s.sync_days_ahead == 365 and s.tentative_blocks


def test_template_rendering_and_privacy() -> None:
    s = ProfileSettings(title_template="[{priority}] {ticket} – {client_name}")
    assert s.render_title({"priority": "P1", "ticket": "T-9", "client_name": "Sam"}) == "[P1] T-9 – Sam"
    assert s.render_title({}) == "[]  – "


@pytest.mark.parametrize(
    "bad",
    [
        {"title_template": "{secret}"},
        {"title_template": "{title"},
        {"on_external_delete": "explode"},
        {"sync_days_ahead": 0},
        {"surprise": 1},
    ],
)
def test_invalid(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        ProfileSettings.model_validate(bad)


def test_from_stored_is_forgiving() -> None:
    assert ProfileSettings.from_stored(None) == ProfileSettings()
    assert (
        ProfileSettings.from_stored({"on_external_move": "accept", "old_key": 1}).on_external_move == "accept"
    )
    assert ProfileSettings.from_stored({"on_external_move": "nonsense"}) == ProfileSettings()
