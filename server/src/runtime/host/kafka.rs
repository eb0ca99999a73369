//! The `kafka` import: the context's brokers, through `jobserver-connectors`.
//! This file only translates between the WIT types and the connector's, keeps
//! the job's readers and producers in a table of their own, and bounds what
//! one batch may carry into the guest.

use super::super::bindings::current::jobserver::job::kafka as wit;
use super::Grant;
use jobserver_connectors::kafka::{BatchLimits, End, Kafka, OutgoingRecord, ReadSpec, Reader, Start};
use jobserver_connectors::limits::{self, MAX_OPEN_HANDLES, MAX_OPEN_READERS};
use wasmtime::component::{Resource, ResourceTable};

pub struct ReaderHandle {
    reader: Reader,
    limits: BatchLimits,
}

pub struct ProducerHandle {
    topic: String,
}

pub struct KafkaHost {
    kafka: Grant<Kafka>,
    table: ResourceTable,
    open_handles: usize,
    open_readers: usize,
}

type WitResult<T> = wasmtime::Result<Result<T, wit::Error>>;

impl KafkaHost {
    pub fn new(kafka: Grant<Kafka>) -> KafkaHost {
        KafkaHost {
            kafka,
            table: ResourceTable::new(),
            open_handles: 0,
            open_readers: 0,
        }
    }

    fn kafka(&self) -> Result<Kafka, wit::Error> {
        match &self.kafka {
            Grant::Granted(kafka) => Ok(kafka.clone()),
            Grant::Refused(reason) => Err(wit::Error::PermissionDenied(reason.clone())),
        }
    }

    fn reserve_handle(&mut self) -> Result<(), wit::Error> {
        if self.open_handles >= MAX_OPEN_HANDLES {
            return Err(wit::Error::InvalidRequest(format!(
                "a job may hold at most {MAX_OPEN_HANDLES} Kafka readers and producers open at once; drop some first"
            )));
        }
        self.open_handles += 1;
        Ok(())
    }
}

jobserver_connectors::wit_error_from_connector!(wit::Error);

fn pairs(offsets: Vec<wit::PartitionOffset>) -> Vec<(i32, i64)> {
    offsets.into_iter().map(|o| (o.partition, o.offset)).collect()
}

fn offsets(pairs: Vec<(i32, i64)>) -> Vec<wit::PartitionOffset> {
    pairs
        .into_iter()
        .map(|(partition, offset)| wit::PartitionOffset { partition, offset })
        .collect()
}

use wit::{Header, Record};
jobserver_connectors::wit_record_from_view!(to_record, Record, Header);

impl wit::Host for KafkaHost {
    async fn partitions(&mut self, topic: String) -> WitResult<Vec<wit::PartitionOffsets>> {
        let kafka = match self.kafka() {
            Ok(kafka) => kafka,
            Err(error) => return Ok(Err(error)),
        };
        Ok(kafka
            .partitions(&topic)
            .await
            .map(|partitions| {
                partitions
                    .into_iter()
                    .map(|p| wit::PartitionOffsets {
                        partition: p.partition,
                        low: p.low,
                        high: p.high,
                    })
                    .collect()
            })
            .map_err(Into::into))
    }

    async fn offsets_for_time(&mut self, topic: String, timestamp: i64) -> WitResult<Vec<wit::PartitionOffset>> {
        let kafka = match self.kafka() {
            Ok(kafka) => kafka,
            Err(error) => return Ok(Err(error)),
        };
        Ok(kafka
            .offsets_for_time(&topic, timestamp)
            .await
            .map(offsets)
            .map_err(Into::into))
    }
}

