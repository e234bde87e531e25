"""Local emulators of the calendar providers, written from their public documentation alone.

Each subpackage serves one provider's HTTP API so that the *real* client libraries can talk to it:
they power the test suites and ``calsync sandbox``. An emulator shares no code with calsync's
provider adapters, so a misreading of the provider cannot hide in both at once.
"""
