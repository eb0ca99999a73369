//! What a read asks the brokers before it begins: where each partition
//! starts and ends, the broker's offsets for times, and a group's committed
//! offsets. The end comes from a fetch, since that is the one answer every
//! Kafka-compatible broker gets right.

use super::read::SILENCE;
use super::watermarks::fetched_high_watermark;
use super::{Kafka, KafkaConsumer, PartitionOffsets};
use crate::{ErrorKind, Result};
use rdkafka::consumer::Consumer;
use rdkafka::error::KafkaError;
use rdkafka::{Message, Offset, TopicPartitionList};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// Each partition's first offset and its end now. The end is a fetch's high
/// watermark: the consumer fetches from where ListOffsets says the end is
/// (exact on Apache Kafka, so the fetch only confirms it), and the answer's
/// watermark is read once a record or the end of the partition arrives.
pub fn snapshot(
    kafka: &Kafka,
    consumer: &KafkaConsumer,
    topic: &str,
    partitions: &[i32],
) -> Result<Vec<PartitionOffsets>> {
    let lows = offsets_for_times(kafka, consumer, topic, partitions, Offset::Beginning)?;
    let listed_highs = offsets_for_times(kafka, consumer, topic, partitions, Offset::End)?;
    let low = |partition: i32| lows.get(&partition).copied().flatten().unwrap_or(0).max(0);
    let fetch_at = |partition: i32, fallback: bool| {
        let listed = listed_highs.get(&partition).copied().flatten().unwrap_or(0);
        if fallback {
            low(partition)
        } else {
            listed.max(low(partition))
        }
    };
    let doing = format!("finding where the partitions of Kafka topic '{topic}' end");
    let assign = |fallback: bool, pending: &BTreeSet<i32>| -> Result<()> {
        let mut list = TopicPartitionList::new();
        for &partition in pending {
            list.add_partition_offset(topic, partition, Offset::Offset(fetch_at(partition, fallback)))
                .map_err(|error| kafka.context().error(&doing, &error))?;
        }
        consumer
            .assign(&list)
            .map_err(|error| kafka.context().error(&doing, &error))
    };
    let mut pending: BTreeSet<i32> = partitions.iter().copied().collect();
    let mut seen = BTreeSet::new();
    let mut highs = BTreeMap::new();
    let mut fell_back = false;
    let mut last_error = None;
    assign(false, &pending)?;
    let assigned_at = Instant::now();
    let deadline = assigned_at + kafka.timeout();
    while !pending.is_empty() {
        if !fell_back && assigned_at.elapsed() >= SILENCE {
            // A fetch from inside a batch that the broker answers with
            // nothing: ask from the first offsets, which start batches.
            fell_back = true;
            seen.clear();
            assign(true, &pending)?;
            continue;
        }
        if Instant::now() >= deadline || kafka.caller_gone() {
            let error = last_error.unwrap_or_else(|| {
                kafka.context().error(
                    &doing,
                    &KafkaError::MessageConsumption(rdkafka::error::RDKafkaErrorCode::OperationTimedOut),
                )
            });
            return Err(error);
        }
        match consumer.poll(Duration::from_millis(50)) {
            Some(Ok(message)) if message.topic() == topic => {
                seen.insert(message.partition());
            }
            Some(Err(KafkaError::PartitionEOF(partition))) => {
                seen.insert(partition);
            }
            Some(Err(error)) => {
                let code = error.rdkafka_error_code();
                if code == Some(rdkafka::error::RDKafkaErrorCode::OffsetOutOfRange) && !fell_back {
                    // The listed end is past the real one: fetch from the start instead.
                    fell_back = true;
                    seen.clear();
                    assign(true, &pending)?;
                    continue;
                }
                let error = kafka.context().error(&doing, &error);
                if matches!(
                    error.kind,
                    ErrorKind::NotFound | ErrorKind::PermissionDenied | ErrorKind::InvalidRequest
                ) {
                    return Err(error);
                }
                last_error = Some(error);
            }
            _ => {}
        }
        pending.retain(|&partition| {
            let high = seen
                .contains(&partition)
                .then(|| fetched_high_watermark(consumer, topic, partition))
                .flatten();
            match high {
                Some(high) => {
                    highs.insert(partition, high);
                    false
                }
                None => true,
            }
        });
    }
    kafka.context().reached();
    // What the probe fetched must not reach the read that follows.
    consumer
        .unassign()
        .map_err(|error| kafka.context().error(&doing, &error))?;
    while consumer.poll(Duration::ZERO).is_some() {}
    Ok(partitions
        .iter()
        .map(|&partition| PartitionOffsets {
            partition,
            low: low(partition),
            high: highs[&partition].max(low(partition)),
        })
        .collect())
}

/// The broker's ListOffsets answers for one timestamp (or `Beginning`,
/// `End`) per partition; `None` where it has no offset to give.
pub fn offsets_for_times(
    kafka: &Kafka,
    consumer: &KafkaConsumer,
    topic: &str,
    partitions: &[i32],
    at: Offset,
) -> Result<BTreeMap<i32, Option<i64>>> {
    let doing = format!("looking up offsets in Kafka topic '{topic}'");
    let mut list = TopicPartitionList::new();
    for &partition in partitions {
        list.add_partition_offset(topic, partition, at)
            .map_err(|error| kafka.context().error(&doing, &error))?;
    }
    let answered = kafka
        .stepped(consumer, |step| consumer.offsets_for_times(list.clone(), step))
        .map_err(|error| kafka.context().error(&doing, &error))?;
    kafka.context().reached();
    Ok(answered
        .elements_for_topic(topic)
        .iter()
        .map(|element| {
            let offset = match element.offset() {
                Offset::Offset(offset) if offset >= 0 => Some(offset),
                _ => None,
            };
            (element.partition(), offset)
        })
        .collect())
}

pub fn committed_offsets(
    kafka: &Kafka,
    consumer: &KafkaConsumer,
    topic: &str,
    group: &str,
    partitions: &[i32],
) -> Result<BTreeMap<i32, i64>> {
    let doing = format!("reading the committed offsets of group '{group}' for Kafka topic '{topic}'");
    let mut list = TopicPartitionList::new();
    for &partition in partitions {
        list.add_partition(topic, partition);
    }
    let committed = kafka
        .stepped(consumer, |step| consumer.committed_offsets(list.clone(), step))
        .map_err(|error| kafka.context().error(&doing, &error))?;
    Ok(committed
        .elements_for_topic(topic)
        .iter()
        .filter_map(|element| match element.offset() {
            Offset::Offset(offset) if offset >= 0 => Some((element.partition(), offset)),
            _ => None,
        })
        .collect())
}
