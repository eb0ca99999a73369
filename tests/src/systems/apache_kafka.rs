//! Apache Kafka for the tests: one KRaft node that is both broker and controller, run from
//! the jars Maven Central serves (`tests/systems/kafka/pom.xml`), with settings for a
//! one-node cluster (replication factor 1 everywhere, single-partition internal topics so
//! the first consumer group does not wait for fifty of them) and no auto-created topics,
//! so a test of an unknown topic sees one. Or, with `JOBSERVER_TEST_KAFKA=host:port`, a
//! running cluster.

use super::brokers::{BrokerKind, KafkaBroker, answers_metadata};
use super::jars::{self, JarSet};
use super::process::{Launch, write_config};
use super::{Outcome, Running, scratch_dir, start_once};
use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// How long the node may take to answer metadata; it takes seconds.
const READY_TIMEOUT: Duration = Duration::from_secs(120);

/// Apache Kafka, started on first use; `None` when this machine cannot run it.
pub fn apache_kafka() -> Option<&'static KafkaBroker> {
    static KAFKA: OnceLock<Outcome<KafkaBroker>> = OnceLock::new();
    start_once(&KAFKA, "Apache Kafka", || {
        if let Ok(bootstrap) = std::env::var("JOBSERVER_TEST_KAFKA") {
            return Ok(Running::external(external(bootstrap)));
        }
        let java = jars::java()?;
        let jars = JarSet::KAFKA.fetch()?;
        Ok(start(&java, &jars))
    })
}

/// A cluster named by the environment must be up: not reaching it is a failure, not a skip.
fn external(bootstrap: String) -> KafkaBroker {
    let started = Instant::now();
    loop {
        match answers_metadata(&bootstrap) {
            Ok(()) => {
                return KafkaBroker {
                    kind: BrokerKind::ApacheKafka,
                    bootstrap,
                };
            }
            Err(error) if started.elapsed() > Duration::from_secs(30) => {
                panic!("JOBSERVER_TEST_KAFKA={bootstrap} does not answer: {error}")
            }
            Err(_) => std::thread::sleep(Duration::from_millis(500)),
        }
    }
}

fn start(java: &Path, jars: &Path) -> Running<KafkaBroker> {
    let launch = Launch {
        name: "Apache Kafka",
        dir: scratch_dir("kafka"),
        ports: 2,
        timeout: READY_TIMEOUT,
    };
    let classpath = jars::classpath(jars);
    let (process, ports) = launch.start(
        |ports| {
            let (port, controller_port) = (ports[0], ports[1]);
            let properties = launch.dir.join("server.properties");
            let log4j = launch.dir.join("log4j2.yaml");
            write_config(
                &properties,
                &server_properties(port, controller_port, &launch.dir.join("data")),
            );
            write_config(&log4j, LOG4J2);
            let log4j_option = format!("-Dlog4j2.configurationFile={}", log4j.display());

            let mut format = Command::new(java);
            format
                .args([
                    "-Xmx256m",
                    &log4j_option,
                    "-cp",
                    &classpath,
                    "kafka.tools.StorageTool",
                    "format",
                ])
                // `=`: an id may begin with '-', which would read as an option.
                .arg(format!("--cluster-id={}", cluster_id()))
                .arg("--config")
                .arg(&properties)
                .arg("--standalone");
            launch.run_to_completion("kafka-storage format", format);

            let mut broker = Command::new(java);
            broker
                .args(["-Xmx512m", &log4j_option, "-cp", &classpath, "kafka.Kafka"])
                .arg(&properties);
            broker
        },
        |ports| answers_metadata(&bootstrap(ports[0])),
    );
    Running {
        system: KafkaBroker {
            kind: BrokerKind::ApacheKafka,
            bootstrap: bootstrap(ports[0]),
        },
        _process: Some(process),
    }
}

fn bootstrap(port: u16) -> String {
    format!("127.0.0.1:{port}")
}

fn server_properties(port: u16, controller_port: u16, data: &Path) -> String {
    format!(
        "process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:{controller_port}
listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}
advertised.listeners=PLAINTEXT://127.0.0.1:{port}
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs={data}
num.partitions=1
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
share.coordinator.state.topic.num.partitions=1
group.initial.rebalance.delay.ms=0
",
        data = data.display()
    )
}

/// Warnings and errors only, to stderr, which is the log file: enough to see why a start
/// failed without the INFO chatter of every request.
const LOG4J2: &str = "Configuration:
  Appenders:
    Console:
      name: STDERR
      target: SYSTEM_ERR
      PatternLayout:
        Pattern: \"[%d] %p %m (%c)%n\"
  Loggers:
    Root:
      level: WARN
      AppenderRef:
        - ref: STDERR
";

/// A KRaft cluster id: a random UUID in URL-safe base64 without padding (22 characters),
/// as `kafka-storage random-uuid` prints one, without starting a JVM for it.
fn cluster_id() -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let bits = uuid::Uuid::new_v4().as_u128();
    // 22 characters of 6 bits hold 132 bits: the UUID's 128, then four zero bits.
    (0..22)
        .map(|index| {
            let shift = 128 - 6 * (index + 1);
            let sextet = if shift >= 0 { bits >> shift } else { bits << -shift };
            ALPHABET[(sextet & 0x3f) as usize] as char
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_ids_are_22_url_safe_characters() {
        let id = cluster_id();
        assert_eq!(id.len(), 22, "{id}");
        assert!(
            id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "{id}"
        );
        // The last character carries two bits of the UUID and four zero bits.
        assert!("AQgw".contains(&id[21..]), "{id}");
    }
}
