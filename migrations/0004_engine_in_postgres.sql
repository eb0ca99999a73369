-- The engine moves into Postgres, so that several servers on one database act
-- as one: each live server holds a lease (a row of servers, renewed by its
-- heartbeat); a context's slots are rows, claimed with FOR UPDATE SKIP LOCKED;
-- a job is claimed by the server that runs it. The functions below are the
-- engine's transitions, each one statement from the server and one commit.
-- Notifications (jobserver_queued, jobserver_kill, jobserver_ended,
-- jobserver_contexts) only speed things up: servers also poll, so a lost one
-- delays and never loses.

CREATE TABLE servers (
    id           UUID PRIMARY KEY,
    name         TEXT NOT NULL,
    address      TEXT NOT NULL,
    started_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    heartbeat_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    lease_ms     BIGINT NOT NULL CHECK (lease_ms > 0),
    -- The database's clock, not the servers': their clocks may disagree.
    expires_at   TIMESTAMPTZ NOT NULL
);

ALTER TABLE jobs
    -- Submission order, whichever server's clock stamped submitted_at.
    ADD COLUMN seq          BIGINT GENERATED ALWAYS AS IDENTITY,
    -- Whose queue the job waits in: its context, or ':adhoc' (no persistent
    -- context name has a ':') for the queue all ad-hoc jobs share.
    ADD COLUMN queue        TEXT,
    -- The server that runs or ran the job; its name stays when the server goes.
    ADD COLUMN server_id    UUID,
    ADD COLUMN server_name  TEXT,
    ADD COLUMN submitted_by UUID,
    -- Set by a kill from any server; the server running the job stops it.
    ADD COLUMN kill_reason  TEXT;
UPDATE jobs SET queue = CASE WHEN adhoc THEN ':adhoc' ELSE context END;
ALTER TABLE jobs ALTER COLUMN queue SET NOT NULL;
-- Jobs that a server of an earlier version was running: it has stopped (it
-- cannot run beside this one), and nothing else would ever end them.
UPDATE jobs SET status = 'ERROR', ended_at = now(), error_class = 'ServerStopped',
       error_message = 'the server stopped while the job was running'
 WHERE status = 'RUNNING';
CREATE INDEX jobs_queued ON jobs (queue, seq) WHERE status = 'STARTED';
CREATE INDEX jobs_running_on ON jobs (server_id) WHERE status = 'RUNNING';
CREATE INDEX jobs_active_in_context ON jobs (context) WHERE status IN ('STARTED', 'RUNNING');

-- The slots of a pool: a persistent context's (pool = its name, one row per
-- core) or a server's own ad-hoc slots (pool = 'adhoc:' and the server's id).
CREATE TABLE slots (
    pool   TEXT NOT NULL,
    slot   INT NOT NULL,
    job_id UUID,
    PRIMARY KEY (pool, slot)
);
CREATE UNIQUE INDEX slots_job ON slots (job_id) WHERE job_id IS NOT NULL;
INSERT INTO slots (pool, slot)
SELECT name, n FROM contexts, generate_series(0, num_cpu_cores - 1) AS n;

-- Takes a free slot of the pool and the oldest waiting job of the queue, for
-- the server p_server; NULL when either is missing. Both are locked with
-- SKIP LOCKED, so concurrent claimers take different slots and jobs.
CREATE FUNCTION jobserver_claim_one(p_queue TEXT, p_pool TEXT, p_server UUID, p_server_name TEXT)
RETURNS UUID LANGUAGE plpgsql AS $$
DECLARE
    v_slot INT;
    v_job UUID;
