//! Sending records and waiting for the brokers' acknowledgements. The
//! context's one producer is shared by its jobs; librdkafka batches what they
//! send. A call returns once every record of it is acknowledged (or failed),
//! so a job knows what was written before it goes on.

use super::Kafka;
use crate::{Error, Result};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::FutureRecord;
use rdkafka::producer::future_producer::DeliveryFuture;
use std::collections::VecDeque;

/// A record to send.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutgoingRecord {
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: Vec<(String, Option<Vec<u8>>)>,
    /// `None`: the key chooses (records without one are spread).
    pub partition: Option<i32>,
    /// Milliseconds since the epoch; `None` for the time of sending.
    pub timestamp: Option<i64>,
}

/// Where a record was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivery {
    pub partition: i32,
    pub offset: i64,
}

impl Kafka {
    /// Checks that a topic exists before records are sent to it.
    pub async fn check_topic(&self, topic: &str) -> Result<()> {
        let consumer = self.take_consumer(None)?;
        let (kafka, topic) = (self.clone(), topic.to_string());
        self.blocking(move || {
            let found = super::topic_partitions(&kafka, &consumer, &topic).map(drop);
            kafka.return_consumer(None, consumer);
            found
        })
        .await?
    }

    /// Sends the records to `topic` and waits until each is acknowledged;
    /// the deliveries are in the order of `records`.
    pub async fn produce(&self, topic: &str, records: &[OutgoingRecord]) -> Result<Vec<Delivery>> {
        let producer = self.producer()?;
        let doing = format!("sending records to Kafka topic '{topic}'");
        let mut pending: VecDeque<DeliveryFuture> = VecDeque::with_capacity(records.len());
        let mut deliveries = Vec::with_capacity(records.len());
        for record in records {
            let mut future_record = FutureRecord::<[u8], [u8]>::to(topic);
            // librdkafka allocates a header list even for none: skip it then.
            if !record.headers.is_empty() {
                let mut headers = OwnedHeaders::new_with_capacity(record.headers.len());
                for (key, value) in &record.headers {
                    headers = headers.insert(Header {
                        key,
                        value: value.as_deref(),
                    });
                }
                future_record = future_record.headers(headers);
            }
            if let Some(key) = &record.key {
                future_record = future_record.key(key.as_slice());
            }
            if let Some(value) = &record.value {
                future_record = future_record.payload(value.as_slice());
            }
            if let Some(partition) = record.partition {
                future_record = future_record.partition(partition);
            }
            if let Some(timestamp) = record.timestamp {
                future_record = future_record.timestamp(timestamp);
            }
            loop {
                match producer.send_result(future_record) {
                    Ok(delivery) => {
                        pending.push_back(delivery);
                        break;
                    }
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), returned)) => {
                        // librdkafka's queue is full: wait for the oldest
                        // record in flight, which makes room.
                        future_record = returned;
                        match pending.pop_front() {
                            Some(oldest) => deliveries.push(acknowledged(self, &doing, oldest, &deliveries).await?),
                            None => tokio::time::sleep(std::time::Duration::from_millis(10)).await,
                        }
                    }
                    Err((error, _)) => return Err(self.context().error(&doing, &error)),
                }
            }
        }
        while let Some(delivery) = pending.pop_front() {
            deliveries.push(acknowledged(self, &doing, delivery, &deliveries).await?);
        }
        self.context().reached();
        Ok(deliveries)
    }
}

async fn acknowledged(kafka: &Kafka, doing: &str, delivery: DeliveryFuture, before: &[Delivery]) -> Result<Delivery> {
    match delivery.await {
        Ok(Ok(delivered)) => Ok(Delivery {
            partition: delivered.partition,
            offset: delivered.offset,
        }),
        Ok(Err((error, _))) => {
            let error = kafka.context().error(doing, &error);
            Err(Error::new(
                error.kind,
                format!("{error} ({} records before it were acknowledged)", before.len()),
            ))
        }
        Err(_) => Err(Error::other(format!("{doing}: the producer was closed"))),
    }
}
