//! The read of one partition, as a state machine fed with the records the
//! consumer delivers: which to give the job, which to skip, where to stop.
//! Kept apart from librdkafka so that its rules can be tested exactly.
//!
//! Time ranges are where brokers differ. Apache Kafka answers "the earliest
//! offset whose timestamp is at or after T" exactly; some Kafka-compatible
//! brokers answer with any offset (Tansu always says 0). So the broker's
//! answers are used only as hints that the records themselves confirm:
//! - for the start, the read begins one record before the broker's answer;
//!   if that record is already inside the range, the broker answered too
//!   late and the read starts again from the partition's first record;
//! - for the end, the broker's answer is not needed: the read of a partition
//!   ends at its first record stamped at or after the end time, which is
//!   the offset Apache Kafka would have answered, or at the partition's end
//!   as it was when the read began. Records after that are not read, even
//!   those stamped earlier (a producer may set any timestamp), so the same
//!   records are read on every broker;
//! - every record read is checked against the start time by its own
//!   timestamp.
//!
//! A broker that answers too early costs reading more, never a wrong record.
//!
//! Fetches are where brokers differ too. Apache Kafka answers a fetch from
//! any offset with the batch that holds it; Tansu, asked for an offset inside
//! a batch, skips the rest of that batch. So the first record after the
//! consumer starts at an offset must be that very offset; if another comes
//! (or none, see `on_silence`), the partition is read again from its first
//! offset, which always starts a batch, and what lies before the start is
//! skipped.

/// What to do with a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Give it to the job.
    Deliver,
    /// Drop it: outside the range, or already dealt with.
    Skip,
    /// Read the partition again from this offset; drop the record.
    Seek(i64),
}

/// A half-open time range `[from, to)` in milliseconds since the epoch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimeRange {
    pub from: Option<i64>,
    pub to: Option<i64>,
}

impl TimeRange {
    fn is_bounded(&self) -> bool {
        self.from.is_some() || self.to.is_some()
    }

