//! DMTF datetimes: timestamps `yyyymmddHHMMSS.mmmmmmsUUU` and intervals
//! `ddddddddHHMMSS.mmmmmm:000`, with the `*` wildcards of DSP0004.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

/// A CIM `datetime` value: either a point in time or a duration.
#[derive(Clone, Debug)]
pub enum CimDateTime {
    /// A point in time with its UTC offset.
    Timestamp(Timestamp),
    /// A duration.
    Interval(Interval),
}

/// Why text is not a DMTF datetime.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "not a CIM datetime ({reason}); expected yyyymmddHHMMSS.mmmmmmsUUU or ddddddddHHMMSS.mmmmmm:000"
)]
pub struct DateTimeError {
    reason: &'static str,
}

fn err(reason: &'static str) -> DateTimeError {
    DateTimeError { reason }
}

/// A DMTF timestamp. Fields replaced by `*` are unknown; such a value has no instant and
/// compares with others character by character, as WMI does.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Timestamp {
    text: [u8; 25],
    /// Seconds and microseconds since the Unix epoch, when no field is starred.
    instant: Option<(i64, u32)>,
}

impl Timestamp {
    /// The timestamp for `seconds`/`micros` since the Unix epoch, shown at `offset_minutes`
    /// east of UTC. Fails for offsets beyond ±999 minutes or years outside 0..=9999.
    pub fn from_unix(
        seconds: i64,
        micros: u32,
        offset_minutes: i16,
    ) -> Result<Timestamp, DateTimeError> {
        if micros >= 1_000_000 {
            return Err(err("microseconds out of range"));
        }
        if offset_minutes.unsigned_abs() > 999 {
            return Err(err("offset out of range"));
        }
        let offset = jiff::tz::Offset::from_seconds(i32::from(offset_minutes) * 60)
            .map_err(|_| err("offset out of range"))?;
        let ts = jiff::Timestamp::new(seconds, 0).map_err(|_| err("time out of range"))?;
        let dt = offset.to_datetime(ts);
        if dt.year() < 0 {
            return Err(err("year out of range"));
        }
        if dt.year() > 9999 {
            return Err(err("year out of range"));
        }
        // Written digit by digit: providers build one per process, so no format-and-parse.
        let mut text = [0u8; 25];
        let mut put = |at: usize, len: usize, mut n: u32| {
            for i in (at..at + len).rev() {
                text[i] = b'0' + (n % 10) as u8;
                n /= 10;
            }
        };
        put(0, 4, dt.year() as u32);
        put(4, 2, dt.month() as u32);
        put(6, 2, dt.day() as u32);
        put(8, 2, dt.hour() as u32);
        put(10, 2, dt.minute() as u32);
        put(12, 2, dt.second() as u32);
        put(15, 6, micros);
        put(22, 3, u32::from(offset_minutes.unsigned_abs()));
        text[14] = b'.';
        text[21] = if offset_minutes < 0 { b'-' } else { b'+' };
        Ok(Timestamp {
            text,
            instant: Some((seconds, micros)),
        })
    }

    /// The timestamp for a jiff instant in the given zone (e.g. the host's local zone).
    pub fn from_zoned(zoned: &jiff::Zoned) -> Result<Timestamp, DateTimeError> {
        let ts = zoned.timestamp();
        // Offsets are whole minutes in every real zone; seconds are dropped.
        let offset_minutes = (zoned.offset().seconds() / 60) as i16;
        Timestamp::from_unix(
            ts.as_second(),
            ts.subsec_microsecond() as u32,
            offset_minutes,
        )
    }

    /// The instant as seconds and microseconds since the Unix epoch, if no field is starred.
    pub fn unix(&self) -> Option<(i64, u32)> {
        self.instant
    }

    /// The instant as a jiff timestamp, if no field is starred.
    pub fn to_jiff(&self) -> Option<jiff::Timestamp> {
        let (s, us) = self.instant?;
        jiff::Timestamp::new(s, (us * 1000) as i32).ok()
    }

    /// The UTC offset in minutes, if not starred.
    pub fn offset_minutes(&self) -> Option<i16> {
        let digits = std::str::from_utf8(&self.text[22..25])
            .ok()?
            .parse::<i16>()
            .ok()?;
        Some(if self.text[21] == b'-' {
            -digits
        } else {
            digits
        })
    }

