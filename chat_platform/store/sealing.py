"""Secret sealing: AES-256-GCM with the server's secret key.

A sealed value is `v1:` + urlsafe base64 of (12-byte nonce ‖ ciphertext ‖ tag). The secret's
scope and name are bound as associated data, so a ciphertext copied to another row fails to open.
May import: cryptography and the standard library.
"""

from __future__ import annotations

import base64
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from chat_platform.errors import ConfigurationError


class Sealer:
    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ConfigurationError("the secret key must be 32 bytes")
        self._aead = AESGCM(key)

    def seal(self, plaintext: str, *, context: str) -> str:
        nonce = os.urandom(12)
        blob = nonce + self._aead.encrypt(nonce, plaintext.encode(), context.encode())
        return "v1:" + base64.urlsafe_b64encode(blob).decode()

    def open(self, sealed: str, *, context: str) -> str:
        if not sealed.startswith("v1:"):
            raise ConfigurationError("unknown secret format")
        blob = base64.urlsafe_b64decode(sealed[3:])
        try:
            return self._aead.decrypt(blob[:12], blob[12:], context.encode()).decode()
        except InvalidTag:
            raise ConfigurationError(
                "a stored secret cannot be decrypted: CHAT_PLATFORM_SECRET_KEY changed?"
            ) from None


def secret_context(*, project_id: str | None, workflow_id: str | None, name: str) -> str:
    """Associated data binding a sealed value to its scope and name."""
    scope = f"workflow:{workflow_id}" if workflow_id else f"project:{project_id}"
    return f"{scope}:{name}"
