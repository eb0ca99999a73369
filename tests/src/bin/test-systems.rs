//! Starts the systems the end-to-end tests use, Apache Kafka and Cassandra on free ports
//! of 127.0.0.1, by the same code as the tests, and keeps them running until Ctrl-C, so
//! that the Kafka and Cassandra examples can be tried by hand without clusters of one's
//! own. Prints the settings that point a server at them. Each argument `NAME[:PARTITIONS]`
//! creates a topic (kept for ever, `retention.ms=-1`, so that records with old timestamps
//! stay).
//!
//! `cargo run -p jobserver-tests --bin test-systems -- words:4 segment`

use std::process::ExitCode;
use std::time::Duration;

use jobserver_tests::systems::{apache_kafka, cassandra};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;

fn topic(argument: &str) -> Result<(&str, i32), String> {
    let (name, partitions) = match argument.split_once(':') {
        Some((name, partitions)) => (
            name,
            partitions
                .parse()
                .map_err(|_| format!("{argument}: not NAME:PARTITIONS"))?,
        ),
        None => (argument, 1),
    };
    if name.is_empty() || !(1..=1000).contains(&partitions) {
        return Err(format!("{argument}: a topic needs a name and 1 to 1000 partitions"));
    }
    Ok((name, partitions))
}

#[tokio::main]
async fn main() -> ExitCode {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    let topics = match arguments.iter().map(|a| topic(a)).collect::<Result<Vec<_>, _>>() {
        Ok(topics) => topics,
        Err(problem) => {
            eprintln!("{problem}");
            return ExitCode::FAILURE;
        }
    };
    let (Some(kafka), cassandra) = (apache_kafka(), cassandra()) else {
        eprintln!("Apache Kafka cannot run here (see SKIPPED above)");
        return ExitCode::FAILURE;
    };
    if !topics.is_empty() {
        let admin: AdminClient<DefaultClientContext> = match kafka.client_config().create() {
            Ok(admin) => admin,
            Err(error) => {
                eprintln!("an admin client for {}: {error}", kafka.bootstrap);
                return ExitCode::FAILURE;
            }
        };
        let new: Vec<NewTopic> = topics
            .iter()
            .map(|(name, partitions)| {
                NewTopic::new(name, *partitions, TopicReplication::Fixed(1)).set("retention.ms", "-1")
            })
            .collect();
        let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
        match admin.create_topics(&new, &options).await {
            Ok(results) => {
                for result in results {
                    match result {
                        Ok(name) => println!("topic {name} created"),
                        Err((name, code)) => eprintln!("topic {name} not created: {code}"),
                    }
                }
            }
            Err(error) => eprintln!("creating topics: {error}"),
        }
    }
    println!("\nApache Kafka and Cassandra run until Ctrl-C. Point a server at them with:\n");
    let mut settings = format!("JOBSERVER_KAFKA_BROKERS={}", kafka.bootstrap);
    match cassandra {
        Some(node) => {
            settings += &format!(
                " JOBSERVER_CASSANDRA_NODES={} JOBSERVER_CASSANDRA_USERNAME={} JOBSERVER_CASSANDRA_PASSWORD={}",
                node.contact_point, node.username, node.password
            );
        }
        None => println!("(Cassandra cannot run here: see SKIPPED above)"),
    }
    println!("  {settings} \\\n    cargo run --release --bin jobserver -- serve\n");
    // The systems die with this process. Waiting for the signals explicitly
    // ends it even where SIGINT was ignored (started with `&` from a script).
    let mut terminate = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(terminate) => terminate,
        Err(error) => {
            eprintln!("cannot wait for SIGTERM: {error}");
            return ExitCode::FAILURE;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
    println!("stopping Apache Kafka and Cassandra");
    ExitCode::SUCCESS
}
