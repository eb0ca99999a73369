//! Store-level tests of the engine's SQL against a real PostgreSQL: several
//! servers (each a `Store` with its own pool and lease) submitting, claiming,
//! ending and killing at once, as they do when they share one database.

use chrono::Utc;
use jobserver_server::store::{
    ContextRow, EntryRow, HeldCheck, HeldEnd, Hold, Holding, JobEnd, JobStatus, KillOutcome, LogLine, NewAppVersion,
    NewJob, Recorded, ServerId, ServerRegistration, Store, SubmitOutcome,
};
use jobserver_tests::fresh_database;
use std::collections::{HashMap, HashSet};
use std::time::Duration;
use uuid::Uuid;

/// A server on the database: its own pool, and a lease.
async fn server(database: &str, name: &str) -> (Store, ServerId) {
    let store = Store::connect(database, 8).await.unwrap();
    let me = ServerId {
        id: Uuid::new_v4(),
        name: name.to_string(),
    };
    store
        .register_server(&ServerRegistration {
            id: me.id,
            name,
            address: "http://test",
            lease: Duration::from_secs(30),
            adhoc_slots: 2,
        })
        .await
        .unwrap();
    (store, me)
}

async fn with_app_and_context(store: &Store, context: &str, cores: i32, max_queued: i32) -> ContextRow {
    store
        .insert_app_version(NewAppVersion {
            app_name: "app",
            blob_hash: "hash",
            content: b"not a component: the store does not look",
            binary_type: "wasm",
            entries: vec![EntryRow {
                name: "main".into(),
                description: String::new(),
            }],
        })
        .await
        .unwrap();
    store
        .insert_context(&ContextRow {
            name: context.into(),
            num_cpu_cores: cores,
            memory_per_node: 1 << 20,
            job_timeout_ms: 1000,
            max_queued_jobs: max_queued,
            clusters: serde_json::json!({}),
            created_at: Utc::now(),
        })
        .await
        .unwrap()
        .unwrap()
}

fn new_job<'a>(id: Uuid, context: &'a ContextRow, max_queued: u32) -> NewJob<'a> {
    NewJob {
        id,
        app_name: "app",
        app_version: 1,
        latest: true,
        blob_hash: "hash",
        class_path: "main",
        context: &context.name,
        adhoc: false,
        context_created: Some(context.created_at),
        max_queued,
        config: "{}",
        submitted_at: Utc::now(),
        timeout_ms: 1000,
        memory_limit: 1 << 20,
    }
}

fn finished() -> JobEnd {
    JobEnd {
        status: JobStatus::Finished,
        ended_at: Utc::now(),
        result: Some("{}".into()),
        error_class: None,
        error_message: None,
        progress: None,
        first_seq: 0,
        logs: Vec::new(),
    }
}

/// A slot of the job's pool, held for `server`.
async fn hold(store: &Store, job: &NewJob<'_>, server: &ServerId) -> Hold {
    match store.hold_slot(job, server, Uuid::new_v4()).await.unwrap() {
        Holding::Held(hold) => hold,
        other => panic!("no slot held for {}: {other:?}", job.id),
    }
}

/// A job that ran in `hold`, as `end` says.
fn held_end(job: &NewJob<'_>, server: &ServerId, hold: &Hold, end: JobEnd) -> HeldEnd {
    HeldEnd {
        job: job.recorded(SubmitOutcome::Running, server),
        config: job.config.to_string(),
        hold: hold.clone(),
        end,
    }
}

/// How many jobs of the context run, by the store's own account.
async fn running_in(store: &Store, context: &str) -> usize {
    store.context_jobs(context).await.unwrap().0.len()
}

