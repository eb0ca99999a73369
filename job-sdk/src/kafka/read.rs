//! Reading a topic: the [`Read`] builder says what to read, [`Reader`] reads
//! it batch by batch. The builder exists because the WIT `read-options`
//! record has seven fields, most of which a job leaves at their defaults;
//! naming the few it sets (`from_time`, `group`) reads better than filling a
//! record.

use super::{Error, PartitionOffset, Record, host};
use crate::__private::bindings::jobserver::job::kafka::{End, ReadOptions, Start};

/// What to read from a topic: which partitions, from where, to where, as
/// which consumer group, in batches of what size. Nothing is asked of the
/// brokers until [`open`](Read::open).
///
/// By default a read covers every partition, from the first record still
/// held to where each partition ended when the read was opened, without a
/// group, in the host's batch sizes (5,000 records or 4 MiB).
///
/// ```no_run
/// use job_sdk::kafka::Read;
///
/// // Yesterday's records of partitions 0 and 1.
/// let (from, until) = (1_767_139_200_000, 1_767_225_600_000);
/// let reader = Read::topic("events").partitions([0, 1]).from_time(from).until_time(until).open()?;
/// # Ok::<(), job_sdk::kafka::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Read {
    options: ReadOptions,
}

impl Read {
    /// A read of `topic` with the defaults above.
    pub fn topic(topic: impl Into<String>) -> Read {
        Read {
            options: ReadOptions {
                topic: topic.into(),
                partitions: Vec::new(),
                start: Start::Earliest,
                end: End::Latest,
                group: None,
                max_batch_records: 0,
                max_batch_bytes: 0,
            },
        }
    }

    /// Reads only these partitions (every one when this is not called, or
    /// called with none).
    pub fn partitions(mut self, partitions: impl IntoIterator<Item = i32>) -> Read {
        self.options.partitions = partitions.into_iter().collect();
        self
    }

    /// Starts at each partition's first record still held (the default).
    pub fn from_earliest(mut self) -> Read {
        self.options.start = Start::Earliest;
        self
    }

    /// Starts at this offset in every partition read.
    pub fn from_offset(mut self, offset: i64) -> Read {
        self.options.start = Start::Offset(offset);
        self
    }

    /// Starts at these offsets, such as the [`positions`](Reader::positions)
    /// an earlier read came to; partitions not named start at their first
    /// record.
    pub fn from_offsets(mut self, offsets: impl IntoIterator<Item = impl Into<PartitionOffset>>) -> Read {
        self.options.start = Start::Offsets(offsets.into_iter().map(Into::into).collect());
        self
    }

    /// Starts at the earliest record whose timestamp is at or after this
    /// time, in milliseconds since the Unix epoch.
    pub fn from_time(mut self, millis: i64) -> Read {
        self.options.start = Start::Timestamp(millis);
        self
    }

    /// Ends where each partition ended when the read was opened (the
    /// default): records written after that are left for a later read.
    pub fn until_latest(mut self) -> Read {
        self.options.end = End::Latest;
        self
    }

    /// Ends before this offset in every partition, or at the latest end
    /// where that is sooner.
    pub fn until_offset(mut self, offset: i64) -> Read {
        self.options.end = End::Offset(offset);
        self
    }

    /// Ends before these offsets; partitions not named end at the latest.
    pub fn until_offsets(mut self, offsets: impl IntoIterator<Item = impl Into<PartitionOffset>>) -> Read {
        self.options.end = End::Offsets(offsets.into_iter().map(Into::into).collect());
        self
    }

    /// Ends each partition's read before its first record stamped at or after
    /// this time, in milliseconds since the Unix epoch (the offset Apache
    /// Kafka answers for it), and never past the latest end.
    pub fn until_time(mut self, millis: i64) -> Read {
        self.options.end = End::Timestamp(millis);
        self
    }

    /// Reads as this consumer group: each partition starts where the group
    /// committed (or as `from_*` says where it has not), and
    /// [`Reader::commit`] records how far this read came, so the group's next
    /// read goes on from there.
    pub fn group(mut self, group: impl Into<String>) -> Read {
        self.options.group = Some(group.into());
        self
    }

    /// At most this many records per batch; 0 for the host's default
    /// (5,000). The host lowers larger values to its limit (100,000).
    pub fn batch_records(mut self, records: u32) -> Read {
        self.options.max_batch_records = records;
        self
    }

    /// At most this many bytes of keys, values and headers per batch; 0 for
    /// the host's default (4 MiB). The host lowers larger values to its
    /// limit (64 MiB). A batch holds at least one record, however large.
    pub fn batch_bytes(mut self, bytes: u32) -> Read {
        self.options.max_batch_bytes = bytes;
        self
    }

    /// Opens the read. Fails when the topic or a partition does not exist,
    /// or a start offset is before the first record still held.
    pub fn open(&self) -> Result<Reader, Error> {
        host::Reader::open(&self.options).map(|reader| Reader { reader })
    }
}

