"""Password hashing (argon2id). The database stores hashes it cannot compute itself: the
embedded server ships no pgcrypto, and hashing belongs outside the database anyway."""

import secrets
import string

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def one_time_password(length: int = 20) -> str:
    """A random password that meets the password policy (upper, lower, digit, special)."""
    specials = "!#%+-=?@^_"
    alphabet = string.ascii_letters + string.digits + specials
    while True:
        candidate = "".join(secrets.choice(alphabet) for _ in range(length))
        if (
            any(c.islower() for c in candidate)
            and any(c.isupper() for c in candidate)
            and any(c.isdigit() for c in candidate)
            and any(c in specials for c in candidate)
        ):
            return candidate
