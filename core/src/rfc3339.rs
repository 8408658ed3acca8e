//! Timestamps on the wire exactly as chrono writes and reads them (`2026-12-05T07:47:00.123Z`:
//! RFC 3339 in UTC, the fraction in 3, 6 or 9 digits as needed, none when whole), without
//! chrono's formatter and general parser.
//!
//! Why: chrono serialises through `collect_str`, which hands serde_json one character or digit
//! pair at a time, each escaped on its own; that was about half the cost of serialising an
//! event (each websocket frame) and a fifth of a whole video's JSON. Here the text is built in
//! a stack buffer and written as one string. Years outside 0..=9999 and leap seconds, which
//! chrono writes differently, go through chrono itself.
//!
//! Reading ([`deserialize`]) takes that same form (`Z`, an upper-case `T`, 0 to 9 fraction
//! digits) digit by digit, and hands anything else to chrono's own reader, so what is accepted
//! and how it reads are chrono's; chrono's general RFC 3339 parser was a sixth of reading an
//! event.

use std::fmt;

use chrono::{DateTime, Datelike, NaiveDate, Timelike, Utc};
use serde::de::{self, IntoDeserializer, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The longest text: `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`.
const MAX_LEN: usize = 30;

/// `t` as chrono writes it, in `buf`, or `None` where chrono writes it another way (a year
/// outside 0..=9999, a leap second).
fn format<'b>(t: &DateTime<Utc>, buf: &'b mut [u8; MAX_LEN]) -> Option<&'b str> {
    let year = t.year();
    let nano = t.nanosecond();
    if !(0..=9999).contains(&year) || nano >= 1_000_000_000 {
        return None;
    }
    let two = |buf: &mut [u8; MAX_LEN], at: usize, v: u32| {
        buf[at] = b'0' + (v / 10) as u8;
        buf[at + 1] = b'0' + (v % 10) as u8;
    };
    let year = year as u32;
    two(buf, 0, year / 100);
    two(buf, 2, year % 100);
    buf[4] = b'-';
    two(buf, 5, t.month());
    buf[7] = b'-';
    two(buf, 8, t.day());
    buf[10] = b'T';
    two(buf, 11, t.hour());
    buf[13] = b':';
    two(buf, 14, t.minute());
    buf[16] = b':';
    two(buf, 17, t.second());
    let (mut fraction, digits) = if nano == 0 {
        (0, 0)
    } else if nano.is_multiple_of(1_000_000) {
        (nano / 1_000_000, 3)
    } else if nano.is_multiple_of(1_000) {
        (nano / 1_000, 6)
    } else {
        (nano, 9)
    };
    let mut len = 19;
    if digits > 0 {
        buf[len] = b'.';
        for i in (0..digits).rev() {
            buf[len + 1 + i] = b'0' + (fraction % 10) as u8;
            fraction /= 10;
        }
        len += 1 + digits;
    }
    buf[len] = b'Z';
    // ASCII digits and separators only.
    Some(std::str::from_utf8(&buf[..=len]).expect("ASCII"))
}

/// Serialises `t` as chrono does (`#[serde(with = "crate::rfc3339")]`).
pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    let mut buf = [0u8; MAX_LEN];
    match format(t, &mut buf) {
        Some(text) => s.serialize_str(text),
        None => t.serialize(s),
    }
}

/// `t` as its JSON string, quotes included, exactly as [`serialize`] writes it, without a
/// serializer: the Redis store sends each write's timestamps as ready JSON, and chrono's own
/// path there (`serde_json::to_string` of a `DateTime`, through `collect_str`) cost about 2,400
/// instructions a timestamp, a tenth of a shot write's.
pub fn json(t: &DateTime<Utc>) -> String {
    let mut text = String::with_capacity(MAX_LEN + 2);
    push_json(&mut text, t);
    text
}

/// [`json`], appended to `text` (no string of its own).
pub fn push_json(text: &mut String, t: &DateTime<Utc>) {
    let mut buf = [0u8; MAX_LEN];
    match format(t, &mut buf) {
        // No character of it needs escaping.
        Some(written) => {
            text.push('"');
            text.push_str(written);
            text.push('"');
        }
        None => text.push_str(&serde_json::to_string(t).expect("a timestamp always serialises")),
    }
}

