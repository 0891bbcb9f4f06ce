//! Secret masking for the runner's output.
//!
//! The values of environment variables named in `AIRLOCK_MASK_ENV` (comma-separated), and of
//! variables whose names look secret (`*_PASSWORD`, `*_TOKEN`, `*_SECRET`, `*_KEY`, or exactly
//! `PASSWORD`/`TOKEN`/`SECRET`, case-insensitive), become `***` in everything the runner
//! streams and echoes. A multi-line value is masked line by line; a value (or line) shorter
//! than [`MIN_MASK_CHARS`] characters is never masked, because masking `a` or `yes` would
//! shred the log while hiding nothing.
//!
//! Masking is byte-oriented (output may be invalid UTF-8) and works on a stream that arrives
//! in arbitrary pieces: [`Masker::mask`] scans leftmost-longest and stops at the first
//! position where the bytes seen so far could still be the start of a mask value, so a
//! secret split across two reads is still masked. What it holds back is always shorter than
//! the longest mask value. Its result does not depend on how the stream was split.

use std::ffi::OsStr;

/// What a masked value is replaced by.
pub const MASK: &[u8] = b"***";
/// Values shorter than this many characters are never masked.
pub const MIN_MASK_CHARS: usize = 4;
/// The environment variable naming further variables whose values are masked.
pub const MASK_ENV: &str = "AIRLOCK_MASK_ENV";

const SECRET_SUFFIXES: [&str; 4] = ["_PASSWORD", "_TOKEN", "_SECRET", "_KEY"];
const SECRET_NAMES: [&str; 3] = ["PASSWORD", "TOKEN", "SECRET"];

/// Whether an environment variable's name says its value is secret.
pub fn name_looks_secret(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    SECRET_NAMES.contains(&upper.as_str())
        || SECRET_SUFFIXES.iter().any(|suffix| upper.ends_with(suffix))
}

/// The mask values found in an environment (pass `std::env::vars_os()`): the values of the
/// variables named in [`MASK_ENV`] and of those whose names look secret. Values that are not
/// UTF-8 are skipped (the mask values are strings); the result is not yet split into lines,
/// [`Masker::new`] does that.
pub fn mask_values_from_env<I, K, V>(vars: I) -> Vec<String>
where
    I: IntoIterator<Item = (K, V)>,
    K: AsRef<OsStr>,
    V: AsRef<OsStr>,
{
    let vars: Vec<(String, String)> = vars
        .into_iter()
        .filter_map(|(name, value)| {
            let name = name.as_ref().to_str()?.to_string();
            let value = value.as_ref().to_str()?.to_string();
            Some((name, value))
        })
        .collect();
    let named: Vec<&str> = vars
        .iter()
        .find(|(name, _)| name == MASK_ENV)
        .map(|(_, list)| {
            list.split(',')
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .collect()
        })
        .unwrap_or_default();
    vars.iter()
        .filter(|(name, _)| name != MASK_ENV)
        .filter(|(name, _)| name_looks_secret(name) || named.contains(&name.as_str()))
        .map(|(_, value)| value.clone())
        .collect()
}

/// Replaces mask values by [`MASK`], leftmost-longest.
#[derive(Debug, Clone, Default)]
pub struct Masker {
    /// Distinct mask values, longest first (so the first match at a position is the longest).
    values: Vec<Vec<u8>>,
    /// `first_byte[b]`: some value starts with byte `b` (a quick skip for the common byte).
    first_byte: Vec<bool>,
    longest: usize,
}

