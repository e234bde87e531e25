"""Configuration: defaults give the embedded mode; each bad value names its variable."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from calsync.errors import ConfigError
from daemon.config import Settings, load_settings


def test_defaults_are_the_embedded_mode() -> None:
    settings = load_settings({})
    assert settings == Settings()
    assert (settings.listen_host, settings.listen_port) == ("127.0.0.1", 8080)
    assert settings.public_url == "http://127.0.0.1:8080"
    assert settings.database_url == "sqlite:///./calsync.db" and settings.is_sqlite
    assert not settings.uses_kafka and settings.auto_migrate
    assert settings.log_format == "json"


def test_full_configuration_is_parsed() -> None:
    key = Fernet.generate_key().decode()
    settings = load_settings(
        {
            "CALSYNC_LISTEN": "0.0.0.0:9000",
            "CALSYNC_PUBLIC_URL": "https://sync.example.com/",
            "CALSYNC_DATABASE_URL": "postgresql+psycopg://calsync@db/calsync",
            "CALSYNC_KAFKA_BOOTSTRAP": "k1:9092, k2:9092",
            "CALSYNC_KAFKA_IDEMPOTENCE": "false",
            "CALSYNC_SECRET_KEY": key,
            "CALSYNC_GOOGLE_API_URL": "http://127.0.0.1:9100/calendar/v3",
            "CALSYNC_SMTP_URL": "smtp://127.0.0.1:1025",
            "CALSYNC_LOG_FORMAT": "console",
        }
    )
    assert settings.listen_port == 9000
    assert settings.public_url == "https://sync.example.com"
    assert settings.kafka_bootstrap == ("k1:9092", "k2:9092")
    assert settings.kafka_enable_idempotence is False
    assert settings.secret_keys == (key,)
    assert not settings.auto_migrate  # PostgreSQL: migrations are an explicit `calsync db upgrade`
    assert settings.google_api_url == "http://127.0.0.1:9100/calendar/v3"


def test_ipv6_listen_address_gets_a_bracketed_public_url() -> None:
    settings = load_settings({"CALSYNC_LISTEN": "[::1]:8081"})
    assert settings.listen_host == "::1" and settings.public_url == "http://[::1]:8081"


@pytest.mark.parametrize(
    ("variable", "value", "fragment"),
    [
        ("CALSYNC_LISTEN", "localhost", "host:port"),
        ("CALSYNC_LISTEN", "127.0.0.1:99999", "out of range"),
        ("CALSYNC_LISTEN", "127.0.0.1:http", "not a number"),
        ("CALSYNC_PUBLIC_URL", "sync.example.com", "http(s) URL"),
        ("CALSYNC_DATABASE_URL", "mysql://db/x", "unsupported scheme"),
        ("CALSYNC_DATABASE_URL", "not a url", "unsupported scheme"),
        ("CALSYNC_KAFKA_BOOTSTRAP", "kafka", "host:port"),
        ("CALSYNC_SECRET_KEY", "short", "32 url-safe"),
        ("CALSYNC_GRAPH_API_URL", "ftp://graph", "http(s) URL"),
        ("CALSYNC_SMTP_URL", "mail.example.com", "smtp://"),
        ("CALSYNC_LOG_FORMAT", "xml", "json or console"),
        ("CALSYNC_KAFKA_PARTITIONS", "0", "out of range"),
        ("CALSYNC_AUTO_MIGRATE", "maybe", "true or false"),
    ],
)
def test_bad_values_name_the_variable(variable: str, value: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({variable: value})
    assert caught.value.variable == variable
    assert variable in str(caught.value) and fragment in str(caught.value)


def test_settings_are_frozen() -> None:
    settings = load_settings({})
    with pytest.raises(AttributeError):
        settings.listen_port = 1  # type: ignore[misc]
