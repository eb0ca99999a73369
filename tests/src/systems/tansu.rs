//! Tansu for the tests: a Kafka-compatible broker written in Rust, the second broker
//! jobserver must work against, run from the `tansu` on `PATH` with in-memory storage
//! (nothing on disk; it lives and dies with the test process).

use super::brokers::{BrokerKind, KafkaBroker, answers_metadata};
use super::process::{Launch, on_path};
use super::{Outcome, Running, scratch_dir, start_once};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

/// It starts in milliseconds; this is only for a machine under heavy load.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// Tansu, started on first use; `None` when it is not installed.
pub fn tansu() -> Option<&'static KafkaBroker> {
    static TANSU: OnceLock<Outcome<KafkaBroker>> = OnceLock::new();
    start_once(&TANSU, "Tansu", || {
        let executable = tansu_executable().ok_or_else(|| "tansu is not installed (no `tansu` on PATH)".to_string())?;
        Ok(start(&executable))
    })
}

/// The `tansu` the tests run: the one on `PATH`.
pub fn tansu_executable() -> Option<PathBuf> {
    on_path("tansu")
}

fn start(executable: &Path) -> Running<KafkaBroker> {
    let launch = Launch {
        name: "Tansu",
        dir: scratch_dir("tansu"),
        ports: 1,
        timeout: READY_TIMEOUT,
    };
    let (process, ports) = launch.start(
        |ports| {
            let url = format!("tcp://127.0.0.1:{}", ports[0]);
            let mut broker = Command::new(executable);
            broker
                .arg("broker")
                .args(["--listener-url", &url, "--advertised-listener-url", &url])
                .args(["--storage-engine", "memory://tansu/"]);
            broker
        },
        |ports| answers_metadata(&format!("127.0.0.1:{}", ports[0])),
    );
    Running {
        system: KafkaBroker {
            kind: BrokerKind::Tansu,
            bootstrap: format!("127.0.0.1:{}", ports[0]),
        },
        _process: Some(process),
    }
}
