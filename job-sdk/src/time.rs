//! Times as configs give them (ISO-8601 text, as Spark Job Server and Hydra
//! requests write them) and as Kafka and Cassandra keep them (milliseconds
//! since the Unix epoch).

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};

/// Milliseconds since the epoch of an ISO-8601 time: `2016-03-15T01:18:01`
/// (no zone means UTC), `2016-03-15T01:18:01.250Z`, `2016-03-15T01:18:01+01:00`,
/// `2016-03-15 01:18:01` or a date alone, `2016-03-15` (its midnight, UTC).
///
/// ```
/// use job_sdk::time::parse_millis;
/// assert_eq!(parse_millis("1970-01-01T00:00:01"), Ok(1000));
/// assert_eq!(parse_millis("1970-01-01T01:00:00+01:00"), Ok(0));
/// assert!(parse_millis("yesterday").is_err());
/// ```
pub fn parse_millis(text: &str) -> Result<i64, String> {
    let text = text.trim();
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Ok(time.timestamp_millis());
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M"] {
        if let Ok(time) = NaiveDateTime::parse_from_str(text, format) {
            return Ok(Utc.from_utc_datetime(&time).timestamp_millis());
        }
    }
    if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(Utc
            .from_utc_datetime(&date.and_time(chrono::NaiveTime::MIN))
            .timestamp_millis());
    }
    Err(format!(
        "'{text}' is not an ISO-8601 time such as 2016-03-15T01:18:01 (UTC) or 2016-03-15T01:18:01+01:00"
    ))
}

/// A time as ISO-8601 text in UTC, with milliseconds: `2016-03-15T01:18:01.000Z`.
pub fn format_millis(millis: i64) -> String {
    match Utc.timestamp_millis_opt(millis).single() {
        Some(time) => time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        None => format!("{millis} ms"),
    }
}

/// The half-open range `[start, end)` of a calendar month in UTC, in
/// milliseconds since the epoch. Months outside 1 to 12 are clamped.
pub fn month_millis(year: i32, month: u32) -> (i64, i64) {
    let month = month.clamp(1, 12);
    let start = |year: i32, month: u32| {
        NaiveDate::from_ymd_opt(year, month, 1)
            .map(|date| {
                Utc.from_utc_datetime(&date.and_time(chrono::NaiveTime::MIN))
                    .timestamp_millis()
            })
            .unwrap_or(i64::MAX)
    };
    let (next_year, next_month) = if month == 12 { (year + 1, 1) } else { (year, month + 1) };
    (start(year, month), start(next_year, next_month))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_times_in_the_shapes_configs_use() {
        let base = 1_458_004_681_000; // 2016-03-15T01:18:01Z
        assert_eq!(parse_millis("2016-03-15T01:18:01"), Ok(base));
        assert_eq!(parse_millis("2016-03-15T01:18:01Z"), Ok(base));
        assert_eq!(parse_millis(" 2016-03-15 01:18:01 "), Ok(base));
        assert_eq!(parse_millis("2016-03-15T01:18:01.250"), Ok(base + 250));
        assert_eq!(parse_millis("2016-03-15T02:18:01+01:00"), Ok(base));
        assert_eq!(parse_millis("2016-03-15T01:18"), Ok(base - 1000));
        assert_eq!(parse_millis("2016-03-15"), Ok(base - 4681 * 1000));
        assert!(parse_millis("2016-13-01").unwrap_err().contains("not an ISO-8601 time"));
        assert_eq!(format_millis(base + 250), "2016-03-15T01:18:01.250Z");
    }

    #[test]
    fn months_are_half_open() {
        assert_eq!(month_millis(1970, 1), (0, 31 * 86_400_000));
        let (start, end) = month_millis(2015, 12);
        assert_eq!(format_millis(start), "2015-12-01T00:00:00.000Z");
        assert_eq!(format_millis(end), "2016-01-01T00:00:00.000Z");
    }
}
