//! Apache Cassandra for the tests: one node run from the jars Maven Central serves
//! (`tests/systems/cassandra/pom.xml`) with a minimal configuration of our own, password
//! authentication on (user `cassandra`, password `cassandra`) so that clients' credentials
//! are exercised, JMX off (the daemon opens no JMX port unless told to, so two test
//! processes do not collide) and the waits a real cluster needs (gossip settling, the
//! ten-second delay before the default role is created) cut to nothing. Or, with
//! `JOBSERVER_TEST_CASSANDRA=host:port[,host:port]`, a running cluster.

use super::jars::{self, JarSet};
use super::process::{Launch, write_config};
use super::{Outcome, Running, scratch_dir, start_once};
use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;
use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// How long the node may take to let a client log in; it takes seconds.
const READY_TIMEOUT: Duration = Duration::from_secs(180);
const DEFAULT_CREDENTIALS: &str = "cassandra";

/// A node (or cluster) the tests may use. Shared by every test of the process: give
/// keyspaces names of their own (`unique_name`).
#[derive(Debug, Clone)]
pub struct CassandraNode {
    /// `127.0.0.1:<port>`, or what `JOBSERVER_TEST_CASSANDRA` names: one or more
    /// `host:port`, separated by commas.
    pub contact_point: String,
    pub username: String,
    pub password: String,
}

impl CassandraNode {
    /// Each `host:port` of `contact_point`.
    pub fn contact_points(&self) -> Vec<&str> {
        self.contact_point
            .split(',')
            .map(str::trim)
            .filter(|point| !point.is_empty())
            .collect()
    }
}

/// Cassandra, started on first use; `None` when this machine cannot run it.
pub fn cassandra() -> Option<&'static CassandraNode> {
    static CASSANDRA: OnceLock<Outcome<CassandraNode>> = OnceLock::new();
    start_once(&CASSANDRA, "Cassandra", || {
        if let Ok(contact_point) = std::env::var("JOBSERVER_TEST_CASSANDRA") {
            let credential = |name: &str| std::env::var(name).unwrap_or_else(|_| DEFAULT_CREDENTIALS.to_string());
            let node = CassandraNode {
                contact_point,
                username: credential("JOBSERVER_TEST_CASSANDRA_USERNAME"),
                password: credential("JOBSERVER_TEST_CASSANDRA_PASSWORD"),
            };
            wait_until_external_answers(&node);
            return Ok(Running::external(node));
        }
        let java = jars::java()?;
        let jars = JarSet::CASSANDRA.fetch()?;
        Ok(start(&java, &jars))
    })
}

/// A session logged in to `node`. Panics, saying why, when it cannot connect.
pub async fn cql_session(node: &CassandraNode) -> Session {
    connect(node)
        .await
        .unwrap_or_else(|error| panic!("cannot connect to Cassandra at {}: {error}", node.contact_point))
}

/// A new keyspace of one replica, named `<prefix>_<8 hex>`; returns its name.
pub async fn fresh_keyspace(node: &CassandraNode, prefix: &str) -> String {
    let keyspace = super::unique_name(prefix);
    cql(
        node,
        &format!(
            "CREATE KEYSPACE {keyspace} WITH replication = {{'class': 'SimpleStrategy', 'replication_factor': 1}}"
        ),
    )
    .await;
    keyspace
}

/// Runs one unprepared statement (`CREATE KEYSPACE ...`, say) on a session of its own.
pub async fn cql(node: &CassandraNode, statement: &str) {
    cql_session(node)
        .await
        .query_unpaged(statement, ())
        .await
        .unwrap_or_else(|error| panic!("Cassandra refused `{statement}`: {error}"));
}

async fn connect(node: &CassandraNode) -> Result<Session, String> {
    SessionBuilder::new()
        .known_nodes(node.contact_points())
        .user(&node.username, &node.password)
        .connection_timeout(Duration::from_secs(5))
        .build()
        .await
        .map_err(|error| error.to_string())
}

