-- What a hostile review of the engine of 0004 found, fixed; and its hot path
-- without tuple locks.
--
-- Locks. A submission held the rows of its app and context with FOR SHARE
-- and FOR KEY SHARE, which writes to those rows (and makes a MultiXact of
-- every pair of concurrent submitters), so that every job of one app or
-- context contended for one row. Advisory locks do the same in memory:
-- deleting an app (class 1) or a context (class 2) takes one exclusive,
-- waiting for the submissions in flight, which hold it shared, and is waited
-- for by those that come after, which then find the app or context gone.
-- Queue lengths are checked under class 3. Class 4 is a server's: its
-- submissions and claims hold it shared, and reaping it takes it exclusive,
-- so that a server taken for dead records nothing more (it has no row any
-- more) until it joins again.
--
-- Ends are idempotent: an end tried again because its answer was lost finds
-- its own earlier end (ended_by, ended_at) and the job its slot was handed to
-- (handed_to), rather than taking itself for fenced out and leaving that job
-- RUNNING with nobody to run it.

ALTER TABLE jobs
    -- The server that recorded the end: the one that ran it, or its reaper.
    ADD COLUMN ended_by  UUID,
    -- The waiting job this one's slot was handed to when it ended.
    ADD COLUMN handed_to UUID;

CREATE OR REPLACE FUNCTION jobserver_submit(
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
    -- A server taken for dead records nothing more until it joins again.
    PERFORM pg_advisory_xact_lock_shared(4, hashtext(p_server::TEXT));
    PERFORM 1 FROM servers WHERE id = p_server;
    IF NOT FOUND THEN
        outcome := 'no-lease';
        RETURN;
    END IF;
    PERFORM pg_advisory_xact_lock_shared(1, hashtext(p_app));
    PERFORM 1 FROM apps WHERE name = p_app;
    IF NOT FOUND THEN
        outcome := 'no-app';
        RETURN;
    END IF;
    IF NOT p_adhoc THEN
        PERFORM pg_advisory_xact_lock_shared(2, hashtext(p_context));
        PERFORM 1 FROM contexts WHERE name = p_context AND created_at = p_context_created;
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
    PERFORM pg_advisory_xact_lock(3, hashtext(p_queue));
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

CREATE OR REPLACE FUNCTION jobserver_end(
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
                    error_message = p_error_message, ended_by = p_server,
                    progress = CASE WHEN p_set_progress THEN p_progress ELSE progress END,
                    progress_message = CASE WHEN p_set_progress THEN p_progress_message ELSE progress_message END
     WHERE id = p_id AND status = 'RUNNING' AND server_id = p_server
    RETURNING queue, kill_reason, submitted_by INTO v_queue, v_kill_reason, v_submitted_by;
    ended := FOUND;
    IF NOT ended THEN
        -- This very end, tried again because its answer was lost: the same
        -- answer, with the job its slot went to.
        SELECT true, handed_to INTO ended, next_job FROM jobs
         WHERE id = p_id AND ended_by = p_server AND ended_at = p_ended_at;
        ended := coalesce(ended, false);
        RETURN;
    END IF;
    IF v_queue = ':adhoc' THEN
        DELETE FROM named_objects WHERE context = 'adhoc:' || p_id::TEXT;
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
            UPDATE jobs SET handed_to = next_job WHERE id = p_id;
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

CREATE OR REPLACE FUNCTION jobserver_reap(p_reaper UUID, p_all BOOLEAN, p_grace_ms BIGINT)
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
        -- Waits for that server's submissions and claims in flight; after
        -- this, it records nothing more (its row is gone).
        PERFORM pg_advisory_xact_lock(4, hashtext(v_server.id::TEXT));
        FOR v_job IN
            UPDATE jobs SET status = 'ERROR', ended_at = now(), error_class = 'ServerStopped', ended_by = p_reaper,
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

CREATE OR REPLACE FUNCTION jobserver_claim(p_server UUID, p_server_name TEXT, p_max INT)
RETURNS SETOF UUID LANGUAGE plpgsql AS $$
DECLARE
    v_queue TEXT;
    v_job UUID;
    v_claimed INT := 0;
BEGIN
    PERFORM pg_advisory_xact_lock_shared(4, hashtext(p_server::TEXT));
    IF NOT EXISTS (SELECT 1 FROM servers WHERE id = p_server) THEN
        RETURN;
    END IF;
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