/// `text` if it is in the form [`format`] writes (any number of fraction digits up to 9), else
/// `None`.
fn parse(text: &str) -> Option<DateTime<Utc>> {
    let b = text.as_bytes();
    if b.len() < 20 || b.len() > MAX_LEN || b[b.len() - 1] != b'Z' {
        return None;
    }
    let digit = |i: usize| {
        let d = b[i].wrapping_sub(b'0');
        (d < 10).then_some(u32::from(d))
    };
    let two = |i: usize| Some(digit(i)? * 10 + digit(i + 1)?);
    let separators = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')];
    if separators.iter().any(|&(at, c)| b[at] != c) {
        return None;
    }
    let year = two(0)? * 100 + two(2)?;
    let mut nano = 0;
    if b.len() > 20 {
        if b[19] != b'.' || b.len() == 21 {
            return None;
        }
        let digits = b.len() - 21;
        for i in 20..20 + digits {
            nano = nano * 10 + digit(i)?;
        }
        nano *= 10u32.pow((9 - digits) as u32);
    }
    NaiveDate::from_ymd_opt(year as i32, two(5)?, two(8)?)?
        .and_hms_nano_opt(two(11)?, two(14)?, two(17)?, nano)
        .map(|t| t.and_utc())
}

/// Reads a timestamp as chrono reads it (`#[serde(with = "crate::rfc3339")]`).
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
    struct TimestampVisitor;
    impl Visitor<'_> for TimestampVisitor {
        type Value = DateTime<Utc>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("an RFC 3339 timestamp")
        }
        fn visit_str<E: de::Error>(self, text: &str) -> Result<DateTime<Utc>, E> {
            match parse(text) {
                Some(t) => Ok(t),
                None => DateTime::<Utc>::deserialize(text.into_deserializer()),
            }
        }
    }
    d.deserialize_str(TimestampVisitor)
}