#[tokio::test]
async fn two_servers_submitting_at_once_never_fill_more_slots_than_the_context_has() {
    let database = fresh_database().await;
    let (a, a_id) = server(&database, "a").await;
    let (b, b_id) = server(&database, "b").await;
    let context = with_app_and_context(&a, "three", 3, 1000).await;
    let submissions = (0..40).map(|n| {
        let (store, me) = if n % 2 == 0 { (&a, &a_id) } else { (&b, &b_id) };
        let context = &context;
        async move {
            let id = Uuid::new_v4();
            (
                id,
                me.id,
                store.submit_job(&new_job(id, context, 1000), me).await.unwrap(),
            )
        }
    });
    let outcomes = futures_util::future::join_all(submissions).await;
    let running: Vec<_> = outcomes
        .iter()
        .filter(|(_, _, outcome)| *outcome == SubmitOutcome::Running)
        .collect();
    assert!(
        !running.is_empty() && running.len() <= 3,
        "{} running of 3 slots",
        running.len()
    );
    assert!(
        outcomes
            .iter()
            .all(|(_, _, outcome)| matches!(outcome, SubmitOutcome::Running | SubmitOutcome::Queued))
    );
    assert_eq!(running_in(&a, "three").await, running.len());

    // Every server ends what it runs and claims what it can, all at once,
    // until every job ran: never more than three at a time, each job once.
    let mut ran = HashSet::new();
    let mut on: Vec<(Uuid, Uuid)> = running.iter().map(|(job, server, _)| (*job, *server)).collect();
    while ran.len() < outcomes.len() {
        assert!(running_in(&a, "three").await <= 3);
        let ends = on.drain(..).map(|(job, server)| {
            let (store, me) = if server == a_id.id { (&a, &a_id) } else { (&b, &b_id) };
            async move { (job, server, store.end_job(job, me, &finished(), true).await.unwrap()) }
        });
        let claims = [(&a, &a_id), (&b, &b_id)]
            .map(|(store, me)| async move { (me.id, store.claim_jobs(me, 100).await.unwrap()) });
        let (ended, claimed) = tokio::join!(
            futures_util::future::join_all(ends),
            futures_util::future::join_all(claims)
        );
        for (job, server, outcome) in ended {
            assert!(outcome.ended, "each job ends once, by its server");
            assert!(ran.insert(job), "job {job} ran twice");
            on.extend(outcome.next.map(|next| (next, server)));
        }
        for (server, jobs) in claimed {
            on.extend(jobs.into_iter().map(|job| (job, server)));
        }
        let unique: HashSet<_> = on.iter().map(|(job, _)| job).collect();
        assert_eq!(unique.len(), on.len(), "a job was handed to two servers");
        assert!(on.len() <= 3, "{} jobs hold 3 slots", on.len());
        if on.is_empty() && ran.len() < outcomes.len() {
            let claimed = a.claim_jobs(&a_id, 100).await.unwrap();
            assert!(!claimed.is_empty(), "jobs wait while slots are free");
            on.extend(claimed.into_iter().map(|job| (job, a_id.id)));
        }
    }
    assert_eq!(a.context_jobs("three").await.unwrap(), (vec![], vec![]));
}