BEGIN
    SELECT slot INTO v_slot FROM slots
     WHERE pool = p_pool AND job_id IS NULL
     ORDER BY slot LIMIT 1 FOR UPDATE SKIP LOCKED;
    IF v_slot IS NULL THEN
        RETURN NULL;
    END IF;
    SELECT id INTO v_job FROM jobs
     WHERE queue = p_queue AND status = 'STARTED'
     ORDER BY seq LIMIT 1 FOR UPDATE SKIP LOCKED;
    IF v_job IS NULL THEN
        RETURN NULL;
    END IF;
    UPDATE slots SET job_id = v_job WHERE pool = p_pool AND slot = v_slot;
    UPDATE jobs SET status = 'RUNNING', started_at = now(), server_id = p_server, server_name = p_server_name
     WHERE id = v_job;
    RETURN v_job;
END $$;

-- Records a new job: RUNNING on p_server when its pool has a free slot and
-- nobody waits ahead of it, STARTED (queued) when the queue has room, and not
-- at all otherwise. The outcome is 'running', 'queued', 'full', 'no-app' or
-- 'no-context'. The app row is share-locked and the context row key-share
-- locked, which is what makes deleting either sound.
CREATE FUNCTION jobserver_submit(
    p_id UUID, p_app TEXT, p_version INT, p_blob TEXT, p_class TEXT, p_context TEXT, p_adhoc BOOLEAN,
    p_config JSON, p_submitted_at TIMESTAMPTZ, p_timeout_ms BIGINT, p_memory BIGINT,
    p_queue TEXT, p_pool TEXT, p_context_created TIMESTAMPTZ, p_max_queued INT,
    p_server UUID, p_server_name TEXT,
    OUT outcome TEXT, OUT running INT, OUT queued INT)
LANGUAGE plpgsql AS $$
DECLARE
    v_slot INT;
BEGIN
    running := 0;
    queued := 0;
    PERFORM 1 FROM apps WHERE name = p_app FOR SHARE;
    IF NOT FOUND THEN
        outcome := 'no-app';
        RETURN;
    END IF;
    IF NOT p_adhoc THEN
        PERFORM 1 FROM contexts WHERE name = p_context AND created_at = p_context_created FOR KEY SHARE;
        IF NOT FOUND THEN
            outcome := 'no-context';
            RETURN;
        END IF;
    END IF;
    -- Waiting jobs go first: a slot that is free while others wait is theirs.
    IF NOT EXISTS (SELECT 1 FROM jobs WHERE queue = p_queue AND status = 'STARTED') THEN
        SELECT slot INTO v_slot FROM slots
         WHERE pool = p_pool AND job_id IS NULL
         ORDER BY slot LIMIT 1 FOR UPDATE SKIP LOCKED;
    END IF;
    IF v_slot IS NOT NULL THEN
        UPDATE slots SET job_id = p_id WHERE pool = p_pool AND slot = v_slot;
        INSERT INTO jobs (id, app_name, app_version, blob_hash, class_path, context, adhoc, config, status,
                          submitted_at, started_at, timeout_ms, memory_limit, queue, server_id, server_name,
                          submitted_by)
        VALUES (p_id, p_app, p_version, p_blob, p_class, p_context, p_adhoc, p_config, 'RUNNING',
                p_submitted_at, p_submitted_at, p_timeout_ms, p_memory, p_queue, p_server, p_server_name,
                p_server);
        outcome := 'running';
        RETURN;
    END IF;
    -- The queue's length is checked and extended by one submitter at a time.
    PERFORM pg_advisory_xact_lock(hashtext('jobserver queue ' || p_queue));
    SELECT count(*) INTO queued FROM jobs WHERE queue = p_queue AND status = 'STARTED';
    IF queued >= p_max_queued THEN
        SELECT count(*) INTO running FROM slots WHERE pool = p_pool AND job_id IS NOT NULL;
        outcome := 'full';
        RETURN;
    END IF;
    INSERT INTO jobs (id, app_name, app_version, blob_hash, class_path, context, adhoc, config, status,
                      submitted_at, timeout_ms, memory_limit, queue, submitted_by)
    VALUES (p_id, p_app, p_version, p_blob, p_class, p_context, p_adhoc, p_config, 'STARTED',
            p_submitted_at, p_timeout_ms, p_memory, p_queue, p_server);
    PERFORM pg_notify('jobserver_queued', p_queue);
    outcome := 'queued';
