//! The wall clock, read in one place.

/// Seconds since the Unix epoch.
pub(crate) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// `YYYY-MM-DDTHH:MM:SSZ`, as AWS writes timestamps in XML.
pub(crate) fn iso8601(seconds: i64) -> String {
    sigv4::AmzDate::from_epoch(seconds).iso8601()
}
