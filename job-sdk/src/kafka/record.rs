//! What a job does with a record it read: its key and value as text or as
//! JSON, and its headers by name. Kafka holds bytes; these say, when the
//! bytes are not what the job expects, which record it was (partition and
//! offset: a record does not know its topic), so that a bad record can be
//! found and looked at.

use serde::de::DeserializeOwned;

use super::Record;
use crate::JobError;

impl Record {
    /// The value as UTF-8 text; an error naming the record when it has no
    /// value (a tombstone) or the value is not UTF-8.
    pub fn value_str(&self) -> Result<&str, JobError> {
        self.text("value", self.value.as_deref())
    }

    /// The key as UTF-8 text; an error naming the record when it has no key
    /// or the key is not UTF-8. Read `record.key` for keys that may be
    /// absent.
    pub fn key_str(&self) -> Result<&str, JobError> {
        self.text("key", self.key.as_deref())
    }

    /// The value decoded from JSON into `T`; an error naming the record when
    /// it has no value or does not hold the JSON `T` expects.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, JobError> {
        let value = self.value.as_deref().ok_or_else(|| self.missing("value"))?;
        serde_json::from_slice(value).map_err(|e| {
            JobError::new(format!(
                "the value of the Kafka record at {} is not the JSON this job expects: {e}",
                self.place()
            ))
        })
    }

    /// The value of the header called `name`. Kafka allows several headers
    /// of one name; this is the last, as Kafka's own clients' `lastHeader`
    /// answers. `None` when there is none, or it has no value.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .rev()
            .find(|header| header.key == name)
            .and_then(|header| header.value.as_deref())
    }

    fn text<'a>(&self, part: &str, bytes: Option<&'a [u8]>) -> Result<&'a str, JobError> {
        let bytes = bytes.ok_or_else(|| self.missing(part))?;
        std::str::from_utf8(bytes).map_err(|e| {
            JobError::new(format!(
                "the {part} of the Kafka record at {} is not UTF-8 text: {e}",
                self.place()
            ))
        })
    }

    fn missing(&self, part: &str) -> JobError {
        JobError::new(format!("the Kafka record at {} has no {part}", self.place()))
    }

    fn place(&self) -> String {
        format!("partition {}, offset {}", self.partition, self.offset)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::super::Header;
    use super::*;

    fn record(key: Option<&[u8]>, value: Option<&[u8]>) -> Record {
        Record {
            partition: 3,
            offset: 17,
            timestamp: Some(1),
            key: key.map(<[u8]>::to_vec),
            value: value.map(<[u8]>::to_vec),
            headers: Vec::new(),
        }
    }

    fn header(key: &str, value: Option<&[u8]>) -> Header {
        Header {
            key: key.into(),
            value: value.map(<[u8]>::to_vec),
        }
    }

    #[test]
    fn text_of_key_and_value() {
        let r = record(Some(b"k"), Some(b"v"));
        assert_eq!((r.key_str(), r.value_str()), (Ok("k"), Ok("v")));
    }

    #[test]
    fn missing_or_binary_text_names_the_record() {
        let r = record(None, Some(&[0xff, 0xfe]));
        assert_eq!(
            r.key_str(),
            Err(JobError::new("the Kafka record at partition 3, offset 17 has no key"))
        );
        let error = r.value_str().unwrap_err();
        assert!(
            error
                .message()
                .starts_with("the value of the Kafka record at partition 3, offset 17 is not UTF-8 text: "),
            "{error}"
        );
        assert_eq!(
            record(None, None).value_str(),
            Err(JobError::new("the Kafka record at partition 3, offset 17 has no value"))
        );
    }

    #[test]
    fn json_values() {
        let r = record(None, Some(br#"{"a": 1, "b": 2}"#));
        assert_eq!(
            r.json::<BTreeMap<String, u32>>(),
            Ok(BTreeMap::from([("a".to_owned(), 1), ("b".to_owned(), 2)]))
        );
        let error = r.json::<Vec<u32>>().unwrap_err();
        assert!(
            error.message().starts_with(
                "the value of the Kafka record at partition 3, offset 17 is not the JSON this job expects: invalid type"
            ),
            "{error}"
        );
        assert_eq!(
            record(None, None).json::<u32>(),
            Err(JobError::new("the Kafka record at partition 3, offset 17 has no value"))
        );
    }

    #[test]
    fn headers_by_name_last_wins() {
        let mut r = record(None, None);
        r.headers = vec![
            header("trace", Some(b"1")),
            header("empty", None),
            header("trace", Some(b"2")),
        ];
        assert_eq!(r.header("trace"), Some(&b"2"[..]));
        assert_eq!(r.header("empty"), None);
        assert_eq!(r.header("absent"), None);
    }
}