/// Ready means what the tests need: a client logs in and reads. The port opens before the
/// default role exists, and then a login fails for a moment.
async fn answers_queries(node: &CassandraNode) -> Result<(), String> {
    let session = connect(node).await?;
    session
        .query_unpaged("SELECT release_version FROM system.local", ())
        .await
        .map_err(|error| format!("SELECT release_version FROM system.local: {error}"))?;
    Ok(())
}

/// A tokio runtime of its own: the start runs outside the tests' runtimes (see
/// `start_once`), and the driver is async only.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|error| panic!("cannot build a tokio runtime to check on Cassandra: {error}"))
}

/// A cluster named by the environment must be up: not reaching it is a failure, not a skip.
fn wait_until_external_answers(node: &CassandraNode) {
    let runtime = runtime();
    let started = Instant::now();
    loop {
        match runtime.block_on(answers_queries(node)) {
            Ok(()) => return,
            Err(error) if started.elapsed() > Duration::from_secs(30) => {
                panic!(
                    "JOBSERVER_TEST_CASSANDRA={} does not answer: {error}",
                    node.contact_point
                )
            }
            Err(_) => std::thread::sleep(Duration::from_millis(500)),
        }
    }
}

fn start(java: &Path, jars: &Path) -> Running<CassandraNode> {
    let launch = Launch {
        name: "Cassandra",
        dir: scratch_dir("cassandra"),
        ports: 2,
        timeout: READY_TIMEOUT,
    };
    let runtime = runtime();
    let classpath = jars::classpath(jars);
    let agent = format!("-javaagent:{}", jars::jar_named(jars, "jamm-").display());
    let node = |port: u16| CassandraNode {
        contact_point: format!("127.0.0.1:{port}"),
        username: DEFAULT_CREDENTIALS.to_string(),
        password: DEFAULT_CREDENTIALS.to_string(),
    };
    let (process, ports) = launch.start(
        |ports| {
            let (native_port, storage_port) = (ports[0], ports[1]);
            let dir = &launch.dir;
            let yaml = dir.join("cassandra.yaml");
            let logback = dir.join("logback.xml");
            write_config(&yaml, &cassandra_yaml(dir, native_port, storage_port));
            write_config(&logback, LOGBACK);
            let triggers = dir.join("triggers");
            std::fs::create_dir_all(&triggers)
                .unwrap_or_else(|error| panic!("cannot create {}: {error}", triggers.display()));

            let mut daemon = Command::new(java);
            daemon
                .args(["-Xms512m", "-Xmx512m", "-XX:+UseG1GC", "-XX:+ExitOnOutOfMemoryError"])
                .args(JAVA_17_MODULE_OPTIONS)
                .args([
                    "-Djava.net.preferIPv4Stack=true",
                    "-Dcassandra-foreground=yes",
                    "-Dcassandra.skip_wait_for_gossip_to_settle=0",
                    "-Dcassandra.ring_delay_ms=0",
                    // The default role is created this long after start-up (10 s by default).
                    "-Dcassandra.superuser_setup_delay_ms=0",
                ])
                .arg(format!("-Dcassandra.config=file://{}", yaml.display()))
                .arg(format!("-Dlogback.configurationFile={}", logback.display()))
                .arg(format!("-Dcassandra.storagedir={}", dir.display()))
                .arg(format!("-Dcassandra.logdir={}", dir.display()))
                .arg(format!("-Dcassandra.triggers_dir={}", triggers.display()))
                .arg(&agent)
                .args(["-cp", &classpath, "org.apache.cassandra.service.CassandraDaemon"]);
            daemon
        },
        |ports| runtime.block_on(answers_queries(&node(ports[0]))),
    );
    Running {
        system: node(ports[0]),
        _process: Some(process),
    }
}

