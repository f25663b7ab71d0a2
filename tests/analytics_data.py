"""A generated event log for the analytics tests: identities made through api.*, then
request and hook events shaped like the three kinds of session the marts classify.

  chat         a person in a chat client: a few prompts a minute or two apart, no tools,
               no session id (grouped by key and idle gap);
  interactive  Claude Code with the developer approving tools: three prompts, each followed
               by a tool loop whose turns wait on a person (10–40 s apart);
  headless     `claude -p` or a CI job: one prompt, then a fast tool loop with permissions
               bypassed and nobody in it.

Each generated session is labelled with the class it must get; events are written
straight into events.requests and events.hooks by the administrative login, the way the
gateway's writer would have left them (priced from the pricing table).
"""

import json
import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import psycopg

from tests.helpers import operator_call

CHAT, AGENTIC, AUTONOMOUS = "interactive", "agentic", "autonomous"
MODELS = ("claude-sonnet-4-6", "claude-haiku-4-5", "gpt-4o-mini")
DEPLOYMENTS = {"claude-sonnet-4-6": "anthropic", "claude-haiku-4-5": "anthropic",
               "gpt-4o-mini": "azure-eastus"}  # fmt: skip


@dataclass
class LabelledSession:
    label: str
    key_id: str
    session_id: str | None
    started_at: datetime
    request_ids: list[str] = field(default_factory=list)


@dataclass
class World:
    teams: dict[str, str] = field(default_factory=dict)  # name -> id
    areas: dict[str, str] = field(default_factory=dict)
    users: dict[str, str] = field(default_factory=dict)  # persona -> id
    keys: dict[str, str] = field(default_factory=dict)  # key name -> id
    key_owner: dict[str, tuple[str, str | None, str | None]] = field(default_factory=dict)
    sessions: list[LabelledSession] = field(default_factory=list)

    def principal(self, persona: str) -> dict:
        return {"user_id": self.users[persona]} if persona in self.users else {}


# persona: (roles, teams they belong to, whether they have a personal key in that team)
PERSONAS = {
    "admin": ([("platform_admin", None)], []),
    "owner_north": ([("area_owner", "north")], []),
    "tadmin_n1": ([("team_admin", "n1")], []),
    "dev_n1": ([("developer", None)], ["n1"]),
    "dev_n1b": ([("developer", None)], ["n1"]),
    "dev_n2": ([("developer", None)], ["n2"]),
    "dev_s1": ([("developer", None)], ["s1"]),
    "dev_s1b": ([("developer", None)], ["s1"]),
    # the only member of team solo, who never opts in to a leaderboard
    "solo": ([("developer", None)], ["solo"]),
    "viewer_n1": ([("viewer", None)], ["n1"]),
}
# Who turns which leaderboard on (team board, company board); the rest never choose.
OPT_INS = {
    "dev_n1": (True, True),
    "dev_n1b": (True, False),
    "dev_s1": (False, True),
    "dev_s1b": (True, True),
    "dev_n2": (False, False),
}
# How each developer works: sessions of each kind over the generated days.
HABITS = {
    "dev_n1": {AGENTIC: 8, AUTONOMOUS: 4, CHAT: 2},
    "dev_n1b": {AGENTIC: 3, CHAT: 3},
    "dev_n2": {CHAT: 5, AGENTIC: 1},
    "dev_s1": {AGENTIC: 4, AUTONOMOUS: 2, CHAT: 2},
    "dev_s1b": {CHAT: 6},
    "solo": {AGENTIC: 12, AUTONOMOUS: 2},
}