    fn contains(&self, timestamp: Option<i64>) -> bool {
        match timestamp {
            Some(ts) => self.from.is_none_or(|from| ts >= from) && self.to.is_none_or(|to| ts < to),
            // A record without a timestamp cannot be placed in a time range.
            None => !self.is_bounded(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionRead {
    pub partition: i32,
    /// Every record before this offset has been given to the job or skipped.
    position: i64,
    /// Exclusive: the read is over once `position` reaches it.
    end: i64,
    /// The partition's first offset, where a read restarts if the broker
    /// answered a start time too late.
    low: i64,
    range: TimeRange,
    /// The broker's answer for `range.from`, still to be confirmed by the
    /// record just before it.
    confirm_start_at: Option<i64>,
    /// Where the consumer was sent, until the first record from there
    /// arrives: it must be this offset.
    expect_first: Option<i64>,
}

impl PartitionRead {
    /// A read of `[start, end)` of a partition whose records begin at `low`.
    /// With a start time, `start` is the broker's answer for it.
    pub fn new(partition: i32, low: i64, start: i64, end: i64, range: TimeRange) -> Self {
        let confirm_start_at = (range.from.is_some() && start > low).then_some(start);
        let mut read = PartitionRead {
            partition,
            // A start past the end reads nothing and stays where it is: a
            // group committing it must not go back.
            position: start,
            end,
            low,
            range,
            confirm_start_at,
            expect_first: None,
        };
        let from = read.fetch_from();
        read.expect_first = (from > low).then_some(from);
        read
    }

    /// Where the consumer should begin: one record early when the start must
    /// be confirmed.
    pub fn fetch_from(&self) -> i64 {
        match self.confirm_start_at {
            Some(start) => start - 1,
            None => self.position,
        }
    }

    pub fn position(&self) -> i64 {
        self.position
    }

    pub fn end(&self) -> i64 {
        self.end
    }

    pub fn is_done(&self) -> bool {
        self.position >= self.end
    }

    /// Ends the read of this partition where it is.
    pub fn finish(&mut self) {
        self.end = self.position;
    }

    /// Whether the first record from where the consumer was sent is still
    /// awaited (see `on_silence`).
    pub fn awaits_first_record(&self) -> bool {
        self.expect_first.is_some() && !self.is_done()
    }

    /// Nothing came for a while since the consumer was sent to an offset
    /// inside the partition: the broker may be skipping a batch. Read again
    /// from the first offset, which starts one.
    pub fn on_silence(&mut self) -> Step {
        match self.expect_first.take() {
            Some(_) if !self.is_done() => Step::Seek(self.low),
            _ => Step::Skip,
        }
    }

    pub fn on_record(&mut self, offset: i64, timestamp: Option<i64>) -> Step {
        if self.is_done() {
            return Step::Skip;
        }
        if let Some(expected) = self.expect_first.take()
            && offset != expected
        {
            // A gap in the offsets, or a broker that skipped part of a batch:
            // reading again from the first offset is right for both.
            return Step::Seek(self.low);
        }
        if let Some(start) = self.confirm_start_at {
            if offset < start {
                if timestamp.is_some_and(|ts| self.range.from.is_some_and(|from| ts >= from)) {
                    // Inside the range before the broker's answer: it was
                    // too late, and records before it may be inside too.
                    self.confirm_start_at = None;
                    self.position = self.low;
                    return Step::Seek(self.low);
                }
                // Too early for the range, as the broker said.
                return Step::Skip;
            }
            self.confirm_start_at = None;
        }
        if offset < self.position {
            // Delivered before a seek took effect, or already dealt with.
            return Step::Skip;
        }
        if offset >= self.end {
            self.position = self.end;
            return Step::Skip;
        }
        if timestamp.is_some_and(|ts| self.range.to.is_some_and(|to| ts >= to)) {
            // The first record at or after the end time ends the range.
            self.position = offset;
            self.end = offset;
            return Step::Skip;
        }
        self.position = offset + 1;
        if self.range.contains(timestamp) {
            Step::Deliver
        } else {
            Step::Skip
        }
    }

    /// The consumer reached the partition's end: every record before `end`
    /// has been seen.
    pub fn on_end_of_partition(&mut self) {
        // Reaching the end from where the consumer was sent skips nothing.
        self.expect_first = None;
        if self.confirm_start_at.is_some() {
            // No record came between the one before the broker's answer and
            // the end: the answer stands.
            self.confirm_start_at = None;
        }
        self.position = self.end;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_start_past_the_end_reads_nothing_and_keeps_its_position() {
        let read = PartitionRead::new(0, 0, 9, 5, TimeRange::default());
        assert!(read.is_done());
        assert_eq!(read.position(), 9, "a group committing this must not go back");
    }

    /// Feeds records `(offset, timestamp)` from `from` on; returns the
    /// offsets delivered, following seeks, until the read is done.
    fn run(read: &mut PartitionRead, records: &[(i64, i64)]) -> Vec<i64> {
        let mut delivered = Vec::new();
        let mut next = read.fetch_from();
        let mut steps = 0;
        'fetch: loop {
            for &(offset, ts) in records.iter().filter(|(offset, _)| *offset >= next) {
                steps += 1;
                assert!(steps < 1000, "the read does not end");
                match read.on_record(offset, Some(ts)) {
                    Step::Deliver => delivered.push(offset),
                    Step::Skip => {}
                    Step::Seek(to) => {
                        next = to;
                        continue 'fetch;
                    }
                }
                if read.is_done() {
                    return delivered;
                }
            }
            read.on_end_of_partition();
            return delivered;
        }
    }

    /// Like `run`, but the broker answers a fetch from inside a batch with
    /// the records of the next batches only, as Tansu does; `batches` are the
    /// offsets that start a batch.
    fn run_skipping_broker(read: &mut PartitionRead, records: &[(i64, i64)], batches: &[i64]) -> Vec<i64> {
        let mut delivered = Vec::new();
        let mut next = read.fetch_from();
        'fetch: loop {
            let from = if batches.contains(&next) {
                next
            } else {
                batches.iter().copied().find(|&b| b > next).unwrap_or(i64::MAX)
            };
            let mut any = false;
            for &(offset, ts) in records.iter().filter(|(offset, _)| *offset >= from) {
                any = true;
                match read.on_record(offset, Some(ts)) {
                    Step::Deliver => delivered.push(offset),
                    Step::Skip => {}
                    Step::Seek(to) => {
                        next = to;
                        continue 'fetch;
                    }
                }
                if read.is_done() {
                    return delivered;
                }
            }
            if !any && read.awaits_first_record() {
                // Nothing comes: a fetch past the last batch is answered empty.
                if let Step::Seek(to) = read.on_silence() {
                    next = to;
                    continue 'fetch;
                }
            }
            read.on_end_of_partition();
            return delivered;
        }
    }

    /// Ten records at offsets 0..10, timestamps 1000, 1010, ... 1090.
    fn ten() -> Vec<(i64, i64)> {
        (0..10).map(|i| (i, 1000 + 10 * i)).collect()
    }

    #[test]
    fn offsets_bound_the_read() {
        let mut read = PartitionRead::new(0, 0, 3, 7, TimeRange::default());
        assert_eq!(run(&mut read, &ten()), [3, 4, 5, 6]);
        assert_eq!(read.position(), 7);
        let mut empty = PartitionRead::new(0, 0, 5, 5, TimeRange::default());
        assert!(empty.is_done());
        assert_eq!(run(&mut empty, &ten()), Vec::<i64>::new());
    }

    #[test]
    fn an_exact_broker_is_confirmed_at_the_start_and_the_end_is_found_by_its_record() {
        // [1030, 1070): offsets 3..7. An exact broker answers 3 for the start.
        let range = TimeRange {
            from: Some(1030),
            to: Some(1070),
        };
        let mut read = PartitionRead::new(0, 0, 3, 10, range);
        assert_eq!(read.fetch_from(), 2, "one record early, to confirm the start");
        assert_eq!(run(&mut read, &ten()), [3, 4, 5, 6]);
        assert_eq!(
            read.position(),
            7,
            "stopped at the first record at the end time, not the partition's end"
        );
    }

    #[test]
    fn a_broker_that_answers_too_early_costs_reading_more() {
        // Tansu answers 0 for every time.
        let range = TimeRange {
            from: Some(1030),
            to: Some(1070),
        };
        let mut read = PartitionRead::new(0, 0, 0, 10, range);
        assert_eq!(run(&mut read, &ten()), [3, 4, 5, 6]);
        assert_eq!(read.position(), 7);
    }

    #[test]
    fn a_broker_that_answers_too_late_is_caught_by_the_record_before() {
        let range = TimeRange {
            from: Some(1030),
            to: None,
        };
        // The broker says 6, but records 3..6 are in range too.
        let mut read = PartitionRead::new(0, 0, 6, 10, range);
        assert_eq!(run(&mut read, &ten()), [3, 4, 5, 6, 7, 8, 9]);
    }

    #[test]
    fn boundaries_are_inclusive_at_the_start_and_exclusive_at_the_end() {
        let records = [(0, 999), (1, 1000), (2, 1001), (3, 1999), (4, 2000), (5, 2001)];
        let range = TimeRange {
            from: Some(1000),
            to: Some(2000),
        };
        let mut read = PartitionRead::new(0, 0, 0, 6, range);
        assert_eq!(run(&mut read, &records), [1, 2, 3]);
    }

    #[test]
    fn out_of_order_timestamps_end_the_read_at_the_first_record_past_the_end() {
        // Offset 4 is stamped inside the range but comes after offset 3, the
        // first record past it, where Apache Kafka's offset for 1050 is: it is
        // not read, on any broker. Offset 1, stamped before the start, is
        // left out by its own timestamp.
        let records = [(0, 1010), (1, 990), (2, 1040), (3, 1060), (4, 1005), (5, 1100)];
        let range = TimeRange {
            from: Some(1000),
            to: Some(1050),
        };
        let mut read = PartitionRead::new(0, 0, 0, 6, range);
        assert_eq!(run(&mut read, &records), [0, 2]);
        assert_eq!(
            read.position(),
            3,
            "a group continues from the record that ended the range"
        );
        assert!(read.is_done());
    }

    #[test]
    fn gaps_in_offsets_are_fine() {
        // A compacted partition, or transaction markers: offsets are not dense.
        let records = [(0, 1000), (4, 1040), (5, 1050), (9, 1090)];
        let range = TimeRange {
            from: Some(1040),
            to: Some(1090),
        };
        let mut read = PartitionRead::new(0, 0, 4, 10, range);
        assert_eq!(run(&mut read, &records), [4, 5]);
        assert_eq!(read.position(), 9);
    }

    #[test]
    fn a_start_answer_at_the_end_is_confirmed_by_reaching_it() {
        let range = TimeRange {
            from: Some(5000),
            to: None,
        };
        let read = PartitionRead::new(0, 0, 10, 10, range);
        assert!(read.is_done());
        let mut read = PartitionRead::new(0, 0, 9, 10, range);
        assert_eq!(run(&mut read, &ten()), Vec::<i64>::new());
        assert!(read.is_done());
    }

    #[test]
    fn a_broker_that_skips_the_rest_of_a_batch_loses_nothing() {
        // Two batches: offsets 0..6 and 6..10.
        let batches = [0, 6];
        let mut read = PartitionRead::new(0, 0, 3, 10, TimeRange::default());
        assert_eq!(run_skipping_broker(&mut read, &ten(), &batches), [3, 4, 5, 6, 7, 8, 9]);
        // Inside the last batch, where the broker answers with nothing at all.
        let mut read = PartitionRead::new(0, 0, 8, 10, TimeRange::default());
        assert_eq!(run_skipping_broker(&mut read, &ten(), &batches), [8, 9]);
        // A start time whose answer lies inside a batch.
        let range = TimeRange {
            from: Some(1030),
            to: None,
        };
        let mut read = PartitionRead::new(0, 0, 3, 10, range);
        assert_eq!(run_skipping_broker(&mut read, &ten(), &batches), [3, 4, 5, 6, 7, 8, 9]);
        // At a batch start nothing is read twice.
        let mut read = PartitionRead::new(0, 0, 6, 10, TimeRange::default());
        assert_eq!(run_skipping_broker(&mut read, &ten(), &batches), [6, 7, 8, 9]);
    }

    #[test]
    fn records_without_timestamps_are_outside_every_time_range() {
        let range = TimeRange {
            from: Some(0),
            to: None,
        };
        assert!(!range.contains(None));
        assert!(TimeRange::default().contains(None));
    }

    #[test]
    fn finishing_stops_where_the_read_is() {
        let mut read = PartitionRead::new(0, 0, 0, 10, TimeRange::default());
        assert_eq!(read.on_record(0, Some(1)), Step::Deliver);
        read.finish();
        assert!(read.is_done());
        assert_eq!(read.position(), 1);
        assert_eq!(read.on_record(1, Some(1)), Step::Skip);
    }
}
