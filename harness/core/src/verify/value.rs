//! The canonical typed value both sides of a compare reduce a column to, and its text
//! encoding — the one form that is hashed, on the client (DynamoDB) and in SQL
//! (PostgreSQL) alike, so equal data hashes equal across backends.
//!
//! Encoding of one value, always ending in `;` (text is length-prefixed, so a `;` inside
//! it is no terminator):
//!
//! | value | encoding | example |
//! |---|---|---|
//! | null (or a missing attribute) | `N;` | `N;` |
//! | number (int, decimal, float) | `n` + canonical decimal | `n-12.5;` |
//! | text | `s` + UTF-8 byte length + `:` + text | `s6:héllo;` |
//! | bytes | `x` + lowercase hex | `xdead;` |
//! | bool | `T` / `F` | `T;` |
//! | timestamp | `t` + nanoseconds since 1970-01-01T00:00:00Z | `t1700000000123456000;` |
//!
//! A canonical decimal has no exponent, no `+`, no leading zeros (but `0.5`), no trailing
//! fractional zeros and no trailing `.`; zero is `0`. So `5`, `5.00` and `5e0` are equal:
//! numbers compare by value, whatever type stores them.

use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::fmt::Write;

/// What a column is compared as.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Number,
    Text,
    Bytes,
    Bool,
    Timestamp,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Number => "number",
            Kind::Text => "text",
            Kind::Bytes => "bytes",
            Kind::Bool => "bool",
            Kind::Timestamp => "timestamp",
        }
    }
}

/// One canonical value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    Null,
    /// A canonical decimal ([`canonical_number`]); also `NaN`, `Infinity`, `-Infinity`.
    Number(String),
    Text(String),
    Bytes(Vec<u8>),
    Bool(bool),
    /// Nanoseconds since 1970-01-01T00:00:00Z.
    Timestamp(i128),
}

impl Value {
    /// A number from any decimal text (`1e3`, `+0.50`, `-0`); `None` when it is not one.
    pub fn number(text: &str) -> Option<Value> {
        canonical_number(text).map(Value::Number)
    }

    pub fn kind(&self) -> Option<Kind> {
        match self {
            Value::Null => None,
            Value::Number(_) => Some(Kind::Number),
            Value::Text(_) => Some(Kind::Text),
            Value::Bytes(_) => Some(Kind::Bytes),
            Value::Bool(_) => Some(Kind::Bool),
            Value::Timestamp(_) => Some(Kind::Timestamp),
        }
    }

    /// Appends the canonical encoding (with its `;`).
    pub fn encode_into(&self, out: &mut String) {
        match self {
            Value::Null => out.push_str("N;"),
            Value::Number(n) => {
                out.push('n');
                out.push_str(n);
                out.push(';');
            }
            Value::Text(t) => {
                let _ = write!(out, "s{}:{t};", t.len());
            }
            Value::Bytes(b) => {
                out.push('x');
                for byte in b {
                    let _ = write!(out, "{byte:02x}");
                }
                out.push(';');
            }
            Value::Bool(true) => out.push_str("T;"),
            Value::Bool(false) => out.push_str("F;"),
            Value::Timestamp(ns) => {
                let _ = write!(out, "t{ns};");
            }
        }
    }

    pub fn encode(&self) -> String {
        let mut s = String::new();
        self.encode_into(&mut s);
        s
    }

    /// For people: `42`, `"text"` (JSON-quoted), `\xdead`, `true`, an RFC 3339 time, `null`.
    pub fn display(&self) -> String {
        match self {
            Value::Null => "null".into(),
            Value::Number(n) => n.clone(),
            Value::Text(t) => serde_json::to_string(t).unwrap_or_else(|_| t.clone()),
            Value::Bytes(b) => {
                let mut s = String::from("\\x");
                for byte in b {
                    let _ = write!(s, "{byte:02x}");
                }
                s
            }
            Value::Bool(b) => b.to_string(),
            Value::Timestamp(ns) => format_rfc3339(*ns),
        }
    }

    /// A total order for listing keys: by kind, then numbers by value, text and bytes
    /// bytewise, timestamps by time.
    pub fn cmp_canonical(&self, other: &Value) -> Ordering {
        let rank = |v: &Value| match v {
            Value::Null => 0,
            Value::Bool(_) => 1,
            Value::Number(_) => 2,
            Value::Timestamp(_) => 3,
            Value::Text(_) => 4,
            Value::Bytes(_) => 5,
        };
        match (self, other) {
            (Value::Number(a), Value::Number(b)) => compare_numbers(a, b),
            (Value::Text(a), Value::Text(b)) => a.cmp(b),
            (Value::Bytes(a), Value::Bytes(b)) => a.cmp(b),
            (Value::Bool(a), Value::Bool(b)) => a.cmp(b),
            (Value::Timestamp(a), Value::Timestamp(b)) => a.cmp(b),
            _ => rank(self).cmp(&rank(other)),
        }
    }
}