END $$;

-- Records the end of a job that p_server runs, with its last log lines and
-- progress, and frees its slot: handed to the oldest job waiting in its queue
-- (claimed for p_server, whose id comes back) when p_hand_over, else left free
-- for any server. Nothing happens when the job is not p_server's to end any
-- more (another server took it for dead): ended is then false.
CREATE FUNCTION jobserver_end(
    p_id UUID, p_server UUID, p_server_name TEXT, p_status TEXT, p_ended_at TIMESTAMPTZ, p_result JSON,
    p_error_class TEXT, p_error_message TEXT, p_set_progress BOOLEAN, p_progress REAL, p_progress_message TEXT,
    p_first_seq INT, p_log_times TIMESTAMPTZ[], p_log_levels TEXT[], p_log_messages TEXT[], p_hand_over BOOLEAN,
    OUT ended BOOLEAN, OUT next_job UUID)
LANGUAGE plpgsql AS $$
DECLARE
    v_queue TEXT;
    v_kill_reason TEXT;
    v_submitted_by UUID;
    v_pool TEXT;
    v_slot INT;
BEGIN
    UPDATE jobs SET status = p_status, ended_at = p_ended_at, result = p_result, error_class = p_error_class,
                    error_message = p_error_message,
                    progress = CASE WHEN p_set_progress THEN p_progress ELSE progress END,
                    progress_message = CASE WHEN p_set_progress THEN p_progress_message ELSE progress_message END
     WHERE id = p_id AND status = 'RUNNING' AND server_id = p_server
    RETURNING queue, kill_reason, submitted_by INTO v_queue, v_kill_reason, v_submitted_by;
    ended := FOUND;
    IF NOT ended THEN
        RETURN;
    END IF;
    IF cardinality(p_log_messages) > 0 THEN
        INSERT INTO job_logs (job_id, seq, logged_at, level, message)
        SELECT p_id, p_first_seq + ordinality::INT - 1, logged_at, level, message
          FROM UNNEST(p_log_times, p_log_levels, p_log_messages) WITH ORDINALITY AS l (logged_at, level, message);
    END IF;
    SELECT pool, slot INTO v_pool, v_slot FROM slots WHERE job_id = p_id FOR UPDATE;
    IF v_pool IS NOT NULL THEN
        IF p_hand_over THEN
            SELECT id INTO next_job FROM jobs
             WHERE queue = v_queue AND status = 'STARTED'
             ORDER BY seq LIMIT 1 FOR UPDATE SKIP LOCKED;
        END IF;
        UPDATE slots SET job_id = next_job WHERE pool = v_pool AND slot = v_slot;
        IF next_job IS NOT NULL THEN
            UPDATE jobs SET status = 'RUNNING', started_at = now(), server_id = p_server, server_name = p_server_name
             WHERE id = next_job;
        ELSIF EXISTS (SELECT 1 FROM jobs WHERE queue = v_queue AND status = 'STARTED') THEN
            PERFORM pg_notify('jobserver_queued', v_queue);
        END IF;
    END IF;
    -- Someone on another server may be waiting for this end: its submitter, or
    -- whoever killed it.
    IF v_kill_reason IS NOT NULL OR v_submitted_by IS DISTINCT FROM p_server THEN
        PERFORM pg_notify('jobserver_ended', p_id::TEXT);
    END IF;
END $$;

-- Kills a job from any server: a waiting one ends KILLED here ('killed'); a
-- running one is marked and its server told ('running', with that server);
-- otherwise the job had ended ('ended', with its status) or never existed
-- ('missing').
CREATE FUNCTION jobserver_kill(p_id UUID, p_reason TEXT, OUT outcome TEXT, OUT detail TEXT)
LANGUAGE plpgsql AS $$
DECLARE
    v_server UUID;