#[tokio::test]
async fn two_claimers_and_one_slot_give_the_oldest_waiting_job_to_one_of_them() {
    let database = fresh_database().await;
    let (a, a_id) = server(&database, "a").await;
    let (b, b_id) = server(&database, "b").await;
    let context = with_app_and_context(&a, "one", 1, 10).await;
    let first = Uuid::new_v4();
    assert_eq!(
        a.submit_job(&new_job(first, &context, 10), &a_id).await.unwrap(),
        SubmitOutcome::Running
    );
    let waiting: Vec<Uuid> = (0..3).map(|_| Uuid::new_v4()).collect();
    for id in &waiting {
        assert_eq!(
            b.submit_job(&new_job(*id, &context, 10), &b_id).await.unwrap(),
            SubmitOutcome::Queued
        );
    }
    // Nothing to claim while the slot is taken.
    assert!(b.claim_jobs(&b_id, 10).await.unwrap().is_empty());
    // Ended without handing the slot over (a is stopping): b and a race for it.
    let end = a.end_job(first, &a_id, &finished(), false).await.unwrap();
    assert_eq!((end.ended, end.next), (true, None));
    let (from_a, from_b) = tokio::join!(a.claim_jobs(&a_id, 10), b.claim_jobs(&b_id, 10));
    let mut claimed = from_a.unwrap();
    claimed.extend(from_b.unwrap());
    assert_eq!(claimed, [waiting[0]], "one claim, of the oldest");
    // An end that hands its slot over gives it to the next in order.
    let holder = if a.running_on(a_id.id).await.unwrap().contains(&waiting[0]) {
        (&a, &a_id)
    } else {
        (&b, &b_id)
    };
    let end = holder.0.end_job(waiting[0], holder.1, &finished(), true).await.unwrap();
    assert_eq!(end.next, Some(waiting[1]));
    // A job is ended only by the server that runs it.
    let other = if holder.1.id == a_id.id {
        (&b, &b_id)
    } else {
        (&a, &a_id)
    };
    assert!(
        !other
            .0
            .end_job(waiting[1], other.1, &finished(), true)
            .await
            .unwrap()
            .ended
    );
    // A full queue refuses, with the counts.
    let queue_full = new_job(Uuid::new_v4(), &context, 1);
    assert_eq!(
        a.submit_job(&queue_full, &a_id).await.unwrap(),
        SubmitOutcome::Full { running: 1, queued: 1 }
    );
}

#[tokio::test]
async fn kills_reach_waiting_and_running_jobs_and_dead_servers_are_reaped() {
    let database = fresh_database().await;
    let (a, a_id) = server(&database, "a").await;
    let (b, b_id) = server(&database, "b").await;
    let context = with_app_and_context(&a, "two", 2, 10).await;
    let (run_a, run_b, wait) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    assert_eq!(
        a.submit_job(&new_job(run_a, &context, 10), &a_id).await.unwrap(),
        SubmitOutcome::Running
    );
    assert_eq!(
        b.submit_job(&new_job(run_b, &context, 10), &b_id).await.unwrap(),
        SubmitOutcome::Running
    );
    assert_eq!(
        b.submit_job(&new_job(wait, &context, 10), &b_id).await.unwrap(),
        SubmitOutcome::Queued
    );

    // A kill from b of a's running job asks a to stop it; only a sees the request.
    assert_eq!(
        b.kill_job(run_a, "by test").await.unwrap(),
        KillOutcome::Running { server: a_id.id }
    );
    assert_eq!(
        a.kill_requests(a_id.id).await.unwrap(),
        [(run_a, "by test".to_string())]
    );
    assert!(b.kill_requests(b_id.id).await.unwrap().is_empty());
    assert_eq!(a.kill_job(Uuid::new_v4(), "x").await.unwrap(), KillOutcome::Missing);

    // a stops renewing: with its lease expired, b reaps it. Its running job
    // ends ERROR naming it; b's job is untouched, the waiting one claimable.
    assert!(a.renew_lease(a_id.id, Duration::from_millis(1)).await.unwrap());
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        b.reap_servers(b_id.id, false, Duration::from_secs(10))
            .await
            .unwrap()
            .is_empty(),
        "within the grace"
    );
    assert_eq!(b.reap_servers(b_id.id, false, Duration::ZERO).await.unwrap(), ["a"]);
    let report = b.get_job(run_a).await.unwrap().unwrap();
    assert_eq!(report.status, JobStatus::Error);
    assert_eq!(report.error_class.as_deref(), Some("ServerStopped"));
    assert!(report.error_message.unwrap().contains("server a stopped"));
    assert_eq!(b.job_status(run_b).await.unwrap(), Some(JobStatus::Running));
    assert!(
        !a.renew_lease(a_id.id, Duration::from_secs(30)).await.unwrap(),
        "a learns it was reaped"
    );
    assert!(
        !a.end_job(run_a, &a_id, &finished(), true).await.unwrap().ended,
        "fenced"
    );
    assert_eq!(b.claim_jobs(&b_id, 10).await.unwrap(), [wait]);

    // A waiting job killed ends at once; an ended one says so.
    let queued = Uuid::new_v4();
    assert_eq!(
        b.submit_job(&new_job(queued, &context, 10), &b_id).await.unwrap(),
        SubmitOutcome::Queued
    );
    assert_eq!(a.kill_job(queued, "by test").await.unwrap(), KillOutcome::Killed);
    assert_eq!(
        a.kill_job(queued, "again").await.unwrap(),
        KillOutcome::Ended(JobStatus::Killed)
    );
}