/// Encodes values one after the other (a key, or a row's columns).
pub fn encode_all(values: &[Value]) -> String {
    let mut s = String::new();
    for v in values {
        v.encode_into(&mut s);
    }
    s
}

/// Decodes every value of an encoding made by [`encode_all`] (or by SQL that mirrors it).
pub fn decode_all(mut s: &str) -> Result<Vec<Value>, String> {
    let mut out = Vec::new();
    while !s.is_empty() {
        let (v, rest) = decode_one(s)?;
        out.push(v);
        s = rest;
    }
    Ok(out)
}

/// Decodes the first value of `s`; returns it and what follows.
pub fn decode_one(s: &str) -> Result<(Value, &str), String> {
    let bad = || format!("not a canonical value encoding: {:?}", truncate(s, 40));
    let tag = s.chars().next().ok_or_else(bad)?;
    let body = &s[1..];
    if tag == 's' {
        let colon = body.find(':').ok_or_else(bad)?;
        let len: usize = body[..colon].parse().map_err(|_| bad())?;
        let start = colon + 1;
        let text = body.get(start..start + len).ok_or_else(bad)?;
        let rest = body[start + len..].strip_prefix(';').ok_or_else(bad)?;
        return Ok((Value::Text(text.to_string()), rest));
    }
    let end = body.find(';').ok_or_else(bad)?;
    let (field, rest) = (&body[..end], &body[end + 1..]);
    let value = match tag {
        'N' if field.is_empty() => Value::Null,
        'T' if field.is_empty() => Value::Bool(true),
        'F' if field.is_empty() => Value::Bool(false),
        'n' => Value::Number(field.to_string()),
        't' => Value::Timestamp(field.parse().map_err(|_| bad())?),
        'x' => Value::Bytes(from_hex(field).ok_or_else(bad)?),
        _ => return Err(bad()),
    };
    Ok((value, rest))
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

fn from_hex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Longest run of zeros an exponent may add: beyond PostgreSQL's and DynamoDB's ranges
/// (DynamoDB: 38 digits, 1E-130..1E+126), so a hostile `1e999999999` stays small.
const MAX_EXPONENT_ZEROS: i64 = 1000;

/// The canonical decimal of a number's text: `+1.50E2` → `150`, `-0.0` → `0`, `.5` →
/// `0.5`; `NaN`, `Infinity` and `-Infinity` (also `inf`) as PostgreSQL writes them.
/// `None` when the text is no number.
pub fn canonical_number(text: &str) -> Option<String> {
    let t = text.trim();
    let (negative, body) = match t.as_bytes().first()? {
        b'-' => (true, &t[1..]),
        b'+' => (false, &t[1..]),
        _ => (false, t),
    };
    match body.to_ascii_lowercase().as_str() {
        "nan" => return Some("NaN".into()),
        "inf" | "infinity" => return Some(if negative { "-Infinity" } else { "Infinity" }.into()),
        _ => {}
    }
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], body[i + 1..].parse::<i64>().ok()?),
        None => (body, 0),
    };
    let (int_part, frac_part) = match mantissa.find('.') {
        Some(i) => (&mantissa[..i], &mantissa[i + 1..]),
        None => (mantissa, ""),
    };
    if int_part.is_empty() && frac_part.is_empty()
        || !int_part
            .bytes()
            .chain(frac_part.bytes())
            .all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let digits: String = format!("{int_part}{frac_part}");
    let digits = digits.trim_start_matches('0');
    // value = digits × 10^scale
    let mut scale = exponent.checked_sub(i64::try_from(frac_part.len()).ok()?)?;
    let trimmed = digits.trim_end_matches('0');
    if trimmed.is_empty() {
        return Some("0".into());
    }
    scale += i64::try_from(digits.len() - trimmed.len()).ok()?;
    let digits = trimmed;
    let len = i64::try_from(digits.len()).ok()?;
    let mut out = String::with_capacity(digits.len() + 4);
    if negative {
        out.push('-');
    }
    if scale >= 0 {
        if scale > MAX_EXPONENT_ZEROS {
            return None;
        }
        out.push_str(digits);
        out.extend(std::iter::repeat_n('0', scale as usize));
    } else {
        let point = len + scale;
        if point <= 0 {
            if -point > MAX_EXPONENT_ZEROS {
                return None;
            }
            out.push_str("0.");
            out.extend(std::iter::repeat_n('0', (-point) as usize));
            out.push_str(digits);
        } else {
            let point = point as usize;
            out.push_str(&digits[..point]);
            out.push('.');
            out.push_str(&digits[point..]);
        }
    }
    Some(out)
}