    /// RFC 3339 with the original offset, e.g. `2011-03-28T15:21:59.578125-07:00`;
    /// `None` when a field is starred.
    pub fn to_rfc3339(&self) -> Option<String> {
        let ts = self.to_jiff()?;
        let offset = jiff::tz::Offset::from_seconds(i32::from(self.offset_minutes()?) * 60).ok()?;
        let dt = offset.to_datetime(ts);
        let total = offset.seconds().abs() / 60;
        let sign = if offset.seconds() < 0 { '-' } else { '+' };
        Some(format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}{}{:02}:{:02}",
            dt.year(),
            dt.month(),
            dt.day(),
            dt.hour(),
            dt.minute(),
            dt.second(),
            dt.subsec_nanosecond() / 1000,
            sign,
            total / 60,
            total % 60
        ))
    }

    /// Whether any field is `*`.
    pub fn has_wildcards(&self) -> bool {
        self.instant.is_none()
    }

    fn as_str(&self) -> &str {
        // Only ASCII is ever stored.
        std::str::from_utf8(&self.text).unwrap_or_default()
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timestamp({})", self.as_str())
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Parses a field of `len` digits at `at`, or `None` for a field of all stars.
fn field(text: &[u8], at: usize, len: usize) -> Result<Option<u32>, DateTimeError> {
    let part = &text[at..at + len];
    if part.iter().all(|&b| b == b'*') {
        return Ok(None);
    }
    if !part.iter().all(u8::is_ascii_digit) {
        return Err(err(
            "a field mixes digits and '*' or holds other characters",
        ));
    }
    Ok(Some(
        part.iter().fold(0, |n, &b| n * 10 + u32::from(b - b'0')),
    ))
}

/// Parses the microseconds field: digits, optionally followed by stars (lower precision).
fn micros_field(text: &[u8]) -> Result<Option<u32>, DateTimeError> {
    let part = &text[15..21];
    let digits = part.iter().take_while(|b| b.is_ascii_digit()).count();
    if !part[digits..].iter().all(|&b| b == b'*') {
        return Err(err("bad microseconds"));
    }
    if digits < 6 {
        return Ok(None);
    }
    field(text, 15, 6)
}

impl FromStr for Timestamp {
    type Err = DateTimeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let b = s.as_bytes();
        if b.len() != 25 {
            return Err(err("wrong length, must be 25 characters"));
        }
        if b[14] != b'.' {
            return Err(err("missing '.' at position 15"));
        }
        if !matches!(b[21], b'+' | b'-') {
            return Err(err("missing '+' or '-' before the UTC offset"));
        }
        let year = field(b, 0, 4)?;
        let month = field(b, 4, 2)?;
        let day = field(b, 6, 2)?;
        let hour = field(b, 8, 2)?;
        let minute = field(b, 10, 2)?;
        let second = field(b, 12, 2)?;
        let micros = micros_field(b)?;
        let offset = field(b, 22, 3)?;
        if month.is_some_and(|m| !(1..=12).contains(&m)) {
            return Err(err("month out of range"));
        }
        if day.is_some_and(|d| !(1..=31).contains(&d)) {
            return Err(err("day out of range"));
        }
        if hour.is_some_and(|h| h > 23)
            || minute.is_some_and(|m| m > 59)
            || second.is_some_and(|s| s > 59)
        {
            return Err(err("time of day out of range"));
        }
        let mut text = [0u8; 25];
        text.copy_from_slice(b);
        let instant = match (year, month, day, hour, minute, second, micros, offset) {
            (Some(y), Some(mo), Some(d), Some(h), Some(mi), Some(s), Some(us), Some(off)) => {
                let date = jiff::civil::Date::new(y as i16, mo as i8, d as i8)
                    .map_err(|_| err("no such day in that month"))?;
                let dt = date.at(h as i8, mi as i8, s as i8, 0);
                let minutes = off as i32 * if b[21] == b'-' { -1 } else { 1 };
                let offset = jiff::tz::Offset::from_seconds(minutes * 60)
                    .map_err(|_| err("offset out of range"))?;
                let ts = offset
                    .to_timestamp(dt)
                    .map_err(|_| err("time out of range"))?;
                Some((ts.as_second(), us))
            }
            _ => None,
        };
        Ok(Timestamp { text, instant })
    }
}

impl PartialOrd for Timestamp {
    /// Instants compare in UTC; starred values compare as text, as WMI does.
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        match (self.instant, other.instant) {
            (Some(a), Some(b)) => Some(a.cmp(&b)),
            _ => Some(self.text.cmp(&other.text)),
        }
    }
}

/// A DMTF interval: days, hours, minutes, seconds and microseconds.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Interval {
    micros: u64,
}

impl Interval {
    /// The largest interval the format can hold: 99999999 days 23:59:59.999999.
    pub const MAX_MICROS: u64 = (99_999_999 * 86_400 + 86_399) * 1_000_000 + 999_999;

