//! The `kafka` import for native runs: the same functions and resource
//! methods as the generated bindings, served by `jobserver-connectors` on
//! this thread's cluster (see `clusters`). What the server's host does
//! between the WIT types and the connector's (`server/src/runtime/host/
//! kafka.rs`) is mirrored here, batch-size defaults and limits included, so
//! that a job reads the same batches natively as in the server.

use std::sync::{Mutex, PoisonError};

use jobserver_connectors::kafka::{self as connector, BatchLimits, Kafka, OutgoingRecord, ReadSpec};
use jobserver_connectors::limits;

use super::clusters::{self, Connected, HandleSlot};
use crate::__private::bindings::jobserver::job::kafka::{
    End, Header, Outgoing, PartitionOffset, PartitionOffsets, ReadOptions, Record, Start,
};
use crate::kafka::Error;

const HANDLES: &str = "Kafka readers and producers";

pub fn partitions(topic: &str) -> Result<Vec<PartitionOffsets>, Error> {
    let kafka = clusters::kafka()?;
    let partitions = kafka.block_on(kafka.client.partitions(topic))?;
    Ok(partitions
        .into_iter()
        .map(|p| PartitionOffsets {
            partition: p.partition,
            low: p.low,
            high: p.high,
        })
        .collect())
}

pub fn offsets_for_time(topic: &str, timestamp: i64) -> Result<Vec<PartitionOffset>, Error> {
    let kafka = clusters::kafka()?;
    Ok(offsets(
        kafka.block_on(kafka.client.offsets_for_time(topic, timestamp))?,
    ))
}

pub struct Reader {
    kafka: Connected<Kafka>,
    /// A lock only because the generated methods take `&self`; one job's
    /// thread is the only one to take it.
    reader: Mutex<connector::Reader>,
    limits: BatchLimits,
    _slot: (HandleSlot, HandleSlot),
}

impl Reader {
    pub fn open(options: &ReadOptions) -> Result<Reader, Error> {
        let kafka = clusters::kafka()?;
        let spec = ReadSpec {
            topic: options.topic.clone(),
            partitions: options.partitions.clone(),
            start: match &options.start {
                Start::Earliest => connector::Start::Earliest,
                Start::Offset(offset) => connector::Start::Offset(*offset),
                Start::Offsets(list) => connector::Start::Offsets(pairs(list)),
                Start::Timestamp(time) => connector::Start::Timestamp(*time),
            },
            end: match &options.end {
                End::Latest => connector::End::Latest,
                End::Offset(offset) => connector::End::Offset(*offset),
                End::Offsets(list) => connector::End::Offsets(pairs(list)),
                End::Timestamp(time) => connector::End::Timestamp(*time),
            },
            group: options.group.clone(),
        };
        let limits = limits::batch_limits(options.max_batch_records, options.max_batch_bytes);
        let slot = kafka.reserve_reader(HANDLES).map_err(Error::InvalidRequest)?;
        let reader = kafka.block_on(kafka.client.read(spec))?;
        Ok(Reader {
            kafka,
            reader: Mutex::new(reader),
            limits,
            _slot: slot,
        })
    }

    pub fn next_batch(&self) -> Result<Option<Vec<Record>>, Error> {
        let mut reader = self.reader.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(self.kafka.block_on(reader.next_batch(self.limits, to_record))?)
    }

    pub fn positions(&self) -> Vec<PartitionOffset> {
        offsets(self.reader.lock().unwrap_or_else(PoisonError::into_inner).positions())
    }

    pub fn ends(&self) -> Vec<PartitionOffset> {
        offsets(self.reader.lock().unwrap_or_else(PoisonError::into_inner).ends())
    }

    pub fn commit(&self) -> Result<(), Error> {
        let mut reader = self.reader.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(self.kafka.block_on(reader.commit())?)
    }
}

pub struct Producer {
    kafka: Connected<Kafka>,
    topic: String,
    _slot: HandleSlot,
}

impl Producer {
    pub fn open(topic: &str) -> Result<Producer, Error> {
        let kafka = clusters::kafka()?;
        let slot = kafka.reserve_handle(HANDLES).map_err(Error::InvalidRequest)?;
        kafka.block_on(kafka.client.check_topic(topic))?;
        Ok(Producer {
            kafka,
            topic: topic.to_owned(),
            _slot: slot,
        })
    }

    pub fn send(&self, records: &[Outgoing]) -> Result<Vec<PartitionOffset>, Error> {
        let records: Vec<OutgoingRecord> = records
            .iter()
            .map(|record| OutgoingRecord {
                key: record.key.clone(),
                value: record.value.clone(),
                headers: record
                    .headers
                    .iter()
                    .map(|h| (h.key.clone(), h.value.clone()))
                    .collect(),
                partition: record.partition,
                timestamp: record.timestamp,
            })
            .collect();
        let deliveries = self.kafka.block_on(self.kafka.client.produce(&self.topic, &records))?;
        Ok(deliveries
            .into_iter()
            .map(|d| PartitionOffset {
                partition: d.partition,
                offset: d.offset,
            })
            .collect())
    }
}

fn pairs(offsets: &[PartitionOffset]) -> Vec<(i32, i64)> {
    offsets.iter().map(|o| (o.partition, o.offset)).collect()
}

fn offsets(pairs: Vec<(i32, i64)>) -> Vec<PartitionOffset> {
    pairs
        .into_iter()
        .map(|(partition, offset)| PartitionOffset { partition, offset })
        .collect()
}

jobserver_connectors::wit_record_from_view!(to_record, Record, Header);