impl Masker {
    /// Builds a masker from secret values: each line (split at `\n`, a trailing `\r`
    /// dropped) of at least [`MIN_MASK_CHARS`] characters becomes a mask value.
    pub fn new<I, T>(secrets: I) -> Masker
    where
        I: IntoIterator<Item = T>,
        T: AsRef<str>,
    {
        let mut values: Vec<Vec<u8>> = Vec::new();
        for secret in secrets {
            for line in secret.as_ref().split('\n') {
                let line = line.strip_suffix('\r').unwrap_or(line);
                if line.chars().count() >= MIN_MASK_CHARS {
                    values.push(line.as_bytes().to_vec());
                }
            }
        }
        values.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        values.dedup();
        let mut first_byte = vec![false; 256];
        for value in &values {
            if let Some(&b) = value.first() {
                first_byte[usize::from(b)] = true;
            }
        }
        let longest = values.first().map_or(0, Vec::len);
        Masker {
            values,
            first_byte,
            longest,
        }
    }

    /// Whether there is nothing to mask.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The length of the longest mask value, in bytes.
    pub fn longest(&self) -> usize {
        self.longest
    }

    /// Masks `data`, appending the result to `out`, and returns how many bytes of `data` it
    /// consumed. With `at_end` false (more bytes of this stream may follow), it stops before
    /// the first position whose bytes could still grow into a (longer) match; the caller
    /// keeps `data[consumed..]` (fewer than [`Masker::longest`] bytes) and passes it again
    /// with what follows. With `at_end` true it consumes everything.
    pub fn mask(&self, data: &[u8], at_end: bool, out: &mut Vec<u8>) -> usize {
        if self.values.is_empty() {
            out.extend_from_slice(data);
            return data.len();
        }
        let mut copied_to = 0;
        let mut i = 0;
        while i < data.len() {
            if !self.first_byte[usize::from(data[i])] {
                i += 1;
                continue;
            }
            let rest = &data[i..];
            if !at_end && self.could_grow(rest) {
                out.extend_from_slice(&data[copied_to..i]);
                return i;
            }
            match self.values.iter().find(|v| rest.starts_with(v)) {
                Some(value) => {
                    out.extend_from_slice(&data[copied_to..i]);
                    out.extend_from_slice(MASK);
                    i += value.len();
                    copied_to = i;
                }
                None => i += 1,
            }
        }
        out.extend_from_slice(&data[copied_to..]);
        data.len()
    }

    /// Whether `rest` (the tail of what is known) is a proper prefix of some mask value, so
    /// that the decision at its start needs more bytes.
    fn could_grow(&self, rest: &[u8]) -> bool {
        rest.len() < self.longest
            && self
                .values
                .iter()
                .any(|v| v.len() > rest.len() && v.starts_with(rest))
    }