/// An optional timestamp, `null` when absent (`#[serde(default, with = "crate::rfc3339::option")]`:
/// `default` keeps a missing member reading as none, as a plain `Option` field does).
pub mod option {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => super::serialize(t, s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        #[derive(Deserialize)]
        struct Timestamp(#[serde(with = "super")] DateTime<Utc>);
        Ok(Option::<Timestamp>::deserialize(d)?.map(|t| t.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;

    /// What this module writes for `t`, as JSON.
    fn ours(t: DateTime<Utc>) -> String {
        let mut out = Vec::new();
        serialize(&t, &mut serde_json::Serializer::new(&mut out)).expect("serialize");
        String::from_utf8(out).expect("utf-8")
    }

    fn chronos(t: DateTime<Utc>) -> String {
        serde_json::to_string(&t).expect("serialize")
    }

    #[test]
    fn each_fraction_is_written_as_chrono_writes_it() {
        let base = Utc.with_ymd_and_hms(2026, 12, 5, 7, 4, 9).unwrap();
        for nanos in [
            0,
            5_000_000,
            120_000_000,
            7_000,
            123_456_000,
            1,
            999_999_999,
        ] {
            let t = base + chrono::Duration::nanoseconds(nanos);
            assert_eq!(ours(t), chronos(t), "{nanos} ns");
        }
        assert_eq!(
            ours(base + chrono::Duration::microseconds(250)),
            "\"2026-12-05T07:04:09.000250Z\""
        );
    }

    #[test]
    fn years_chrono_writes_otherwise_and_leap_seconds_go_through_chrono() {
        let far = Utc.with_ymd_and_hms(12_345, 1, 2, 3, 4, 5).unwrap();
        assert_eq!(ours(far), chronos(far));
        let before = Utc.with_ymd_and_hms(-44, 3, 15, 12, 0, 0).unwrap();
        assert_eq!(ours(before), chronos(before));
        let leap = chrono::NaiveDate::from_ymd_opt(2016, 12, 31)
            .and_then(|d| d.and_hms_nano_opt(23, 59, 59, 1_500_000_000))
            .expect("a leap second")
            .and_utc();
        assert_eq!(ours(leap), chronos(leap));
    }

    #[test]
    fn json_is_what_serde_json_writes_for_every_form() {
        for t in [
            Utc.with_ymd_and_hms(2026, 12, 5, 7, 47, 0).unwrap(),
            Utc.timestamp_nanos(1_765_000_000_123_000_000),
            Utc.timestamp_nanos(1_765_000_000_123_456_000),
            Utc.timestamp_nanos(1_765_000_000_123_456_789),
            NaiveDate::from_ymd_opt(12_345, 1, 2)
                .unwrap()
                .and_hms_opt(3, 4, 5)
                .unwrap()
                .and_utc(),
        ] {
            assert_eq!(json(&t), serde_json::to_string(&t).unwrap());
        }
    }

    #[test]
    fn an_absent_timestamp_is_null() {
        let mut out = Vec::new();
        option::serialize(&None, &mut serde_json::Serializer::new(&mut out)).expect("serialize");
        assert_eq!(out, b"null");
    }

    /// `text` (a JSON string) read by this module and by chrono: both answers, errors as text.
    fn read_both(text: &str) -> (Result<DateTime<Utc>, String>, Result<DateTime<Utc>, String>) {
        let ours =
            deserialize(&mut serde_json::Deserializer::from_str(text)).map_err(|e| e.to_string());
        let chronos = serde_json::from_str::<DateTime<Utc>>(text).map_err(|e| e.to_string());
        (ours, chronos)
    }

    #[test]
    fn other_forms_are_read_as_chrono_reads_them() {
        for text in [
            "2026-12-05T07:04:09Z",
            "2026-12-05T07:04:09.1Z",
            "2026-12-05T07:04:09.12345Z",
            "2026-12-05t07:04:09.5z",
            "2026-12-05 07:04:09.5Z",
            "2026-12-05T07:04:09.5+09:00",
            "2026-12-05T07:04:09.5-00:00",
            "2016-12-31T23:59:60.5Z",
            "2026-12-05T07:04:09.Z",
            "2026-12-05T07:04:09.1234567891Z",
            "2026-02-30T07:04:09Z",
            "2026-12-05T24:04:09Z",
            "2026-1x-05T07:04:09Z",
            "2026-12-05",
            "",
            "yesterday",
        ] {
            let (ours, chronos) = read_both(&format!("{text:?}"));
            assert_eq!(
                ours.is_ok(),
                chronos.is_ok(),
                "{text}: {ours:?} against {chronos:?}"
            );
            if let (Ok(a), Ok(b)) = (&ours, &chronos) {
                assert_eq!(a, b, "{text}");
            }
        }
        assert!(read_both("2")
            .0
            .expect_err("a number")
            .contains("an RFC 3339 timestamp"));
    }

    #[test]
    fn an_optional_timestamp_reads_null_as_none() {
        let read = |text: &str| option::deserialize(&mut serde_json::Deserializer::from_str(text));
        assert_eq!(read("null").expect("null"), None);
        let t = Utc.with_ymd_and_hms(2026, 12, 5, 7, 4, 9).unwrap();
        assert_eq!(read("\"2026-12-05T07:04:09Z\"").expect("a time"), Some(t));
    }

    proptest! {
        #[test]
        fn any_timestamp_reads_back_as_chrono_reads_it(
            secs in -62_135_596_800i64..253_402_300_799,
            nanos in 0u32..1_000_000_000,
        ) {
            let t = Utc.timestamp_opt(secs, nanos).single().expect("in range");
            let (ours, chronos) = read_both(&chronos(t));
            prop_assert_eq!(&ours, &chronos);
            prop_assert_eq!(ours, Ok(t));
        }

        #[test]
        fn any_timestamp_reads_as_chrono_writes_it(
            secs in -62_135_596_800i64..253_402_300_799,
            nanos in prop_oneof![Just(0u32), (0u32..1000).prop_map(|m| m * 1_000_000),
                (0u32..1_000_000).prop_map(|u| u * 1000), 0u32..1_000_000_000],
        ) {
            let t = Utc.timestamp_opt(secs, nanos).single().expect("in range");
            prop_assert_eq!(ours(t), chronos(t));
            prop_assert_eq!(json(&t), chronos(t));
        }
    }
}
