//! Writing to a topic: [`Outgoing`] records built in one expression and a
//! [`Producer`] that sends a slice of them and returns once the brokers
//! acknowledged every one. Sending a slice, not a record at a time, is the
//! point: each send is one call to the host.
//!
//! There is no buffering producer that sends every N records: a job that
//! sends the output of each batch it read (or `chunks` of a larger `Vec`)
//! says just as simply when its records are written, and cannot forget a
//! last flush.

use serde::Serialize;

use super::{Error, Header, Outgoing, PartitionOffset, host};
use crate::JobError;

/// Sends records to one topic.
///
/// ```no_run
/// use job_sdk::kafka::{Outgoing, Producer};
///
/// let producer = Producer::open("greetings")?;
/// let written = producer.send(&[
///     Outgoing::value("hello").key("en"),
///     Outgoing::value("bonjour").key("fr").header("source", "job"),
/// ])?;
/// job_sdk::info!("the first went to partition {}", written[0].partition);
/// # Ok::<(), job_sdk::kafka::Error>(())
/// ```
pub struct Producer {
    producer: host::Producer,
}

impl Producer {
    /// A producer for `topic`; fails when the topic does not exist.
    pub fn open(topic: &str) -> Result<Producer, Error> {
        host::Producer::open(topic).map(|producer| Producer { producer })
    }

    /// Sends the records and returns once the brokers have acknowledged
    /// every one, with where each was written, in the order of `records`.
    /// After an error some of the records may have been written.
    pub fn send(&self, records: &[Outgoing]) -> Result<Vec<PartitionOffset>, Error> {
        self.producer.send(records)
    }
}

/// Builds a record to send: `Outgoing::value("v").key("k").partition(0)`.
/// Keys and values are bytes: `&str`, `String`, `&[u8]` and `Vec<u8>` all
/// serve.
impl Outgoing {
    /// A record with this value, no key (records without a key are spread
    /// over the partitions) and no headers, stamped with the time of sending.
    pub fn value(value: impl Into<Vec<u8>>) -> Outgoing {
        Outgoing {
            key: None,
            value: Some(value.into()),
            headers: Vec::new(),
            partition: None,
            timestamp: None,
        }
    }

    /// A record whose value is `value` as JSON.
    pub fn json<T: Serialize + ?Sized>(value: &T) -> Result<Outgoing, JobError> {
        Ok(Outgoing::value(serde_json::to_vec(value)?))
    }

    /// A record with a key and no value: in a compacted topic, it deletes
    /// the key.
    pub fn tombstone(key: impl Into<Vec<u8>>) -> Outgoing {
        Outgoing {
            value: None,
            ..Outgoing::value(Vec::new()).key(key)
        }
    }

    /// Sets the key, which also chooses the partition unless
    /// [`partition`](Outgoing::partition) does.
    pub fn key(mut self, key: impl Into<Vec<u8>>) -> Outgoing {
        self.key = Some(key.into());
        self
    }

    /// Adds a header; a record may have several of one name.
    pub fn header(mut self, key: impl Into<String>, value: impl Into<Vec<u8>>) -> Outgoing {
        self.headers.push(Header {
            key: key.into(),
            value: Some(value.into()),
        });
        self
    }

    /// Writes the record to this partition, whatever its key.
    pub fn partition(mut self, partition: i32) -> Outgoing {
        self.partition = Some(partition);
        self
    }

    /// Stamps the record with this time, in milliseconds since the Unix
    /// epoch, instead of the time of sending.
    pub fn timestamp(mut self, millis: i64) -> Outgoing {
        self.timestamp = Some(millis);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_every_field() {
        let record = Outgoing::value("v")
            .key(b"k".as_slice())
            .header("h", vec![1])
            .header("h", "2")
            .partition(3)
            .timestamp(4);
        assert_eq!(
            record,
            Outgoing {
                key: Some(b"k".to_vec()),
                value: Some(b"v".to_vec()),
                headers: vec![
                    Header {
                        key: "h".into(),
                        value: Some(vec![1]),
                    },
                    Header {
                        key: "h".into(),
                        value: Some(b"2".to_vec()),
                    },
                ],
                partition: Some(3),
                timestamp: Some(4),
            }
        );
    }

    #[test]
    fn defaults_leave_the_choice_to_kafka() {
        let record = Outgoing::value(String::from("v"));
        assert_eq!(
            (record.key, record.headers.len(), record.partition, record.timestamp),
            (None, 0, None, None)
        );
    }

    #[test]
    fn json_and_tombstones() {
        let record = Outgoing::json(&job_sdk::json!({"a": [1, 2]})).unwrap();
        assert_eq!(record.value.as_deref(), Some(&br#"{"a":[1,2]}"#[..]));
        let tombstone = Outgoing::tombstone("gone");
        assert_eq!((tombstone.key.as_deref(), tombstone.value), (Some(&b"gone"[..]), None));
    }
}
