//! Where a context's Kafka and Cassandra come from: the server's defaults, the
//! context's own settings, or neither; shown with every credential masked,
//! refused with a reason when unusable, and kept across restarts.

use super::*;
use jobserver_tests::ServerOptions;
use serde_json::json;

const SECRETS: [&str; 3] = ["k4fka-s3cret", "c4ss-s3cret", "server-s3cret"];

fn assert_no_secret(text: &str, what: &str) {
    for secret in SECRETS {
        assert!(!text.contains(secret), "{what} shows a secret: {text}");
    }
}

#[tokio::test]
async fn contexts_take_clusters_of_their_own_and_never_show_their_credentials() {
    let mut server = TestServer::start_with(
        ServerOptions::with_database(&fresh_database().await)
            .env("JOBSERVER_KAFKA_BROKERS", "server-kafka:9092")
            .env("JOBSERVER_CASSANDRA_NODES", "server-cassandra:9042")
            .env("JOBSERVER_CASSANDRA_USERNAME", "server-user")
            .env("JOBSERVER_CASSANDRA_PASSWORD", "server-s3cret"),
    )
    .await;
    let api = server.api();
    let body = r#"
        kafka {
          brokers = "mine:9092"
          options { "security.protocol" = SASL_PLAINTEXT, "sasl.mechanism" = PLAIN, "sasl.username" = me, "sasl.password" = k4fka-s3cret,
                    "sasl.oauthbearer.config" = "principal=me secret=k4fka-s3cret" }
        }
        cassandra { nodes = ["mine:9042"], keyspace = metrics, username = me, password = c4ss-s3cret, consistency = one }
    "#;
    let reply = api.post("/contexts/own", body).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let shown = api.get("/contexts/own").await;
    assert_no_secret(&shown.body.to_string(), "GET /contexts/own");
    let kafka = &shown.body["settings"]["kafka"];
    assert_eq!(kafka["enabled"], true);
    assert_eq!(kafka["brokers"], "mine:9092");
    assert_eq!(kafka["options"]["sasl.password"], "********", "{kafka}");
    assert_eq!(kafka["options"]["sasl.oauthbearer.config"], "********", "{kafka}");
    assert_eq!(kafka["options"]["security.protocol"], "SASL_PLAINTEXT");
    let cassandra = &shown.body["settings"]["cassandra"];
    assert_eq!(cassandra["nodes"], json!(["mine:9042"]));
    assert_eq!(cassandra["keyspace"], "metrics");
    assert_eq!(
        cassandra["username"], "me",
        "a context with nodes of its own gets none of the server's login"
    );
    assert_eq!(cassandra["password"], "********");
    assert_eq!(cassandra["consistency"], "ONE");

    // A context of no clusters of its own reaches the server's, whose password is not shown either.
    assert_eq!(api.post("/contexts/plain", "").await.status, 200);
    let plain = api.get("/contexts/plain").await.body;
    assert_eq!(plain["settings"]["kafka"]["brokers"], "server-kafka:9092", "{plain}");
    assert_eq!(plain["settings"]["cassandra"]["username"], "server-user", "{plain}");
    assert_no_secret(&plain.to_string(), "GET /contexts/plain");

    // Turned off, by query parameter.
    let off = api
        .post("/contexts/off?kafka.enabled=false&cassandra.enabled=off", "")
        .await;
    assert_eq!(off.status, 200, "{off:?}");
    let off = api.get("/contexts/off").await.body;
    assert_eq!(off["settings"]["kafka"]["enabled"], false);
    assert!(
        off["settings"]["kafka"]["reason"]
            .as_str()
            .unwrap()
            .contains("kafka.enabled = false"),
        "{off}"
    );

    server.terminate().await;
    server.restart().await;
    let api = server.api();
    let again = api.get("/contexts/own").await.body;
    assert_eq!(
        again["settings"]["kafka"]["brokers"], "mine:9092",
        "kept across a restart: {again}"
    );
    assert_eq!(again["settings"]["cassandra"]["password"], "********");
    assert_no_secret(&server.log(), "the server's log");
}

#[tokio::test]
async fn unusable_cluster_settings_are_refused_and_nothing_is_created() {
    let server = TestServer::start(&fresh_database().await).await;
    let api = server.api();
    let cases = [
        ("kafka.options.no.such.option=1&kafka.brokers=b:9092", "no.such.option"),
        ("kafka.enabled=maybe", "kafka.enabled' must be true or false"),
        ("cassandra.consistency=most", "'most' is not a consistency level"),
        ("cassandra.replicas=3", "unknown context setting 'cassandra.replicas'"),
        ("kafka.timeout=0s", "kafka.timeout must be longer than zero"),
        (
            "kafka.brokers=a:1&kafka.brokers=b:2",
            "'kafka.brokers' is given more than once",
        ),
        // Options that load code or read the server's files are the server's alone.
        (
            "kafka.brokers=b:9092&kafka.options.plugin.library.paths=/tmp/evil.so",
            "'plugin.library.paths' cannot be set",
        ),
        (
            "kafka.brokers=b:9092&kafka.options.ssl.ca.location=/etc/shadow",
            "'ssl.ca.location' cannot be set",
        ),
        (
            "kafka.brokers=b:9092&kafka.options.message.max.bytes=1000000000",
            "up to 67108864",
        ),
        ("cassandra.username=a%00b", "NUL"),
        ("cassandra.keyspace=ks%3B%20drop", "not a Cassandra keyspace name"),
        ("job-timeout=1000d", "job-timeout"),
    ];
    for (query, expected) in cases {
        let reply = api.post(&format!("/contexts/bad?{query}"), "").await;
        assert_eq!(reply.status, 400, "{query}: {reply:?}");
        assert!(
            reply.message().contains(expected),
            "{query}: {:?} lacks {expected:?}",
            reply.message()
        );
    }
    let reply = api.post("/contexts/bad", "kafka = 5").await;
    assert_eq!(reply.status, 400, "{reply:?}");
    // The same option in the query and the body is a mistake, not a choice.
    let twice = api
        .post(
            "/contexts/bad?kafka.brokers=b:9092&kafka.options.client.rack=a",
            r#"kafka.options { "client.rack" = b }"#,
        )
        .await;
    assert_eq!(twice.status, 400, "{twice:?}");
    assert!(twice.message().contains("more than once"), "{twice:?}");
    assert_eq!(api.get("/contexts").await.body, json!([]));
}

#[tokio::test]
async fn a_server_whose_own_cluster_settings_are_unusable_says_so_at_start() {
    let database = fresh_database().await;
    let output = std::process::Command::new(jobserver_tests::server_binary())
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--cassandra-consistency",
            "sometimes",
        ])
        .env("DATABASE_URL", &database)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("'sometimes' is not a consistency level"), "{stderr}");
}
