"""Provider channels: the normalized event model, one adapter per provider, renewal, and the emulators.

Imports neither ``handlers`` nor ``daemon``; the emulators share no code with the adapters they check.
"""
