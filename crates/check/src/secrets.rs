//! Recognising secrets in literal values, and masking them so no report ever prints one.

/// Masks a secret for display: the first four and last four characters of a long value, with
/// the middle replaced (`AKIA************MPLE`); values of 12 characters or fewer are masked
/// entirely. The length of the mask follows the value's, up to 12 stars.
pub fn mask(value: &str) -> String {
    let chars: Vec<char> = value.chars().collect();
    if chars.len() <= 12 {
        return "*".repeat(chars.len().clamp(3, 12));
    }
    let head: String = chars[..4].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}{}{tail}", "*".repeat((chars.len() - 8).min(12)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_keep_only_the_ends_of_long_values() {
        assert_eq!(mask("AKIAIOSFODNN7EXAMPLE"), "AKIA************MPLE");
        assert_eq!(mask("hunter2"), "*******");
        assert_eq!(mask("ab"), "***");
        assert!(!mask("correct horse battery staple").contains("horse"));
    }
}