    /// An interval of `micros` microseconds, if it fits the format.
    pub fn from_micros(micros: u64) -> Option<Interval> {
        (micros <= Self::MAX_MICROS).then_some(Interval { micros })
    }

    /// An interval of whole seconds, if it fits the format.
    pub fn from_secs(secs: u64) -> Option<Interval> {
        Self::from_micros(secs.checked_mul(1_000_000)?)
    }

    /// The length in microseconds.
    pub fn as_micros(&self) -> u64 {
        self.micros
    }

    /// The length as a std duration.
    pub fn to_duration(&self) -> std::time::Duration {
        std::time::Duration::from_micros(self.micros)
    }
}

impl fmt::Debug for Interval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Interval({self})")
    }
}

impl fmt::Display for Interval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let us = self.micros % 1_000_000;
        let secs = self.micros / 1_000_000;
        let (days, rest) = (secs / 86_400, secs % 86_400);
        write!(
            f,
            "{:08}{:02}{:02}{:02}.{:06}:000",
            days,
            rest / 3600,
            rest / 60 % 60,
            rest % 60,
            us
        )
    }
}

impl FromStr for Interval {
    type Err = DateTimeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let b = s.as_bytes();
        if b.len() != 25 || b[14] != b'.' || &b[21..] != b":000" {
            return Err(err("an interval is ddddddddHHMMSS.mmmmmm:000"));
        }
        if b.contains(&b'*') {
            return Err(err("intervals may not contain '*'"));
        }
        let get = |at, len| field(b, at, len).map(Option::unwrap_or_default);
        let (days, h, m, sec, us) = (
            get(0, 8)?,
            get(8, 2)?,
            get(10, 2)?,
            get(12, 2)?,
            get(15, 6)?,
        );
        if h > 23 || m > 59 || sec > 59 {
            return Err(err("interval hours, minutes or seconds out of range"));
        }
        let secs =
            u64::from(days) * 86_400 + u64::from(h) * 3600 + u64::from(m) * 60 + u64::from(sec);
        Ok(Interval {
            micros: secs * 1_000_000 + u64::from(us),
        })
    }
}

impl CimDateTime {
    /// The timestamp, if this is one.
    pub fn timestamp(&self) -> Option<&Timestamp> {
        match self {
            CimDateTime::Timestamp(t) => Some(t),
            CimDateTime::Interval(_) => None,
        }
    }

    /// The interval, if this is one.
    pub fn interval(&self) -> Option<&Interval> {
        match self {
            CimDateTime::Interval(i) => Some(i),
            CimDateTime::Timestamp(_) => None,
        }
    }
}

impl FromStr for CimDateTime {
    type Err = DateTimeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() == 25 && s.as_bytes()[21] == b':' {
            s.parse().map(CimDateTime::Interval)
        } else {
            s.parse().map(CimDateTime::Timestamp)
        }
    }
}

impl fmt::Display for CimDateTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CimDateTime::Timestamp(t) => t.fmt(f),
            CimDateTime::Interval(i) => i.fmt(f),
        }
    }
}

impl PartialEq for CimDateTime {
    fn eq(&self, other: &Self) -> bool {
        self.partial_cmp(other) == Some(Ordering::Equal)
    }
}

