"""Pattern recognisers for personal data and secrets, in the manner of presidio's pattern
recognisers and detect-secrets' plugins: a regular expression finds candidates, and a
validator (a checksum, a range) keeps only those that can be what they claim to be.

Written here rather than taken from presidio (which loads spaCy models) or detect-secrets
(Python `re`, one plugin object per line scanned): every pattern is RE2, so scanning is
linear in the text whatever it holds, and each recogniser declares the longest match it
makes, which bounds how much of a stream the gateway holds back.

A validator gets the candidate and returns how many of its characters are the real
thing (the candidate's prefix), or None: an IBAN's regex may run on into the next
word, and the checksum says where it ends.
"""

from collections.abc import Callable
from dataclasses import dataclass

import re2

# RE2's memory budget per compiled expression: ample for any sensible rule, and what
# makes a pattern that would compile into an enormous automaton an error at save time.
MAX_MEM = 8 << 20


def options(case_sensitive: bool = True) -> re2.Options:
    opts = re2.Options()
    opts.max_mem = MAX_MEM
    opts.case_sensitive = case_sensitive
    opts.log_errors = False  # a refused pattern is the caller's error, not a log line
    return opts


@dataclass(frozen=True)
class Recognizer:
    label: str  # what a redaction says: [REDACTED:<label>]
    pattern: str
    validate: Callable[[str], int | None] | None = None
    case_sensitive: bool = True


def digits(text: str) -> str:
    return "".join(c for c in text if c.isdigit())


def luhn_valid(number: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(number)):
        d = ord(char) - 48
        if position % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


# How card numbers are printed when they are grouped: 4-4-4-4 (and 4-4-4-4-3 for 19
# digits), 4-6-5 (Amex), 4-6-4 (Diners). Other groupings are other numbers (an IBAN's
# groups of four run on to a short last one).
CARD_GROUPS = frozenset({(4, 4, 4, 4), (4, 4, 4, 4, 3), (4, 6, 5), (4, 6, 4)})


def card_number(candidate: str) -> int | None:
    """A payment card: 13 to 19 digits, a major network's first digit (2–6: Mastercard's
    2-series, Amex/Diners/JCB, Visa, Mastercard, Discover), grouped as cards are printed
    (or not at all), and the Luhn checksum."""
    number = digits(candidate)
    if not (13 <= len(number) <= 19 and number[0] in "23456" and luhn_valid(number)):
        return None
    if len(number) != len(candidate):
        separators = {c for c in candidate if not c.isdigit()}
        groups = tuple(len(g) for g in candidate.replace("-", " ").split(" "))
        if len(separators) != 1 or groups not in CARD_GROUPS:
            return None
    return len(candidate)


# IBAN lengths of the countries most often seen; others are checked by mod-97 alone
# (one random string in 97 passes it, which the country code and length keep rare).
IBAN_LENGTHS = {
    "AT": 20, "BE": 16, "BG": 22, "CH": 21, "CY": 28, "CZ": 24, "DE": 22, "DK": 18,
    "EE": 20, "ES": 24, "FI": 18, "FR": 27, "GB": 22, "GR": 27, "HR": 21, "HU": 28,
    "IE": 22, "IS": 26, "IT": 27, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MT": 31,
    "NL": 18, "NO": 15, "PL": 28, "PT": 25, "RO": 24, "SE": 24, "SI": 19, "SK": 24,
}  # fmt: skip


def mod97_valid(iban: str) -> bool:
    rearranged = iban[4:] + iban[:4]
    number = "".join(str(int(c, 36)) for c in rearranged)
    return int(number) % 97 == 1


def iban(candidate: str) -> int | None:
    """An IBAN: the country's length where known, and the ISO 13616 mod-97 checksum. The
    candidate may run on into what follows (spaces are allowed between groups), so the
    longest valid prefix wins."""
    compact: list[str] = []
    ends: list[int] = []  # the candidate's length after each character of the IBAN
    for position, char in enumerate(candidate):
        if char != " ":
            compact.append(char)
            ends.append(position + 1)
    text = "".join(compact)
    known = IBAN_LENGTHS.get(text[:2])
    lengths = [known] if known else range(min(len(text), 34), 14, -1)
    for length in lengths:
        if len(text) >= length and mod97_valid(text[:length]):
            return ends[length - 1]
    return None


