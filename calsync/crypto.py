"""Credentials at rest: MultiFernet with key rotation (encrypt with the first key, decrypt with any)."""

from __future__ import annotations

from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from calsync.errors import SecretsError


class Cipher:
    def __init__(self, keys: Sequence[str]) -> None:
        self._fernet = MultiFernet([Fernet(k.encode()) for k in keys]) if keys else None

    @property
    def enabled(self) -> bool:
        return self._fernet is not None

    def _require(self) -> MultiFernet:
        if self._fernet is None:
            raise SecretsError(
                "CALSYNC_SECRET_KEY is not set: calsync refuses to store provider credentials unencrypted "
                "(generate a key with `calsync secret-key`)"
            )
        return self._fernet

    def encrypt(self, plaintext: str) -> str:
        return self._require().encrypt(plaintext.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._require().decrypt(token.encode()).decode()
        except InvalidToken as err:
            raise SecretsError("stored credential cannot be decrypted with any configured key") from err

    def rotate(self, token: str) -> str:
        """Re-encrypt under the newest key without exposing the plaintext to the caller."""
        try:
            return self._require().rotate(token.encode()).decode()
        except InvalidToken as err:
            raise SecretsError("stored credential cannot be decrypted with any configured key") from err
