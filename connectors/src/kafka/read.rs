//! One bounded read of a topic: opened with its ends fixed, then drained in
//! batches. Opening asks the brokers where each partition starts and ends
//! (the end from a fetch, which every broker answers right), applies the
//! group's committed offsets, and turns times into offsets to be confirmed
//! by the records (see `partition`).

use super::commit::{Committed, commit_within};
use super::lookups::{committed_offsets, offsets_for_times, snapshot};
use super::partition::{PartitionRead, Step, TimeRange};
use super::{Kafka, KafkaConsumer, PartitionOffsets, STEP, topic_partitions};
use crate::{Error, ErrorKind, Result};
use rdkafka::consumer::Consumer;
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Headers};
use rdkafka::{Message, Offset, TopicPartitionList};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// Where a read starts in each partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Start {
    /// The first record still held.
    Earliest,
    /// This offset in every partition read.
    Offset(i64),
    /// Per partition; partitions not named start at their first record.
    Offsets(Vec<(i32, i64)>),
    /// The earliest record whose timestamp is at or after this time (ms).
    Timestamp(i64),
}

/// Where a read ends in each partition (exclusive).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    /// The end of the partition as it was when the read began.
    Latest,
    /// This offset in every partition, or `Latest` where that is sooner.
    Offset(i64),
    /// Per partition; partitions not named end as with `Latest`.
    Offsets(Vec<(i32, i64)>),
    /// Before the first record stamped at or after this time (ms), the offset
    /// Apache Kafka answers for it; up to `Latest` at most.
    Timestamp(i64),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadSpec {
    pub topic: String,
    /// Every partition of the topic when empty.
    pub partitions: Vec<i32>,
    pub start: Start,
    pub end: End,
    /// Start where this group committed (elsewhere at `start`); `commit`
    /// records how far the read came.
    pub group: Option<String>,
}

/// How much one batch may hold; at least one record, however large.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchLimits {
    pub max_records: usize,
    pub max_bytes: usize,
}

/// A record as the consumer holds it, for the caller to copy what it needs.
pub struct RecordView<'a> {
    message: &'a BorrowedMessage<'a>,
}

impl RecordView<'_> {
    pub fn partition(&self) -> i32 {
        self.message.partition()
    }

    pub fn offset(&self) -> i64 {
        self.message.offset()
    }

    /// Milliseconds since the epoch.
    pub fn timestamp(&self) -> Option<i64> {
        self.message.timestamp().to_millis()
    }

    pub fn key(&self) -> Option<&[u8]> {
        self.message.key()
    }

    pub fn value(&self) -> Option<&[u8]> {
        self.message.payload()
    }

    pub fn headers(&self) -> impl Iterator<Item = (&str, Option<&[u8]>)> {
        self.message
            .headers()
            .into_iter()
            .flat_map(|headers| headers.iter().map(|header| (header.key, header.value)))
    }

    /// Bytes of key, value and headers: what a batch's byte limit counts.
    fn size(&self) -> usize {
        let headers: usize = self
            .headers()
            .map(|(key, value)| key.len() + value.map_or(0, <[u8]>::len))
            .sum();
        self.key().map_or(0, <[u8]>::len) + self.value().map_or(0, <[u8]>::len) + headers
    }
}

/// How long one blocking poll may run before it hands back what it has, so
/// that a caller that went away (a killed job) frees its thread soon.
const POLL_BUDGET: Duration = Duration::from_millis(200);
/// Once a batch has records, how long to wait for more before returning it.
const TOP_UP_WAIT: Duration = Duration::from_millis(5);
/// How long a partition the consumer was sent into may stay silent before
/// it is read from its first offset instead: a fetch from inside a batch
/// that a broker answers with nothing (see `partition`). Apache Kafka
/// answers within its fetch wait, far sooner.
pub(super) const SILENCE: Duration = Duration::from_secs(1);

