//! Timestamps as Moesif takes them: UTC, millisecond precision, `YYYY-MM-DDTHH:MM:SS.mmm`.

use time::macros::format_description;
use time::OffsetDateTime;

/// Milliseconds since the Unix epoch, now.
pub(crate) fn now_millis() -> i64 {
    let nanos = OffsetDateTime::now_utc().unix_timestamp_nanos();
    i64::try_from(nanos / 1_000_000).unwrap_or(i64::MAX)
}

/// Formats milliseconds since the epoch the way the reference writes times (no zone suffix; UTC).
/// Out-of-range values fall back to the epoch rather than failing.
pub(crate) fn format_millis(millis: i64) -> String {
    let format = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]");
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
        .format(format)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_milliseconds_in_utc() {
        assert_eq!(format_millis(1_583_349_317_135), "2020-03-04T19:15:17.135");
        assert_eq!(format_millis(i64::MAX), "1970-01-01T00:00:00.000");
    }

    #[test]
    fn now_is_after_2020() {
        assert!(now_millis() > 1_577_836_800_000);
    }
}
