"""Identifier and token minting from one seeded random source, so emulator runs are reproducible."""

from __future__ import annotations

import base64
import random
import uuid


class IdFactory:
    def __init__(self, seed: int | None) -> None:
        # Not a security boundary: the emulator is a test double, reproducibility matters more.
        self._rng = random.Random(seed)

    def guid(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def opaque(self, nbytes: int = 24) -> str:
        """URL-safe opaque text (tokens, change keys)."""
        raw = self._rng.getrandbits(nbytes * 8).to_bytes(nbytes, "big")
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def event_id(self) -> str:
        """Outlook-looking ids (``AAMkAG…``); never contain ``_`` so occurrence ids can be split."""
        return "AAMkAG" + self._rng.getrandbits(160).to_bytes(20, "big").hex().upper()

    def change_key(self) -> str:
        return base64.b64encode(self._rng.getrandbits(128).to_bytes(16, "big")).decode()

    def ical_uid(self) -> str:
        # Outlook's global object id layout: class id, a date slot (zero for masters), then a GUID.
        return (
            "040000008200E00074C5B7101A82E008"
            + "00000000"
            + self._rng.getrandbits(128).to_bytes(16, "big").hex().upper()
        )