def create_world(admin_url: str, app_url: str) -> World:
    w = World()
    for area in ("north", "south"):
        w.areas[area] = str(operator_call(admin_url, "select api.create_area(%s)", (area,))[0][0])
    for team, area in (("n1", "north"), ("n2", "north"), ("s1", "south"), ("solo", "south")):
        w.teams[team] = str(
            operator_call(admin_url, "select api.create_team(%s, %s)", (team, area))[0][0]
        )
    for persona, (roles, teams) in PERSONAS.items():
        user_id = operator_call(
            admin_url, "select api.create_user(%s, %s)", (f"{persona}@example.com", persona)
        )[0][0]
        w.users[persona] = str(user_id)
        for role, scope in roles:
            operator_call(admin_url, "select api.grant_role(%s, %s, %s)", (user_id, role, scope))
        for team in teams:
            operator_call(admin_url, "select api.add_team_member(%s, %s)", (team, user_id))
    # Personal keys are issued by the developers themselves, through the service role.
    with psycopg.connect(app_url) as conn:
        for persona in HABITS:
            team = PERSONAS[persona][1][0]
            with conn.transaction():
                conn.execute(
                    "select set_config('app.principal', %s, true)",
                    (json.dumps(w.principal(persona)),),
                )
                key_id = conn.execute(
                    "select id from api.issue_key(%s, %s)", (team, f"{persona}-key")
                ).fetchone()[0]
            w.keys[f"{persona}-key"] = str(key_id)
            w.key_owner[str(key_id)] = (w.teams[team], w.users[persona], None)
    (bot,) = operator_call(admin_url, "select api.create_service_account('n1', 'ci-bot')")[0]
    (bot_key,) = operator_call(
        admin_url, "select id from api.issue_key('n1', 'ci-bot-key', %s)", (bot,)
    )[0]
    w.keys["ci-bot-key"] = str(bot_key)
    w.key_owner[str(bot_key)] = (w.teams["n1"], None, str(bot))
    for persona, (team_board, company_board) in OPT_INS.items():
        operator_call(
            admin_url,
            "insert into league.leaderboard_opt_ins (user_id, on_team_board, on_company_board) "
            "values (%s, %s, %s)",
            (w.users[persona], team_board, company_board),
        )
    return w


