"""Checking the audit log's hash chain from outside the database.

audit.record (sql/audit.sql) stores each row with
    hash = sha256(prev_hash || canonical text of the row)
chained from 32 zero bytes. Here the canonical text is computed by this module's own
query from the stored columns, using built-in functions only, and the hashes are
recomputed with hashlib: someone able to rewrite rows may also be able to replace a
stored function, but not PostgreSQL's built-ins or this code.
"""

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field

GENESIS = bytes(32)

# Must produce exactly the text audit.record hashes (see the comment there). Run with the
# search path pinned to pg_catalog (see SAFE_SEARCH_PATH), so no look-alike function or
# operator in another schema is picked up.
CHAIN_QUERY = """
select e.id, e.prev_hash, e.hash,
       jsonb_build_array(
           e.id, (extract(epoch from e.at) * 1000000)::bigint, e.actor_user_id,
           e.actor_login, e.action, e.target_type, e.target_id, e.detail)::text
  from audit.events e
 order by e.id
"""
SAFE_SEARCH_PATH = "set search_path = pg_catalog, pg_temp"


def row_hash(prev_hash: bytes, canonical: str) -> bytes:
    return hashlib.sha256(prev_hash + canonical.encode("utf-8")).digest()


@dataclass(frozen=True)
class Break:
    row_id: int
    reason: str

    def __str__(self) -> str:
        return f"row {self.row_id}: {self.reason}"


@dataclass
class ChainCheck:
    """Fed rows in id order, one at a time; collects every row that does not fit."""

    rows: int = 0
    head_id: int | None = None
    head_hash: bytes = GENESIS
    breaks: list[Break] = field(default_factory=list)
    anchors_seen: set[bytes] = field(default_factory=set)
    watch: frozenset[bytes] = frozenset()

    @property
    def intact(self) -> bool:
        return not self.breaks

    def add(self, row_id: int, prev_hash: bytes, stored_hash: bytes, canonical: str) -> None:
        prev_hash, stored_hash = bytes(prev_hash), bytes(stored_hash)
        # The link first: a row that does not follow the one before it means that one was
        # removed, changed and re-hashed, or that rows were reordered.
        if prev_hash != self.head_hash:
            self.breaks.append(Break(row_id, self._link_reason(row_id)))
        if row_hash(prev_hash, canonical) != stored_hash:
            self.breaks.append(Break(row_id, "contents changed (its hash does not match it)"))
        if stored_hash in self.watch:
            self.anchors_seen.add(stored_hash)
        self.rows += 1
        self.head_id, self.head_hash = row_id, stored_hash

    def add_all(self, rows: Iterable[tuple]) -> None:
        for row in rows:
            self.add(*row)

    def _link_reason(self, row_id: int) -> str:
        if self.head_id is None:
            return "previous row missing or reordered (the chain does not start here)"
        reason = f"previous row missing or reordered (it does not follow row {self.head_id}"
        # Ids have gaps anyway (a rolled-back change uses one up), so a gap is only a
        # hint, given where the chain is broken.
        if row_id - self.head_id == 2:
            reason += f"; row {self.head_id + 1} is absent"
        elif row_id - self.head_id > 2:
            reason += f"; rows {self.head_id + 1} to {row_id - 1} are absent"
        return reason + ")"
