"""Output rules on a stream, as its text arrives.

Text comes in deltas, and a match may be split across two of them ("jane.doe@exa" +
"mple.com"). Each channel of a stream (an OpenAI choice, an Anthropic content block, a
Responses output part) keeps what it has not sent yet, and at least the last
`HOLD_BACK` characters of it are held while a rule could block or redact: a match no
longer than that is whole before any of it is sent. A match still open at the end of
what arrived (the private-key recogniser runs to the END line, or to the end of the
text) is held from its start until it closes or the channel ends. With only flag rules
nothing is held: the text goes on as it came and the rules read it alongside.

The held text lags the provider by at most HOLD_BACK characters (about 30 tokens) and is
sent when its channel ends.
"""

from dataclasses import dataclass, field

from api.guardrails.rules import Rule, StageRules, redacted

HOLD_BACK = 128  # longer than any recogniser's match but an email or a pattern's own


class Blocked(Exception):
    def __init__(self, rule: Rule):
        super().__init__(rule.name)
        self.rule = rule


@dataclass
class StreamScanner:
    stage: StageRules
    # rule id -> verdict: a rule is recorded once however many deltas it matched in
    verdicts: dict[str, dict] = field(default_factory=dict)
    _pending: dict[object, str] = field(default_factory=dict)  # not sent yet
    _sent: dict[object, str] = field(default_factory=dict)  # the last of what was (unredacted)
    emitted: dict[object, list[str]] = field(default_factory=dict)  # what was sent, per channel

    @property
    def hold(self) -> int:
        return HOLD_BACK if self.stage.holds else 0

    def feed(self, channel, text: str) -> str:
        """Take a delta of `channel`; what may be sent now. Raises Blocked."""
        return self._advance(channel, self._pending.get(channel, "") + text, final=False)

    def flush(self, channel) -> str:
        """The channel ended: the rest of it, judged. Raises Blocked."""
        pending = self._pending.pop(channel, "")
        out = self._advance(channel, pending, final=True) if pending else ""
        self._pending.pop(channel, None)
        return out

    def open_channels(self) -> list:
        return [c for c, text in self._pending.items() if text]

    def text_of(self, channel) -> str | None:
        """Everything the channel sent (None: nothing went through the scanner)."""
        parts = self.emitted.get(channel)
        return "".join(parts) if parts is not None else None

    def _advance(self, channel, pending: str, final: bool) -> str:
        context = self._sent.get(channel, "")
        window, offset = context + pending, len(context)
        spans = []
        for rule in self.stage.rules:
            if rule.broken is not None:
                self._record(rule)
                raise Blocked(rule)
            if rule.max_tokens is not None or rule.prefilter.search(window) is None:
                continue
            # What reaches into the new text is new; what ended in the context was judged.
            found = [(max(s, offset) - offset, e - offset, lbl) for s, e, lbl in rule.spans(window)]
            found = [s for s in found if s[1] > 0]
            if not found:
                continue
            self._record(rule)
            if rule.action == "block":
                raise Blocked(rule)
            if rule.action == "redact":
                spans.extend(found)
        cut = len(pending) if final else len(pending) - self.hold
        # A redaction that reaches past the cut may still grow: hold it from its start.
        while cut > 0 and (inside := [s for s, e, _ in spans if s < cut < e]):
            cut = min(inside)
        cut = max(cut, 0)
        out = pending[:cut]
        if spans and cut:
            out = redacted(out, [s for s in spans if s[1] <= cut])
        self._pending[channel] = pending[cut:]
        self._sent[channel] = (context + pending[:cut])[-HOLD_BACK:]
        self.emitted.setdefault(channel, []).append(out)
        return out

    def _record(self, rule: Rule) -> None:
        self.verdicts.setdefault(rule.id, rule.verdict())