pub struct Reader {
    kafka: Kafka,
    /// Out while a blocking call has it; gone if that call was abandoned.
    state: Option<Box<ReadState>>,
    offsets: Vec<PartitionOffsets>,
}

struct ReadState {
    consumer: KafkaConsumer,
    topic: String,
    group: Option<String>,
    reads: Vec<PartitionRead>,
    /// `reads` by partition id.
    index: BTreeMap<i32, usize>,
    last_progress: Instant,
    /// A transient error seen since the last progress, to explain a stall.
    last_error: Option<Error>,
    /// When the consumer was last sent to an offset, per partition.
    sent_at: BTreeMap<i32, Instant>,
}

enum Polled<R> {
    Records(Vec<R>),
    Nothing,
}

impl Reader {
    pub(super) fn open(kafka: Kafka, consumer: KafkaConsumer, spec: ReadSpec) -> Result<Reader> {
        let topic = spec.topic.clone();
        let all = topic_partitions(&kafka, &consumer, &topic)?;
        let partitions = choose_partitions(&topic, &all, &spec.partitions)?;
        let offsets = snapshot(&kafka, &consumer, &topic, &partitions)?;
        let committed = match &spec.group {
            Some(group) => committed_offsets(&kafka, &consumer, &topic, group, &partitions)?,
            None => BTreeMap::new(),
        };
        let start_hints = match spec.start {
            Start::Timestamp(time) => offsets_for_times(&kafka, &consumer, &topic, &partitions, Offset::Offset(time))?,
            _ => BTreeMap::new(),
        };
        if let Start::Offset(offset) = spec.start
            && offset < 0
        {
            return Err(Error::invalid(format!("the start offset {offset} is negative")));
        }
        if let End::Offset(offset) = spec.end
            && offset < 0
        {
            return Err(Error::invalid(format!("the end offset {offset} is negative")));
        }
        let start_offsets = per_partition(&topic, "start", &spec.start, &partitions)?;
        let end_offsets = per_partition_end(&topic, &spec.end, &partitions)?;
        let mut reads = Vec::with_capacity(offsets.len());
        for &PartitionOffsets { partition, low, high } in &offsets {
            let from_group = committed.get(&partition).copied();
            let start = match (&spec.start, from_group) {
                (_, Some(offset)) => offset,
                (Start::Earliest, None) => low,
                (Start::Offset(offset), None) => *offset,
                (Start::Offsets(_), None) => start_offsets.get(&partition).copied().unwrap_or(low),
                // The broker's answer, or the end when it says every record is older.
                (Start::Timestamp(_), None) => start_hints.get(&partition).copied().flatten().unwrap_or(high),
            };
            if start < low {
                return Err(Error::invalid(format!(
                    "offset {start} of partition {partition} of Kafka topic '{topic}' is no longer held: the partition starts at {low}"
                )));
            }
            let end = match &spec.end {
                End::Offset(offset) => (*offset).min(high),
                End::Offsets(_) => end_offsets.get(&partition).map_or(high, |&offset| offset.min(high)),
                End::Latest | End::Timestamp(_) => high,
            };
            let range = TimeRange {
                // A group goes on from where it stopped, whatever the times.
                from: match spec.start {
                    Start::Timestamp(time) if from_group.is_none() => Some(time),
                    _ => None,
                },
                to: match spec.end {
                    End::Timestamp(time) => Some(time),
                    _ => None,
                },
            };
            reads.push(PartitionRead::new(partition, low, start.min(high), end, range));
        }
        let index = reads.iter().enumerate().map(|(i, read)| (read.partition, i)).collect();
        let state = ReadState {
            consumer,
            topic,
            group: spec.group,
            reads,
            index,
            last_progress: Instant::now(),
            last_error: None,
            sent_at: BTreeMap::new(),
        };
        let mut state = state;
        state.assign(&kafka)?;
        Ok(Reader {
            kafka,
            state: Some(Box::new(state)),
            offsets,
        })
    }