/// One read of a topic, from its start to its end in every partition.
///
/// [`batches`](Reader::batches) and [`records`](Reader::records) borrow the
/// reader, so a job can [`commit`](Reader::commit) while it iterates. The
/// positions a commit records count every record handed out in a batch:
/// commit once a batch's work is done, which `batches` makes plain and
/// `records` hides.
pub struct Reader {
    reader: host::Reader,
}

impl Reader {
    /// The next records, in offset order within each partition; `None` once
    /// every partition has reached its end.
    pub fn next_batch(&self) -> Result<Option<Vec<Record>>, Error> {
        self.reader.next_batch()
    }

    /// The batches still to come. The iterator ends after the last batch,
    /// or after yielding an error; call [`next_batch`](Reader::next_batch)
    /// again to retry past one.
    pub fn batches(&self) -> impl Iterator<Item = Result<Vec<Record>, Error>> + '_ {
        let mut over = false;
        std::iter::from_fn(move || {
            if over {
                return None;
            }
            let next = self.next_batch().transpose();
            over = !matches!(next, Some(Ok(_)));
            next
        })
    }

    /// The records still to come, one at a time (they still cross from the
    /// host a batch at a time). Ends after the last record, or after
    /// yielding an error.
    pub fn records(&self) -> impl Iterator<Item = Result<Record, Error>> + '_ {
        let mut batches = self.batches();
        let mut batch = Vec::new().into_iter();
        std::iter::from_fn(move || {
            loop {
                if let Some(record) = batch.next() {
                    return Some(Ok(record));
                }
                match batches.next()? {
                    Ok(next) => batch = next.into_iter(),
                    Err(error) => return Some(Err(error)),
                }
            }
        })
    }

    /// For each partition read, how far the read has come: every record
    /// before this offset was in a batch or lies outside the time range.
    pub fn positions(&self) -> Vec<PartitionOffset> {
        self.reader.positions()
    }

    /// For each partition read, the offset its read ends at, as fixed when
    /// it began (an end time may stop it sooner). With the positions when
    /// the read was opened, they say how far it has come:
    ///
    /// ```no_run
    /// # fn main() -> Result<(), job_sdk::kafka::Error> {
    /// let reader = job_sdk::kafka::Read::topic("events").open()?;
    /// let total = |offsets: Vec<job_sdk::kafka::PartitionOffset>| offsets.iter().map(|o| o.offset).sum::<i64>();
    /// let (start, end) = (total(reader.positions()), total(reader.ends()));
    /// for batch in reader.batches() {
    ///     let _records = batch?;
    ///     let done = (total(reader.positions()) - start) as f32 / (end - start).max(1) as f32;
    ///     job_sdk::progress(done, None);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn ends(&self) -> Vec<PartitionOffset> {
        self.reader.ends()
    }

    /// Commits [`positions`](Reader::positions) as the group's offsets; an
    /// `InvalidRequest` when the read has no [`group`](Read::group).
    pub fn commit(&self) -> Result<(), Error> {
        self.reader.commit()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(read: Read) -> ReadOptions {
        read.options
    }

    #[test]
    fn defaults_read_everything_once() {
        assert_eq!(
            options(Read::topic("t")),
            ReadOptions {
                topic: "t".into(),
                partitions: vec![],
                start: Start::Earliest,
                end: End::Latest,
                group: None,
                max_batch_records: 0,
                max_batch_bytes: 0,
            }
        );
    }

    #[test]
    fn every_option_lands_in_its_field() {
        let read = Read::topic("t")
            .partitions([2, 0])
            .from_offset(10)
            .until_time(99)
            .group("hourly")
            .batch_records(100)
            .batch_bytes(1 << 20);
        assert_eq!(
            options(read),
            ReadOptions {
                topic: "t".into(),
                partitions: vec![2, 0],
                start: Start::Offset(10),
                end: End::Timestamp(99),
                group: Some("hourly".into()),
                max_batch_records: 100,
                max_batch_bytes: 1 << 20,
            }
        );
    }

    #[test]
    fn starts_and_ends() {
        let at = |partition, offset| PartitionOffset { partition, offset };
        assert_eq!(options(Read::topic("t").from_time(5)).start, Start::Timestamp(5));
        assert_eq!(
            options(Read::topic("t").from_offset(5).from_earliest()).start,
            Start::Earliest
        );
        assert_eq!(
            options(Read::topic("t").from_offsets([(0, 7), (1, 8)])).start,
            Start::Offsets(vec![at(0, 7), at(1, 8)])
        );
        assert_eq!(options(Read::topic("t").until_offset(5)).end, End::Offset(5));
        assert_eq!(options(Read::topic("t").until_time(5).until_latest()).end, End::Latest);
        assert_eq!(
            options(Read::topic("t").until_offsets(vec![at(3, 4)])).end,
            End::Offsets(vec![at(3, 4)])
        );
    }

    #[test]
    fn later_calls_replace_earlier_ones() {
        let read = Read::topic("t")
            .partitions([1])
            .partitions([])
            .from_offset(1)
            .from_time(2);
        let options = options(read);
        assert_eq!((options.partitions, options.start), (vec![], Start::Timestamp(2)));
    }
}
