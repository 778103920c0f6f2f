//! Typed readings of condition values: numbers, dates, booleans, IP ranges and
//! base64. Policies and request contexts both hold these as strings; each is read
//! here, once, by the same function, whether validating a document or evaluating
//! a request.
//!
//! Reference: <https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html>

use std::cmp::Ordering;
use std::net::IpAddr;

/// A number of a `Numeric*` condition: integers and decimals, compared exactly
/// as `f64` (IAM's numeric keys such as `s3:max-keys` are well within range).
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub(crate) struct Number(f64);

impl Number {
    /// Reads `10`, `-3`, `2.5`, `1e3`; rejects empty text, NaN and infinities.
    pub(crate) fn parse(text: &str) -> Option<Number> {
        let t = text.trim();
        let valid = !t.is_empty()
            && t.bytes()
                .all(|b| b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.' | b'e' | b'E'))
            && t.bytes().any(|b| b.is_ascii_digit());
        if !valid {
            return None;
        }
        let value: f64 = t.parse().ok()?;
        value.is_finite().then_some(Number(value))
    }

    pub(crate) fn compare(self, other: Number) -> Option<Ordering> {
        self.0.partial_cmp(&other.0)
    }
}

/// A point in time of a `Date*` condition, in milliseconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Instant(i64);

impl Instant {
    /// Reads the forms IAM accepts: ISO 8601 (`2024-01-31`, `2024-01-31T12:00Z`,
    /// `2024-01-31T12:00:00.123+02:00`, basic `20240131T120000Z`) and epoch seconds.
    pub(crate) fn parse(text: &str) -> Option<Instant> {
        let t = text.trim();
        if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) && t.len() != 8 {
            let secs: i64 = t.parse().ok()?;
            return secs.checked_mul(1000).map(Instant);
        }
        parse_iso8601(t).map(Instant)
    }
}

