//! The command line: help, and what the server says when it cannot start.

use jobserver_tests::server_binary;
use std::process::Command;

#[test]
fn help_documents_every_setting_with_its_environment_variable() {
    let output = Command::new(server_binary())
        .args(["serve", "--help"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let help = String::from_utf8(output.stdout).unwrap();
    for expected in [
        "--listen",
        "JOBSERVER_LISTEN",
        "127.0.0.1:8090",
        "JOBSERVER_DATA_DIR",
        "DATABASE_URL",
        "JOBSERVER_CONFIG",
        "JOBSERVER_JOB_TIMEOUT",
        "JOBSERVER_JOB_MEMORY",
        "JOBSERVER_RESULT_MAX_SIZE",
        "JOBSERVER_JOB_RETENTION",
    ] {
        assert!(help.contains(expected), "serve --help lacks {expected}:\n{help}");
    }
    let output = Command::new(server_binary()).arg("--help").output().unwrap();
    assert!(String::from_utf8(output.stdout).unwrap().contains("serve"));
}

#[test]
fn local_mode_without_postgres_binaries_says_how_to_install_them() {
    let data_dir = tempfile::tempdir().unwrap();
    let output = Command::new(server_binary())
        .arg("serve")
        .env_remove("DATABASE_URL")
        .env("JOBSERVER_PG_BIN", data_dir.path().join("no-such-dir"))
        .env("JOBSERVER_DATA_DIR", data_dir.path())
        .env("JOBSERVER_LISTEN", "127.0.0.1:0")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("apt-get install postgresql"), "{stderr}");
}

#[test]
fn a_bad_setting_is_refused_before_anything_starts() {
    let output = Command::new(server_binary())
        .args(["serve", "--job-memory", "lots"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("'lots' is not a size"), "{stderr}");

    let config = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(config.path(), "jobserver { limits { job-timout = 5s } }").unwrap();
    let output = Command::new(server_binary())
        .args(["serve", "--config"])
        .arg(config.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("job-timout"), "{stderr}");
}