#[tokio::test]
async fn an_end_tried_again_gets_the_same_answer_and_a_reaped_server_records_nothing() {
    let database = fresh_database().await;
    let (a, a_id) = server(&database, "a").await;
    let context = with_app_and_context(&a, "one", 1, 10).await;
    let (first, second) = (Uuid::new_v4(), Uuid::new_v4());
    assert_eq!(
        a.submit_job(&new_job(first, &context, 10), &a_id).await.unwrap(),
        SubmitOutcome::Running
    );
    assert_eq!(
        a.submit_job(&new_job(second, &context, 10), &a_id).await.unwrap(),
        SubmitOutcome::Queued
    );
    // The answer to an end may be lost after the commit: the same end again
    // says it ended, and names the job its slot went to.
    let end = finished();
    let once = a.end_job(first, &a_id, &end, true).await.unwrap();
    assert_eq!((once.ended, once.next), (true, Some(second)));
    assert_eq!(a.end_job(first, &a_id, &end, true).await.unwrap(), once);
    // Another end of it (another time) is not this one.
    assert!(!a.end_job(first, &a_id, &finished(), true).await.unwrap().ended);

    // A server that leaves cleanly ends what the store still has running on it.
    let left = a.deregister_server(a_id.id, "a").await.unwrap();
    assert_eq!(left, [second]);
    let report = a.get_job(second).await.unwrap().unwrap();
    assert_eq!(report.status, JobStatus::Error);
    assert!(
        report
            .error_message
            .unwrap()
            .contains("server a stopped before it could record")
    );
    // Without a lease it records and claims nothing.
    let third = Uuid::new_v4();
    assert_eq!(
        a.submit_job(&new_job(third, &context, 10), &a_id).await.unwrap(),
        SubmitOutcome::NoLease
    );
    let (b, b_id) = server(&database, "b").await;
    assert_eq!(
        b.submit_job(&new_job(third, &context, 10), &b_id).await.unwrap(),
        SubmitOutcome::Running
    );
    let fourth = Uuid::new_v4();
    assert_eq!(
        b.submit_job(&new_job(fourth, &context, 10), &b_id).await.unwrap(),
        SubmitOutcome::Queued
    );
    assert_eq!(b.end_job(third, &b_id, &finished(), false).await.unwrap().next, None);
    assert!(a.claim_jobs(&a_id, 10).await.unwrap().is_empty(), "a has no lease");
    assert_eq!(b.claim_jobs(&b_id, 10).await.unwrap(), [fourth]);
}

#[tokio::test]
async fn an_adhoc_jobs_named_objects_go_with_its_end() {
    let database = fresh_database().await;
    let (a, a_id) = server(&database, "a").await;
    let context = with_app_and_context(&a, "unused", 1, 10).await;
    let id = Uuid::new_v4();
    let adhoc = NewJob {
        adhoc: true,
        context: "1234abcd-main",
        context_created: None,
        ..new_job(id, &context, 10)
    };
    assert_eq!(a.submit_job(&adhoc, &a_id).await.unwrap(), SubmitOutcome::Running);
    let sql = sqlx::PgPool::connect(&database).await.unwrap();
    let scope = format!("adhoc:{id}");
    sqlx::query("INSERT INTO named_objects (context, name, value) VALUES ($1, 'x', 'y'), ('unused', 'x', 'y')")
        .bind(&scope)
        .execute(&sql)
        .await
        .unwrap();
    assert!(a.end_job(id, &a_id, &finished(), true).await.unwrap().ended);
    let left: Vec<String> = sqlx::query_scalar("SELECT context FROM named_objects")
        .fetch_all(&sql)
        .await
        .unwrap();
    assert_eq!(left, ["unused"], "only the ad-hoc job's objects went");
}

