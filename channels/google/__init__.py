"""Google Calendar adapter: google-api-python-client off the event loop, watch channels, sync tokens."""