fn parse_iso8601(t: &str) -> Option<i64> {
    let b = t.as_bytes();
    let mut p = Cursor { b, i: 0 };
    let year = p.digits(4)?;
    let extended = p.eat(b'-');
    let month = p.digits(2)?;
    // Reduced precision `YYYY-MM` stands for the first day of the month.
    let day = if extended && p.i == b.len() {
        1
    } else {
        if extended && !p.eat(b'-') {
            return None;
        }
        p.digits(2)?
    };
    let (mut hour, mut minute, mut second, mut millis) = (0, 0, 0, 0);
    let mut offset_minutes: i64 = 0;
    if p.eat(b'T') || p.eat(b't') {
        hour = p.digits(2)?;
        let colon = p.eat(b':');
        minute = p.digits(2)?;
        if (colon && p.eat(b':')) || (!colon && p.peek().is_some_and(|c| c.is_ascii_digit())) {
            second = p.digits(2)?;
            if p.eat(b'.') || p.eat(b',') {
                let start = p.i;
                let mut scale = 100;
                while let Some(d) = p.peek().filter(u8::is_ascii_digit) {
                    millis += i64::from(d - b'0') * scale;
                    scale /= 10;
                    p.i += 1;
                }
                if p.i == start {
                    return None;
                }
            }
        }
        match p.peek() {
            Some(b'Z' | b'z') => p.i += 1,
            Some(sign @ (b'+' | b'-')) => {
                p.i += 1;
                let oh = p.digits(2)?;
                p.eat(b':');
                let om = p.digits(2)?;
                let total = oh * 60 + om;
                offset_minutes = if sign == b'+' { total } else { -total };
            }
            _ => {}
        }
    }
    if p.i != b.len() {
        return None;
    }
    let valid = (1..=12).contains(&month)
        && day >= 1
        && day <= days_in_month(year, month)
        && hour <= 24
        && minute < 60
        && second <= 60
        && (hour < 24 || (minute == 0 && second == 0 && millis == 0));
    if !valid {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset_minutes * 60;
    Some(secs * 1000 + millis)
}

struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn digits(&mut self, n: usize) -> Option<i64> {
        let s = self.b.get(self.i..self.i + n)?;
        let mut v = 0i64;
        for &d in s {
            if !d.is_ascii_digit() {
                return None;
            }
            v = v * 10 + i64::from(d - b'0');
        }
        self.i += n;
        Some(v)
    }
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Reads `true` / `false`, case-insensitively, as the `Bool` operator does.
pub(crate) fn parse_bool(text: &str) -> Option<bool> {
    if text.eq_ignore_ascii_case("true") {
        Some(true)
    } else if text.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// An address range of an `IpAddress` condition: `10.0.0.0/8`, `2001:db8::/32`,
/// or a single address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IpRange {
    network: IpAddr,
    prefix: u8,
}

impl IpRange {
    pub(crate) fn parse(text: &str) -> Option<IpRange> {
        let t = text.trim();
        let (addr, prefix) = match t.split_once('/') {
            Some((a, p)) => {
                if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) || p.len() > 3 {
                    return None;
                }
                (a.parse::<IpAddr>().ok()?, Some(p.parse::<u8>().ok()?))
            }
            None => (t.parse::<IpAddr>().ok()?, None),
        };
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        (prefix <= max).then_some(IpRange {
            network: addr,
            prefix,
        })
    }

    /// Whether `addr` lies in this range. An IPv4 address never matches an IPv6
    /// range and the other way round, except IPv4-mapped IPv6 addresses.
    pub(crate) fn contains(&self, addr: IpAddr) -> bool {
        let addr = match addr {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
            v4 => v4,
        };
        match (self.network, addr) {
            (IpAddr::V4(net), IpAddr::V4(a)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

/// Reads an IP address as it appears in `aws:SourceIp`.
pub(crate) fn parse_ip(text: &str) -> Option<IpAddr> {
    text.trim().parse().ok()
}

/// Decodes standard base64 (with or without padding); `None` if the text is
/// not base64.
#[cfg(test)]
pub(crate) fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    base64_each(text, |b| out.push(b)).then_some(out)
}

/// Whether `text` is standard base64, without allocating.
pub(crate) fn is_base64(text: &str) -> bool {
    base64_each(text, |_| {})
}

fn base64_each(text: &str, mut emit: impl FnMut(u8)) -> bool {
    let mut acc: u32 = 0;
    let mut bits = 0;
    let trimmed = text.trim_end_matches('=');
    if text.len() - trimmed.len() > 2 {
        return false;
    }
    for c in trimmed.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return false,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            emit((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    // Leftover bits must be zero padding, and fewer than a whole character.
    bits < 6 && acc == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(text: &str) -> i64 {
        Instant::parse(text).map(|i| i.0).unwrap_or(i64::MIN)
    }

    #[test]
    fn dates_in_every_form_iam_accepts() {
        let noon = 1_706_702_400_000; // 2024-01-31T12:00:00Z
        assert_eq!(ms("2024-01-31T12:00:00Z"), noon);
        assert_eq!(ms("2024-01-31T12:00Z"), noon);
        assert_eq!(ms("2024-01-31T14:00:00+02:00"), noon);
        assert_eq!(ms("2024-01-31T07:00:00-0500"), noon);
        assert_eq!(ms("20240131T120000Z"), noon);
        assert_eq!(ms("2024-01-31T12:00:00.250Z"), noon + 250);
        assert_eq!(ms("1706702400"), noon);
        assert_eq!(ms("2024-01-31"), noon - 12 * 3_600_000);
        assert_eq!(ms("1970-01-01T00:00:00Z"), 0);
        assert_eq!(ms("2000-02-29"), 951_782_400_000);
        assert_eq!(ms("2000-02"), ms("2000-02-01"));
    }

    #[test]
    fn impossible_dates_are_not_dates() {
        for bad in [
            "",
            "2024-13-01",
            "2023-02-29",
            "2024-01-32",
            "2024-01-31T25:00Z",
            "yesterday",
            "2024-01-31T12",
            "2024/01/31",
            "2024-01-31T12:00:00.Z",
            "2024-01-31Z",
        ] {
            assert!(Instant::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn numbers_integer_and_decimal() {
        assert_eq!(Number::parse("10"), Some(Number(10.0)));
        assert_eq!(Number::parse("-2.5"), Some(Number(-2.5)));
        for bad in ["", "ten", "NaN", "inf", "1e400", "0x10", "1,5"] {
            assert!(Number::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn cidr_ranges_v4_and_v6() {
        let r = IpRange::parse("10.0.0.0/8").unwrap();
        assert!(r.contains("10.255.1.2".parse().unwrap()));
        assert!(!r.contains("11.0.0.1".parse().unwrap()));
        assert!(r.contains("::ffff:10.1.2.3".parse().unwrap()));
        let one = IpRange::parse("203.0.113.7").unwrap();
        assert!(one.contains("203.0.113.7".parse().unwrap()));
        assert!(!one.contains("203.0.113.8".parse().unwrap()));
        let all = IpRange::parse("0.0.0.0/0").unwrap();
        assert!(all.contains("1.2.3.4".parse().unwrap()));
        let v6 = IpRange::parse("2001:db8::/32").unwrap();
        assert!(v6.contains("2001:db8:1::1".parse().unwrap()));
        assert!(!v6.contains("2001:db9::1".parse().unwrap()));
        assert!(!v6.contains("10.0.0.1".parse().unwrap()));
        for bad in [
            "10.0.0.0/33",
            "10.0.0/8",
            "::/129",
            "10.0.0.0/",
            "x",
            "10.0.0.0/+8",
        ] {
            assert!(IpRange::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn base64_strict() {
        assert_eq!(decode_base64("aGVsbG8="), Some(b"hello".to_vec()));
        assert_eq!(decode_base64("aGVsbG8"), Some(b"hello".to_vec()));
        assert_eq!(decode_base64(""), Some(vec![]));
        assert!(decode_base64("aGVsbG8===").is_none());
        assert!(decode_base64("a*==").is_none());
        assert!(decode_base64("aGVsbG9").is_none());
    }
}
