"""Wire models of the availability API (pydantic): request validation and OpenAPI schemas."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

Instant = Annotated[str, Field(max_length=40, json_schema_extra={"format": "date-time"})]
Id64 = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:@-]+$")]
HourRanges = list[Annotated[list[str], Field(min_length=2, max_length=2)]]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Span(BaseModel):
    start: Instant
    end: Instant


class SpanIn(_In):
    start: Instant
    end: Instant


class ConflictsIn(_In):
    """Either one ``start``/``end`` pair or a list of ``slots``."""

    start: Instant | None = None
    end: Instant | None = None
    slots: list[SpanIn] | None = Field(default=None, min_length=1, max_length=500)


class ConflictResult(BaseModel):
    start: Instant
    end: Instant
    free: bool
    conflicts: list[Span] = Field(description="Merged busy intervals overlapping the slot (unclipped).")


class ConflictsOut(BaseModel):
    results: list[ConflictResult]


class CalendarFreshness(BaseModel):
    id: str
    fresh_as_of: Instant | None = Field(description="When the last successful sync began.")
    healthy: bool = Field(description="Push channel active and unexpired; calendar and account not in error.")


class AvailabilityOut(BaseModel):
    profile: str
    time_zone: str
    start: Instant
    end: Instant
    busy: list[Span] = Field(
        description="Merged busy intervals `[start, end)` in UTC, clipped to the window."
    )
    calendars: list[CalendarFreshness]


class SlotsOut(BaseModel):
    profile: str
    time_zone: str
    slots: list[Span]


class WorkingHoursIn(_In):
    weekly: dict[str, HourRanges] = Field(
        default_factory=dict,
        description='Per weekday (`monday` ... `sunday`), local `[["09:00", "17:00"], ...]`; '
        "a missing weekday is off. `24:00` ends a day.",
    )
    overrides: dict[str, HourRanges] = Field(
        default_factory=dict, description="Per date `YYYY-MM-DD`, replacing that weekday's hours (`[]`: off)."
    )


class WorkingHoursOut(BaseModel):
    profile: str
    time_zone: str
    configured: bool
    weekly: dict[str, HourRanges]
    overrides: dict[str, HourRanges]


class TeamIn(_In):
    profiles: list[Id64] = Field(min_length=1, max_length=50)
    start: Instant
    end: Instant
    duration: int = Field(default=30, ge=5, le=1440, description="Minutes.")
    step: int | None = Field(default=None, ge=5, le=1440, description="Minutes; default: the duration.")
    buffer_before: int = Field(default=0, ge=0, le=720, description="Minutes.")
    buffer_after: int = Field(default=0, ge=0, le=720, description="Minutes.")
    mode: Literal["all", "any"] = "all"


class TeamSlot(BaseModel):
    start: Instant
    end: Instant
    profiles: list[str] = Field(description="The profiles free for this slot (all of them in `all` mode).")


class TeamOut(BaseModel):
    mode: Literal["all", "any"]
    slots: list[TeamSlot]
