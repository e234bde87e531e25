"""Tokens at rest: encrypted, rotatable, refused without a key."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from calsync.crypto import Cipher
from calsync.errors import SecretsError


def test_round_trip_and_no_plaintext() -> None:
    cipher = Cipher([Fernet.generate_key().decode()])
    token = cipher.encrypt("1//refresh-token")
    assert "refresh-token" not in token and cipher.decrypt(token) == "1//refresh-token"


def test_rotation_moves_to_the_new_key() -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    stored = Cipher([old]).encrypt("secret")
    rotated = Cipher([new, old]).rotate(stored)
    assert Cipher([new]).decrypt(rotated) == "secret"  # old key no longer needed
    with pytest.raises(SecretsError):
        Cipher([old]).decrypt(rotated)


def test_refuses_without_key() -> None:
    cipher = Cipher([])
    assert not cipher.enabled
    with pytest.raises(SecretsError, match="CALSYNC_SECRET_KEY"):
        cipher.encrypt("x")
