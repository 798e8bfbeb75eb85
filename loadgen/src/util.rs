//! Small helpers shared by the commands: serde forms of durations, percentiles.

/// Serialises an `Option<Duration>` as fractional seconds (or null).
pub mod opt_secs {
    use std::time::Duration;

    pub fn serialize<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&d.as_secs_f64()),
            None => s.serialize_none(),
        }
    }
}

/// Serialises a `Duration` as fractional seconds.
pub mod secs {
    use std::time::Duration;

    pub fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }
}

/// Parses a duration in `humantime`'s syntax (`30s`, `5m`, `1h 30m`, `250ms`), or a bare
/// number of seconds (`1.5`).
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let text = text.trim();
    if let Ok(secs) = text.parse::<f64>() {
        return std::time::Duration::try_from_secs_f64(secs).map_err(|_| format!("{text:?} is not a non-negative duration"));
    }
    humantime::parse_duration(text).map_err(|e| format!("{text:?} is not a duration like 30s, 5m, 1h or 250ms: {e}"))
}

/// `base` with `segment` appended as one path segment (`Url::join` would read a DID such as
/// `did:plc:…` as an absolute URL with scheme `did`).
pub fn join_segment(base: &url::Url, segment: &str) -> url::Url {
    let mut url = base.clone();
    if let Ok(mut segments) = url.path_segments_mut() {
        segments.pop_if_empty().push(segment);
    }
    url
}

/// Parses an RFC 3339 timestamp to Unix milliseconds.
pub fn rfc3339_millis(text: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(text).ok().map(|t| t.timestamp_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("30s").unwrap().as_secs(), 30);
        assert_eq!(parse_duration("2m").unwrap().as_secs(), 120);
        assert_eq!(parse_duration("250ms").unwrap().as_millis(), 250);
        assert_eq!(parse_duration("1.5").unwrap().as_millis(), 1500);
        assert_eq!(parse_duration("1h 30m").unwrap().as_secs(), 5400);
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("-1").is_err());
        let base: url::Url = "http://127.0.0.1:9/".parse().unwrap();
        assert_eq!(join_segment(&base, "did:plc:abc").as_str(), "http://127.0.0.1:9/did:plc:abc");
        let base: url::Url = "http://h/plc".parse().unwrap();
        assert_eq!(join_segment(&base, "did:plc:abc").as_str(), "http://h/plc/did:plc:abc");
        assert_eq!(rfc3339_millis("2026-07-04T00:00:01.500Z"), Some(1_783_123_201_500));
    }
}
