"""The tasks table, one migration per schema version, for each database.

Each entry moves the schema one version forward (SQLite records how far in ``PRAGMA
user_version``, PostgreSQL in ``seedance_schema``). Statements are split at ``;``. Timestamps are
seconds since the epoch (REAL in SQLite, DOUBLE PRECISION in PostgreSQL: float4 would lose
seconds). ``user`` is quoted everywhere: PostgreSQL reserves the word.
"""

from __future__ import annotations

_V1 = """
CREATE TABLE tasks (
    id TEXT PRIMARY KEY,
    "user" TEXT NOT NULL,
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    request TEXT NOT NULL,
    status TEXT NOT NULL,
    remote_id TEXT,
    video_url TEXT,
    video_path TEXT,
    last_frame_url TEXT,
    last_frame_path TEXT,
    cost_unit TEXT NOT NULL DEFAULT 'tokens',
    cost_estimated REAL,
    cost_actual REAL,
    error_code TEXT,
    error_message TEXT,
    progress REAL,
    target TEXT,
    request_key TEXT,
    callback_token TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    submit_started_at REAL,
    submitted_at REAL,
    done_at REAL,
    finished_at REAL,
    delivered_at REAL,
    lease_owner TEXT,
    lease_until REAL
);
CREATE INDEX tasks_user_created ON tasks ("user", created_at DESC);
CREATE INDEX tasks_unfinished ON tasks (status) WHERE finished_at IS NULL;
CREATE INDEX tasks_undelivered ON tasks (target) WHERE delivered_at IS NULL AND target IS NOT NULL;
CREATE INDEX tasks_history ON tasks (provider, model, done_at) WHERE done_at IS NOT NULL;
CREATE UNIQUE INDEX tasks_request_key ON tasks ("user", request_key) WHERE request_key IS NOT NULL;
CREATE UNIQUE INDEX tasks_remote ON tasks (provider, remote_id) WHERE remote_id IS NOT NULL
"""

# The durable schedule: every unfinished task carries its next check; leases belong to a process
# instance and expire; only true run times are learned; money in US dollars beside the unit.
_V2_COLUMNS = (
    "next_check_at {real}",
    "last_checked_at {real}",
    "check_gap {real}",
    "polls INTEGER NOT NULL DEFAULT 0",
    "poll_errors INTEGER NOT NULL DEFAULT 0",
    "run_seconds {real}",
    "submit_alive_at {real}",
    "usd_estimated {real}",
    "usd_actual {real}",
    "last_callback_at {real}",
    "scope TEXT",
)
_V2_INDEXES = """
CREATE INDEX tasks_user_status ON tasks ("user", status, created_at DESC, id DESC);
CREATE INDEX tasks_due ON tasks (next_check_at) WHERE finished_at IS NULL;
CREATE INDEX tasks_leased ON tasks (lease_owner) WHERE lease_owner IS NOT NULL;
CREATE INDEX tasks_learned ON tasks (provider, model, done_at) WHERE run_seconds IS NOT NULL;
CREATE INDEX tasks_user_day ON tasks ("user", created_at, cost_unit);
DROP INDEX IF EXISTS tasks_user_created;
DROP INDEX IF EXISTS tasks_history;
UPDATE tasks SET next_check_at = updated_at WHERE finished_at IS NULL;
UPDATE tasks SET lease_owner = NULL, lease_until = NULL;
UPDATE tasks SET remote_id = substr(remote_id, 4) WHERE provider = 'seedanceapi' AND remote_id LIKE 'v2:%'
"""


def _v2(real: str) -> str:
    adds = ";\n".join(f"ALTER TABLE tasks ADD COLUMN {column.format(real=real)}" for column in _V2_COLUMNS)
    return f"{adds};\n{_V2_INDEXES}"


# Our own queue (``waiting`` rows, sent when a slot frees; ``after_task_id`` for a story's next shot),
# stories made of shots, and per-community settings (a Discord server's limits), all enforced by the core.
_V3 = """
ALTER TABLE tasks ADD COLUMN after_task_id TEXT;
ALTER TABLE tasks ADD COLUMN story_id TEXT;
ALTER TABLE tasks ADD COLUMN shot_index INTEGER;
ALTER TABLE tasks ADD COLUMN max_running INTEGER;
CREATE INDEX tasks_waiting ON tasks (created_at) WHERE status = 'waiting';
CREATE INDEX tasks_scope_active ON tasks (scope, status) WHERE finished_at IS NULL;
CREATE INDEX tasks_story ON tasks (story_id, shot_index) WHERE story_id IS NOT NULL;
CREATE TABLE stories (
    id TEXT PRIMARY KEY,
    "user" TEXT NOT NULL,
    scope TEXT,
    target TEXT,
    request TEXT NOT NULL,
    shots INTEGER NOT NULL,
    video_path TEXT,
    error_code TEXT,
    error_message TEXT,
    created_at {real} NOT NULL,
    updated_at {real} NOT NULL,
    finished_at {real},
    delivered_at {real},
    lease_owner TEXT,
    lease_until {real}
);
CREATE INDEX stories_user ON stories ("user", created_at DESC);
CREATE INDEX stories_unfinished ON stories (created_at) WHERE finished_at IS NULL;
CREATE TABLE community_settings (
    scope TEXT PRIMARY KEY,
    settings TEXT NOT NULL,
    updated_at {real} NOT NULL,
    updated_by TEXT
)
"""

# The processes whose schedulers share the providers' request budgets, by their last heartbeat.
_V4 = """
CREATE TABLE schedulers (
    instance TEXT PRIMARY KEY,
    seen_at {real} NOT NULL
)
"""

SQLITE_MIGRATIONS: tuple[str, ...] = (_V1, _v2("REAL"), _V3.format(real="REAL"), _V4.format(real="REAL"))

POSTGRES_MIGRATIONS: tuple[str, ...] = (
    _V1.replace(" REAL", " DOUBLE PRECISION"),
    _v2("DOUBLE PRECISION"),
    _V3.format(real="DOUBLE PRECISION"),
    _V4.format(real="DOUBLE PRECISION"),
)