#[tokio::test]
async fn a_submission_of_a_version_that_is_no_longer_the_one_to_run_is_not_recorded() {
    let database = fresh_database().await;
    let (a, a_id) = server(&database, "a").await;
    let context = with_app_and_context(&a, "ctx", 4, 10).await;
    // Version 1 is the newest, so far.
    let first = Uuid::new_v4();
    assert_eq!(
        a.submit_job(&new_job(first, &context, 10), &a_id).await.unwrap(),
        SubmitOutcome::Running
    );
    a.insert_app_version(NewAppVersion {
        app_name: "app",
        blob_hash: "hash2",
        content: b"version 2",
        binary_type: "wasm",
        entries: Vec::new(),
    })
    .await
    .unwrap();
    let stale = Uuid::new_v4();
    assert_eq!(
        a.submit_job(&new_job(stale, &context, 10), &a_id).await.unwrap(),
        SubmitOutcome::StaleVersion,
        "version 1 is not the newest any more"
    );
    let pinned = Uuid::new_v4();
    let version_1 = NewJob {
        latest: false,
        ..new_job(pinned, &context, 10)
    };
    assert_eq!(
        a.submit_job(&version_1, &a_id).await.unwrap(),
        SubmitOutcome::Running,
        "asked for by number"
    );
    let missing = NewJob {
        app_version: 9,
        latest: false,
        ..new_job(Uuid::new_v4(), &context, 10)
    };
    assert_eq!(
        a.submit_job(&missing, &a_id).await.unwrap(),
        SubmitOutcome::StaleVersion
    );
    let gone = NewJob {
        app_name: "nosuchapp",
        ..new_job(Uuid::new_v4(), &context, 10)
    };
    assert_eq!(a.submit_job(&gone, &a_id).await.unwrap(), SubmitOutcome::NoApp);
    assert!(
        a.get_job(stale).await.unwrap().is_none(),
        "nothing recorded for a stale submission"
    );
    assert_eq!(running_in(&a, "ctx").await, 2);
}

