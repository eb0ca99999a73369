-- Servers keep the app versions they looked up in memory (a version number
-- never names different content), so a submission no longer reads the app
-- before it is recorded. jobserver_submit, given p_latest, checks under the
-- app's lock that the version it was given still exists and, when the newest
-- was asked for, is still the newest; 'stale-version' sends the server back
-- to the store.
--
-- The function of 0005 stays beside it, with one argument fewer, for servers
-- of the previous release still running on this database during an upgrade.

CREATE FUNCTION jobserver_submit(
    p_id UUID, p_app TEXT, p_version INT, p_blob TEXT, p_class TEXT, p_context TEXT, p_adhoc BOOLEAN,
    p_config JSON, p_submitted_at TIMESTAMPTZ, p_timeout_ms BIGINT, p_memory BIGINT,
    p_queue TEXT, p_pool TEXT, p_context_created TIMESTAMPTZ, p_max_queued INT,
    p_server UUID, p_server_name TEXT, p_latest BOOLEAN,
    OUT outcome TEXT, OUT running INT, OUT queued INT)
LANGUAGE plpgsql AS $$
DECLARE
    v_slot INT;
    v_newest INT;
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
    SELECT max(version) INTO v_newest FROM app_versions WHERE app_name = p_app;
    IF v_newest IS NULL THEN
        outcome := 'no-app';
        RETURN;
    END IF;
    -- The version the server chose from its cache must still be the one to
    -- run: it exists (the app was not deleted and uploaded again), and it is
    -- the newest when the newest was asked for.
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

