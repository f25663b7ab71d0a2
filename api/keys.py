"""The API key format: sk-aigw- + 30 base62 characters + 6 base62 characters of CRC32.

Keys are generated in the database (`api.issue_key`, see sql/iam.sql) and stored only as
a SHA-256 digest. This module mirrors the checksum so that a mistyped key is rejected
before any lookup, and computes the digest the database compares against.
"""

import hashlib
import re
import secrets
import zlib
from typing import Literal, get_args

PREFIX = "sk-aigw-"
BODY_LENGTH = 30
CHECKSUM_LENGTH = 6
ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
# What a secret scanner should match.
PATTERN = re.compile(rf"{re.escape(PREFIX)}[0-9A-Za-z]{{{BODY_LENGTH + CHECKSUM_LENGTH}}}")
DISPLAY_PREFIX_LENGTH = 12

# What a key may be issued for (iam.key_scopes in sql/iam.sql), and so call: inference
# (chat completions, Anthropic messages, count_tokens), embeddings (/v1/embeddings).
Scope = Literal["inference", "embeddings"]
SCOPES: frozenset[str] = frozenset(get_args(Scope))


def base62(value: int, width: int) -> str:
    digits = []
    for _ in range(width):
        value, rest = divmod(value, 62)
        digits.append(ALPHABET[rest])
    return "".join(reversed(digits))


def checksum(body: str) -> str:
    return base62(zlib.crc32(body.encode()), CHECKSUM_LENGTH)


def is_well_formed(key: str) -> bool:
    """True when the key has the right shape and its checksum matches its body."""
    if not PATTERN.fullmatch(key):
        return False
    body = key[len(PREFIX) : len(PREFIX) + BODY_LENGTH]
    return secrets.compare_digest(key[-CHECKSUM_LENGTH:], checksum(body))


def digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def display_prefix(key: str) -> str:
    return key[:DISPLAY_PREFIX_LENGTH]