#[tokio::test]
async fn a_held_slot_is_nobody_elses_and_runs_jobs_written_once_until_given_back() {
    let database = fresh_database().await;
    let (a, a_id) = server(&database, "a").await;
    let (b, b_id) = server(&database, "b").await;
    let context = with_app_and_context(&a, "held", 1, 5).await;

    // Held for a: a job of b waits, and no claimer takes the slot.
    let first = new_job(Uuid::new_v4(), &context, 5);
    let held = hold(&a, &first, &a_id).await;
    let other = Uuid::new_v4();
    assert_eq!(
        b.submit_job(&new_job(other, &context, 5), &b_id).await.unwrap(),
        SubmitOutcome::Queued
    );
    assert!(
        b.claim_jobs(&b_id, 10).await.unwrap().is_empty(),
        "a claimer took a held slot"
    );
    assert_eq!(
        a.check_held(&new_job(Uuid::new_v4(), &context, 5), &a_id, &held)
            .await
            .unwrap(),
        HeldCheck::Waiting,
        "a job waits: the slot is its"
    );
    assert!(
        b.get_job(first.id).await.unwrap().is_none(),
        "seen before it was written"
    );
    let written = a
        .record_held(&a_id, "gone", &[held_end(&first, &a_id, &held, finished())])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(written[&first.id], Recorded::AsEnded);
    assert_eq!(b.get_job(first.id).await.unwrap().unwrap().status, JobStatus::Finished);
    assert_eq!(
        a.release_holds(&a_id, std::slice::from_ref(&held), true).await.unwrap(),
        vec![other],
        "given back, the slot goes to the job that waited"
    );
    assert_eq!(b.get_job(other).await.unwrap().unwrap().status, JobStatus::Running);
    assert!(a.end_job(other, &a_id, &finished(), false).await.unwrap().ended);

    // Held again, a job after the first one passes the checks; one that runs
    // long is written RUNNING in the slot, which is then its own.
    let again = hold(&a, &new_job(Uuid::new_v4(), &context, 5), &a_id).await;
    let long = new_job(Uuid::new_v4(), &context, 5);
    assert_eq!(a.check_held(&long, &a_id, &again).await.unwrap(), HeldCheck::Ok);
    let row = long.recorded(SubmitOutcome::Running, &a_id);
    assert!(a.record_running_held(&row, "{}", &again, &a_id).await.unwrap());
    assert!(
        !a.record_running_held(&row, "{}", &again, &a_id).await.unwrap(),
        "the hold is gone"
    );
    assert_eq!(
        a.check_held(&new_job(Uuid::new_v4(), &context, 5), &a_id, &again)
            .await
            .unwrap(),
        HeldCheck::NoHold
    );
    assert_eq!(b.get_job(long.id).await.unwrap().unwrap().status, JobStatus::Running);
    assert!(
        a.release_holds(&a_id, std::slice::from_ref(&again), true)
            .await
            .unwrap()
            .is_empty(),
        "a hold become a job's slot is not given back"
    );
    let behind = Uuid::new_v4();
    assert_eq!(
        b.submit_job(&new_job(behind, &context, 5), &b_id).await.unwrap(),
        SubmitOutcome::Queued
    );
    assert_eq!(
        a.hold_slot(&new_job(Uuid::new_v4(), &context, 5), &a_id, Uuid::new_v4())
            .await
            .unwrap(),
        Holding::Busy
    );
    assert!(a.end_job(long.id, &a_id, &finished(), false).await.unwrap().ended);
    assert_eq!(
        b.claim_jobs(&b_id, 10).await.unwrap(),
        vec![behind],
        "its end frees the slot"
    );
    assert!(b.end_job(behind, &b_id, &finished(), false).await.unwrap().ended);

    // Refused as a submission would be, by either check.
    let gone = NewJob {
        app_name: "no-such-app",
        ..new_job(Uuid::new_v4(), &context, 5)
    };
    let replaced = NewJob {
        context_created: Some(Utc::now()),
        ..new_job(Uuid::new_v4(), &context, 5)
    };
    for (job, outcome) in [(&gone, SubmitOutcome::NoApp), (&replaced, SubmitOutcome::NoContext)] {
        assert_eq!(
            a.hold_slot(job, &a_id, Uuid::new_v4()).await.unwrap(),
            Holding::Refused(outcome)
        );
        assert_eq!(
            a.check_held(job, &a_id, &again).await.unwrap(),
            HeldCheck::Refused(outcome)
        );
    }
    assert_eq!(running_in(&b, "held").await, 0);

    // Its context deleted while a job ran: the job is written KILLED.
    // (A second version of the app comes with it.)
    let doomed = with_app_and_context(&a, "doomed", 1, 5).await;
    let job = NewJob {
        app_version: 2,
        ..new_job(Uuid::new_v4(), &doomed, 5)
    };
    let held = hold(&a, &job, &a_id).await;
    b.delete_context("doomed", "deleted").await.unwrap().unwrap();
    let written = a
        .record_held(&a_id, "its context went", &[held_end(&job, &a_id, &held, finished())])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(written[&job.id], Recorded::ContextGone);
    let stored = b.get_job(job.id).await.unwrap().unwrap();
    assert_eq!(
        (stored.status, stored.error_message.as_deref(), stored.result),
        (JobStatus::Killed, Some("its context went"), None)
    );

    // Its server taken for dead: nothing is written, and its holds are free.
    let job = NewJob {
        app_version: 2,
        ..new_job(Uuid::new_v4(), &context, 5)
    };
    let held = hold(&a, &job, &a_id).await;
    assert_eq!(b.reap_servers(b_id.id, true, Duration::ZERO).await.unwrap(), ["a"]);
    assert!(
        a.record_held(&a_id, "gone", &[held_end(&job, &a_id, &held, finished())])
            .await
            .unwrap()
            .is_none()
    );
    assert!(b.get_job(job.id).await.unwrap().is_none());
    let next = NewJob {
        app_version: 2,
        ..new_job(Uuid::new_v4(), &context, 5)
    };
    assert_eq!(
        b.submit_job(&next, &b_id).await.unwrap(),
        SubmitOutcome::Running,
        "the reaper freed the held slot"
    );
}

