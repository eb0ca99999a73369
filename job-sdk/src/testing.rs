//! For testing jobs natively, with `cargo test`: what the server would give
//! a job, set by the test. Only compiled for native targets.
//!
//! Natively, [`kafka`](crate::kafka) and [`cassandra`](crate::cassandra)
//! calls go to real clusters, through the same connectors the server uses,
//! so a job reads and writes as it will there. Each test thread chooses its
//! clusters: what this module set on it, or else the environment, under the
//! names the server reads:
//!
//! | | |
//! |---|---|
//! | `JOBSERVER_KAFKA_BROKERS` | `host:port[,host:port...]` |
//! | `JOBSERVER_KAFKA_TIMEOUT` | how long one request may wait (`30s`, the default) |
//! | `JOBSERVER_CASSANDRA_NODES` | `host:port[,host:port...]` |
//! | `JOBSERVER_CASSANDRA_KEYSPACE`, `_USERNAME`, `_PASSWORD` | the keyspace [`Session::open`](crate::cassandra::Session::open) uses, and the login |
//! | `JOBSERVER_CASSANDRA_CONSISTENCY`, `_TIMEOUT` | `LOCAL_QUORUM` (the driver's default), `30s` |
//!
//! With neither, calls fail with `PermissionDenied` and a message saying
//! how to name a cluster. The timeouts and the consistency come from the
//! environment whichever way the cluster is named.
//!
//! ```no_run
//! use job_sdk::testing::{self, CassandraCluster};
//!
//! testing::use_kafka("127.0.0.1:9092");
//! testing::use_cassandra(CassandraCluster {
//!     keyspace: Some("test".into()),
//!     username: Some("cassandra".into()),
//!     password: Some("cassandra".into()),
//!     ..CassandraCluster::new("127.0.0.1:9042")
//! });
//! // MyJob::run(&config) now reads and writes those clusters.
//! ```

use std::fmt;

use crate::JobInfo;
use crate::native::clusters::{self, Choice};

/// What [`job_info`](crate::job_info) returns on this thread from now on.
pub fn set_job_info(info: Option<JobInfo>) {
    crate::native::job_info::set(info);
}

/// This thread's Kafka calls go to these brokers (`host:port[,...]`) from
/// now on, whatever the environment says.
pub fn use_kafka(brokers: &str) {
    clusters::choose_kafka(Choice::Use(brokers.to_owned()));
}

/// This thread's Kafka calls fail with `PermissionDenied` from now on, as in
/// a context that grants no Kafka: for testing what a job does then.
pub fn refuse_kafka() {
    clusters::choose_kafka(Choice::Refuse);
}

/// A Cassandra cluster for [`use_cassandra`].
#[derive(Clone, Default, PartialEq, Eq)]
pub struct CassandraCluster {
    /// `host:port` of one or more nodes; the driver finds the others.
    pub nodes: Vec<String>,
    /// The keyspace [`Session::open`](crate::cassandra::Session::open) uses,
    /// as a context's does.
    pub keyspace: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
}

impl CassandraCluster {
    /// The cluster at `nodes` (`host:port[,host:port...]`), without a
    /// keyspace or a login.
    pub fn new(nodes: &str) -> CassandraCluster {
        CassandraCluster {
            nodes: nodes
                .split(',')
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .map(str::to_owned)
                .collect(),
            ..CassandraCluster::default()
        }
    }
}

impl fmt::Debug for CassandraCluster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Test output is often shared; the password stays out of it.
        f.debug_struct("CassandraCluster")
            .field("nodes", &self.nodes)
            .field("keyspace", &self.keyspace)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "********"))
            .finish()
    }
}

/// This thread's Cassandra calls go to `cluster` from now on, whatever the
/// environment says.
pub fn use_cassandra(cluster: CassandraCluster) {
    clusters::choose_cassandra(Choice::Use(cluster));
}

/// This thread's Cassandra calls fail with `PermissionDenied` from now on,
/// as in a context that grants no Cassandra.
pub fn refuse_cassandra() {
    clusters::choose_cassandra(Choice::Refuse);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{cassandra, kafka};

    #[test]
    fn refused_clusters_answer_permission_denied() {
        refuse_kafka();
        let error = kafka::partitions("t").unwrap_err();
        assert!(
            matches!(&error, kafka::Error::PermissionDenied(m) if m.contains("refuse_kafka")),
            "{error:?}"
        );
        let error = kafka::Read::topic("t").open().err();
        assert!(matches!(error, Some(kafka::Error::PermissionDenied(_))), "{error:?}");
        assert!(matches!(
            kafka::Producer::open("t").err(),
            Some(kafka::Error::PermissionDenied(_))
        ));

        refuse_cassandra();
        let error = cassandra::Session::open().err();
        assert!(
            matches!(&error, Some(cassandra::Error::PermissionDenied(m)) if m.contains("refuse_cassandra")),
            "{error:?}"
        );
        let error = crate::JobError::from(cassandra::Session::open_keyspace("ks").err().unwrap());
        assert_eq!(error.class(), "CassandraPermissionDenied");
    }

    #[test]
    fn clusters_are_parsed_from_a_list_of_nodes() {
        assert_eq!(CassandraCluster::new(" a:1, b:2 ,").nodes, ["a:1", "b:2"]);
        let cluster = CassandraCluster {
            password: Some("secret".into()),
            ..CassandraCluster::new("a:1")
        };
        assert!(!format!("{cluster:?}").contains("secret"));
    }
}
