"""The composition root: configuration, app factory, REST API, CLI, bus, logging, metrics, lifecycle."""
