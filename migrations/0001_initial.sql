-- The system of record: artifacts, contexts, jobs, their logs and the named
-- objects of contexts. Statuses are Spark Job Server's, kept as text with a
-- check so that clients and psql read them as they are.

-- Artifact content, stored once per distinct content (sha-256, hex).
CREATE TABLE blobs (
    hash       TEXT PRIMARY KEY,
    content    BYTEA NOT NULL,
    size       BIGINT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- An application name (`appName`); its uploads are app_versions.
CREATE TABLE apps (
    name       TEXT PRIMARY KEY,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE app_versions (
    app_name    TEXT NOT NULL REFERENCES apps (name) ON DELETE CASCADE,
    version     INT NOT NULL CHECK (version > 0),
    blob_hash   TEXT NOT NULL REFERENCES blobs (hash),
    binary_type TEXT NOT NULL,
    -- [{"name": ..., "description": ...}], as the component reported at upload.
    entries     JSONB NOT NULL,
    uploaded_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (app_name, version)
);
CREATE INDEX app_versions_blob ON app_versions (blob_hash);

CREATE TABLE contexts (
    name            TEXT PRIMARY KEY,
    num_cpu_cores   INT NOT NULL CHECK (num_cpu_cores > 0),
    memory_per_node BIGINT NOT NULL CHECK (memory_per_node > 0),
    job_timeout_ms  BIGINT NOT NULL CHECK (job_timeout_ms > 0),
    max_queued_jobs INT NOT NULL CHECK (max_queued_jobs >= 0),
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE jobs (
    id               UUID PRIMARY KEY,
    app_name         TEXT NOT NULL,
    app_version      INT NOT NULL,
    blob_hash        TEXT NOT NULL,
    class_path       TEXT NOT NULL,
    context          TEXT NOT NULL,
    -- Ad-hoc contexts live and die with their one job; persistent ones are rows of contexts.
    adhoc            BOOLEAN NOT NULL,
    -- json, not jsonb: the config and result come back with their keys in the order they were given.
    config           JSON NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('STARTED', 'RUNNING', 'FINISHED', 'ERROR', 'KILLED')),
    submitted_at     TIMESTAMPTZ NOT NULL,
    started_at       TIMESTAMPTZ,
    ended_at         TIMESTAMPTZ,
    result           JSON,
    error_class      TEXT,
    error_message    TEXT,
    progress         REAL,
    progress_message TEXT,
    timeout_ms       BIGINT NOT NULL,
    memory_limit     BIGINT NOT NULL
);
CREATE INDEX jobs_newest ON jobs (submitted_at DESC);
CREATE INDEX jobs_status_newest ON jobs (status, submitted_at DESC);
CREATE INDEX jobs_active_by_app ON jobs (app_name) WHERE status IN ('STARTED', 'RUNNING');
CREATE INDEX jobs_ended ON jobs (ended_at) WHERE ended_at IS NOT NULL;

CREATE TABLE job_logs (
    job_id    UUID NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    seq       INT NOT NULL,
    logged_at TIMESTAMPTZ NOT NULL,
    level     TEXT NOT NULL,
    message   TEXT NOT NULL,
    PRIMARY KEY (job_id, seq)
);

-- Keyed by context name rather than a foreign key: ad-hoc contexts have objects
-- too (for the life of their job) but no row in contexts.
CREATE TABLE named_objects (
    context    TEXT NOT NULL,
    name       TEXT NOT NULL,
    value      BYTEA NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (context, name)
);
