"""Guardrail rules as the gateway compiles and applies them: the recognisers (checksums
and ranges), redaction, streams split anywhere, and the SQL check agreeing with RE2.

The HTTP surface, every dialect and the event log are in test_guardrail_enforcement.py."""

import json
import random
import time
import uuid

import psycopg
import pytest

from api.guardrails import recognizers, rules
from api.guardrails.rules import RuleSet, compile_rule
from api.guardrails.stream import HOLD_BACK, Blocked, StreamScanner
from tests.helpers import operator_call


def rule(kind, config, action="redact", stage="input", name=None):
    row = {"id": uuid.uuid4(), "name": name or kind, "team_id": None, "stage": stage,
           "kind": kind, "config": config, "action": action}  # fmt: skip
    compiled = compile_rule(row)
    assert compiled.broken is None, compiled.broken
    return compiled


def redact(kind, config, text: str) -> str:
    judged = RuleSet.of([rule(kind, config)]).input.judge([text])
    return judged.texts[0] if judged.texts else text


@pytest.mark.parametrize(
    "number, valid",
    [
        ("4111111111111111", True),  # Visa test number
        ("4111 1111 1111 1111", True),
        ("4111-1111-1111-1111", True),
        ("5555 5555 5555 4444", True),  # Mastercard
        ("3782 822463 10005", True),  # Amex, 4-6-5
        ("4111 1111 1111 1112", False),  # Luhn fails
        ("4111-1111 1111-1111", False),  # mixed separators
        ("3704 0044 0532 0130 01", False),  # passes Luhn, grouped like an IBAN's digits
        ("1111 1111 1111 1117", False),  # Luhn-valid, no card network starts with 1
        ("411111111111", False),  # 12 digits
    ],
)
def test_card_numbers_need_luhn_a_network_and_a_card_grouping(number, valid):
    out = redact("pii_redact", {"entities": ["credit_card"]}, f"card: {number}.")
    assert (out == "card: [REDACTED:credit_card].") is valid, out


def test_luhn_itself():
    assert recognizers.luhn_valid("79927398713")
    assert not recognizers.luhn_valid("79927398710")


@pytest.mark.parametrize(
    "iban, valid",
    [
        ("DE89 3704 0044 0532 0130 00", True),
        ("DE89370400440532013000", True),
        ("GB82 WEST 1234 5698 7654 32", True),
        ("NL91 ABNA 0417 1643 00", True),
        ("CH93 0076 2011 6238 5295 7", True),
        ("DE89 3704 0044 0532 0130 01", False),  # mod-97 fails
        ("GB82 WEST 1234 5698 7654 33", False),
        ("DE89 3704 0044 0532 0130", False),  # too short for Germany
    ],
)
def test_ibans_need_mod_97_and_their_countrys_length(iban, valid):
    out = redact("pii_redact", {"entities": ["iban"]}, f"to {iban} please")
    assert (out == "to [REDACTED:iban] please") is valid, out


def test_an_iban_ends_where_its_checksum_says_not_at_the_next_word():
    out = redact("pii_redact", {"entities": ["iban"]}, "DE89 3704 0044 0532 0130 00 TODAY")
    assert out == "[REDACTED:iban] TODAY"


@pytest.mark.parametrize(
    "entity, text, found",
    [
        ("email", "mail jane.doe+x@mail.example.co.uk now", True),
        ("email", "not an address: jane@localhost", False),
        ("us_ssn", "ssn 536-22-1234", True),
        ("us_ssn", "ssn 536 22 1234", True),
        ("us_ssn", "ssn 000-22-1234", False),  # area 000 is never issued
        ("us_ssn", "ssn 666-22-1234", False),
        ("us_ssn", "ssn 936-22-1234", False),
        ("us_ssn", "ssn 536-00-1234", False),
        ("us_ssn", "ssn 536-22-0000", False),
        ("uk_nino", "NINO AB 12 34 56 C", True),
        ("uk_nino", "NINO AB123456C", True),
        ("uk_nino", "NINO GB123456A", False),  # never issued
        ("uk_nino", "NINO DA123456A", False),  # D is never a first letter
        ("uk_nino", "NINO AB123456E", False),  # suffix A-D only
        ("phone", "call +44 20 7946 0958", True),
        ("phone", "call (415) 555-2671", True),
        ("phone", "on 2024-05-01", False),
        ("ip_address", "host 10.0.12.254", True),
        ("ip_address", "version 999.1.1.1", False),
    ],
)
def test_pii_recognisers(entity, text, found):
    out = redact("pii_redact", {"entities": [entity]}, text)
    assert (f"[REDACTED:{entity}]" in out) is found, out


