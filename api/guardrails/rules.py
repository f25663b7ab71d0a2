"""Guardrail rules: what each kind's config means, checked and compiled once, and how a
compiled rule set judges texts.

  kind              stages   actions               config
  regex             both     block, redact, flag   {"pattern": "<RE2>", "case_sensitive": false}
  block_pattern     both     block, flag           the same (the first kind, kept as it was)
  deny_list         both     block, redact, flag   {"terms": ["…"], "case_sensitive": false,
                                                    "whole_words": true}
  pii_redact        both     redact, block, flag   {"entities": ["email", "credit_card", …]}
  secrets           both     block, redact, flag   {"types": ["aws_access_key", …]} (all: {})
  max_input_tokens  input    block, flag           {"max_tokens": 8000}

`check` is the admin API's validation (sql/admin.sql's policy.check_guardrail says the
same to psql, except that only RE2 itself can compile a pattern); `compile_rule` turns a
stored row into a `Rule`. Patterns are RE2: matching takes time linear in the text, so no
pattern can hang the hot path, and one that would need more than `MAX_MEM` to compile is
refused.
"""

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import re2

from api.guardrails.recognizers import PII, SECRETS, Recognizer, options

KINDS = ("regex", "block_pattern", "deny_list", "pii_redact", "secrets", "max_input_tokens")
STAGES = ("input", "output")
ACTIONS = {
    "regex": ("block", "redact", "flag"),
    "block_pattern": ("block", "flag"),
    "deny_list": ("block", "redact", "flag"),
    "pii_redact": ("redact", "block", "flag"),
    "secrets": ("block", "redact", "flag"),
    "max_input_tokens": ("block", "flag"),
}
CONFIG_KEYS = {
    "regex": ("pattern", "case_sensitive"),
    "block_pattern": ("pattern", "case_sensitive"),
    "deny_list": ("terms", "case_sensitive", "whole_words"),
    "pii_redact": ("entities",),
    "secrets": ("types",),
    "max_input_tokens": ("max_tokens",),
}
MAX_PATTERN_CHARS = 1000
MAX_TERMS = 1000
MAX_TERM_CHARS = 200
MAX_TOKENS_LIMIT = 10_000_000
# How strong a verdict is: the event records the strongest a request got.
STRENGTH = {"flag": 1, "redact": 2, "block": 3}


class InvalidRule(ValueError):
    """A rule that cannot be enforced as written; the message says what is wrong."""


@dataclass(frozen=True)
class Detector:
    """One thing a rule looks for: a compiled pattern, what a redaction calls it, and
    the validator of its candidates (None: every match counts)."""

    label: str
    regex: object  # re2._Regexp
    validate: object = None

    def spans(self, text: str) -> Iterator[tuple[int, int, str]]:
        for match in self.regex.finditer(text):
            start, end = match.span()
            if self.validate is not None:
                length = self.validate(text[start:end])
                if length is None:
                    continue
                end = start + length
            yield start, end, self.label


@dataclass(frozen=True)
class Rule:
    id: str
    name: str
    team_id: str | None
    stage: str
    kind: str
    action: str
    detectors: tuple[Detector, ...] = ()
    # one pattern that matches wherever any detector's does: a text it misses holds
    # nothing for this rule, which is the common case and costs one RE2 search
    prefilter: object = None
    max_tokens: int | None = None
    broken: str | None = None  # why a stored rule could not be compiled (see compile_rule)

    def verdict(self) -> dict:
        return {
            "rule": self.name,
            "rule_id": self.id,
            "scope": "team" if self.team_id else "global",
            "stage": self.stage,
            "kind": self.kind,
            "action": self.action,
        }

    def spans(self, text: str) -> list[tuple[int, int, str]]:
        """Where this rule matches in `text`: (start, end, label), validated."""
        if self.prefilter is None or self.prefilter.search(text) is None:
            return []
        found = []
        for detector in self.detectors:
            found.extend(detector.spans(text))
        return found

    def matches(self, text: str) -> bool:
        if self.prefilter is None or self.prefilter.search(text) is None:
            return False
        if all(d.validate is None for d in self.detectors):
            return True
        return any(True for d in self.detectors for _ in d.spans(text))


# -- checking a config (the admin API's validation) -----------------------------------


