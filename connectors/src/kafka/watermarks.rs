//! The high watermark a partition's last fetch response carried.
//!
//! A read ends "where the partition ended when the read began", and the only
//! answer to that which every Kafka-compatible broker gets right is the high
//! watermark of a Fetch response: ListOffsets for the latest offset is wrong
//! on some (Tansu answers 1 for any partition). librdkafka keeps the fetched
//! value but rust-rdkafka does not expose it, hence one foreign call.

use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use std::ffi::CString;

/// `None` until a fetch response for the partition has arrived.
pub fn fetched_high_watermark<C: ConsumerContext>(
    consumer: &BaseConsumer<C>,
    topic: &str,
    partition: i32,
) -> Option<i64> {
    let topic = CString::new(topic).ok()?;
    let (mut low, mut high) = (-1i64, -1i64);
    // SAFETY: `native_ptr` is the live client the consumer owns for as long
    // as the borrow of `consumer`; `topic` is a NUL-terminated string that
    // outlives the call; `low` and `high` are valid for writes. The function
    // only reads librdkafka's cached state, under its own locks.
    #[allow(unsafe_code)]
    let error = unsafe {
        rdkafka::bindings::rd_kafka_get_watermark_offsets(
            consumer.client().native_ptr(),
            topic.as_ptr(),
            partition,
            &mut low,
            &mut high,
        )
    };
    (error == rdkafka::bindings::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR && high >= 0).then_some(high)
}
