//! Date and time literals in WHERE: CIM datetimes plus the common civil formats WMI accepts.
//!
//! WMI parses civil dates in the target machine's locale; we accept a fixed, unambiguous
//! set and interpret it in [`crate::CompileOptions::time_zone`]:
//!
//! * `yyyymmddHHMMSS.mmmmmmsUUU` (CIM datetime; no `*` wildcards in WHERE) and intervals;
//! * `yyyy-mm-dd`, optionally followed by ` ` or `T` and a time;
//! * `mm/dd/yyyy` (also with `-` or `.`), optionally followed by a time;
//! * `yyyy`, `yyyymm`, `yyyymmdd`;
//! * times `hh:mm[:ss[.fraction]]`, optionally followed by `AM`/`PM`.

use jiff::tz::TimeZone;
use linmgmt_cim::{CimDateTime, Timestamp};

/// Parses a datetime constant; `Err` carries a reason for the message.
pub(crate) fn parse_datetime(text: &str, tz: &TimeZone) -> Result<CimDateTime, &'static str> {
    let t = text.trim();
    if t.len() == 25 && matches!(t.as_bytes()[14], b'.') {
        let d: CimDateTime = t.parse().map_err(|_| "is not a valid CIM datetime")?;
        if let CimDateTime::Timestamp(ts) = &d
            && ts.has_wildcards()
        {
            return Err("has '*' wildcards, which WHERE does not allow");
        }
        return Ok(d);
    }
    let (date, time) = match t.find([' ', 'T']) {
        Some(i) => (&t[..i], t[i + 1..].trim()),
        None => (t, ""),
    };
    let (y, m, d) = parse_date(date).ok_or("is not a date WQL understands")?;
    let (hh, mm, ss, ns) = if time.is_empty() {
        (0, 0, 0, 0)
    } else {
        parse_time(time).ok_or("has a time WQL does not understand")?
    };
    let dt =
        jiff::civil::DateTime::new(y, m, d, hh, mm, ss, ns).map_err(|_| "is not a valid date")?;
    let zoned = dt.to_zoned(tz.clone()).map_err(|_| "is out of range")?;
    Timestamp::from_zoned(&zoned)
        .map(CimDateTime::Timestamp)
        .map_err(|_| "is out of range")
}

fn num<T: std::str::FromStr>(s: &str) -> Option<T> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn parse_date(s: &str) -> Option<(i16, i8, i8)> {
    if s.bytes().all(|b| b.is_ascii_digit()) {
        return match s.len() {
            4 => Some((num(s)?, 1, 1)),
            6 => Some((num(&s[..4])?, num(&s[4..])?, 1)),
            8 => Some((num(&s[..4])?, num(&s[4..6])?, num(&s[6..])?)),
            _ => None,
        };
    }
    let sep = s.chars().find(|c| matches!(c, '-' | '/' | '.'))?;
    let parts: Vec<&str> = s.split(sep).collect();
    let [a, b, c] = parts[..] else { return None };
    if a.len() == 4 {
        // yyyy-mm-dd
        Some((num(a)?, num(b)?, num(c)?))
    } else if c.len() == 4 && a.len() <= 2 && b.len() <= 2 {
        // mm/dd/yyyy, as WMI's US-English locale reads it.
        Some((num(c)?, num(a)?, num(b)?))
    } else {
        None
    }
}

fn parse_time(s: &str) -> Option<(i8, i8, i8, i32)> {
    let upper = s.to_ascii_uppercase();
    let (clock, meridiem) = if let Some(x) = upper.strip_suffix("PM") {
        (x.trim_end(), Some(true))
    } else if let Some(x) = upper.strip_suffix("AM") {
        (x.trim_end(), Some(false))
    } else {
        (upper.as_str(), None)
    };
    let mut parts = clock.split(':');
    let mut hh: i8 = num(parts.next()?)?;
    let mm: i8 = num(parts.next()?)?;
    let (ss, ns) = match parts.next() {
        None => (0, 0),
        Some(sec) => {
            let (whole, frac) = sec.split_once('.').unwrap_or((sec, ""));
            let ns = if frac.is_empty() {
                0
            } else {
                if frac.len() > 9 {
                    return None;
                }
                num::<i32>(frac)? * 10i32.pow(9 - frac.len() as u32)
            };
            (num(whole)?, ns)
        }
    };
    if parts.next().is_some() {
        return None;
    }
    match meridiem {
        Some(pm) if (1..=12).contains(&hh) => hh = hh % 12 + if pm { 12 } else { 0 },
        Some(_) => return None,
        None => {}
    }
    Some((hh, mm, ss, ns))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> String {
        parse_datetime(s, &TimeZone::UTC).map_or_else(|e| format!("ERR {e}"), |d| d.to_string())
    }

    #[test]
    fn formats() {
        assert_eq!(p("20110328152159.578125-420"), "20110328152159.578125-420");
        assert_eq!(p("2026-11-22"), "20261122000000.000000+000");
        assert_eq!(p("2026-11-22 10:00"), "20261122100000.000000+000");
        assert_eq!(p("2026-11-22T10:00:05.5"), "20261122100005.500000+000");
        assert_eq!(p("11/22/2026"), "20261122000000.000000+000");
        assert_eq!(p("11/22/2026 1:30 PM"), "20261122133000.000000+000");
        assert_eq!(p("20261122"), "20261122000000.000000+000");
        assert_eq!(p("2026"), "20260101000000.000000+000");
        assert!(p("2026-02-30").starts_with("ERR"));
        assert!(p("19980416******.000000+***").starts_with("ERR"));
        assert!(p("yesterday").starts_with("ERR"));
        let tz = TimeZone::fixed(jiff::tz::offset(-7));
        assert_eq!(
            parse_datetime("2026-11-22", &tz).unwrap().to_string(),
            "20261122000000.000000-420"
        );
    }
}