    /// Each partition read, with its offsets when the read began.
    pub fn offsets(&self) -> Vec<PartitionOffsets> {
        self.offsets.clone()
    }

    /// For each partition, how far the read has come.
    pub fn positions(&self) -> Vec<(i32, i64)> {
        self.state.as_ref().map_or_else(Vec::new, |state| {
            state
                .reads
                .iter()
                .map(|read| (read.partition, read.position()))
                .collect()
        })
    }

    /// For each partition, the offset its read ends at (sooner, once an end
    /// time is reached).
    pub fn ends(&self) -> Vec<(i32, i64)> {
        self.state.as_ref().map_or_else(Vec::new, |state| {
            state.reads.iter().map(|read| (read.partition, read.end())).collect()
        })
    }

    /// Ends the read of one partition where it is.
    pub fn finish_partition(&mut self, partition: i32) {
        if let Some(state) = self.state.as_mut()
            && let Some(&i) = state.index.get(&partition)
        {
            state.reads[i].finish();
            state.pause(partition);
        }
    }

    /// The next records, each made into an `R` by `convert`; `None` once
    /// every partition has reached its end.
    pub async fn next_batch<R, F>(&mut self, limits: BatchLimits, convert: F) -> Result<Option<Vec<R>>>
    where
        R: Send + 'static,
        F: FnMut(&RecordView<'_>) -> R + Send + 'static,
    {
        let mut convert = convert;
        // Only waiting for the brokers counts towards a stall, not the time
        // the job spent on the last batch.
        if let Some(state) = self.state.as_mut() {
            state.last_progress = Instant::now();
        }
        loop {
            let mut state = self.take_state()?;
            if state.is_done() {
                self.state = Some(state);
                return Ok(None);
            }
            let kafka = self.kafka.clone();
            let (state, convert_back, polled) = self
                .kafka
                .blocking(move || {
                    let polled = state.poll(&kafka, limits, &mut convert);
                    (state, convert, polled)
                })
                .await?;
            convert = convert_back;
            let stalled = state.stalled(&self.kafka);
            self.state = Some(state);
            match polled? {
                Polled::Records(records) => return Ok(Some(records)),
                Polled::Nothing => {
                    if let Some(error) = stalled {
                        return Err(error);
                    }
                }
            }
        }
    }

    /// Commits the positions as the group's offsets.
    pub async fn commit(&mut self) -> Result<()> {
        let state = self.take_state()?;
        let Some(group) = state.group.clone() else {
            self.state = Some(state);
            return Err(Error::invalid(
                "this Kafka read has no consumer group, so there is nothing to commit to: open it with a group",
            ));
        };
        let kafka = self.kafka.clone();
        let (state, result) = self
            .kafka
            .blocking(move || {
                let result = state.commit(&kafka, &group);
                (state, result)
            })
            .await?;
        self.state = Some(state);
        result
    }

    fn take_state(&mut self) -> Result<Box<ReadState>> {
        self.state.take().ok_or_else(|| {
            Error::new(
                ErrorKind::Other,
                "this Kafka read was interrupted in an earlier call and cannot go on",
            )
        })
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        if let Some(state) = self.state.take() {
            self.kafka.return_consumer(state.group, state.consumer);
        }
    }
}

impl ReadState {
    fn is_done(&self) -> bool {
        self.reads.iter().all(PartitionRead::is_done)
    }

    fn assign(&mut self, kafka: &Kafka) -> Result<()> {
        let mut list = TopicPartitionList::new();
        let now = Instant::now();
        for read in self.reads.iter().filter(|read| !read.is_done()) {
            list.add_partition_offset(&self.topic, read.partition, Offset::Offset(read.fetch_from()))
                .map_err(|error| kafka.context().error("assigning Kafka partitions", &error))?;
            self.sent_at.insert(read.partition, now);
        }
        self.consumer
            .assign(&list)
            .map_err(|error| kafka.context().error("assigning Kafka partitions", &error))
    }

