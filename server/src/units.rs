//! Sizes (`512m`, `1g`) and durations (`30s`, `10 minutes`) as Spark Job
//! Server's settings and HOCON write them, for config files, flags, context
//! settings and query parameters alike.

use serde::de::{self, Deserializer, Visitor};
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// A number of bytes. A bare number is bytes; suffixes are binary multiples,
/// as in Spark (`512m` is 512 MiB): `k`, `m`, `g`, `t`, optionally followed by
/// `b`, `ib`; `b` alone is bytes. Case and a space before the unit do not matter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ByteSize(pub u64);

impl ByteSize {
    pub const fn mib(n: u64) -> ByteSize {
        ByteSize(n << 20)
    }

    pub const fn gib(n: u64) -> ByteSize {
        ByteSize(n << 30)
    }
}

impl FromStr for ByteSize {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (number, unit) = split_number(text).ok_or_else(|| {
            format!("'{text}' is not a size; write a whole number with an optional unit, like 512m or 2g")
        })?;
        if unit.starts_with('.') {
            return Err(format!("'{text}' is not a whole number; write 1536m rather than 1.5g"));
        }
        let shift = match unit.to_ascii_lowercase().as_str() {
            "" | "b" => 0,
            "k" | "kb" | "kib" => 10,
            "m" | "mb" | "mib" => 20,
            "g" | "gb" | "gib" => 30,
            "t" | "tb" | "tib" => 40,
            _ => return Err(format!("'{text}' has an unknown size unit '{unit}'; use k, m, g or t")),
        };
        number
            .checked_mul(1 << shift)
            .map(ByteSize)
            .ok_or_else(|| format!("'{text}' is too large"))
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bytes = self.0;
        for (shift, unit) in [(40, "t"), (30, "g"), (20, "m"), (10, "k")] {
            if bytes >= 1 << shift && bytes.is_multiple_of(1 << shift) {
                return write!(f, "{}{unit}", bytes >> shift);
            }
        }
        write!(f, "{bytes}")
    }
}

/// A duration. A bare number is seconds; units: `ms`, `s`, `m`, `h`, `d` and
/// their long forms (`millis`, `seconds`, `minutes`, `hours`, `days`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct HumanDuration(pub Duration);

impl FromStr for HumanDuration {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (number, unit) = split_number(text).ok_or_else(|| {
            format!("'{text}' is not a duration; write a whole number with an optional unit, like 30s or 10m")
        })?;
        let millis_per_unit: u64 = match unit.to_ascii_lowercase().as_str() {
            "ms" | "milli" | "millis" | "millisecond" | "milliseconds" => 1,
            "" | "s" | "sec" | "secs" | "second" | "seconds" => 1_000,
            "m" | "min" | "mins" | "minute" | "minutes" => 60_000,
            "h" | "hour" | "hours" => 3_600_000,
            "d" | "day" | "days" => 86_400_000,
            _ => {
                return Err(format!(
                    "'{text}' has an unknown time unit '{unit}'; use ms, s, m, h or d"
                ));
            }
        };
        number
            .checked_mul(millis_per_unit)
            .map(|millis| HumanDuration(Duration::from_millis(millis)))
            .ok_or_else(|| format!("'{text}' is too long"))
    }
}

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let millis = self.0.as_millis();
        for (per_unit, unit) in [(86_400_000, "d"), (3_600_000, "h"), (60_000, "m"), (1_000, "s")] {
            if millis >= per_unit && millis.is_multiple_of(per_unit) {
                return write!(f, "{}{unit}", millis / per_unit);
            }
        }
        write!(f, "{millis}ms")
    }
}

/// Splits `"512 m"` into `(512, "m")`.
fn split_number(text: &str) -> Option<(u64, &str)> {
    let text = text.trim();
    let digits = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let number = text[..digits].parse().ok()?;
    Some((number, text[digits..].trim_start()))
}

/// Both types come from config files as either a number or a string.
macro_rules! deserialize_from_str_or_number {
    ($type:ty, $expecting:literal) => {
        impl<'de> serde::Deserialize<'de> for $type {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct FromText;
                impl Visitor<'_> for FromText {
                    type Value = $type;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str($expecting)
                    }
                    fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
                        text.parse().map_err(E::custom)
                    }
                    fn visit_u64<E: de::Error>(self, number: u64) -> Result<Self::Value, E> {
                        number.to_string().parse().map_err(E::custom)
                    }
                    fn visit_i64<E: de::Error>(self, number: i64) -> Result<Self::Value, E> {
                        Err(E::custom(format!("{number} is negative")))
                    }
                }
                deserializer.deserialize_any(FromText)
            }
        }
    };
}

deserialize_from_str_or_number!(ByteSize, "a size such as 512m or 2g");
deserialize_from_str_or_number!(HumanDuration, "a duration such as 30s or 10m");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_spark_writes_them() {
        assert_eq!("512m".parse(), Ok(ByteSize::mib(512)));
        assert_eq!("512M".parse(), Ok(ByteSize::mib(512)));
        assert_eq!("2g".parse(), Ok(ByteSize::gib(2)));
        assert_eq!("1 GiB".parse(), Ok(ByteSize::gib(1)));
        assert_eq!("64kb".parse(), Ok(ByteSize(64 << 10)));
        assert_eq!("1000".parse(), Ok(ByteSize(1000)));
        assert_eq!(ByteSize::mib(512).to_string(), "512m");
        assert_eq!(ByteSize(1000).to_string(), "1000");
    }

    #[test]
    fn bad_sizes_say_what_is_wrong() {
        assert!(ByteSize::from_str("lots").unwrap_err().contains("not a size"));
        assert!(ByteSize::from_str("5x").unwrap_err().contains("unknown size unit 'x'"));
        assert!(ByteSize::from_str("-5m").unwrap_err().contains("not a size"));
        assert!(ByteSize::from_str("99999999999t").unwrap_err().contains("too large"));
    }

    #[test]
    fn durations_read_as_hocon_writes_them() {
        assert_eq!("30s".parse(), Ok(HumanDuration(Duration::from_secs(30))));
        assert_eq!("10 minutes".parse(), Ok(HumanDuration(Duration::from_secs(600))));
        assert_eq!("500ms".parse(), Ok(HumanDuration(Duration::from_millis(500))));
        assert_eq!("7d".parse(), Ok(HumanDuration(Duration::from_secs(7 * 86_400))));
        assert_eq!("60".parse(), Ok(HumanDuration(Duration::from_secs(60))));
        assert_eq!(HumanDuration(Duration::from_secs(600)).to_string(), "10m");
        assert_eq!(HumanDuration(Duration::from_millis(1500)).to_string(), "1500ms");
        assert!(HumanDuration::from_str("soon").unwrap_err().contains("not a duration"));
        assert!(
            HumanDuration::from_str("3 weeks")
                .unwrap_err()
                .contains("unknown time unit 'weeks'")
        );
    }

    #[test]
    fn config_files_may_give_numbers_or_strings() {
        let size: ByteSize = serde_json::from_value(serde_json::json!("1g")).unwrap();
        assert_eq!(size, ByteSize::gib(1));
        let size: ByteSize = serde_json::from_value(serde_json::json!(2048)).unwrap();
        assert_eq!(size, ByteSize(2048));
        let error = serde_json::from_value::<HumanDuration>(serde_json::json!(-1)).unwrap_err();
        assert!(error.to_string().contains("negative"));
    }
}
