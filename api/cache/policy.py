"""A team's cache policy, as the gateway receives it with the principal (sql/cache.sql)."""

import json
from dataclasses import dataclass


@dataclass(frozen=True)
class CachePolicy:
    mode: str = "off"  # off | exact | semantic
    scope: str = "team"  # team | user | key: who shares entries
    ttl_s: int = 3600
    semantic_threshold: float = 0.9
    semantic_max_temperature: float = 1.0
    semantic_tool_turns: bool = False
    generation: int = 0  # bumped by api.purge_cache

    @classmethod
    def from_json(cls, raw) -> "CachePolicy":
        if raw is None:
            return cls()
        data = json.loads(raw) if isinstance(raw, str) else raw
        return cls(
            mode=data.get("mode", "off"),
            scope=data.get("scope", "team"),
            ttl_s=int(data.get("ttl_s", 3600)),
            semantic_threshold=float(data.get("semantic_threshold", 0.9)),
            semantic_max_temperature=float(data.get("semantic_max_temperature", 1.0)),
            semantic_tool_turns=bool(data.get("semantic_tool_turns", False)),
            generation=int(data.get("generation", 0)),
        )
