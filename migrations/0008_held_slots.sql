-- A server holds slots for its sync jobs, across jobs, and their ends are
-- written many to a commit.
--
-- In 0007 a fast sync job held its slot by a row lock, in a transaction of
-- its own left open while it ran: four round trips and a commit per job,
-- and no two jobs' ends could share a commit. Here a server takes a free
-- slot for itself (held_by), and runs sync jobs in it one after another;
-- each job that ends within moments is written once, as it ended, in a
-- batch with the others that ended meanwhile. A held slot's job_id is a
-- token of the hold, the id of no job, so every function that looks for a
-- free slot (job_id IS NULL) passes it over unchanged.
--
-- A job on a held slot is checked before it runs as jobserver_submit
-- checks it (jobserver_check_held: the lease, the app version, the
-- context, nobody waiting ahead), but without the locks, which would have
-- to be held until its end; the check also finds whether the hold is still
-- there. What that allows, for the moments (20 ms at most) a fast job runs
-- unwritten: an app deleted meanwhile may get one more job recorded after
-- its deletion, and a context deleted meanwhile has the job written KILLED
-- (one that runs longer is stopped when it cannot be written RUNNING in its
-- slot). A server taken for dead records nothing: the reaper frees its
-- holds, and its writes, which take the server's advisory lock as
-- submissions do, find its lease gone.
--
-- A server gives its holds back when they have been idle a while, when
-- jobs wait for a slot (it hears jobserver_queued, and its checks see
-- them), and when it stops; a job that outlives the moment is written
-- RUNNING in its held slot, which becomes that job's as any other.

ALTER TABLE slots ADD COLUMN held_by UUID;
CREATE INDEX slots_held ON slots (held_by) WHERE held_by IS NOT NULL;

-- Takes a free slot of p_pool for p_server to hold, with jobserver_take_slot's
-- checks; the outcome is jobserver_take_slot's.
CREATE FUNCTION jobserver_hold_slot(
    p_app TEXT, p_version INT, p_latest BOOLEAN, p_context TEXT, p_adhoc BOOLEAN,
    p_context_created TIMESTAMPTZ, p_queue TEXT, p_pool TEXT, p_server UUID, p_hold UUID,
    OUT outcome TEXT, OUT slot INT)
LANGUAGE plpgsql AS $$
BEGIN
    SELECT t.outcome, t.slot INTO outcome, slot
      FROM jobserver_take_slot(p_app, p_version, p_latest, p_context, p_adhoc, p_context_created,
                               p_queue, p_pool, p_server) AS t;
    IF outcome = 'slot' THEN
        UPDATE slots s SET job_id = p_hold, held_by = p_server
         WHERE s.pool = p_pool AND s.slot = jobserver_hold_slot.slot;
    END IF;
END $$;

-- jobserver_take_slot's checks for a job about to run in a slot its server
-- already holds, reading only: 'ok', 'waiting' (jobs wait in its queue: the
-- slot is theirs), 'no-hold' (the hold is gone: its context was deleted, or
-- the server reaped, and the server missed hearing of it), or the refusals
-- of jobserver_submit.
CREATE FUNCTION jobserver_check_held(
    p_app TEXT, p_version INT, p_latest BOOLEAN, p_context TEXT, p_adhoc BOOLEAN,
    p_context_created TIMESTAMPTZ, p_queue TEXT, p_server UUID, p_pool TEXT, p_slot INT, p_hold UUID)
RETURNS TEXT LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_newest INT;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM servers WHERE id = p_server) THEN
        RETURN 'no-lease';
    END IF;
    SELECT max(version) INTO v_newest FROM app_versions WHERE app_name = p_app;
    IF v_newest IS NULL THEN
        RETURN 'no-app';
    END IF;
    IF (p_latest AND v_newest <> p_version)
       OR NOT EXISTS (SELECT 1 FROM app_versions WHERE app_name = p_app AND version = p_version) THEN
        RETURN 'stale-version';
    END IF;
    IF NOT p_adhoc
       AND NOT EXISTS (SELECT 1 FROM contexts WHERE name = p_context AND created_at = p_context_created) THEN
        RETURN 'no-context';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM slots
                    WHERE pool = p_pool AND slot = p_slot AND job_id = p_hold AND held_by = p_server) THEN
        RETURN 'no-hold';
    END IF;
    IF EXISTS (SELECT 1 FROM jobs WHERE queue = p_queue AND status = 'STARTED') THEN
        RETURN 'waiting';
    END IF;
    RETURN 'ok';
