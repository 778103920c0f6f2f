//! Request times: `X-Amz-Date` basic ISO 8601 and the HTTP `Date` header.

/// A request time, to the second, in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct AmzDate(i64);

impl AmzDate {
    /// From seconds since the Unix epoch.
    pub fn from_epoch(seconds: i64) -> AmzDate {
        AmzDate(seconds)
    }

    /// Seconds since the Unix epoch.
    pub fn epoch_seconds(self) -> i64 {
        self.0
    }

    /// `YYYYMMDDTHHMMSSZ`.
    pub fn basic(self) -> String {
        let (y, mo, d, h, mi, s) = civil(self.0);
        format!("{y:04}{mo:02}{d:02}T{h:02}{mi:02}{s:02}Z")
    }

    /// `YYYYMMDD`, the credential scope's date.
    pub fn day(self) -> String {
        let (y, mo, d, ..) = civil(self.0);
        format!("{y:04}{mo:02}{d:02}")
    }

    /// `YYYY-MM-DDTHH:MM:SSZ`, the form AWS puts in XML responses.
    pub fn iso8601(self) -> String {
        let (y, mo, d, h, mi, s) = civil(self.0);
        format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
    }
}

/// Reads `YYYYMMDDTHHMMSSZ`.
pub fn parse_amz_date(s: &str) -> Option<AmzDate> {
    let b = s.as_bytes();
    if b.len() != 16 || b.get(8) != Some(&b'T') || b.get(15) != Some(&b'Z') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = s.get(r)?;
        if !part.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        part.parse().ok()
    };
    from_parts(
        num(0..4)?,
        num(4..6)?,
        num(6..8)?,
        num(9..11)?,
        num(11..13)?,
        num(13..15)?,
    )
}

/// Reads an RFC 1123 HTTP date: `Sun, 30 Aug 2015 12:36:00 GMT`.
pub fn parse_http_date(s: &str) -> Option<AmzDate> {
    let parts: Vec<&str> = s.split_whitespace().collect();
    let [_, day, month, year, time, "GMT"] = parts.as_slice() else {
        return None;
    };
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = MONTHS.iter().position(|m| m == month)? as i64 + 1;
    let t: Vec<&str> = time.split(':').collect();
    let [h, mi, sec] = t.as_slice() else {
        return None;
    };
    from_parts(
        year.parse().ok()?,
        month,
        day.parse().ok()?,
        h.parse().ok()?,
        mi.parse().ok()?,
        sec.parse().ok()?,
    )
}

fn from_parts(y: i64, mo: i64, d: i64, h: i64, mi: i64, s: i64) -> Option<AmzDate> {
    let valid = (1..=12).contains(&mo)
        && (1..=31).contains(&d)
        && (0..24).contains(&h)
        && (0..60).contains(&mi)
        && (0..61).contains(&s);
    if !valid {
        return None;
    }
    Some(AmzDate(
        days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + s,
    ))
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil(t: i64) -> (i64, i64, i64, i64, i64, i64) {
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d, secs / 3600, secs % 3600 / 60, secs % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let d = parse_amz_date("20150830T123600Z").unwrap();
        assert_eq!(d.epoch_seconds(), 1_440_938_160);
        assert_eq!(d.basic(), "20150830T123600Z");
        assert_eq!(d.day(), "20150830");
        assert_eq!(d.iso8601(), "2015-08-30T12:36:00Z");
        assert_eq!(parse_http_date("Sun, 30 Aug 2015 12:36:00 GMT"), Some(d));
        assert_eq!(
            AmzDate::from_epoch(951_782_400).iso8601(),
            "2000-02-29T00:00:00Z"
        );
    }

    #[test]
    fn rejects_malformed_dates() {
        for bad in [
            "",
            "20150830T123600",
            "2015-08-30T12:36:00Z",
            "20151330T123600Z",
            "2015083OT123600Z",
        ] {
            assert!(parse_amz_date(bad).is_none(), "{bad}");
        }
        assert!(parse_http_date("30 Aug 2015 12:36:00 GMT").is_none());
    }
}