@pytest.mark.parametrize(
    "kind, text",
    [
        ("aws_access_key", "AKIAIOSFODNN7EXAMPLE"),
        ("aws_secret_key", "aws_secret_access_key = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY'"),
        ("aws_secret_key", "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
        (
            "private_key",
            "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaA\n-----END OPENSSH PRIVATE KEY-----",
        ),
        ("github_token", "ghp_" + "a1B2c3D4e5" * 3 + "F6g7H8"),
        ("github_token", "github_pat_" + "A" * 22 + "_" + "b" * 59),
        ("slack_token", "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx"),
        ("slack_webhook", "https://hooks.slack.com/services/T0000/B0000/XXXXXXXX"),
        ("stripe_key", "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc"),
        ("openai_key", "sk-proj-" + "a" * 20 + "T3BlbkFJ" + "b" * 20),
        ("aigw_key", "sk-aigw-" + "A1b2C3" * 6),
        (
            "jwt",
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
        ),
    ],
)
def test_secret_recognisers(kind, text):
    assert redact("secrets", {"types": [kind]}, f"x {text} y") == f"x [REDACTED:{kind}] y"
    assert redact("secrets", {}, f"x {text} y") == f"x [REDACTED:{kind}] y"  # all kinds


def test_a_private_key_without_its_end_line_is_redacted_to_the_end():
    text = "here: -----BEGIN RSA PRIVATE KEY-----\nMIIEow\nmore"
    assert redact("secrets", {"types": ["private_key"]}, text) == "here: [REDACTED:private_key]"


def test_deny_lists_match_whole_words_unless_told_otherwise():
    terms = {"terms": ["Falcon", "c++", "acme corp."]}
    text = "falcons, Falcon, C++ and Acme Corp. at acme corp.x"
    assert redact("deny_list", terms, text) == (
        "falcons, [REDACTED:deny_list], [REDACTED:deny_list] and [REDACTED:deny_list] at "
        "[REDACTED:deny_list]x"
    )
    anywhere = {**terms, "whole_words": False}
    assert redact("deny_list", anywhere, "falcons") == "[REDACTED:deny_list]s"
    sensitive = {**terms, "case_sensitive": True}
    assert redact("deny_list", sensitive, "falcon Falcon") == "falcon [REDACTED:deny_list]"


def test_overlapping_matches_become_one_redaction():
    judged = RuleSet.of(
        [
            rule("regex", {"pattern": "jane"}, name="names"),
            rule("pii_redact", {"entities": ["email"]}),
        ]
    ).input.judge(["to jane.doe@example.com"])
    assert judged.texts == ["to [REDACTED:email]"]
    assert [v["rule"] for v in judged.verdicts] == ["names", "pii_redact"]


def test_block_wins_flag_only_records_and_nothing_matched_is_no_verdict():
    stage = RuleSet.of(
        [
            rule("regex", {"pattern": "hello"}, "flag", name="greeting"),
            rule("deny_list", {"terms": ["secret"]}, "block", name="secrets"),
            rule("pii_redact", {"entities": ["email"]}),
        ]
    ).input
    judged = stage.judge(["hello", "a secret for a@b.co"])
    assert judged.blocked.name == "secrets" and judged.texts is None
    assert rules.strongest(judged.verdicts) == "block"
    flagged = stage.judge(["hello there"])
    assert flagged.blocked is None and flagged.texts is None
    assert [v["action"] for v in flagged.verdicts] == ["flag"]
    assert stage.judge(["nothing here"]).verdicts == []


def test_a_match_across_two_messages_is_not_one():
    stage = RuleSet.of([rule("regex", {"pattern": "foo\\s+bar"}, "block")]).input
    assert stage.judge(["foo", "bar"]).blocked is None  # joined for the fast path only
    assert stage.judge(["foo bar"]).blocked is not None


# -- streams --------------------------------------------------------------------------------


STREAM_TEXT = (
    "Dear " + "x" * 150 + ", write to jane.doe@example.com, card 4111 1111 1111 1111. "
    + "word " * 40 + "-----BEGIN PRIVATE KEY-----\nabc\ndef\n-----END PRIVATE KEY----- done"
    + " z" * 70
)  # fmt: skip


@pytest.mark.parametrize("seed", range(25))
def test_a_stream_split_anywhere_is_redacted_as_the_whole_text_is(seed):
    stage = RuleSet.of(
        [
            rule("pii_redact", {"entities": ["email", "credit_card"]}, stage="output"),
            rule("secrets", {"types": ["private_key"]}, stage="output"),
        ]
    ).output
    whole = stage.judge([STREAM_TEXT]).texts[0]
    chance = random.Random(seed)
    scanner, sent, position = StreamScanner(stage), [], 0
    while position < len(STREAM_TEXT):
        size = chance.randint(1, 9)
        sent.append(scanner.feed(0, STREAM_TEXT[position : position + size]))
        position += size
        # never more than the hold-back (or an open match) behind what arrived
        assert len("".join(sent)) > 0 or position <= HOLD_BACK + 200
    sent.append(scanner.flush(0))
    assert "".join(sent) == whole
    assert "jane" not in "".join(sent) and "abc" not in "".join(sent)
    assert {v["rule"] for v in scanner.verdicts.values()} == {"pii_redact", "secrets"}


def test_a_blocked_stream_has_sent_nothing_of_the_match():
    stage = RuleSet.of([rule("deny_list", {"terms": ["forbidden word"]}, "block", "output")]).output
    scanner, sent = StreamScanner(stage), ""
    prefix = "y" * 300
    with pytest.raises(Blocked) as blocked:
        for piece in [prefix, "this is a forb", "idden", " word here"]:
            sent += scanner.feed(0, piece)
    assert blocked.value.rule.name == "deny_list"
    assert sent and "forb" not in sent  # what came before went on; the match never did


def test_flag_only_streams_are_not_held_back():
    stage = RuleSet.of([rule("regex", {"pattern": "needle"}, "flag", "output")]).output
    scanner = StreamScanner(stage)
    assert scanner.feed(0, "a nee") == "a nee"
    assert scanner.feed(0, "dle here") == "dle here"
    assert [v["rule"] for v in scanner.verdicts.values()] == ["regex"]


# -- patterns: RE2, bounded, and the SQL check agreeing -----------------------------------


def test_matching_is_linear_in_the_text():
    stage = RuleSet.of([rule("regex", {"pattern": "(a+)+$"}, "block")]).input
    started = time.perf_counter()
    assert stage.judge(["a" * 200_000 + "!"]).blocked is None
    assert time.perf_counter() - started < 0.5


AGREED = [
    # (pattern, valid in RE2)
    (r"sk-[A-Za-z0-9]{20,}", True),
    (r"(?i)password\s*[:=]", True),
    (r"(?P<key>AKIA)[A-Z0-9]{16}", True),
    (r"\bfoo\b|bar(?i:baz)", True),
    (r"\p{Greek}+", True),
    (r"[+]+\++", True),
    (r"a{1000}", True),
    (r"\x{1F600}", True),
    (r"end\z", True),
    (r"\Qa.b\E", True),
    (r"(?=x)y", False),
    (r"(?<!x)y", False),
    (r"(a)\1", False),
    (r"(?>a+)", False),
    (r"a++", False),
    (r"a{2}+", False),
    (r"a{1001}", False),
    (r"(unclosed", False),
    (r"[z-a]", False),
    (r"*", False),
]


@pytest.mark.parametrize("pattern, valid", AGREED)
def test_the_sql_check_and_re2_agree_on_patterns(db, pattern, valid):
    config = {"pattern": pattern}
    try:
        rules.check("input", "regex", config, "block")
        python_accepts = True
    except rules.InvalidRule:
        python_accepts = False
    try:
        operator_call(
            db.admin,
            "select api.set_guardrail(null, 'p', 'input', 'regex', %s, 'block')",
            (json.dumps(config),),
        )
        sql_accepts = True
    except psycopg.Error as exc:
        assert exc.sqlstate == "AIG06", exc
        sql_accepts = False
    assert (python_accepts, sql_accepts) == (valid, valid)


@pytest.mark.parametrize(
    "kind, config, action, stage",
    [
        ("regex", {"pattern": "x"}, "redact", "input"),
        ("deny_list", {"terms": ["a", "b"], "whole_words": False}, "block", "output"),
        ("secrets", {}, "redact", "output"),
        ("secrets", {"types": ["jwt"]}, "flag", "input"),
        ("pii_redact", {"entities": ["us_ssn", "uk_nino"]}, "block", "input"),
        ("max_input_tokens", {"max_tokens": 10}, "flag", "input"),
        # refused by both:
        ("block_pattern", {"pattern": "x"}, "redact", "input"),
        ("max_input_tokens", {"max_tokens": 10}, "block", "output"),
        ("deny_list", {"terms": []}, "block", "input"),
        ("deny_list", {"terms": ["  "]}, "block", "input"),
        ("secrets", {"types": ["passwords"]}, "block", "input"),
        ("secrets", {"kinds": ["jwt"]}, "block", "input"),
        ("pii_redact", {"entities": ["dna"]}, "redact", "input"),
        ("regex", {"pattern": "x", "case_sensitive": "yes"}, "block", "input"),
    ],
)
def test_the_sql_check_and_the_gateway_agree_on_configs(db, kind, config, action, stage):
    try:
        rules.check(stage, kind, config, action)
        python_accepts = True
    except rules.InvalidRule:
        python_accepts = False
    try:
        operator_call(
            db.admin,
            "select api.set_guardrail(null, 'c', %s, %s, %s, %s)",
            (stage, kind, json.dumps(config), action),
        )
        sql_accepts = True
    except psycopg.Error as exc:
        assert exc.sqlstate == "AIG06", exc
        sql_accepts = False
    assert python_accepts == sql_accepts
