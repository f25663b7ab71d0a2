"""The cache's pure parts: meaning signatures, request keys, stream collection and replay,
and the local embedder itself."""

import json

import numpy as np
import pytest

from api.cache import evaluate, guard, replay
from api.cache.embedder import LocalEmbedder, TooLong
from api.cache.policy import CachePolicy
from api.cache.requests import semantic_query

PAIRS_THAT_MUST_DIFFER = [
    ("Summarise this quarter in one sentence.", "Summarise last quarter in one sentence."),
    ("List 3 risks.", "List 5 risks."),
    ("List three risks.", "List five risks."),
    ("What was revenue in Q3 2024?", "What was revenue in Q4 2024?"),
    ("What was revenue in Q3?", "What will revenue be in Q3?"),
    ("Write a function that uses recursion.", "Write a function that doesn't use recursion."),
    ("Translate English to French: hello", "Translate French to English: hello"),
    ("Convert a Unix timestamp to a date.", "Convert a date to a Unix timestamp."),
    ("Sort the list in ascending order.", "Sort the list in descending order."),
    ("How do I connect to postgres from python?", "How do I connect to mysql from python?"),
    ("Convert 30 celsius to fahrenheit", "Convert 30 fahrenheit to celsius"),
    ("Summarize the current version.", "Summarize the previous version."),
    ("What's on the agenda for this Friday?", "What's on the agenda for next Friday?"),
    ('Reply "yes" to the invite.', 'Reply "no" to the invite.'),
]
PAIRS_THAT_MUST_AGREE = [
    ("Summarise this quarter in one sentence.", "Give me a one-sentence summary of this quarter."),
    ("How do I reverse a list in Python?", "how can i reverse a list in Python"),
    ("Explain the difference between TCP and UDP.", "TCP vs UDP: what's the difference?"),
    ("What does `chmod 755` mean?", "Explain what chmod 755 means."),
    ("Summarize this text for me", "Summarise the following text"),
]


@pytest.mark.parametrize(("a", "b"), PAIRS_THAT_MUST_DIFFER)
def test_meaning_changes_change_the_signature(a, b):
    assert guard.signature(a) != guard.signature(b)
    assert guard.guard_hash(a) != guard.guard_hash(b)


@pytest.mark.parametrize(("a", "b"), PAIRS_THAT_MUST_AGREE)
def test_rewording_keeps_the_signature(a, b):
    assert guard.signature(a) == guard.signature(b)


def test_the_evaluation_set_meets_the_targets_at_the_default_setting():
    """The shipped evaluation set (what `aigw cache eval` prints), embedded for real."""
    pairs = evaluate.load_pairs()
    assert len(pairs) >= 300
    assert sum(p.paraphrase for p in pairs) >= 100 and sum(not p.paraphrase for p in pairs) >= 100
    scores = evaluate.score(pairs, LocalEmbedder().embed_sync)
    threshold = CachePolicy().semantic_threshold
    guarded = evaluate.outcome(pairs, scores, threshold, guarded=True)
    plain = evaluate.outcome(pairs, scores, threshold, guarded=False)
    assert guarded.false_hit_rate <= 0.01
    assert guarded.hit_rate >= 0.60
    # and the threshold alone is far from safe at the same setting
    assert plain.false_hit_rate > 0.25


def test_the_held_out_set_gets_no_more_false_hits():
    """The set written apart from the guard: its paraphrases are harder for the small
    embedding model (fewer hits), but the guard must keep wrong answers as rare."""
    pairs = evaluate.load_pairs(evaluate.HOLDOUT_PAIRS)
    assert len(pairs) >= 200
    scores = evaluate.score(pairs, LocalEmbedder().embed_sync)
    threshold = CachePolicy().semantic_threshold
    guarded = evaluate.outcome(pairs, scores, threshold, guarded=True)
    plain = evaluate.outcome(pairs, scores, threshold, guarded=False)
    assert guarded.false_hit_rate <= 0.01 < plain.false_hit_rate
    assert guarded.hits > 0


def test_the_local_embedder_is_unit_length_and_refuses_what_it_cannot_see():
    embedder = LocalEmbedder()
    vectors = embedder.embed_sync(["Summarise this quarter.", "Summarise this quarter."])
    assert vectors.shape == (2, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    assert float(vectors[0] @ vectors[1]) == pytest.approx(1, abs=1e-5)
    with pytest.raises(TooLong):
        embedder.embed_sync(["word " * 200])


def test_semantic_eligibility():
    policy = CachePolicy(mode="semantic", semantic_max_temperature=0.5)
    user = [{"role": "user", "content": "hi there"}]
    query, _ = semantic_query("openai", "gpt-4o", {"messages": user, "temperature": 0}, policy, {})
    assert query and query.text == "hi there"
    for body, reason in [
        ({"messages": user}, "temperature"),  # no temperature: the provider default, 1.0
        ({"messages": user, "temperature": 0.7}, "temperature"),
        ({"messages": [{"role": "assistant", "content": "x"}], "temperature": 0}, "not the user"),
        (
            {
                "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}],
                "temperature": 0,
            },
            "plain text",
        ),
        (
            {"messages": [{"role": "tool", "content": "1"}, *user], "temperature": 0},
            "tool",
        ),
    ]:
        query, why = semantic_query("openai", "gpt-4o", body, policy, {})
        assert query is None and reason in why
    # Same context, different final turn: the same context hash.
    a, _ = semantic_query("openai", "m", {"messages": user, "temperature": 0}, policy, {})
    b, _ = semantic_query(
        "openai",
        "m",
        {"messages": [{"role": "user", "content": "hello"}], "temperature": 0},
        policy,
        {},
    )
    c, _ = semantic_query("openai", "m", {"messages": user, "temperature": 0.1}, policy, {})
    assert a.context_hash == b.context_hash != c.context_hash


def test_openai_answers_survive_replay_and_collection():
    answer = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-4o",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": "A fairly long answer with quite a few words in it.",
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "f", "arguments": json.dumps({"x": "y" * 80})},
                        }
                    ],
                },
                "finish_reason": "tool_calls",
            }
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 9, "total_tokens": 12},
    }
    events = list(replay.openai_events(answer, include_usage=True))
    assert len(events) > 6 and events[-1] == b"data: [DONE]\n\n"
    collector = replay.OpenAICollector()
    for event in events[:-1]:
        collector.feed(json.loads(event.removeprefix(b"data: ")))
    assert collector.result() == answer


def test_anthropic_answers_survive_replay_and_collection():
    answer = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-6",
        "content": [
            {"type": "text", "text": "Let me check the weather for you right now."},
            {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Oslo"}},
        ],
        "stop_reason": "tool_use",
        "stop_sequence": None,
        "usage": {"input_tokens": 10, "output_tokens": 20},
    }
    collector = replay.AnthropicCollector()
    for event in replay.anthropic_events(answer):
        head, data = event.decode().strip().split("\n")
        assert head.startswith("event: ")
        collector.feed(json.loads(data.removeprefix("data: ")))
    assert collector.result() == answer


def test_an_unfinished_stream_collects_nothing():
    collector = replay.OpenAICollector()
    collector.feed({"id": "x", "choices": [{"index": 0, "delta": {"content": "par"}}]})
    assert collector.result() is None
    anthropic = replay.AnthropicCollector()
    anthropic.feed({"type": "message_start", "message": {"id": "m", "usage": {}}})
    assert anthropic.result() is None