impl PartialOrd for CimDateTime {
    /// Timestamps with timestamps, intervals with intervals; never across kinds.
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        match (self, other) {
            (CimDateTime::Timestamp(a), CimDateTime::Timestamp(b)) => a.partial_cmp(b),
            (CimDateTime::Interval(a), CimDateTime::Interval(b)) => a.partial_cmp(b),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn check(text: &str, expect: Result<&str, &str>) {
        let got = text
            .parse::<CimDateTime>()
            .map(|d| d.to_string())
            .map_err(|e| e.reason.to_owned());
        assert_eq!(
            got.as_deref(),
            expect.map_err(str::to_owned).as_deref(),
            "{text}"
        );
    }

    #[test]
    fn parse_and_print() {
        check("20110328152159.578125-420", Ok("20110328152159.578125-420"));
        check("19980416******.000000+***", Ok("19980416******.000000+***"));
        check("19980416120000.123***+060", Ok("19980416120000.123***+060"));
        check("00000001120032.000000:000", Ok("00000001120032.000000:000"));
        check(
            "2011032815215.578125-420",
            Err("wrong length, must be 25 characters"),
        );
        check("20111328152159.578125-420", Err("month out of range"));
        check(
            "20110230152159.578125-420",
            Err("no such day in that month"),
        );
        check("20110328252159.578125-420", Err("time of day out of range"));
        check(
            "2011032815215*.578125-420",
            Err("a field mixes digits and '*' or holds other characters"),
        );
        check(
            "20110328152159.578125 420",
            Err("missing '+' or '-' before the UTC offset"),
        );
        check(
            "00000001120032.00000*:000",
            Err("intervals may not contain '*'"),
        );
        check(
            "00000001250032.000000:000",
            Err("interval hours, minutes or seconds out of range"),
        );
        check(
            "2011032815215é.578125-42",
            Err("missing '.' at position 15"),
        );
    }

    #[test]
    fn compares_in_utc() {
        let a: CimDateTime = "20110328152159.578125-420".parse().unwrap();
        let b: CimDateTime = "20110328222159.578125+000".parse().unwrap();
        let c: CimDateTime = "20110328222159.578126+000".parse().unwrap();
        assert_eq!(a, b);
        assert!(a < c);
        let i: CimDateTime = "00000001120032.000000:000".parse().unwrap();
        assert_eq!(a.partial_cmp(&i), None);
        let starred: CimDateTime = "19980416******.000000+***".parse().unwrap();
        let zero: CimDateTime = "19980416******.000000+000".parse().unwrap();
        assert_ne!(starred, zero, "+*** and +000 differ, as in WMI");
    }

    #[test]
    fn converts_to_and_from_real_time() {
        let t = Timestamp::from_unix(1_301_350_919, 578_125, -420).unwrap();
        assert_eq!(t.to_string(), "20110328152159.578125-420");
        assert_eq!(t.unix(), Some((1_301_350_919, 578_125)));
        assert_eq!(
            t.to_rfc3339().as_deref(),
            Some("2011-03-28T15:21:59.578125-07:00")
        );
        assert_eq!(t.offset_minutes(), Some(-420));
        let i: Interval = "00000001120032.000000:000".parse().unwrap();
        assert_eq!(i.to_duration().as_secs(), 86_400 + 12 * 3600 + 32);
        assert_eq!(
            Interval::from_secs(129_632).unwrap().to_string(),
            "00000001120032.000000:000"
        );
        assert!(Interval::from_micros(Interval::MAX_MICROS + 1).is_none());
        assert!(Timestamp::from_unix(0, 0, 1000).is_err());
    }

    proptest! {
        #[test]
        fn timestamp_round_trip(secs in -62_135_596_800i64..253_402_300_799, us in 0u32..1_000_000, off in -720i16..=840) {
            if let Ok(t) = Timestamp::from_unix(secs, us, off) {
                let back: Timestamp = t.to_string().parse().unwrap();
                prop_assert_eq!(back.unix(), Some((secs, us)));
                prop_assert_eq!(back.to_string(), t.to_string());
            }
        }

        #[test]
        fn interval_round_trip(us in 0u64..=Interval::MAX_MICROS) {
            let i = Interval::from_micros(us).unwrap();
            let back: Interval = i.to_string().parse().unwrap();
            prop_assert_eq!(back, i);
        }

        #[test]
        fn parser_never_panics(s in "[0-9*.+:\\-]{0,30}") {
            let _ = s.parse::<CimDateTime>();
        }
    }
}

/// 100-nanosecond intervals from 1601-01-01 to 1970-01-01 (the Windows FILETIME epoch).
const FILETIME_UNIX_EPOCH: i128 = 116_444_736_000_000_000;

/// A point in time as a Windows FILETIME: 100-nanosecond intervals since January 1, 1601
/// (UTC), the unit of `__Event.TIME_CREATED`. Times before 1601 give 0.
pub fn filetime(t: jiff::Timestamp) -> u64 {
    let ticks = t.as_nanosecond() / 100 + FILETIME_UNIX_EPOCH;
    u64::try_from(ticks.max(0)).unwrap_or(u64::MAX)
}

/// The inverse of [`filetime`]; `None` beyond the range of [`jiff::Timestamp`].
pub fn from_filetime(ticks: u64) -> Option<jiff::Timestamp> {
    let nanos = (i128::from(ticks) - FILETIME_UNIX_EPOCH) * 100;
    jiff::Timestamp::from_nanosecond(nanos).ok()
}

#[cfg(test)]
mod filetime_tests {
    use super::*;

    #[test]
    fn filetime_round_trip_and_epochs() {
        assert_eq!(
            filetime(jiff::Timestamp::UNIX_EPOCH),
            116_444_736_000_000_000
        );
        let t: jiff::Timestamp = "2026-11-22T10:00:00.1234567Z".parse().unwrap();
        assert_eq!(from_filetime(filetime(t)), Some(t));
        assert_eq!(filetime("1500-01-01T00:00:00Z".parse().unwrap()), 0);
        assert_eq!(from_filetime(0), "1601-01-01T00:00:00Z".parse().ok());
    }
}
