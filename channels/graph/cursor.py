"""The stored Graph sync cursor: the delta link plus the end of the window it was opened for.

calendarView delta fixes its window (startDateTime/endDateTime) inside the token, so a
long-running daemon would never see events beyond the window it opened on day one. Keeping
the window's end beside the link lets the adapter notice the drift and ask for a full resync
(the consumer's SyncTokenExpired path) once the wanted window reaches past it by more than
``ROLL_AFTER``. Cursors stored before this format are taken as they are.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final

PREFIX: Final = "w="
ROLL_AFTER: Final = timedelta(days=1)


def encode(link: str, window_end: datetime) -> str:
    return f"{PREFIX}{window_end.isoformat()}|{link}"


def decode(cursor: str) -> tuple[str, datetime | None]:
    """(delta link, window end or None for a cursor from before this format)."""
    if cursor.startswith(PREFIX) and "|" in cursor:
        stamp, link = cursor[len(PREFIX) :].split("|", 1)
        try:
            return link, datetime.fromisoformat(stamp)
        except ValueError:
            return cursor, None
    return cursor, None


def drifted(window_end: datetime | None, wanted_end: datetime) -> bool:
    """True when the wanted window reaches past the cursor's by more than ROLL_AFTER."""
    return window_end is not None and wanted_end - window_end > ROLL_AFTER