/// Orders two canonical decimals by value (`NaN` above everything, as in PostgreSQL).
pub fn compare_numbers(a: &str, b: &str) -> Ordering {
    fn class(s: &str) -> i8 {
        match s {
            "-Infinity" => -2,
            "Infinity" => 2,
            "NaN" => 3,
            _ if s.starts_with('-') => -1,
            "0" => 0,
            _ => 1,
        }
    }
    let (ca, cb) = (class(a), class(b));
    if ca != cb || ca.abs() >= 2 || ca == 0 {
        return ca.cmp(&cb);
    }
    let magnitude = |s: &str| -> (usize, String) {
        let s = s.trim_start_matches('-');
        let (int, frac) = s.split_once('.').unwrap_or((s, ""));
        let int = if int == "0" { "" } else { int };
        (int.len(), format!("{int}{frac}"))
    };
    let (ia, da) = magnitude(a);
    let (ib, db) = magnitude(b);
    // More integer digits is larger; with as many, the digit strings compare bytewise
    // (canonical forms have no trailing zeros, so a prefix is the smaller number).
    let by_magnitude = ia.cmp(&ib).then_with(|| da.cmp(&db));
    if ca < 0 {
        by_magnitude.reverse()
    } else {
        by_magnitude
    }
}

const NANOS_PER_SECOND: i128 = 1_000_000_000;

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Nanoseconds since the epoch of an RFC 3339 / ISO 8601 time: `2024-05-01T12:00:00Z`,
/// `2024-05-01 12:00:00.123456+02:00`, or without an offset (taken as UTC), or a bare
/// date (midnight UTC). `None` when it is not one.
pub fn parse_rfc3339(text: &str) -> Option<i128> {
    let t = text.trim();
    let b = t.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let s = t.get(r)?;
        s.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| s.parse().ok())?
    };
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let (year, month, day) = (num(0..4)?, num(5..7)? as u32, num(8..10)? as u32);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let days = days_from_civil(year, month, day);
    if b.len() == 10 {
        return Some(i128::from(days) * 86_400 * NANOS_PER_SECOND);
    }
    if !matches!(b[10], b'T' | b't' | b' ') || b.len() < 19 || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut i = 19;
    let mut nanos: i128 = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let frac = &t[start..i];
        if frac.is_empty() || frac.len() > 9 {
            return None;
        }
        nanos = format!("{frac:0<9}").parse().ok()?;
    }
    let offset_seconds: i64 = match &t[i..] {
        "" | "Z" | "z" => 0,
        rest => {
            let sign = match rest.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let rest = &rest[1..];
            let (h, m) = match rest.len() {
                5 if rest.as_bytes()[2] == b':' => (&rest[..2], &rest[3..]),
                4 => (&rest[..2], &rest[2..]),
                2 => (rest, "00"),
                _ => return None,
            };
            let h: i64 = h.parse().ok()?;
            let m: i64 = m.parse().ok()?;
            sign * (h * 3600 + m * 60)
        }
    };
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset_seconds;
    Some(i128::from(seconds) * NANOS_PER_SECOND + nanos)
}

/// `2024-05-01T12:00:00.123456789Z` (fraction only as long as needed).
pub fn format_rfc3339(ns: i128) -> String {
    let seconds = ns.div_euclid(NANOS_PER_SECOND);
    let nanos = ns.rem_euclid(NANOS_PER_SECOND);
    let Ok(seconds) = i64::try_from(seconds) else {
        return format!("{ns}ns");
    };
    let (days, secs) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    let (y, mo, d) = civil_from_days(days);
    let mut s = format!(
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    );
    if nanos != 0 {
        let frac = format!("{nanos:09}");
        s.push('.');
        s.push_str(frac.trim_end_matches('0'));
    }
    s.push('Z');
    s
}

/// The unit a number counts time in since the epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EpochUnit {
    Seconds,
    Millis,
    Micros,
    Nanos,
}

impl EpochUnit {
    /// Nanoseconds in one unit.
    pub fn nanos(self) -> i128 {
        match self {
            EpochUnit::Seconds => 1_000_000_000,
            EpochUnit::Millis => 1_000_000,
            EpochUnit::Micros => 1_000,
            EpochUnit::Nanos => 1,
        }
    }
}