END $$;

-- Jobs that ran in slots p_server holds, each written once as it ended (one
-- element of each array per job), with their logs (one element of the
-- p_log_ arrays per line, p_log_jobs naming its job). A job whose hold is
-- gone (its context was deleted) is written KILLED, with p_gone as its
-- error. Returns whether each job's hold was there; nothing is written,
-- and nothing comes back, when p_server has no lease any more.
CREATE FUNCTION jobserver_record_held(
    p_server UUID, p_server_name TEXT, p_gone TEXT,
    p_ids UUID[], p_apps TEXT[], p_versions INT[], p_blobs TEXT[], p_classes TEXT[], p_contexts TEXT[],
    p_adhoc BOOLEAN[], p_configs TEXT[], p_submitted TIMESTAMPTZ[], p_timeouts BIGINT[], p_memories BIGINT[],
    p_queues TEXT[], p_pools TEXT[], p_slots INT[], p_holds UUID[],
    p_statuses TEXT[], p_ended TIMESTAMPTZ[], p_results TEXT[], p_error_classes TEXT[], p_error_messages TEXT[],
    p_progress REAL[], p_progress_messages TEXT[],
    p_log_jobs UUID[], p_log_seqs INT[], p_log_times TIMESTAMPTZ[], p_log_levels TEXT[], p_log_messages TEXT[])
RETURNS TABLE (job_id UUID, held BOOLEAN) LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
    -- As a submission does: the reaper, which frees this server's holds,
    -- either has not started or has finished and taken the lease.
    PERFORM pg_advisory_xact_lock_shared(4, hashtext(p_server::TEXT));
    IF NOT EXISTS (SELECT 1 FROM servers WHERE id = p_server) THEN
        RETURN;
    END IF;
    RETURN QUERY
    WITH ended AS (
        SELECT e.*, EXISTS (SELECT 1 FROM slots s WHERE s.pool = e.pool AND s.slot = e.slot AND s.job_id = e.hold)
                    AS held
          FROM UNNEST(p_ids, p_apps, p_versions, p_blobs, p_classes, p_contexts, p_adhoc, p_configs, p_submitted,
                      p_timeouts, p_memories, p_queues, p_pools, p_slots, p_holds, p_statuses, p_ended, p_results,
                      p_error_classes, p_error_messages, p_progress, p_progress_messages)
               AS e (id, app, version, blob, class, context, adhoc, config, submitted, timeout, memory, queue,
                     pool, slot, hold, status, ended, result, error_class, error_message, progress,
                     progress_message)
    ), written AS (
    INSERT INTO jobs AS j (id, app_name, app_version, blob_hash, class_path, context, adhoc, config, status,
                           submitted_at, started_at, ended_at, result, error_class, error_message, progress,
                           progress_message, timeout_ms, memory_limit, queue, server_id, server_name,
                           submitted_by, ended_by, kill_reason)
    SELECT e.id, e.app, e.version, e.blob, e.class, e.context, e.adhoc, e.config::json,
           CASE WHEN e.held THEN e.status ELSE 'KILLED' END,
           e.submitted, e.submitted, e.ended,
           CASE WHEN e.held THEN e.result::json END,
           CASE WHEN e.held THEN e.error_class ELSE 'Killed' END,
           CASE WHEN e.held THEN e.error_message ELSE p_gone END,
           e.progress, e.progress_message, e.timeout, e.memory, e.queue, p_server, p_server_name,
           p_server, p_server, CASE WHEN NOT e.held THEN p_gone END
      FROM ended e
    RETURNING j.id
    )
    SELECT e.id, e.held FROM ended e JOIN written w ON w.id = e.id;
    IF cardinality(p_log_jobs) > 0 THEN
        INSERT INTO job_logs (job_id, seq, logged_at, level, message)
        SELECT * FROM UNNEST(p_log_jobs, p_log_seqs, p_log_times, p_log_levels, p_log_messages);
    END IF;
    IF true = ANY(p_adhoc) THEN
        DELETE FROM named_objects
         WHERE context IN (SELECT 'adhoc:' || a.id::TEXT FROM UNNEST(p_ids, p_adhoc) AS a (id, adhoc) WHERE a.adhoc);
    END IF;
