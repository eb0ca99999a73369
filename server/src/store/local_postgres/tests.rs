//! Local mode's PostgreSQL against the real binaries: start, stop, stale state, ports.

use super::*;

const DEBIAN_ROOT: &str = "/usr/lib/postgresql";

/// tempfile makes 0700 directories, which `postgres` could not traverse when we are root.
fn scratch() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("localpg-test")
        .permissions(fs::Permissions::from_mode(0o755))
        .tempdir()
        .unwrap()
}

fn psql(url: &str, sql: &str) -> std::result::Result<String, String> {
    let bin = find_bin_dir(None, Path::new(DEBIAN_ROOT), std::env::var_os("PATH")).unwrap();
    let out = Command::new(bin.join("psql"))
        .args(["-X", "-At", "-v", "ON_ERROR_STOP=1", url, "-c", sql])
        .env("PGCONNECT_TIMEOUT", "10")
        .output()
        .unwrap();
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

fn pid(pg: &LocalPostgres) -> i32 {
    pg.child.as_ref().unwrap().id() as i32
}

fn alive(pid: i32) -> bool {
    kill(Pid::from_raw(pid), None).is_ok()
}

#[test]
fn lifecycle_connect_restart_stop() {
    let tmp = scratch();
    let dir = tmp.path().join("postgres");
    let pg = LocalPostgres::start(&dir).unwrap();
    assert_eq!(pg.data_dir(), dir);
    assert!(pg.url().starts_with("postgres://jobserver:"));
    assert!(pg.url().ends_with("/postgres"));
    let password_file = tmp.path().join("postgres.password");
    let meta = fs::metadata(&password_file).unwrap();
    assert_eq!(meta.mode() & 0o777, 0o600);
    assert_eq!(meta.uid(), nix::unistd::geteuid().as_raw());
    assert!(tmp.path().join("postgres.log").is_file());
    assert!(!format!("{pg:?}").contains(&pg.password));

    assert_eq!(psql(pg.url(), "select 1").unwrap(), "1");
    psql(pg.url(), "create table t (x int); insert into t values (42)").unwrap();
    psql(pg.url(), "create database per_test").unwrap();
    let other = pg.url_for_database("per_test");
    assert_eq!(psql(&other, "select current_database()").unwrap(), "per_test");
    let wrong = pg.url().replace(&pg.password, "wrong");
    assert!(
        psql(&wrong, "select 1")
            .unwrap_err()
            .contains("password authentication failed")
    );

    match LocalPostgres::start(&dir) {
        Err(e @ LocalPostgresError::InUse { pid: p, .. }) => {
            assert_eq!(p, pid(&pg));
            assert!(e.to_string().contains("in use"), "{e}");
        }
        other => panic!("expected InUse, got {other:?}"),
    }

    let (first_pid, url) = (pid(&pg), pg.url().to_owned());
    pg.stop().unwrap();
    assert!(!alive(first_pid));
    assert!(!dir.join("postmaster.pid").exists());

    let pg = LocalPostgres::start(&dir).unwrap();
    assert_eq!(pg.url_for_database("x").split('@').next(), url.split('@').next());
    assert_eq!(psql(pg.url(), "select x from t").unwrap(), "42");
    let second_pid = pid(&pg);
    drop(pg);
    assert!(!alive(second_pid));
}

#[test]
fn recovers_from_stale_state_and_reports_startup_failures() {
    let tmp = scratch();
    let dir = tmp.path().join("pg");
    let pg = LocalPostgres::start(&dir).unwrap();

    // A restart while the previous postmaster is still shutting down waits for it.
    kill(Pid::from_raw(pid(&pg)), Signal::SIGINT).unwrap();
    let pid_file = dir.join("postmaster.pid");
    while fs::read_to_string(&pid_file).is_ok_and(|s| s.lines().nth(7).map(str::trim) == Some("ready")) {
        thread::sleep(Duration::from_millis(5));
    }
    let pg2 = LocalPostgres::start(&dir).unwrap();
    pg.stop().unwrap();
    assert_eq!(psql(pg2.url(), "select 2").unwrap(), "2");
    pg2.stop().unwrap();

    // A postmaster.pid left by a crash whose pid now belongs to another process.
    let fake = "1\n/nowhere\n0\n5432\n\n127.0.0.1\n0 0\nready\n";
    fs::write(&pid_file, fake).unwrap();
    LocalPostgres::start(&dir).unwrap().stop().unwrap();

    // Startup failures carry the log tail.
    let conf = dir.join("postgresql.conf");
    let original = fs::read_to_string(&conf).unwrap();
    fs::write(&conf, format!("{original}\nbogus_setting_xyz = 1\n")).unwrap();
    let err = LocalPostgres::start(&dir).unwrap_err();
    assert!(matches!(err, LocalPostgresError::Startup { .. }), "{err:?}");
    assert!(err.to_string().contains("bogus_setting_xyz"), "{err}");
    fs::write(&conf, original).unwrap();
    LocalPostgres::start(&dir).unwrap().stop().unwrap();
}

#[test]
fn retries_a_taken_port_and_reports_a_missing_password_file() {
    let tmp = scratch();
    let dir = tmp.path().join("pg");
    LocalPostgres::start(&dir).unwrap().stop().unwrap();

    let taken = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let mut ports = vec![free_port().unwrap(), taken.local_addr().unwrap().port()];
    let bin = find_bin_dir(None, Path::new(DEBIAN_ROOT), None).unwrap();
    let owner = nix::unistd::geteuid().is_root().then(|| {
        let user = User::from_name("postgres").unwrap().unwrap();
        (user.uid, user.gid)
    });
    let log = tmp.path().join("pg.log");
    let (child, port) = start_postgres(&bin, &dir, &log, owner, || Ok(ports.pop().unwrap())).unwrap();
    assert!(ports.is_empty());
    assert_ne!(port, taken.local_addr().unwrap().port());
    assert!(fs::read_to_string(&log).unwrap().contains("Address already in use"));
    LocalPostgres {
        dir: dir.clone(),
        bin: bin.clone(),
        owner,
        log,
        password: String::new(),
        port,
        url: String::new(),
        child: Some(child),
    }
    .stop()
    .unwrap();

    fs::remove_file(tmp.path().join("pg.password")).unwrap();
    let err = LocalPostgres::start(&dir).unwrap_err();
    assert!(matches!(err, LocalPostgresError::PasswordMissing { .. }), "{err:?}");
}

#[test]
fn finds_binaries_or_explains_how_to_get_them() {
    let path = std::env::var_os("PATH");
    let debian = Path::new(DEBIAN_ROOT);
    let found = find_bin_dir(None, debian, path.clone()).unwrap();
    assert!(found.join("initdb").is_file() && found.join("postgres").is_file());
    // pg_config (found on PATH) points at the same directory.
    let via_path = find_bin_dir(None, Path::new("/nonexistent"), Some(found.clone().into()));
    assert_eq!(via_path.unwrap(), found);

    let empty = scratch();
    for err in [
        find_bin_dir(Some(empty.path().into()), debian, path).unwrap_err(),
        find_bin_dir(None, Path::new("/nonexistent"), Some(empty.path().into())).unwrap_err(),
    ] {
        let msg = err.to_string();
        assert!(
            msg.starts_with(
                "PostgreSQL server binaries (initdb, postgres) were not found. Install them \
                 (Debian/Ubuntu: `apt-get install postgresql`; macOS: `brew install \
                 postgresql`), set JOBSERVER_PG_BIN to their directory, or set DATABASE_URL \
                 to use an existing database."
            ),
            "{msg}"
        );
    }
}

#[test]
fn root_needs_a_directory_postgres_can_reach() {
    if !nix::unistd::geteuid().is_root() {
        return;
    }
    let tmp = scratch();
    let locked = tmp.path().join("locked");
    fs::create_dir(&locked).unwrap();
    fs::set_permissions(&locked, fs::Permissions::from_mode(0o700)).unwrap();
    let err = LocalPostgres::start(&locked.join("pg")).unwrap_err();
    match &err {
        LocalPostgresError::NotTraversable { blocking, .. } => assert_eq!(blocking, &locked),
        other => panic!("expected NotTraversable, got {other:?}"),
    }
    assert!(err.to_string().contains(&locked.display().to_string()));
}

#[test]
fn database_names_are_escaped_in_urls() {
    let pg = LocalPostgres {
        dir: PathBuf::new(),
        bin: PathBuf::new(),
        owner: None,
        log: PathBuf::new(),
        password: "pw".into(),
        port: 5,
        url: String::new(),
        child: None,
    };
    assert_eq!(
        pg.url_for_database("a b/c"),
        "postgres://jobserver:pw@127.0.0.1:5/a%20b%2Fc"
    );
    pg.stop().unwrap();
}
