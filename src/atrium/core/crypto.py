"""Keys derived from the platform secret, one per purpose, so no two features share a key."""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet
from pydantic import SecretStr


def fernet(secret_key: SecretStr, label: str) -> Fernet:
    """A Fernet cipher for secrets at rest; ``label`` separates the purposes."""
    key = hashlib.sha256(f"atrium-{label}|".encode() + secret_key.get_secret_value().encode()).digest()
    return Fernet(base64.urlsafe_b64encode(key))
