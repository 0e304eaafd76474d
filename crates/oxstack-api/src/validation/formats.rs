//! The `format` keywords Nova's schemas use, checked as Nova's format
//! checker does (`nova/api/validation/validators.py`).

use std::net::{Ipv4Addr, Ipv6Addr};

use base64::Engine;
use unicode_general_category::{GeneralCategory, get_general_category};

/// How a value failed a format.
pub enum FormatError {
    /// The generic jsonschema message: `'x' is not a 'uuid'`.
    Invalid,
    /// Nova replaces the whole message (InvalidName): this text.
    Replaced(&'static str),
}

pub const NAME_MESSAGE: &str = "An invalid 'name' value was provided. The name must be: printable characters. Can not start or end with whitespace.";
pub const NAME_WITH_SPACES_MESSAGE: &str = "An invalid 'name' value was provided. The name must be: printable characters with at least one non space character";
pub const AZ_NAME_MESSAGE: &str = "An invalid 'name' value was provided. The name must be: printable characters except :.Can not start or end with whitespace.";

/// Unicode "printable" as Nova defines it: no C* categories, and no Z*
/// except the ordinary space separators.
pub fn is_printable(c: char) -> bool {
    use GeneralCategory::*;
    !matches!(
        get_general_category(c),
        Control | Format | Unassigned | PrivateUse | Surrogate | LineSeparator | ParagraphSeparator
    )
}

fn printable_trimmed(s: &str) -> bool {
    !s.is_empty() && s.chars().all(is_printable) && s.trim() == s
}

/// Checks `value` (a string) against `format`; unknown formats pass, as in
/// jsonschema.
pub fn check(format: &str, value: &str) -> Result<(), FormatError> {
    let ok = match format {
        "name" => {
            return if printable_trimmed(value) {
                Ok(())
            } else {
                Err(FormatError::Replaced(NAME_MESSAGE))
            };
        }
        "name_with_leading_trailing_spaces" => {
            return if value.chars().all(is_printable) && !value.trim().is_empty() {
                Ok(())
            } else {
                Err(FormatError::Replaced(NAME_WITH_SPACES_MESSAGE))
            };
        }
        "az_name" => {
            return if printable_trimmed(value) && !value.contains(':') {
                Ok(())
            } else {
                Err(FormatError::Replaced(AZ_NAME_MESSAGE))
            };
        }
        "uuid" => is_uuid_like(value),
        "base64" => base64::engine::general_purpose::STANDARD
            .decode(value)
            .is_ok(),
        "ipv4" => value.parse::<Ipv4Addr>().is_ok(),
        "ipv6" => value.parse::<Ipv6Addr>().is_ok(),
        "cidr" => is_cidr(value),
        "date-time" => chrono::DateTime::parse_from_rfc3339(value).is_ok() || naive_datetime(value),
        "uri" => value
            .split_once("://")
            .is_some_and(|(scheme, rest)| !scheme.is_empty() && !rest.is_empty()),
        // Nova's checker refuses the empty pattern too.
        "regex" => !value.is_empty() && fancy_regex::Regex::new(value).is_ok(),
        _ => true,
    };
    if ok {
        Ok(())
    } else {
        Err(FormatError::Invalid)
    }
}

/// oslo's `is_uuid_like`: hex digits, with or without dashes, any case.
pub fn is_uuid_like(value: &str) -> bool {
    uuid::Uuid::parse_str(value).is_ok() && matches!(value.len(), 32 | 36)
}

/// ISO 8601 without an offset, as oslo's `parse_isotime` accepts.
fn naive_datetime(value: &str) -> bool {
    [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M:%S%.f",
    ]
    .iter()
    .any(|f| chrono::NaiveDateTime::parse_from_str(value, f).is_ok())
}

fn is_cidr(value: &str) -> bool {
    let Some((addr, prefix)) = value.split_once('/') else {
        return false;
    };
    let Ok(prefix) = prefix.parse::<u8>() else {
        return false;
    };
    (addr.parse::<Ipv4Addr>().is_ok() && prefix <= 32)
        || (addr.parse::<Ipv6Addr>().is_ok() && prefix <= 128)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(check("name", "web-01").is_ok());
        assert!(check("name", "sérveur ☃").is_ok());
        for bad in [
            "",
            " lead",
            "trail ",
            "tab\there",
            "zero\u{200b}width",
            "line\u{2028}sep",
        ] {
            assert!(
                matches!(check("name", bad), Err(FormatError::Replaced(NAME_MESSAGE))),
                "{bad:?}"
            );
        }
        assert!(check("az_name", "nova").is_ok());
        assert!(check("az_name", "nova:host").is_err());
    }

    #[test]
    fn other_formats() {
        assert!(check("uuid", "70a599e0-31e7-49b7-b260-868f441e862b").is_ok());
        assert!(check("uuid", "70a599e031e749b7b260868f441e862b").is_ok());
        assert!(check("uuid", "abc").is_err());
        assert!(check("base64", "aGVsbG8=").is_ok());
        assert!(check("base64", "not base64!").is_err());
        assert!(check("ipv4", "10.0.0.1").is_ok() && check("ipv4", "10.0.0").is_err());
        assert!(check("ipv6", "fd00::1").is_ok());
        assert!(check("cidr", "10.0.0.0/24").is_ok() && check("cidr", "10.0.0.0/33").is_err());
        assert!(check("date-time", "2026-11-22T10:00:00Z").is_ok());
        assert!(check("date-time", "2026-11-22T10:00:00").is_ok());
        assert!(check("date-time", "yesterday").is_err());
    }
}
