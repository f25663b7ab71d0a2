"""How often the semantic cache would answer right, and how often wrong.

A labelled pair (a, b) stands for "a's answer is cached; b arrives". The cache serves it
when b's meaning signature equals a's and their embeddings' cosine similarity reaches the
threshold — the same rule as api.semantic_cache_lookup (context equal by construction).

- hit rate: share of true paraphrases served from the cache (higher saves more);
- false-hit rate: share of pairs with different correct answers served anyway (a wrong
  answer given to a user; the number that must stay near zero).

`aigw cache eval` prints both for the similarity threshold alone and with the guard, over
a range of thresholds, so the choice of setting is visible.
"""

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from api.cache import guard

DEFAULT_PAIRS = Path(__file__).with_name("semantic_cache_pairs.jsonl")
# Written separately, without sight of the first set or of the guard: how it generalises.
HOLDOUT_PAIRS = Path(__file__).with_name("semantic_cache_holdout.jsonl")
THRESHOLDS = (0.80, 0.85, 0.88, 0.90, 0.92, 0.94, 0.96)


@dataclass(frozen=True)
class Pair:
    a: str
    b: str
    paraphrase: bool
    kind: str


@dataclass(frozen=True)
class Scores:
    similarity: np.ndarray  # cosine per pair
    same_signature: np.ndarray  # bool per pair


@dataclass(frozen=True)
class Outcome:
    threshold: float
    guarded: bool
    hit_rate: float
    false_hit_rate: float
    false_hits: int
    negatives: int
    hits: int
    positives: int


def load_pairs(path: Path = DEFAULT_PAIRS) -> list[Pair]:
    pairs = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        row = json.loads(line)
        if row.get("label") not in ("paraphrase", "different"):
            raise ValueError(f"{path}:{number}: label must be 'paraphrase' or 'different'")
        pairs.append(Pair(row["a"], row["b"], row["label"] == "paraphrase", row.get("kind", "")))
    return pairs


def score(pairs: list[Pair], embed) -> Scores:
    """`embed(texts)` returns unit-length rows (LocalEmbedder.embed_sync)."""
    a = embed([p.a for p in pairs])
    b = embed([p.b for p in pairs])
    similarity = np.einsum("ij,ij->i", a, b)
    same = np.array([guard.signature(p.a) == guard.signature(p.b) for p in pairs])
    return Scores(similarity, same)


def outcome(pairs: list[Pair], scores: Scores, threshold: float, guarded: bool) -> Outcome:
    positive = np.array([p.paraphrase for p in pairs])
    served = scores.similarity >= threshold
    if guarded:
        served &= scores.same_signature
    hits, false_hits = int((served & positive).sum()), int((served & ~positive).sum())
    positives, negatives = int(positive.sum()), int((~positive).sum())
    return Outcome(
        threshold,
        guarded,
        hits / max(positives, 1),
        false_hits / max(negatives, 1),
        false_hits,
        negatives,
        hits,
        positives,
    )


def false_hits_by_kind(
    pairs: list[Pair], scores: Scores, threshold: float, guarded: bool
) -> dict[str, tuple[int, int]]:
    """kind -> (served wrongly, pairs of that kind), for the hard negatives."""
    result: dict[str, tuple[int, int]] = {}
    for i, p in enumerate(pairs):
        if p.paraphrase:
            continue
        served = scores.similarity[i] >= threshold and (scores.same_signature[i] or not guarded)
        wrong, total = result.get(p.kind, (0, 0))
        result[p.kind] = (wrong + int(served), total + 1)
    return result