    /// Masks a complete text at once.
    pub fn mask_all(&self, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(data.len());
        self.mask(data, true, &mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack.windows(needle.len()).any(|w| w == needle)
    }

    /// Feeds `data` in the given pieces, the way the runner does, and returns the output.
    fn mask_in_pieces(masker: &Masker, data: &[u8], cuts: &[usize]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut held: Vec<u8> = Vec::new();
        let mut start = 0;
        let mut cuts: Vec<usize> = cuts.iter().map(|&c| c.min(data.len())).collect();
        cuts.sort_unstable();
        cuts.push(data.len());
        for cut in cuts {
            held.extend_from_slice(&data[start..cut]);
            start = cut;
            let consumed = masker.mask(&held, false, &mut out);
            assert!(held.len() - consumed < masker.longest().max(1));
            held.drain(..consumed);
        }
        masker.mask(&held, true, &mut out);
        out
    }

    #[test]
    fn secret_names_are_recognised_case_insensitively() {
        for name in [
            "DB_PASSWORD",
            "github_token",
            "Api_Secret",
            "SSH_KEY",
            "password",
            "TOKEN",
            "Secret",
        ] {
            assert!(name_looks_secret(name), "{name}");
        }
        for name in ["PATH", "KEYBOARD", "TOKENS", "MY_KEYS", "PASSWORDS", "HOME"] {
            assert!(!name_looks_secret(name), "{name}");
        }
    }

    #[test]
    fn env_values_come_from_secret_names_and_the_mask_list() {
        let env = [
            ("PATH", "/usr/bin"),
            ("DB_PASSWORD", "hunter22"),
            ("AIRLOCK_MASK_ENV", "DEPLOY_URL, OTHER"),
            ("DEPLOY_URL", "https://fake.invalid/hook"),
            ("UNRELATED", "visible"),
        ];
        let mut values = mask_values_from_env(env);
        values.sort();
        assert_eq!(values, vec!["https://fake.invalid/hook", "hunter22"]);
    }

    #[test]
    fn short_values_are_never_masked_and_multi_line_values_mask_per_line() {
        let masker = Masker::new(["abc", "line-one\r\nab\nline-three"]);
        let out = masker.mask_all(b"abc line-one ab line-three line-one\n");
        assert_eq!(out, b"abc *** ab *** ***\n");
    }

    #[test]
    fn longest_match_wins_at_a_position() {
        let masker = Masker::new(["fake-tok", "fake-token-1234"]);
        assert_eq!(masker.mask_all(b"x fake-token-1234 y"), b"x *** y");
        assert_eq!(masker.mask_all(b"x fake-tok y"), b"x *** y");
        assert_eq!(masker.mask_all(b"x fake-token-12 y"), b"x ***en-12 y");
    }

    #[test]
    fn holds_back_only_a_possible_prefix() {
        let masker = Masker::new(["s3cr3t-value"]);
        let mut out = Vec::new();
        let consumed = masker.mask(b"pass: s3cr", false, &mut out);
        assert_eq!(&out, b"pass: ");
        assert_eq!(consumed, 6);
        let mut out = Vec::new();
        assert_eq!(masker.mask(b"pass: xyz", false, &mut out), 9);
        assert_eq!(&out, b"pass: xyz");
    }

    #[test]
    fn works_on_invalid_utf8() {
        let masker = Masker::new(["fake-pw-99"]);
        let out = masker.mask_all(b"\xff\x00fake-pw-99\xfe\n");
        assert_eq!(out, b"\xff\x00***\xfe\n");
    }

    #[test]
    fn split_secret_is_masked() {
        let masker = Masker::new(["fake-secret-value"]);
        let data = b"token is fake-secret-value ok\n";
        for cut in 0..data.len() {
            let out = mask_in_pieces(&masker, data, &[cut]);
            assert_eq!(out, b"token is *** ok\n", "cut at {cut}");
        }
    }

    proptest! {
        #[test]
        fn secrets_never_survive_any_split(
            secrets in proptest::collection::vec("[a-d]{4,9}", 1..4),
            filler in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..12), 1..8),
            cuts in proptest::collection::vec(0usize..200, 0..8),
        ) {
            let masker = Masker::new(&secrets);
            // Filler bytes never contain the letters secrets are made of, so every byte that
            // is not part of a secret is known and must come out unchanged.
            let filler: Vec<Vec<u8>> = filler
                .into_iter()
                .map(|f| f.into_iter().filter(|b| !(b'a'..=b'd').contains(b)).collect())
                .collect();
            let mut text = Vec::new();
            let mut expected = Vec::new();
            for (i, f) in filler.iter().enumerate() {
                text.extend_from_slice(f);
                expected.extend_from_slice(f);
                let secret = secrets[i % secrets.len()].as_bytes();
                text.extend_from_slice(secret);
                expected.extend_from_slice(&masker.mask_all(secret));
            }
            let out = mask_in_pieces(&masker, &text, &cuts);
            for secret in &secrets {
                prop_assert!(!contains(&out, secret.as_bytes()), "{secret} in {out:?}");
            }
            // Independent of the split: the same as masking everything at once.
            prop_assert_eq!(&out, &masker.mask_all(&text));
            // Filler bytes unchanged: with the secrets replaced, the remaining bytes are the
            // filler in order.
            let strip = |bytes: &[u8]| -> Vec<u8> {
                bytes.iter().copied().filter(|b| !(b'a'..=b'd').contains(b) && *b != b'*').collect()
            };
            prop_assert_eq!(strip(&out), strip(&expected));
        }
    }
}