class EventLog:
    """Builds request and hook rows; `write` inserts them (and the cache's counters)."""

    def __init__(self, admin_url: str, world: World, seed: int = 7):
        self.admin_url = admin_url
        self.world = world
        self.rng = random.Random(seed)
        self.requests: list[dict] = []
        self.hooks: list[dict] = []
        self.prices = {
            model: (Decimal(i), Decimal(o), Decimal(c))
            for model, i, o, c in operator_call(
                admin_url,
                "select model, input_usd_per_mtok, output_usd_per_mtok, "
                "cached_input_usd_per_mtok from policy.pricing",
            )
        }

    # -- one request -------------------------------------------------------------------

    def request(self, key_id: str, at: datetime, *, session_id=None, tool_result=False,
                tools_offered=0, tool_calls=0, messages=1, model=None, status=200,
                cache=None, tags=None, client="claude-cli") -> str:  # fmt: skip
        team_id, user_id, sa_id = self.world.key_owner[key_id]
        model = model or self.rng.choice(MODELS)
        input_tokens = self.rng.randint(200, 20000)
        cached = self.rng.randint(0, input_tokens // 2)
        output_tokens = self.rng.randint(20, 2000) if status == 200 else 0
        saved_usd = Decimal(0)
        if cache in ("hit-exact", "hit-semantic") or status != 200:
            cost = Decimal(0)
            if cache:
                saved_usd = self.price(model, input_tokens, output_tokens, 0)
        else:
            cost = self.price(model, input_tokens, output_tokens, cached)
        request_id = f"req_{uuid.UUID(int=self.rng.getrandbits(128)).hex}"
        self.requests.append(
            {
                "request_id": request_id,
                "started_at": at,
                "recorded_at": at + timedelta(seconds=2),
                "endpoint": "/anthropic/v1/messages"
                if client == "claude-cli"
                else "/v1/chat/completions",
                "wire": "anthropic" if client == "claude-cli" else "openai",
                "status": status,
                "key_id": key_id,
                "team_id": team_id,
                "owner_user_id": user_id,
                "service_account_id": sa_id,
                "model_requested": model,
                "model_served": model,
                "deployment": DEPLOYMENTS[model],
                "input_tokens": input_tokens,
                "output_tokens": output_tokens,
                "cached_input_tokens": cached if cost else 0,
                "cost_usd": cost,
                "latency_ms": self.rng.uniform(300, 9000),
                "upstream_latency_ms": self.rng.uniform(250, 8500),
                "upstream_attempts": 1 if status != 503 else 3,
                "error_type": {200: None, 429: "rate_limited", 503: "upstream_unavailable"}[status],
                "session_id": session_id,
                "client": client,
                "tool_calls": tool_calls,
                "cache": cache,
                "saved_input_tokens": input_tokens if saved_usd else 0,
                "saved_output_tokens": output_tokens if saved_usd else 0,
                "saved_usd": saved_usd,
                "message_count": messages,
                "last_turn_tool_result": tool_result,
                "tools_offered": tools_offered,
                "tags": json.dumps(tags) if tags else None,
            }
        )
        return request_id

    def after_answer(self, at: datetime) -> datetime:
        """When the last request's answer was complete: its start plus its latency."""
        return at + timedelta(milliseconds=self.requests[-1]["latency_ms"])

    def price(self, model: str, input_tokens: int, output_tokens: int, cached: int) -> Decimal:
        i, o, c = self.prices[model]
        return ((input_tokens - cached) * i + cached * c + output_tokens * o) / Decimal(1_000_000)

    def hook(self, key_id: str, session_id: str, at: datetime, name: str, *, tool=None,
             mode=None) -> None:  # fmt: skip
        team_id, user_id, sa_id = self.world.key_owner[key_id]
        self.hooks.append(
            {
                "key_id": key_id,
                "user_id": user_id,
                "service_account_id": sa_id,
                "team_id": team_id,
                "session_id": session_id,
                "hook_event_name": name,
                "tool_name": tool,
                "permission_mode": mode,
                "received_at": at,
            }  # fmt: skip
        )

    # -- sessions of each kind -----------------------------------------------------------

    def chat(self, key_id: str, start: datetime, prompts: int = 4) -> LabelledSession:
        """A person chatting: no session id, no tools, a minute or two between prompts."""
        s = LabelledSession(CHAT, key_id, None, start)
        at = start
        for n in range(prompts):
            status = 429 if self.rng.random() < 0.05 else 200
            cache = "hit-exact" if self.rng.random() < 0.15 else "miss"
            s.request_ids.append(
                self.request(
                    key_id,
                    at,
                    messages=2 * n + 1,
                    status=status,
                    cache=cache,
                    client="openai-python",
                    tags={"env": "chat"} if n == 0 else None,
                )  # fmt: skip
            )
            at = self.after_answer(at) + timedelta(seconds=self.rng.uniform(30, 150))  # reading
        self.world.sessions.append(s)
        return s

    def interactive(self, key_id: str, start: datetime, prompts: int = 3, loop: int = 4,
                    pr: str | None = None) -> LabelledSession:  # fmt: skip
        """Claude Code with a developer approving each tool: a person in every loop."""
        sid = str(uuid.UUID(int=self.rng.getrandbits(128)))
        s = LabelledSession(AGENTIC, key_id, sid, start)
        at = start
        tags = {"pr": pr, "repo": pr.split("#")[0]} if pr else None
        self.hook(key_id, sid, at, "SessionStart", mode="default")
        messages = 1
        for _ in range(prompts):
            at += timedelta(seconds=self.rng.uniform(20, 90))  # the developer reads and types
            self.hook(key_id, sid, at, "UserPromptSubmit", mode="default")
            s.request_ids.append(
                self.request(
                    key_id,
                    at,
                    session_id=sid,
                    tools_offered=18,
                    tool_calls=1,
                    messages=messages,
                    tags=tags,
                )  # fmt: skip
            )
            for step in range(loop):
                at = self.after_answer(at)
                self.hook(key_id, sid, at, "PreToolUse", tool="Edit", mode="default")
                at += timedelta(seconds=self.rng.uniform(6, 40))  # a person reads, approves
                self.hook(key_id, sid, at, "PostToolUse", tool="Edit", mode="default")
                messages += 2
                s.request_ids.append(
                    self.request(
                        key_id,
                        at,
                        session_id=sid,
                        tool_result=True,
                        tools_offered=18,
                        tool_calls=0 if step == loop - 1 else 1,
                        messages=messages,
                        tags=tags,
                    )  # fmt: skip
                )
            self.hook(key_id, sid, at + timedelta(seconds=3), "Stop", mode="default")
        self.hook(key_id, sid, at + timedelta(seconds=5), "SessionEnd", mode="default")
        self.world.sessions.append(s)
        return s

    def headless(self, key_id: str, start: datetime, loop: int = 10,
                 hooks: bool = True) -> LabelledSession:  # fmt: skip
        """`claude -p` or CI: one prompt, a fast tool loop, permissions bypassed."""
        sid = str(uuid.UUID(int=self.rng.getrandbits(128)))
        s = LabelledSession(AUTONOMOUS, key_id, sid, start)
        at = start
        mode = "bypassPermissions"
        if hooks:
            self.hook(key_id, sid, at, "SessionStart", mode=mode)
            self.hook(key_id, sid, at, "UserPromptSubmit", mode=mode)
        tags = {"env": "ci", "job": "nightly-refactor"}
        s.request_ids.append(
            self.request(key_id, at, session_id=sid, tools_offered=12, tool_calls=2, tags=tags)
        )
        messages = 1
        for step in range(loop):
            at = self.after_answer(at) + timedelta(
                seconds=self.rng.uniform(0.2, 4)
            )  # the tool runs
            if hooks:
                self.hook(key_id, sid, at, "PreToolUse", tool="Bash", mode=mode)
                self.hook(key_id, sid, at, "PostToolUse", tool="Bash", mode=mode)
            messages += 2
            s.request_ids.append(
                self.request(
                    key_id,
                    at,
                    session_id=sid,
                    tool_result=True,
                    tools_offered=12,
                    tool_calls=0 if step == loop - 1 else 2,
                    messages=messages,
                    tags=tags,
                )  # fmt: skip
            )
        if hooks:
            self.hook(key_id, sid, at + timedelta(seconds=1), "SessionEnd", mode=mode)
        self.world.sessions.append(s)
        return s

    # -- the whole log -------------------------------------------------------------------

    def generate(self, days: int = 20, now: datetime | None = None) -> None:
        """Each developer's habits spread over the last `days` UTC days, plus a nightly
        CI job on the service account's key."""
        now = now or datetime.now(UTC)
        first = (now - timedelta(days=days)).replace(hour=0, minute=0, second=0, microsecond=0)
        for persona, habits in HABITS.items():
            key_id = self.world.keys[f"{persona}-key"]
            kinds = [kind for kind, count in habits.items() for _ in range(count)]
            self.rng.shuffle(kinds)
            # sessions in time order, hours apart, never overlapping
            step = (now - first - timedelta(hours=2)) / len(kinds)
            for n, kind in enumerate(kinds):
                start = first + step * n + timedelta(minutes=self.rng.uniform(0, 30))
                if kind == CHAT:
                    self.chat(key_id, start)
                elif kind == AGENTIC:
                    self.interactive(key_id, start, pr=f"acme/{persona}#{n}")
                else:
                    self.headless(key_id, start)
        bot = self.world.keys["ci-bot-key"]
        for day in range(0, days, 3):
            self.headless(bot, first + timedelta(days=day, hours=2), hooks=False)

    def write(self) -> None:
        with psycopg.connect(self.admin_url) as conn, conn.transaction():
            self._insert(conn, "events.requests", self.requests)
            self._insert(conn, "events.hooks", self.hooks)
            # the cache's own counters, as the gateway would have flushed them
            conn.execute(
                """
                insert into cache.team_daily_stats (team_id, day, exact_hits, semantic_hits,
                                                    misses, bypasses, saved_usd)
                select team_id, (started_at at time zone 'UTC')::date,
                       count(*) filter (where cache = 'hit-exact'),
                       count(*) filter (where cache = 'hit-semantic'),
                       count(*) filter (where cache = 'miss'),
                       count(*) filter (where cache = 'bypass'), sum(saved_usd)
                  from events.requests where cache is not null group by 1, 2
                on conflict (team_id, day) do update set
                    exact_hits = excluded.exact_hits, semantic_hits = excluded.semantic_hits,
                    misses = excluded.misses, bypasses = excluded.bypasses,
                    saved_usd = excluded.saved_usd
                """
            )
        self.requests, self.hooks = [], []

    @staticmethod
    def _insert(conn: psycopg.Connection, table: str, rows: list[dict]) -> None:
        if not rows:
            return
        columns = list(rows[0])
        with conn.cursor().copy(f"copy {table} ({', '.join(columns)}) from stdin") as copy:
            for row in rows:
                copy.write_row([row[c] for c in columns])