END $$;

-- A job that outlived its moment, written RUNNING in the slot p_server held
-- for it, which is now that job's; false when the hold is gone (its context
-- was deleted, or this server taken for dead).
CREATE FUNCTION jobserver_record_running_held(
    p_id UUID, p_app TEXT, p_version INT, p_blob TEXT, p_class TEXT, p_context TEXT, p_adhoc BOOLEAN,
    p_config JSON, p_submitted_at TIMESTAMPTZ, p_timeout_ms BIGINT, p_memory BIGINT,
    p_queue TEXT, p_pool TEXT, p_slot INT, p_hold UUID, p_server UUID, p_server_name TEXT)
RETURNS BOOLEAN LANGUAGE plpgsql AS $$
BEGIN
    -- As a submission does: a server being reaped writes nothing more.
    PERFORM pg_advisory_xact_lock_shared(4, hashtext(p_server::TEXT));
    IF NOT EXISTS (SELECT 1 FROM servers WHERE id = p_server) THEN
        RETURN false;
    END IF;
    UPDATE slots SET job_id = p_id, held_by = NULL
     WHERE pool = p_pool AND slot = p_slot AND job_id = p_hold AND held_by = p_server;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    INSERT INTO jobs (id, app_name, app_version, blob_hash, class_path, context, adhoc, config, status,
                      submitted_at, started_at, timeout_ms, memory_limit, queue, server_id, server_name,
                      submitted_by)
    VALUES (p_id, p_app, p_version, p_blob, p_class, p_context, p_adhoc, p_config, 'RUNNING',
            p_submitted_at, p_submitted_at, p_timeout_ms, p_memory, p_queue, p_server, p_server_name,
            p_server);
    RETURN true;
END $$;

-- Gives back holds of p_server in p_pool, whose jobs wait in p_queue: each
-- slot goes to the oldest waiting job, claimed for p_server (returned),
-- when p_hand_over, and is free for any server otherwise.
CREATE FUNCTION jobserver_release_holds(
    p_server UUID, p_server_name TEXT, p_pool TEXT, p_queue TEXT, p_holds UUID[], p_hand_over BOOLEAN)
RETURNS SETOF UUID LANGUAGE plpgsql AS $$
DECLARE
    v_slot INT;
    v_next UUID;
BEGIN
    -- As a claim does: a server being reaped takes no job (the reaper frees
    -- its holds).
    PERFORM pg_advisory_xact_lock_shared(4, hashtext(p_server::TEXT));
    IF NOT EXISTS (SELECT 1 FROM servers WHERE id = p_server) THEN
        RETURN;
    END IF;
    FOR v_slot IN
        SELECT slot FROM slots
         WHERE pool = p_pool AND job_id = ANY(p_holds) AND held_by = p_server
         ORDER BY slot FOR UPDATE
    LOOP
        v_next := NULL;
        IF p_hand_over THEN
            SELECT id INTO v_next FROM jobs
             WHERE queue = p_queue AND status = 'STARTED'
             ORDER BY seq LIMIT 1 FOR UPDATE SKIP LOCKED;
        END IF;
        UPDATE slots SET job_id = v_next, held_by = NULL WHERE pool = p_pool AND slot = v_slot;
        IF v_next IS NOT NULL THEN
            UPDATE jobs SET status = 'RUNNING', started_at = now(), server_id = p_server, server_name = p_server_name
             WHERE id = v_next;
            RETURN NEXT v_next;
        END IF;
    END LOOP;
    IF EXISTS (SELECT 1 FROM jobs WHERE queue = p_queue AND status = 'STARTED') THEN
        PERFORM pg_notify('jobserver_queued', p_queue);
    END IF;
END $$;

-- The reaper of 0005, which also frees the holds of the servers it reaps.
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
        UPDATE slots SET job_id = NULL, held_by = NULL WHERE held_by = v_server.id;
        DELETE FROM slots WHERE pool = 'adhoc:' || v_server.id::TEXT;
        DELETE FROM servers WHERE id = v_server.id;
        v_reaped := true;
        RETURN NEXT v_server.name;
    END LOOP;
    IF v_reaped THEN
        PERFORM pg_notify('jobserver_queued', '');
    END IF;
END $$;