fn cassandra_yaml(dir: &Path, native_port: u16, storage_port: u16) -> String {
    let dir = dir.display();
    format!(
        "cluster_name: jobserver-tests
num_tokens: 1
initial_token: 0
partitioner: org.apache.cassandra.dht.Murmur3Partitioner
commitlog_directory: {dir}/commitlog
data_file_directories: [{dir}/data]
saved_caches_directory: {dir}/saved_caches
hints_directory: {dir}/hints
cdc_raw_directory: {dir}/cdc_raw
commitlog_sync: periodic
commitlog_sync_period: 10000ms
seed_provider:
  - class_name: org.apache.cassandra.locator.SimpleSeedProvider
    parameters:
      - seeds: \"127.0.0.1:{storage_port}\"
listen_address: 127.0.0.1
rpc_address: 127.0.0.1
storage_port: {storage_port}
native_transport_port: {native_port}
start_native_transport: true
endpoint_snitch: SimpleSnitch
authenticator: PasswordAuthenticator
authorizer: AllowAllAuthorizer
# Tests drop and truncate freely; snapshots of scratch data would only cost time.
auto_snapshot: false
"
    )
}

/// Warnings and errors to stderr, which is the log file, and the daemon's own start-up
/// lines ("Startup complete") to see how far a start got.
const LOGBACK: &str = r#"<configuration>
  <appender name="STDERR" class="ch.qos.logback.core.ConsoleAppender">
    <target>System.err</target>
    <encoder><pattern>%-5level [%thread] %date %F:%L - %msg%n</pattern></encoder>
  </appender>
  <root level="WARN"><appender-ref ref="STDERR"/></root>
  <logger name="org.apache.cassandra.service.CassandraDaemon" level="INFO"/>
</configuration>
"#;

/// The module options of Cassandra 5.0's `conf/jvm17-server.options`, which the daemon needs
/// on Java 17 (the jar does not carry that file).
const JAVA_17_MODULE_OPTIONS: &[&str] = &[
    "-Djdk.attach.allowAttachSelf=true",
    "-Dio.netty.tryReflectionSetAccessible=true",
    "--add-exports=java.base/jdk.internal.misc=ALL-UNNAMED",
    "--add-exports=java.base/jdk.internal.ref=ALL-UNNAMED",
    "--add-exports=java.base/sun.nio.ch=ALL-UNNAMED",
    "--add-exports=java.management.rmi/com.sun.jmx.remote.internal.rmi=ALL-UNNAMED",
    "--add-exports=java.rmi/sun.rmi.registry=ALL-UNNAMED",
    "--add-exports=java.rmi/sun.rmi.server=ALL-UNNAMED",
    "--add-exports=java.sql/java.sql=ALL-UNNAMED",
    "--add-opens=java.base/java.lang.module=ALL-UNNAMED",
    "--add-opens=java.base/jdk.internal.loader=ALL-UNNAMED",
    "--add-opens=java.base/jdk.internal.ref=ALL-UNNAMED",
    "--add-opens=java.base/jdk.internal.reflect=ALL-UNNAMED",
    "--add-opens=java.base/jdk.internal.math=ALL-UNNAMED",
    "--add-opens=java.base/jdk.internal.module=ALL-UNNAMED",
    "--add-opens=java.base/jdk.internal.util.jar=ALL-UNNAMED",
    "--add-opens=jdk.management/com.sun.management.internal=ALL-UNNAMED",
    "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
    "--add-opens=java.base/java.io=ALL-UNNAMED",
    "--add-opens=java.base/java.nio=ALL-UNNAMED",
    "--add-opens=java.base/java.util.concurrent=ALL-UNNAMED",
    "--add-opens=java.base/java.util=ALL-UNNAMED",
    "--add-opens=java.base/java.util.concurrent.atomic=ALL-UNNAMED",
    "--add-opens=java.base/java.lang=ALL-UNNAMED",
    "--add-opens=java.base/java.math=ALL-UNNAMED",
    "--add-opens=java.base/java.lang.reflect=ALL-UNNAMED",
    "--add-opens=java.base/java.net=ALL-UNNAMED",
];
