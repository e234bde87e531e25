"""The Google Calendar emulator, checked fact by fact against providers.md §1–2."""