/// The server answers a sync job from the row it recorded, without reading it
/// back: what the store keeps must be that row exactly, whether the job's end
/// was written with others (one statement of arrays) or alone (one of plain
/// parameters, migration 0009).
#[tokio::test]
async fn jobs_ended_in_held_slots_are_stored_as_the_server_says_alone_or_many_to_a_write() {
    let database = fresh_database().await;
    let (a, a_id) = server(&database, "a").await;
    let context = with_app_and_context(&a, "exact", 2, 5).await;
    let end = JobEnd {
        status: JobStatus::Error,
        ended_at: Utc::now(),
        result: None,
        error_class: Some("BadInput".into()),
        error_message: Some("no\0rows".into()),
        progress: Some((0.3, Some("a\0third".into()))),
        first_seq: 4,
        logs: (0..3)
            .map(|n| LogLine {
                at: Utc::now(),
                level: "INFO",
                message: format!("line\0{n}"),
            })
            .collect(),
    };
    // A finished one beside it: ad hoc, in the server's own ad-hoc slots,
    // with its result as given.
    let adhoc_end = JobEnd {
        result: Some(r#"{"b": 1, "a": [1.50, "\u0000"]}"#.into()),
        ..finished()
    };
    for together in [true, false] {
        let job = new_job(Uuid::new_v4(), &context, 5);
        let held = hold(&a, &job, &a_id).await;
        let adhoc = NewJob {
            adhoc: true,
            context: "adhoc-exact",
            context_created: None,
            ..new_job(Uuid::new_v4(), &context, 5)
        };
        let adhoc_hold = hold(&a, &adhoc, &a_id).await;
        let ends = [
            held_end(&job, &a_id, &held, end.clone()),
            held_end(&adhoc, &a_id, &adhoc_hold, adhoc_end.clone()),
        ];
        let mut written = HashMap::new();
        if together {
            written = a.record_held(&a_id, "gone", &ends).await.unwrap().unwrap();
        } else {
            for one in &ends {
                let alone = a.record_held(&a_id, "gone", std::slice::from_ref(one)).await.unwrap();
                written.extend(alone.unwrap());
            }
        }
        assert_eq!(written.len(), 2, "together: {together}");
        assert!(written.values().all(|how| *how == Recorded::AsEnded));
        for (job, end) in [(&job, &end), (&adhoc, &adhoc_end)] {
            let expected = end.recorded(job.recorded(SubmitOutcome::Running, &a_id));
            let stored = a.get_job(job.id).await.unwrap().unwrap();
            assert_eq!(format!("{stored:?}"), format!("{expected:?}"), "together: {together}");
        }
        let logs = a.job_logs(job.id).await.unwrap().unwrap();
        let messages: Vec<_> = logs.iter().map(|line| (line.seq, line.message.as_str())).collect();
        assert_eq!(
            messages,
            [(4, "line\u{FFFD}0"), (5, "line\u{FFFD}1"), (6, "line\u{FFFD}2")],
            "together: {together}"
        );
        assert!(a.job_logs(adhoc.id).await.unwrap().unwrap().is_empty());
        for hold in [held, adhoc_hold] {
            a.release_holds(&a_id, &[hold], false).await.unwrap();
        }
    }
}
