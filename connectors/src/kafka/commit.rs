//! Committing a group's offsets within a deadline.
//!
//! rust-rdkafka's synchronous commit waits for as long as the group
//! coordinator takes, which is for ever when the brokers have gone: a job's
//! host call, and the thread under it, would never return. librdkafka can
//! instead deliver the commit's outcome on a queue of our own, which can be
//! polled with a timeout; rust-rdkafka does not expose that, hence these
//! foreign calls.

use rdkafka::TopicPartitionList;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::RDKafkaErrorCode;
use std::time::{Duration, Instant};

/// How a bounded commit ended.
pub enum Committed {
    Done,
    Failed(RDKafkaErrorCode),
    /// No answer before the deadline (or the caller went away); the commit
    /// may still apply later.
    NoAnswer,
}

/// Commits `offsets` for the consumer's group, waiting at most until
/// `deadline`, and looking every `step` whether `give_up` says to stop.
pub fn commit_within<C: ConsumerContext>(
    consumer: &BaseConsumer<C>,
    offsets: &TopicPartitionList,
    deadline: Instant,
    step: Duration,
    give_up: impl Fn() -> bool,
) -> Committed {
    let client = consumer.client().native_ptr();
    // SAFETY: `client` is the live handle the consumer owns for as long as
    // the borrow; the queue made here is ours until `rd_kafka_queue_destroy`
    // below (librdkafka keeps its own reference for a commit still in flight,
    // so destroying it early is allowed); `offsets` outlives the call, which
    // copies it; every event polled is destroyed once read, and the partition list
    // it holds is only read before that.
    #[allow(unsafe_code)]
    unsafe {
        use rdkafka::bindings as rd;
        let queue = rd::rd_kafka_queue_new(client);
        if queue.is_null() {
            return Committed::Failed(RDKafkaErrorCode::Fail);
        }
        let started = rd::rd_kafka_commit_queue(client, offsets.ptr(), queue, None, std::ptr::null_mut());
        if started != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
            rd::rd_kafka_queue_destroy(queue);
            return Committed::Failed(started.into());
        }
        let outcome = loop {
            let now = Instant::now();
            if now >= deadline || give_up() {
                break Committed::NoAnswer;
            }
            let wait = step.min(deadline - now).as_millis().max(1) as i32;
            let event = rd::rd_kafka_queue_poll(queue, wait);
            if event.is_null() {
                continue;
            }
            let is_commit = rd::rd_kafka_event_type(event) == rd::RD_KAFKA_EVENT_OFFSET_COMMIT;
            let mut error = rd::rd_kafka_event_error(event);
            // A commit the coordinator took can still refuse some partitions
            // (a rebalance, an unknown partition): each carries its own error.
            let partitions = rd::rd_kafka_event_topic_partition_list(event);
            if is_commit
                && error == rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR
                && !partitions.is_null()
                && (*partitions).cnt > 0
                && !(*partitions).elems.is_null()
            {
                let list = &*partitions;
                let elements = std::slice::from_raw_parts(list.elems, list.cnt as usize);
                if let Some(refused) = elements
                    .iter()
                    .find(|element| element.err != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR)
                {
                    error = refused.err;
                }
            }
            rd::rd_kafka_event_destroy(event);
            if is_commit {
                break if error == rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
                    Committed::Done
                } else {
                    Committed::Failed(error.into())
                };
            }
        };
        rd::rd_kafka_queue_destroy(queue);
        outcome
    }
}