impl wit::HostReader for KafkaHost {
    async fn open(&mut self, options: wit::ReadOptions) -> WitResult<Resource<ReaderHandle>> {
        let kafka = match self.kafka() {
            Ok(kafka) => kafka,
            Err(error) => return Ok(Err(error)),
        };
        let spec = ReadSpec {
            topic: options.topic,
            partitions: options.partitions,
            start: match options.start {
                wit::Start::Earliest => Start::Earliest,
                wit::Start::Offset(offset) => Start::Offset(offset),
                wit::Start::Offsets(list) => Start::Offsets(pairs(list)),
                wit::Start::Timestamp(time) => Start::Timestamp(time),
            },
            end: match options.end {
                wit::End::Latest => End::Latest,
                wit::End::Offset(offset) => End::Offset(offset),
                wit::End::Offsets(list) => End::Offsets(pairs(list)),
                wit::End::Timestamp(time) => End::Timestamp(time),
            },
            group: options.group,
        };
        let limits = limits::batch_limits(options.max_batch_records, options.max_batch_bytes);
        if self.open_readers >= MAX_OPEN_READERS {
            return Ok(Err(wit::Error::InvalidRequest(format!(
                "a job may hold at most {MAX_OPEN_READERS} Kafka readers open at once; drop one first"
            ))));
        }
        if let Err(error) = self.reserve_handle() {
            return Ok(Err(error));
        }
        match kafka.read(spec).await {
            Ok(reader) => {
                self.open_readers += 1;
                Ok(Ok(self.table.push(ReaderHandle { reader, limits })?))
            }
            Err(error) => {
                self.open_handles -= 1;
                Ok(Err(error.into()))
            }
        }
    }

    async fn next_batch(&mut self, reader: Resource<ReaderHandle>) -> WitResult<Option<Vec<wit::Record>>> {
        let handle = self.table.get_mut(&reader)?;
        let limits = handle.limits;
        Ok(handle.reader.next_batch(limits, to_record).await.map_err(Into::into))
    }

    async fn positions(&mut self, reader: Resource<ReaderHandle>) -> wasmtime::Result<Vec<wit::PartitionOffset>> {
        Ok(offsets(self.table.get(&reader)?.reader.positions()))
    }

    async fn ends(&mut self, reader: Resource<ReaderHandle>) -> wasmtime::Result<Vec<wit::PartitionOffset>> {
        Ok(offsets(self.table.get(&reader)?.reader.ends()))
    }

    async fn commit(&mut self, reader: Resource<ReaderHandle>) -> WitResult<()> {
        Ok(self.table.get_mut(&reader)?.reader.commit().await.map_err(Into::into))
    }

    async fn drop(&mut self, reader: Resource<ReaderHandle>) -> wasmtime::Result<()> {
        self.table.delete(reader)?;
        self.open_handles -= 1;
        self.open_readers -= 1;
        Ok(())
    }
}

impl wit::HostProducer for KafkaHost {
    async fn open(&mut self, topic: String) -> WitResult<Resource<ProducerHandle>> {
        let kafka = match self.kafka() {
            Ok(kafka) => kafka,
            Err(error) => return Ok(Err(error)),
        };
        if let Err(error) = self.reserve_handle() {
            return Ok(Err(error));
        }
        match kafka.check_topic(&topic).await {
            Ok(()) => Ok(Ok(self.table.push(ProducerHandle { topic })?)),
            Err(error) => {
                self.open_handles -= 1;
                Ok(Err(error.into()))
            }
        }
    }

    async fn send(
        &mut self,
        producer: Resource<ProducerHandle>,
        records: Vec<wit::Outgoing>,
    ) -> WitResult<Vec<wit::PartitionOffset>> {
        let kafka = match self.kafka() {
            Ok(kafka) => kafka,
            Err(error) => return Ok(Err(error)),
        };
        let topic = self.table.get(&producer)?.topic.clone();
        let records: Vec<OutgoingRecord> = records
            .into_iter()
            .map(|record| OutgoingRecord {
                key: record.key,
                value: record.value,
                headers: record.headers.into_iter().map(|h| (h.key, h.value)).collect(),
                partition: record.partition,
                timestamp: record.timestamp,
            })
            .collect();
        Ok(kafka
            .produce(&topic, &records)
            .await
            .map(|deliveries| {
                deliveries
                    .into_iter()
                    .map(|d| wit::PartitionOffset {
                        partition: d.partition,
                        offset: d.offset,
                    })
                    .collect()
            })
            .map_err(Into::into))
    }

    async fn drop(&mut self, producer: Resource<ProducerHandle>) -> wasmtime::Result<()> {
        self.table.delete(producer)?;
        self.open_handles -= 1;
        Ok(())
    }
}
