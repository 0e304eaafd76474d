//! The parsers OpenStack services share through oslo.utils, so that every
//! API reads booleans and times in query strings the same way.

/// oslo's `strutils.bool_from_string`: the words it recognises
/// (case-insensitive, surrounding blanks ignored); `None` for others.
pub fn bool_from_string(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "t" | "true" | "on" | "y" | "yes" => Some(true),
        "0" | "f" | "false" | "off" | "n" | "no" => Some(false),
        _ => None,
    }
}

/// The message of `bool_from_string(strict=True)` for an unknown word.
pub fn unrecognized_bool(value: &str) -> String {
    format!(
        "Unrecognized value '{value}', acceptable values are: '0', '1', 'f', 'false', 'n', 'no', 'off', 'on', 't', 'true', 'y', 'yes'"
    )
}

/// oslo's `timeutils.parse_isotime`: an ISO 8601 time, with or without a
/// zone (UTC when none) and fraction, in microseconds since the epoch.
pub fn parse_isotime(text: &str) -> Option<i64> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return Some(t.timestamp_micros());
    }
    [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
    ]
    .iter()
    .find_map(|f| chrono::NaiveDateTime::parse_from_str(text, f).ok())
    .map(|t| t.and_utc().timestamp_micros())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booleans_as_oslo_reads_them() {
        for yes in ["1", "t", "True", " yes ", "ON", "y"] {
            assert_eq!(bool_from_string(yes), Some(true), "{yes}");
        }
        for no in ["0", "f", "FALSE", "no", "off", "n"] {
            assert_eq!(bool_from_string(no), Some(false), "{no}");
        }
        assert_eq!(bool_from_string("maybe"), None);
        assert_eq!(bool_from_string(""), None);
    }

    #[test]
    fn times_as_oslo_reads_them() {
        let second = parse_isotime("2026-01-02T03:04:05Z").expect("zoned");
        assert_eq!(parse_isotime("2026-01-02T03:04:05"), Some(second));
        assert_eq!(parse_isotime("2026-01-02 03:04:05.000000"), Some(second));
        assert_eq!(
            parse_isotime("2026-01-02T04:04:05+01:00"),
            Some(second),
            "offsets are honoured"
        );
        assert_eq!(parse_isotime("2026-01-02T03:04"), Some(second - 5_000_000));
        assert_eq!(parse_isotime("yesterday"), None);
    }
}
