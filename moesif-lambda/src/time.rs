//! Timestamps as Moesif takes them: UTC, millisecond precision, `YYYY-MM-DDTHH:MM:SS.mmm`.
//!
//! Written out by hand (the civil-from-days conversion of the proleptic Gregorian calendar): one format,
//! no time zones, no parsing, so no date-time crate in every function's binary.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch, now.
pub(crate) fn now_millis() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(since) => i64::try_from(since.as_millis()).unwrap_or(i64::MAX),
        Err(before) => i64::try_from(before.duration().as_millis()).map_or(i64::MIN, |millis| -millis),
    }
}

const MILLIS_PER_DAY: i64 = 86_400_000;

/// Formats milliseconds since the epoch the way the reference writes times (no zone suffix; UTC).
/// Years outside -9999..=9999 fall back to the epoch rather than failing.
pub(crate) fn format_millis(millis: i64) -> String {
    let (days, in_day) = (millis.div_euclid(MILLIS_PER_DAY), millis.rem_euclid(MILLIS_PER_DAY));
    let (year, month, day) = civil_from_days(days);
    if !(-9999..=9999).contains(&year) {
        return format_millis(0);
    }
    let (seconds, millis) = (in_day.unsigned_abs() / 1000, in_day.unsigned_abs() % 1000);
    // Written into a fixed layout two digits at a time (this runs twice per event; a loop over the
    // digits cost several times more). A negative year keeps the leading `-`.
    let mut text = *b"-0000-00-00T00:00:00.000";
    let (negative, year) = (year < 0, year.unsigned_abs());
    put_pair(&mut text[1..3], year / 100);
    put_pair(&mut text[3..5], year % 100);
    put_pair(&mut text[6..8], month.unsigned_abs());
    put_pair(&mut text[9..11], day.unsigned_abs());
    put_pair(&mut text[12..14], seconds / 3600);
    put_pair(&mut text[15..17], seconds / 60 % 60);
    put_pair(&mut text[18..20], seconds % 60);
    put_pair(&mut text[21..23], millis / 10);
    text[23] = b'0' + (millis % 10) as u8;
    let text = if negative { &text[..] } else { &text[1..] };
    // ASCII digits and separators only: always UTF-8.
    String::from_utf8(text.to_vec()).unwrap_or_default()
}

/// Writes `number` (below 100) as two digits into `out` (two bytes).
fn put_pair(out: &mut [u8], number: u64) {
    const PAIRS: &[u8; 200] = b"00010203040506070809101112131415161718192021222324252627282930313233343536373839\
        40414243444546474849505152535455565758596061626364656667686970717273747576777879\
        8081828384858687888990919293949596979899";
    let at = (number % 100) as usize * 2;
    out.copy_from_slice(&PAIRS[at..at + 2]);
}

/// Year, month (1–12) and day (1–31) of the day `days` after 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_milliseconds_in_utc() {
        assert_eq!(format_millis(1_583_349_317_135), "2020-03-04T19:15:17.135");
        assert_eq!(format_millis(0), "1970-01-01T00:00:00.000");
        assert_eq!(format_millis(-1), "1969-12-31T23:59:59.999");
        assert_eq!(format_millis(951_782_400_000), "2000-02-29T00:00:00.000", "a leap day");
        assert_eq!(
            format_millis(4_107_542_400_000),
            "2100-03-01T00:00:00.000",
            "2100 is no leap year"
        );
        assert_eq!(format_millis(253_402_300_799_999), "9999-12-31T23:59:59.999");
        assert_eq!(format_millis(-62_167_219_200_000), "0000-01-01T00:00:00.000");
        assert_eq!(format_millis(-62_198_755_200_000), "-0001-01-01T00:00:00.000");
        assert_eq!(
            format_millis(253_402_300_800_000),
            "1970-01-01T00:00:00.000",
            "year 10000"
        );
        assert_eq!(format_millis(i64::MAX), "1970-01-01T00:00:00.000");
        assert_eq!(format_millis(i64::MIN), "1970-01-01T00:00:00.000");
    }

    #[test]
    fn every_day_of_eight_centuries_follows_the_previous() {
        // 1600-03-01 ..= 2400-03-01, day by day: month lengths, leap years, the century rules.
        let length = |year: i64, month: i64| match month {
            2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
            2 => 28,
            4 | 6 | 9 | 11 => 30,
            _ => 31,
        };
        assert_eq!(civil_from_days(-135_080), (1600, 3, 1));
        let mut previous = (1600, 2, 29);
        for days in -135_080..=157_114 {
            let current = civil_from_days(days);
            let (year, month, day) = current;
            let (p_year, p_month, p_day) = previous;
            let expected = if p_day < length(p_year, p_month) {
                (p_year, p_month, p_day + 1)
            } else if p_month < 12 {
                (p_year, p_month + 1, 1)
            } else {
                (p_year + 1, 1, 1)
            };
            assert_eq!(current, expected, "the day after {previous:?}");
            assert!((1..=12).contains(&month) && (1..=31).contains(&day) && year >= 1600);
            previous = current;
        }
        assert_eq!(previous, (2400, 3, 1));
    }

    #[test]
    fn the_pairs_write_what_format_writes() {
        let by_format = |millis: i64| {
            let (days, in_day) = (millis.div_euclid(MILLIS_PER_DAY), millis.rem_euclid(MILLIS_PER_DAY));
            let (year, month, day) = civil_from_days(days);
            let sign = if year < 0 { "-" } else { "" };
            let (seconds, millis) = (in_day / 1000, in_day % 1000);
            format!(
                "{sign}{:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}",
                year.abs(),
                seconds / 3600,
                seconds / 60 % 60,
                seconds % 60
            )
        };
        // Every millisecond of one second, then steps of a prime number of milliseconds over 20 000
        // years (every field at many values), both signs.
        let within_a_second = 1_583_349_317_000..1_583_349_318_000;
        let over_the_years = (-62_198_755_200_000..253_402_300_799_999).step_by(1_000_000_007);
        for millis in within_a_second.chain(over_the_years) {
            assert_eq!(format_millis(millis), by_format(millis), "{millis}");
        }
    }

    #[test]
    fn now_is_after_2020() {
        assert!(now_millis() > 1_577_836_800_000);
    }
}