BEGIN
    UPDATE jobs SET status = 'KILLED', ended_at = now(), error_class = 'Killed', error_message = p_reason,
                    kill_reason = p_reason
     WHERE id = p_id AND status = 'STARTED';
    IF FOUND THEN
        outcome := 'killed';
        PERFORM pg_notify('jobserver_ended', p_id::TEXT);
        RETURN;
    END IF;
    UPDATE jobs SET kill_reason = coalesce(kill_reason, p_reason)
     WHERE id = p_id AND status = 'RUNNING'
    RETURNING server_id INTO v_server;
    IF FOUND THEN
        outcome := 'running';
        detail := v_server::TEXT;
        PERFORM pg_notify('jobserver_kill', v_server::TEXT);
        RETURN;
    END IF;
    SELECT status INTO detail FROM jobs WHERE id = p_id;
    outcome := CASE WHEN FOUND THEN 'ended' ELSE 'missing' END;
END $$;

-- Ends what servers whose leases expired left behind: their running jobs end
-- ERROR ServerStopped, their slots are freed and their rows go. Returns the
-- names of the servers reaped. p_all reaps every other server whatever its
-- lease (local mode, where no other server can be running). p_grace_ms spares
-- leases that expired less than that long ago: a reaper that has just reached
-- the database again (after an outage that let every lease expire) gives the
-- others that long to renew theirs.
CREATE FUNCTION jobserver_reap(p_reaper UUID, p_all BOOLEAN, p_grace_ms BIGINT)
RETURNS SETOF TEXT LANGUAGE plpgsql AS $$
DECLARE
    v_server RECORD;
    v_job UUID;
    v_reaped BOOLEAN := false;
BEGIN
    FOR v_server IN
        SELECT id, name FROM servers
         WHERE id <> p_reaper AND (p_all OR expires_at < now() - p_grace_ms * interval '1 millisecond')
         FOR UPDATE SKIP LOCKED
    LOOP
        FOR v_job IN
            UPDATE jobs SET status = 'ERROR', ended_at = now(), error_class = 'ServerStopped',
                   error_message = format('server %s stopped while the job was running (its lease expired)',
                                          v_server.name)
             WHERE server_id = v_server.id AND status = 'RUNNING'
            RETURNING id
        LOOP
            UPDATE slots SET job_id = NULL WHERE job_id = v_job;
            DELETE FROM named_objects WHERE context = 'adhoc:' || v_job::TEXT;
            PERFORM pg_notify('jobserver_ended', v_job::TEXT);
        END LOOP;
        DELETE FROM slots WHERE pool = 'adhoc:' || v_server.id::TEXT;
        DELETE FROM servers WHERE id = v_server.id;
        v_reaped := true;
        RETURN NEXT v_server.name;
    END LOOP;
    -- Their slots are free, and their ad-hoc queue is anyone's.
    IF v_reaped THEN
        PERFORM pg_notify('jobserver_queued', '');
    END IF;
END $$;

-- Claims for p_server up to p_max waiting jobs that have a free slot: in its
-- context's slots, or in p_server's own ad-hoc slots for ad-hoc jobs.
CREATE FUNCTION jobserver_claim(p_server UUID, p_server_name TEXT, p_max INT)
RETURNS SETOF UUID LANGUAGE plpgsql AS $$
DECLARE
    v_queue TEXT;
    v_job UUID;
    v_claimed INT := 0;
BEGIN
    FOR v_queue IN SELECT DISTINCT queue FROM jobs WHERE status = 'STARTED' LOOP
        LOOP
            EXIT WHEN v_claimed >= p_max;
            v_job := jobserver_claim_one(
                v_queue,
                CASE WHEN v_queue = ':adhoc' THEN 'adhoc:' || p_server::TEXT ELSE v_queue END,
                p_server, p_server_name);
            EXIT WHEN v_job IS NULL;
            v_claimed := v_claimed + 1;
            RETURN NEXT v_job;
        END LOOP;
    END LOOP;
END $$;