def us_ssn(candidate: str) -> int | None:
    """A US Social Security number: never area 000, 666 or 900–999, group 00, serial 0000."""
    number = digits(candidate)
    area, group, serial = number[:3], number[3:5], number[5:]
    if area in ("000", "666") or area[0] == "9" or group == "00" or serial == "0000":
        return None
    return len(candidate)


# Prefixes HMRC never issues (besides the letters the pattern already excludes).
NINO_NEVER = frozenset({"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"})


def uk_nino(candidate: str) -> int | None:
    return None if candidate[:2] in NINO_NEVER else len(candidate)


def phone(candidate: str) -> int | None:
    """E.164 allows 15 digits at most; fewer than 8 is a local extension or a number."""
    return len(candidate) if 8 <= len(digits(candidate)) <= 15 else None


PII = {
    r.label: r
    for r in (
        Recognizer("email", r"\b[A-Za-z0-9._%+-]+@(?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,63}\b"),
        Recognizer("credit_card", r"\b(?:[0-9][ -]?){12,18}[0-9]\b", card_number),
        Recognizer("iban", r"\b[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]){11,40}\b", iban),
        Recognizer(
            "us_ssn", r"\b[0-9]{3}-[0-9]{2}-[0-9]{4}\b|\b[0-9]{3} [0-9]{2} [0-9]{4}\b", us_ssn
        ),
        Recognizer(
            "uk_nino",
            r"\b[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?[0-9]{2} ?[0-9]{2} ?[0-9]{2} ?[A-D]\b",
            uk_nino,
        ),
        # international (+ and a country code), or North American (555-123-4567)
        Recognizer(
            "phone",
            r"\+[1-9][0-9]{0,2}[ .-]?(?:\(?[0-9]{1,4}\)?[ .-]?){1,4}[0-9]{2,4}\b"
            r"|\(?\b[2-9][0-9]{2}\)?[ .-][0-9]{3}[ .-][0-9]{4}\b",
            phone,
        ),
        Recognizer(
            "ip_address",
            r"\b(?:(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\.){3}"
            r"(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\b",
        ),
    )
}

# After detect-secrets' plugins (AWSKeyDetector, PrivateKeyDetector, GitHubTokenDetector,
# SlackDetector, StripeDetector, JwtTokenDetector) and the providers' documented formats.
SECRETS = {
    r.label: r
    for r in (
        Recognizer("aws_access_key", r"\b(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z0-9]{16}\b"),
        # quoted near "aws" (detect-secrets' form), or assigned to AWS_SECRET_ACCESS_KEY
        Recognizer(
            "aws_secret_key",
            r"aws.{0,40}?['\"][0-9a-zA-Z/+]{40}['\"]"
            r"|aws_?secret_?(?:access_?)?key\s*[=:]\s*[0-9a-zA-Z/+]{40}",
            case_sensitive=False,
        ),
        # Through its END line; a block whose end never comes takes the rest of the text.
        Recognizer(
            "private_key",
            r"-----BEGIN[A-Z ]{0,30}PRIVATE KEY(?: BLOCK)?-----(?s:.*?)"
            r"(?:-----END[A-Z ]{0,30}PRIVATE KEY(?: BLOCK)?-----|\z)",
        ),
        Recognizer(
            "github_token",
            r"\b(?:gh[pousr]_[A-Za-z0-9]{36,251}|github_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59})\b",
        ),
        Recognizer("slack_token", r"\bxox[abposr]-(?:[0-9]+-)+[0-9A-Za-z]+\b"),
        Recognizer(
            "slack_webhook",
            r"https://hooks\.slack\.com/services/T[A-Za-z0-9_]+/B[A-Za-z0-9_]+/[A-Za-z0-9_]+",
        ),
        Recognizer("stripe_key", r"\b[rs]k_live_[0-9A-Za-z]{24,99}\b"),
        # OpenAI keys carry "T3BlbkFJ" (base64 of "OpenAI") in the middle
        Recognizer("openai_key", r"\bsk-[A-Za-z0-9_-]{20,}T3BlbkFJ[A-Za-z0-9_-]{20,}\b"),
        Recognizer("anthropic_key", r"\bsk-ant-[A-Za-z0-9_-]{32,}\b"),
        Recognizer("aigw_key", r"\bsk-aigw-[0-9A-Za-z]{36}\b"),
        Recognizer("jwt", r"\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{10,}"),
    )
}
