//! `Datetime`: the Lexicon `datetime` string format (atproto.com/specs/lexicon#datetime).
//!
//! Two layers, as in the interop fixtures:
//! - syntax ([`Datetime::check_syntax`]): `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`, exact
//!   digit counts, uppercase `T` and `Z`, no `-00:00`, at most 64 characters;
//! - meaning (construction): the fields form a real instant (month 1–12, a day that exists,
//!   hour ≤ 23, minute ≤ 59, second ≤ 59, offset ≤ 23:59) between years 0000 and 9999 once
//!   normalized to UTC.

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};

use super::{string_newtype, SyntaxError};

/// A datetime string, e.g. `1985-04-12T23:20:50.123Z`. Ordering is that of the string, which
/// is chronological only among values written the same way (e.g. all from [`Datetime::now`]).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Datetime(String);

string_newtype!(Datetime);

/// The fields of a syntactically valid datetime.
struct Fields {
    year: i32,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    nanos: u32,
    /// Offset east of UTC: sign (±1), hours, minutes.
    offset: (i64, u32, u32),
}

fn digits(b: &[u8]) -> Option<u32> {
    b.iter().try_fold(0u32, |acc, c| c.is_ascii_digit().then(|| acc * 10 + (c - b'0') as u32))
}

fn lex(s: &str) -> Result<Fields, SyntaxError> {
    let err = SyntaxError::Datetime;
    if s.len() > 64 {
        return Err(err("longer than 64 characters"));
    }
    let b = s.as_bytes();
    let shape = "dddd-dd-ddTdd:dd:dd"; // d: any ASCII digit
    if b.len() < shape.len() + 1 {
        return Err(err("must be YYYY-MM-DDTHH:MM:SS with a timezone"));
    }
    for (i, c) in shape.bytes().enumerate() {
        let ok = if c == b'd' { b[i].is_ascii_digit() } else { b[i] == c };
        if !ok {
            return Err(err("must be YYYY-MM-DDTHH:MM:SS (uppercase T, zero-padded)"));
        }
    }
    let num = |r: std::ops::Range<usize>| digits(&b[r]).unwrap_or_default();
    let mut rest = &b[shape.len()..];
    let mut nanos = 0;
    if let Some(frac) = rest.strip_prefix(b".") {
        let n = frac.iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 {
            return Err(err("fractional seconds need at least one digit"));
        }
        // Nanosecond precision; further digits are syntax only.
        nanos = frac[..n.min(9)].iter().fold(0, |acc, c| acc * 10 + (c - b'0') as u32) * 10u32.pow(9 - n.min(9) as u32);
        rest = &frac[n..];
    }
    let offset = match rest {
        b"Z" => (1, 0, 0),
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            if rest == b"-00:00" {
                return Err(err("\"-00:00\" is not allowed; use Z or +00:00"));
            }
            let (h, m) = (digits(&[*h1, *h2]), digits(&[*m1, *m2]));
            let (Some(h), Some(m)) = (h, m) else {
                return Err(err("timezone offset must be ±HH:MM"));
            };
            (if *sign == b'-' { -1 } else { 1 }, h, m)
        }
        _ => return Err(err("timezone must be Z or ±HH:MM")),
    };
    Ok(Fields { year: num(0..4) as i32, month: num(5..7), day: num(8..10), hour: num(11..13), minute: num(14..16), second: num(17..19), nanos, offset })
}

fn to_utc(f: &Fields) -> Result<DateTime<Utc>, SyntaxError> {
    let err = SyntaxError::Datetime;
    let (sign, oh, om) = f.offset;
    if oh > 23 || om > 59 {
        return Err(err("timezone offset out of range"));
    }
    let date = NaiveDate::from_ymd_opt(f.year, f.month, f.day).ok_or(err("no such date"))?;
    // Leap seconds (:60) are refused, as the reference implementations do.
    let local = date.and_hms_nano_opt(f.hour, f.minute, f.second, f.nanos).filter(|_| f.second < 60).ok_or(err("no such time of day"))?;
    let utc = local - TimeDelta::minutes(sign * (oh as i64 * 60 + om as i64));
    let year = chrono::Datelike::year(&utc);
    if !(0..=9999).contains(&year) {
        return Err(err("normalizes to a year outside 0000-9999"));
    }
    Ok(utc.and_utc())
}

impl Datetime {
    pub(crate) fn validate(s: &str) -> Result<(), SyntaxError> {
        to_utc(&lex(s)?).map(|_| ())
    }

    /// Checks only the syntax (shape, digits, timezone form), not that the fields name a real
    /// instant. Construction ([`FromStr`](std::str::FromStr), `TryFrom`) checks both.
    pub fn check_syntax(s: &str) -> Result<(), SyntaxError> {
        lex(s).map(|_| ())
    }

    /// The instant, in UTC.
    pub fn parse(&self) -> DateTime<Utc> {
        lex(&self.0).and_then(|f| to_utc(&f)).expect("validated at construction")
    }

    /// The current time, as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
    pub fn now() -> Datetime {
        Self::from_chrono(&Utc::now()).expect("the current year is within 0000-9999")
    }

    /// An instant as `YYYY-MM-DDTHH:MM:SS.mmmZ` (truncated to milliseconds); fails outside
    /// the years 0000–9999.
    pub fn from_chrono(t: &DateTime<Utc>) -> Result<Datetime, SyntaxError> {
        if !(0..=9999).contains(&chrono::Datelike::year(t)) {
            return Err(SyntaxError::Datetime("year outside 0000-9999"));
        }
        Ok(Datetime(t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()))
    }
}

impl From<Datetime> for DateTime<Utc> {
    fn from(d: Datetime) -> Self {
        d.parse()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_normalizes_offsets_and_precision() {
        let d: Datetime = "1985-04-12T23:20:50.123456789012-07:00".parse().unwrap();
        assert_eq!(d.parse().to_rfc3339(), "1985-04-13T06:20:50.123456789+00:00");
        let d: Datetime = "0000-01-01T00:30:00+00:15".parse().unwrap();
        assert_eq!(d.parse().to_rfc3339(), "0000-01-01T00:15:00+00:00");
        assert!("9999-12-31T23:59:59-01:00".parse::<Datetime>().is_err());
        assert!("1985-04-12T23:59:60Z".parse::<Datetime>().is_err());
        assert!("2023-02-29T00:00:00Z".parse::<Datetime>().is_err());
        assert!("2024-02-29T00:00:00Z".parse::<Datetime>().is_ok());
        assert!(Datetime::check_syntax("1985-13-12T23:20:50Z").is_ok());
    }

    #[test]
    fn now_has_the_preferred_form() {
        let now = Datetime::now();
        let s = now.as_str();
        assert_eq!(s.len(), "1985-04-12T23:20:50.123Z".len(), "{s}");
        assert!(s.ends_with('Z') && s.as_bytes()[19] == b'.');
        assert!((Utc::now() - now.parse()).num_seconds().abs() < 5);
        let t = DateTime::parse_from_rfc3339("2001-02-03T04:05:06.789999Z").unwrap().to_utc();
        assert_eq!(Datetime::from_chrono(&t).unwrap().as_str(), "2001-02-03T04:05:06.789Z");
    }
}
