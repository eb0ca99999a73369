-- A sync job that gets a slot at once and ends within moments is written
-- once, as it ended. Until then its server holds the slot by the row's lock
-- alone, in a transaction it keeps open while the job runs: other
-- submitters skip a locked slot as they skip a taken one, and nothing is
-- written that would be rewritten a millisecond later (a RUNNING row and
-- its entries in the partial indexes, the slot's job_id set and cleared).
-- Each of those writes made a dead tuple and dead index entries per job.
--
-- jobserver_take_slot makes jobserver_submit's checks and takes the lock;
-- then, in the same transaction, jobserver_record_ended writes the job as it
-- ended, or jobserver_record_running writes it RUNNING in that slot (the job
-- outlived the window) and the job goes on as any other, to jobserver_end.
-- The locks taken by the checks are held to the commit, as in
-- jobserver_submit: the app, the context and the server's lease cannot go
-- while the job runs unrecorded.

CREATE FUNCTION jobserver_take_slot(
    p_app TEXT, p_version INT, p_latest BOOLEAN, p_context TEXT, p_adhoc BOOLEAN,
    p_context_created TIMESTAMPTZ, p_queue TEXT, p_pool TEXT, p_server UUID,
    OUT outcome TEXT, OUT slot INT)
LANGUAGE plpgsql AS $$
DECLARE
    v_newest INT;
BEGIN
    PERFORM pg_advisory_xact_lock_shared(4, hashtext(p_server::TEXT));
    PERFORM 1 FROM servers WHERE id = p_server;
    IF NOT FOUND THEN
        outcome := 'no-lease';
        RETURN;
    END IF;
    PERFORM pg_advisory_xact_lock_shared(1, hashtext(p_app));
    SELECT max(version) INTO v_newest FROM app_versions WHERE app_name = p_app;
    IF v_newest IS NULL THEN
        outcome := 'no-app';
        RETURN;
    END IF;
    IF (p_latest AND v_newest <> p_version)
       OR NOT EXISTS (SELECT 1 FROM app_versions WHERE app_name = p_app AND version = p_version) THEN
        outcome := 'stale-version';
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
    -- Waiting jobs go first, as in jobserver_submit.
    IF NOT EXISTS (SELECT 1 FROM jobs WHERE queue = p_queue AND status = 'STARTED') THEN
        SELECT s.slot INTO slot FROM slots s
         WHERE s.pool = p_pool AND s.job_id IS NULL
         ORDER BY s.slot LIMIT 1 FOR UPDATE SKIP LOCKED;
    END IF;
    outcome := CASE WHEN slot IS NULL THEN 'no-slot' ELSE 'slot' END;
END $$;

-- The job in the slot jobserver_take_slot locked, RUNNING on p_server: what
-- jobserver_submit records for a job that got a slot.
CREATE FUNCTION jobserver_record_running(
    p_id UUID, p_app TEXT, p_version INT, p_blob TEXT, p_class TEXT, p_context TEXT, p_adhoc BOOLEAN,
    p_config JSON, p_submitted_at TIMESTAMPTZ, p_timeout_ms BIGINT, p_memory BIGINT,
    p_queue TEXT, p_pool TEXT, p_slot INT, p_server UUID, p_server_name TEXT)
RETURNS VOID LANGUAGE plpgsql AS $$
BEGIN
    UPDATE slots SET job_id = p_id WHERE pool = p_pool AND slot = p_slot AND job_id IS NULL;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'slot % of % is not free', p_slot, p_pool;
    END IF;
    INSERT INTO jobs (id, app_name, app_version, blob_hash, class_path, context, adhoc, config, status,
                      submitted_at, started_at, timeout_ms, memory_limit, queue, server_id, server_name,
                      submitted_by)
    VALUES (p_id, p_app, p_version, p_blob, p_class, p_context, p_adhoc, p_config, 'RUNNING',
            p_submitted_at, p_submitted_at, p_timeout_ms, p_memory, p_queue, p_server, p_server_name,
            p_server);
END $$;

-- The job in the slot jobserver_take_slot locked, as it ended, with its logs;
-- the slot goes to the oldest waiting job when p_hand_over, as jobserver_end
-- does (jobs queued while it ran skipped the locked slot). Returns that job.
CREATE FUNCTION jobserver_record_ended(
    p_id UUID, p_app TEXT, p_version INT, p_blob TEXT, p_class TEXT, p_context TEXT, p_adhoc BOOLEAN,
    p_config JSON, p_submitted_at TIMESTAMPTZ, p_timeout_ms BIGINT, p_memory BIGINT,
    p_queue TEXT, p_pool TEXT, p_slot INT, p_server UUID, p_server_name TEXT,
    p_status TEXT, p_ended_at TIMESTAMPTZ, p_result JSON, p_error_class TEXT, p_error_message TEXT,
    p_progress REAL, p_progress_message TEXT,
    p_log_times TIMESTAMPTZ[], p_log_levels TEXT[], p_log_messages TEXT[], p_hand_over BOOLEAN,
    OUT next_job UUID)
LANGUAGE plpgsql AS $$
BEGIN
    IF p_hand_over THEN
        SELECT id INTO next_job FROM jobs
         WHERE queue = p_queue AND status = 'STARTED'
         ORDER BY seq LIMIT 1 FOR UPDATE SKIP LOCKED;
    END IF;
    INSERT INTO jobs (id, app_name, app_version, blob_hash, class_path, context, adhoc, config, status,
                      submitted_at, started_at, ended_at, result, error_class, error_message, progress,
                      progress_message, timeout_ms, memory_limit, queue, server_id, server_name,
                      submitted_by, ended_by, handed_to)
    VALUES (p_id, p_app, p_version, p_blob, p_class, p_context, p_adhoc, p_config, p_status,
            p_submitted_at, p_submitted_at, p_ended_at, p_result, p_error_class, p_error_message, p_progress,
            p_progress_message, p_timeout_ms, p_memory, p_queue, p_server, p_server_name,
            p_server, p_server, next_job);
    IF cardinality(p_log_messages) > 0 THEN
        INSERT INTO job_logs (job_id, seq, logged_at, level, message)
        SELECT p_id, ordinality::INT - 1, logged_at, level, message
          FROM UNNEST(p_log_times, p_log_levels, p_log_messages) WITH ORDINALITY AS l (logged_at, level, message);
    END IF;
    IF p_adhoc THEN
        DELETE FROM named_objects WHERE context = 'adhoc:' || p_id::TEXT;
    END IF;
    IF next_job IS NOT NULL THEN
        UPDATE slots SET job_id = next_job WHERE pool = p_pool AND slot = p_slot;
        UPDATE jobs SET status = 'RUNNING', started_at = now(), server_id = p_server, server_name = p_server_name
         WHERE id = next_job;
    ELSIF EXISTS (SELECT 1 FROM jobs WHERE queue = p_queue AND status = 'STARTED') THEN
        PERFORM pg_notify('jobserver_queued', p_queue);
    END IF;
END $$;
