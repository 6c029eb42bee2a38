//! Durations as operators type them: `90s`, `15m`, `12h`, `7d`.
//!
//! A unit is required: a bare `7` could mean seconds or days, and a token
//! that lives 7 seconds instead of 7 days is a confusing failure later.

/// Seconds in `N` + unit (`s`, `m`, `h`, `d`).
pub fn parse_duration_secs(text: &str) -> Result<u64, String> {
    let usage = || format!("`{text}` is not a duration: use a whole number and a unit, like 90s, 15m, 12h or 7d");
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).ok_or_else(usage)?;
    let (number, unit) = text.split_at(split);
    if number.is_empty() {
        return Err(usage());
    }
    let per_unit: u64 = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(usage()),
    };
    let n: u64 = number.parse().map_err(|_| format!("`{text}` is too large"))?;
    if n == 0 {
        return Err(format!("`{text}`: a duration must be longer than zero"));
    }
    n.checked_mul(per_unit).ok_or_else(|| format!("`{text}` is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_unit() {
        assert_eq!(parse_duration_secs("90s"), Ok(90));
        assert_eq!(parse_duration_secs("15m"), Ok(900));
        assert_eq!(parse_duration_secs("12h"), Ok(43_200));
        assert_eq!(parse_duration_secs("7d"), Ok(604_800));
        assert_eq!(parse_duration_secs("366d"), Ok(31_622_400));
    }

    #[test]
    fn refuses_a_bare_number_because_its_unit_is_a_guess() {
        assert!(parse_duration_secs("7").unwrap_err().contains("7d"));
    }

    #[test]
    fn refuses_unknown_units_signs_fractions_and_zero() {
        for bad in ["", "d", "7w", "7D", "-7d", "+7d", "1.5h", "7 d", "7dd", "0s", "0d", "h12"] {
            assert!(parse_duration_secs(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn refuses_overflow_instead_of_wrapping() {
        assert!(parse_duration_secs("99999999999999999999s").is_err());
        assert!(parse_duration_secs(&format!("{}d", u64::MAX / 86_400 + 1)).is_err());
    }
}