    fn seek(&mut self, kafka: &Kafka, partition: i32, offset: i64) -> Result<()> {
        self.sent_at.insert(partition, Instant::now());
        self.consumer
            .seek(
                &self.topic,
                partition,
                Offset::Offset(offset),
                kafka.timeout().min(Duration::from_secs(5)),
            )
            .map_err(|error| kafka.context().error("going back in a Kafka partition", &error))
    }

    /// Partitions silent since the consumer was sent into them are read
    /// from their first offset.
    fn wake_silent(&mut self, kafka: &Kafka, now: Instant) -> Result<()> {
        for i in 0..self.reads.len() {
            let partition = self.reads[i].partition;
            let silent = self.reads[i].awaits_first_record()
                && self
                    .sent_at
                    .get(&partition)
                    .is_some_and(|at| now.duration_since(*at) >= SILENCE);
            if silent && let Step::Seek(offset) = self.reads[i].on_silence() {
                self.seek(kafka, partition, offset)?;
            }
        }
        Ok(())
    }

    fn pause(&self, partition: i32) {
        let mut list = TopicPartitionList::new();
        list.add_partition(&self.topic, partition);
        // Only spares fetching: records that still arrive are skipped anyway.
        let _ = self.consumer.pause(&list);
    }

    fn poll<R>(
        &mut self,
        kafka: &Kafka,
        limits: BatchLimits,
        convert: &mut impl FnMut(&RecordView<'_>) -> R,
    ) -> Result<Polled<R>> {
        // One clock reading per record, taken after each poll: reading the
        // clock measured as a tenth of the time spent on a small record.
        let mut now = Instant::now();
        let deadline = now + POLL_BUDGET;
        let mut records = Vec::with_capacity(limits.max_records.clamp(1, 1024));
        let mut bytes = 0;
        while !self.is_done() && records.len() < limits.max_records.max(1) && bytes < limits.max_bytes {
            if now >= deadline {
                break;
            }
            let wait = if records.is_empty() {
                (deadline - now).min(SILENCE / 4)
            } else {
                TOP_UP_WAIT
            };
            self.wake_silent(kafka, now)?;
            let polled = self.consumer.poll(wait);
            now = Instant::now();
            let Some(event) = polled else {
                if records.is_empty() {
                    continue;
                }
                break;
            };
            match event {
                Ok(message) => {
                    self.last_progress = now;
                    self.last_error = None;
                    if message.topic() != self.topic {
                        continue;
                    }
                    let partition = message.partition();
                    let Some(&i) = self.index.get(&partition) else { continue };
                    match self.reads[i].on_record(message.offset(), message.timestamp().to_millis()) {
                        Step::Deliver => {
                            let view = RecordView { message: &message };
                            bytes += view.size();
                            records.push(convert(&view));
                        }
                        Step::Skip => {}
                        Step::Seek(offset) => self.seek(kafka, partition, offset)?,
                    }
                    if self.reads[i].is_done() {
                        self.pause(partition);
                    }
                }
                Err(KafkaError::PartitionEOF(partition)) => {
                    self.last_progress = now;
                    if let Some(&i) = self.index.get(&partition) {
                        self.reads[i].on_end_of_partition();
                        self.pause(partition);
                    }
                }
                Err(error) => {
                    let error = kafka
                        .context()
                        .error(&format!("reading Kafka topic '{}'", self.topic), &error);
                    match error.kind {
                        // librdkafka keeps retrying these; they explain a stall.
                        ErrorKind::Unreachable | ErrorKind::Timeout | ErrorKind::Other => self.last_error = Some(error),
                        _ => return Err(error),
                    }
                }
            }
        }
        Ok(if records.is_empty() {
            Polled::Nothing
        } else {
            Polled::Records(records)
        })
    }

    /// An error once nothing has come for longer than the Kafka timeout.
    fn stalled(&self, kafka: &Kafka) -> Option<Error> {
        if self.last_progress.elapsed() < kafka.timeout() {
            return None;
        }
        let waiting: Vec<String> = self
            .reads
            .iter()
            .filter(|read| !read.is_done())
            .map(|read| format!("{} at offset {}", read.partition, read.position()))
            .collect();
        let why = match &self.last_error {
            Some(error) => format!(": {error}"),
            None => String::new(),
        };
        Some(Error::new(
            self.last_error.as_ref().map_or(ErrorKind::Timeout, |error| error.kind),
            format!(
                "reading Kafka topic '{}': no records came for {} s from partitions {}{why}",
                self.topic,
                kafka.timeout().as_secs(),
                waiting.join(", ")
            ),
        ))
    }

    fn commit(&self, kafka: &Kafka, group: &str) -> Result<()> {
        let doing = format!(
            "committing the offsets of group '{group}' for Kafka topic '{}'",
            self.topic
        );
        let mut list = TopicPartitionList::new();
        for read in &self.reads {
            list.add_partition_offset(&self.topic, read.partition, Offset::Offset(read.position()))
                .map_err(|error| kafka.context().error(&doing, &error))?;
        }
        let deadline = Instant::now() + kafka.timeout();
        match commit_within(&self.consumer, &list, deadline, STEP, || kafka.caller_gone()) {
            Committed::Done => Ok(()),
            Committed::Failed(code) => Err(kafka.context().error(&doing, &KafkaError::ConsumerCommit(code))),
            Committed::NoAnswer => Err(kafka.context().error(
                &format!("{doing} (the commit may still apply)"),
                &KafkaError::ConsumerCommit(rdkafka::error::RDKafkaErrorCode::OperationTimedOut),
            )),
        }
    }
}

fn choose_partitions(topic: &str, all: &[i32], asked: &[i32]) -> Result<Vec<i32>> {
    if asked.is_empty() {
        return Ok(all.to_vec());
    }
    let chosen: BTreeSet<i32> = asked.iter().copied().collect();
    if let Some(missing) = chosen.iter().find(|partition| !all.contains(partition)) {
        return Err(Error::not_found(format!(
            "Kafka topic '{topic}' has no partition {missing}; its partitions are 0 to {}",
            all.len().saturating_sub(1)
        )));
    }
    Ok(chosen.into_iter().collect())
}

fn per_partition(topic: &str, which: &str, start: &Start, partitions: &[i32]) -> Result<BTreeMap<i32, i64>> {
    match start {
        Start::Offsets(offsets) => checked_offsets(topic, which, offsets, partitions),
        _ => Ok(BTreeMap::new()),
    }
}

fn per_partition_end(topic: &str, end: &End, partitions: &[i32]) -> Result<BTreeMap<i32, i64>> {
    match end {
        End::Offsets(offsets) => checked_offsets(topic, "end", offsets, partitions),
        _ => Ok(BTreeMap::new()),
    }
}

/// Offsets given per partition must name partitions the read includes: a
/// typo would otherwise silently read the wrong range.
fn checked_offsets(topic: &str, which: &str, offsets: &[(i32, i64)], partitions: &[i32]) -> Result<BTreeMap<i32, i64>> {
    let mut map = BTreeMap::new();
    for &(partition, offset) in offsets {
        if !partitions.contains(&partition) {
            return Err(Error::invalid(format!(
                "a {which} offset is given for partition {partition} of Kafka topic '{topic}', which this read does not include"
            )));
        }
        if offset < 0 {
            return Err(Error::invalid(format!(
                "the {which} offset {offset} for partition {partition} is negative"
            )));
        }
        if map.insert(partition, offset).is_some() {
            return Err(Error::invalid(format!(
                "two {which} offsets are given for partition {partition} of Kafka topic '{topic}'"
            )));
        }
    }
    Ok(map)
}