/// Nanoseconds of `number` (any decimal text) counted in `unit` since the epoch,
/// truncated toward zero below a nanosecond.
pub fn epoch_to_nanos(number: &str, unit: EpochUnit) -> Option<i128> {
    let canonical = canonical_number(number)?;
    let (negative, magnitude) = match canonical.strip_prefix('-') {
        Some(m) => (true, m),
        None => (false, canonical.as_str()),
    };
    let (int, frac) = magnitude.split_once('.').unwrap_or((magnitude, ""));
    if int.len() > 30 {
        return None;
    }
    let int: i128 = int.parse().ok()?;
    let scale = unit.nanos();
    let digits = scale.ilog10() as usize;
    let frac: String = frac
        .chars()
        .chain(std::iter::repeat('0'))
        .take(digits)
        .collect();
    let frac: i128 = if digits == 0 { 0 } else { frac.parse().ok()? };
    let ns = int.checked_mul(scale)?.checked_add(frac)?;
    Some(if negative { -ns } else { ns })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_canonical_whatever_their_spelling() {
        for (text, want) in [
            ("0", "0"),
            ("-0", "0"),
            ("0.000", "0"),
            ("+5", "5"),
            ("5.00", "5"),
            ("5e0", "5"),
            ("1.50E2", "150"),
            ("1e+20", "100000000000000000000"),
            ("1.5e-07", "0.00000015"),
            (".5", "0.5"),
            ("-00012.3400", "-12.34"),
            ("123.456", "123.456"),
            ("100", "100"),
            ("NaN", "NaN"),
            ("-inf", "-Infinity"),
            ("Infinity", "Infinity"),
        ] {
            assert_eq!(canonical_number(text).as_deref(), Some(want), "{text}");
        }
        for bad in ["", "-", ".", "1.2.3", "abc", "1e", "0x10", "1e99999"] {
            assert_eq!(canonical_number(bad), None, "{bad}");
        }
    }

    #[test]
    fn numbers_order_by_value() {
        let mut v = vec!["10", "-2", "0.05", "9", "0", "-10.5", "0.5", "100", "-0.01"];
        v.sort_by(|a, b| compare_numbers(a, b));
        assert_eq!(
            v,
            ["-10.5", "-2", "-0.01", "0", "0.05", "0.5", "9", "10", "100"]
        );
    }

    #[test]
    fn encodings_round_trip_and_are_unambiguous() {
        let values = vec![
            Value::Null,
            Value::Number("-1.5".into()),
            Value::Text("a;b:c héllo".into()),
            Value::Text(String::new()),
            Value::Bytes(vec![0, 0xde, 0xad]),
            Value::Bool(true),
            Value::Bool(false),
            Value::Timestamp(-1),
        ];
        let enc = encode_all(&values);
        assert_eq!(decode_all(&enc).unwrap(), values);
        assert_eq!(Value::Text("héllo".into()).encode(), "s6:héllo;");
        assert_eq!(Value::Bytes(vec![0xde, 0xad]).encode(), "xdead;");
        assert!(decode_all("s9:abc;").is_err());
        assert!(decode_all("q;").is_err());
    }

    #[test]
    fn times_parse_from_rfc3339_and_print_back() {
        let base = 1_700_000_000i128 * 1_000_000_000;
        assert_eq!(parse_rfc3339("2023-11-14T22:13:20Z"), Some(base));
        assert_eq!(parse_rfc3339("2023-11-14 22:13:20"), Some(base));
        assert_eq!(parse_rfc3339("2023-11-15T00:13:20+02:00"), Some(base));
        assert_eq!(
            parse_rfc3339("2023-11-14T22:13:20.123456789Z"),
            Some(base + 123_456_789)
        );
        assert_eq!(parse_rfc3339("1970-01-01"), Some(0));
        assert_eq!(parse_rfc3339("1969-12-31T23:59:59.5Z"), Some(-500_000_000));
        assert_eq!(format_rfc3339(base + 120_000), "2023-11-14T22:13:20.00012Z");
        assert_eq!(format_rfc3339(-500_000_000), "1969-12-31T23:59:59.5Z");
        for bad in [
            "2023-13-01",
            "2023-11-14T25:00:00Z",
            "yesterday",
            "2023-11-14T22:13",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn epoch_numbers_become_nanoseconds() {
        assert_eq!(
            epoch_to_nanos("1.5", EpochUnit::Seconds),
            Some(1_500_000_000)
        );
        assert_eq!(
            epoch_to_nanos("1700000000123", EpochUnit::Millis),
            Some(1_700_000_000_123_000_000)
        );
        assert_eq!(epoch_to_nanos("-2", EpochUnit::Micros), Some(-2_000));
        assert_eq!(epoch_to_nanos("7", EpochUnit::Nanos), Some(7));
        assert_eq!(epoch_to_nanos("x", EpochUnit::Nanos), None);
    }
}