def check(stage: str, kind: str, config: dict, action: str) -> None:
    """Raise InvalidRule naming the first thing wrong, as policy.check_guardrail does."""
    if stage not in STAGES:
        raise InvalidRule(f'unknown stage "{stage}": input (the request) or output (the answer)')
    if kind not in KINDS:
        raise InvalidRule(f'unknown guardrail kind "{kind}"; kinds: {", ".join(KINDS)}')
    if action not in ACTIONS[kind]:
        raise InvalidRule(
            f'action "{action}" does not apply to {kind} rules; actions: {", ".join(ACTIONS[kind])}'
        )
    if kind == "max_input_tokens" and stage != "input":
        raise InvalidRule("max_input_tokens rules apply to the input stage only")
    if not isinstance(config, dict):
        raise InvalidRule("config must be a JSON object")
    unknown = sorted(set(config) - set(CONFIG_KEYS[kind]))
    if unknown:
        raise InvalidRule(
            f"unknown config keys {unknown} for {kind} rules; keys: {list(CONFIG_KEYS[kind])}"
        )
    detectors(kind, config)  # compiling is the only complete check of a pattern


def flag(config: dict, key: str, default: bool) -> bool:
    value = config.get(key, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise InvalidRule(f'"{key}" must be true or false')
    return value


def compiled(pattern: str, case_sensitive: bool = True):
    try:
        return re2.compile(pattern, options(case_sensitive))
    except re2.error as exc:
        reason = exc.args[0] if exc.args else exc
        reason = reason.decode(errors="replace") if isinstance(reason, bytes) else str(reason)
        raise InvalidRule(
            f"invalid regular expression: {reason} (RE2 syntax: no lookaround, no "
            "backreferences, repetition counts up to 1000)"
        ) from None


def detectors(kind: str, config: dict) -> tuple[Detector, ...]:
    if kind in ("regex", "block_pattern"):
        pattern = config.get("pattern")
        if not isinstance(pattern, str) or not 1 <= len(pattern) <= MAX_PATTERN_CHARS:
            raise InvalidRule(
                f'{kind} needs "pattern": a regular expression of 1 to '
                f"{MAX_PATTERN_CHARS} characters"
            )
        sensitive = flag(config, "case_sensitive", False)
        return (Detector("", compiled(pattern, sensitive)),)
    if kind == "deny_list":
        terms = config.get("terms")
        if (
            not isinstance(terms, list)
            or not 1 <= len(terms) <= MAX_TERMS
            or not all(isinstance(t, str) and 0 < len(t.strip()) <= MAX_TERM_CHARS for t in terms)
        ):
            raise InvalidRule(
                f'deny_list needs "terms": 1 to {MAX_TERMS} non-blank strings of at most '
                f"{MAX_TERM_CHARS} characters"
            )
        sensitive = flag(config, "case_sensitive", False)
        whole = flag(config, "whole_words", True)
        return (Detector("", compiled(alternation(terms, whole), sensitive)),)
    if kind == "pii_redact":
        return recognized(config, "entities", PII, "pii_redact")
    if kind == "secrets":
        if "types" not in config:
            return tuple(detector(r) for r in SECRETS.values())
        return recognized(config, "types", SECRETS, "secrets")
    if kind == "max_input_tokens":
        value = config.get("max_tokens")
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or value % 1
            or not 1 <= value <= MAX_TOKENS_LIMIT
        ):
            raise InvalidRule(
                f'max_input_tokens needs "max_tokens": a whole number from 1 to {MAX_TOKENS_LIMIT}'
            )
        return ()
    raise InvalidRule(f'unknown guardrail kind "{kind}"')


def alternation(terms: Iterable[str], whole_words: bool) -> str:
    """The terms as one alternation, longest first (with leftmost-first matching, "ab"
    must be tried before "a"). As whole words, each is bounded by \\b on a side where it
    has a word character: \\b next to a "." or a space would demand a word character
    beyond it (and RE2 has no lookaround to say "no word character")."""
    parts = []
    for term in sorted(set(terms), key=len, reverse=True):
        escaped = re2.escape(term)
        if whole_words:
            left = r"\b" if term[0].isalnum() or term[0] == "_" else ""
            right = r"\b" if term[-1].isalnum() or term[-1] == "_" else ""
            escaped = f"{left}{escaped}{right}"
        parts.append(escaped)
    return "|".join(parts)


def recognized(config: dict, key: str, known: dict[str, Recognizer], kind: str):
    names = config.get(key)
    if (
        not isinstance(names, list)
        or not names
        or not all(isinstance(n, str) and n in known for n in names)
    ):
        raise InvalidRule(f'{kind} needs "{key}": a non-empty list of {", ".join(known)}')
    return tuple(detector(known[n]) for n in dict.fromkeys(names))


def detector(recognizer: Recognizer) -> Detector:
    return Detector(
        recognizer.label,
        compiled(recognizer.pattern, recognizer.case_sensitive),
        recognizer.validate,
    )


def prefilter_of(found: tuple[Detector, ...]):
    if not found:
        return None
    if len(found) == 1:
        return found[0].regex
    # One search for all of them; each keeps its own case sensitivity.
    parts = [
        d.regex.pattern if d.regex.options.case_sensitive else f"(?i:{d.regex.pattern})"
        for d in found
    ]
    return compiled("|".join(f"(?:{p})" for p in parts))


# -- compiling stored rules -------------------------------------------------------------


def compile_rule(row: dict) -> Rule:
    """A stored rule as the gateway enforces it. One the database holds but RE2 cannot
    compile (written with psql in a syntax the SQL check lets through) is kept as a
    broken rule: it refuses whatever it would have judged, rather than let it through
    unchecked (see RuleSet.judge)."""
    config = row["config"]
    if isinstance(config, str):
        config = json.loads(config)
    base = {
        "id": str(row["id"]),
        "name": row["name"],
        "team_id": str(row["team_id"]) if row["team_id"] else None,
        "stage": row["stage"],
        "kind": row["kind"],
        "action": row["action"],
    }
    try:
        check(row["stage"], row["kind"], config, row["action"])
        found = detectors(row["kind"], config)
    except InvalidRule as exc:
        return Rule(**base, broken=str(exc))
    # A pattern's or a deny list's redactions are named after the rule.
    found = tuple(Detector(d.label or row["name"], d.regex, d.validate) for d in found)
    max_tokens = int(config["max_tokens"]) if row["kind"] == "max_input_tokens" else None
    return Rule(**base, detectors=found, prefilter=prefilter_of(found), max_tokens=max_tokens)


# -- judging texts ------------------------------------------------------------------------


@dataclass
class Judgement:
    """What a stage's rules made of a request's (or an answer's) texts."""

    verdicts: list[dict] = field(default_factory=list)
    blocked: Rule | None = None
    texts: list[str] | None = None  # the texts redacted, when anything was


def redacted(text: str, spans: list[tuple[int, int, str]]) -> str:
    """`text` with each span replaced by [REDACTED:<label>]; overlapping spans merged,
    the earliest (then the longest) first."""
    out, position = [], 0
    for start, end, label in sorted(spans, key=lambda s: (s[0], -s[1])):
        if start < position:
            continue
        out.append(text[position:start])
        out.append(f"[REDACTED:{label}]")
        position = end
    out.append(text[position:])
    return "".join(out)


@dataclass(frozen=True)
class StageRules:
    """A stage's compiled rules, in the order they are judged."""

    rules: tuple[Rule, ...]
    # what of a stream is held back before it is sent: only when a rule could change
    # or stop it (see api/guardrails/stream.py)
    holds: bool = False

    def judge(self, texts: list[str], input_tokens: int = 0) -> Judgement:
        """Judge texts (a request's, or an answer's) by every rule of the stage: the
        first block rule that matches refuses; redact rules rewrite; flag rules only say
        so. Block and flag rules see the texts as they came, redact rules their
        matches. Nothing matched: one RE2 search of the joined texts per rule."""
        judgement = Judgement()
        # Joined once, so that a rule that finds nothing (the usual case) costs one search
        # whatever the number of messages; a hit is then checked text by text.
        joined = "\n".join(texts) if len(texts) != 1 else (texts[0] if texts else "")
        redactions: list[list] | None = None
        for rule in self.rules:
            if rule.broken is not None:
                judgement.verdicts.append(rule.verdict() | {"action": "block"})
                judgement.blocked = rule
                return judgement
            if rule.max_tokens is not None:
                hit = input_tokens > rule.max_tokens
            elif rule.prefilter is None or rule.prefilter.search(joined) is None:
                continue
            elif rule.action == "redact":
                found = [rule.spans(t) for t in texts]
                hit = any(found)
                if hit:
                    if redactions is None:
                        redactions = [[] for _ in texts]
                    for spans, more in zip(redactions, found, strict=True):
                        spans.extend(more)
            else:
                hit = any(rule.matches(t) for t in texts)
            if not hit:
                continue
            judgement.verdicts.append(rule.verdict())
            if rule.action == "block":
                judgement.blocked = rule
                return judgement
        if redactions is not None:
            judgement.texts = [
                redacted(t, spans) if spans else t
                for t, spans in zip(texts, redactions, strict=True)
            ]
        return judgement


EMPTY = StageRules(())


@dataclass(frozen=True)
class RuleSet:
    """The rules that apply to one team: the global ones, then the team's own."""

    input: StageRules = EMPTY
    output: StageRules = EMPTY

    @classmethod
    def of(cls, rules: Iterable[Rule]) -> "RuleSet":
        rules = list(rules)
        by_stage = {}
        for stage in STAGES:
            chosen = tuple(r for r in rules if r.stage == stage)
            holds = any(r.action in ("block", "redact") or r.broken for r in chosen)
            by_stage[stage] = StageRules(chosen, holds) if chosen else EMPTY
        return cls(**by_stage)


def strongest(verdicts: list[dict]) -> str | None:
    return max((v["action"] for v in verdicts), key=STRENGTH.__getitem__, default=None)
