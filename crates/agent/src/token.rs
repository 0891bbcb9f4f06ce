//! The authorization token SDKs send in the `Authorization` header.
//!
//! Either it is given (`--token-file` naming an existing file, e.g. a mounted secret) or the
//! agent generates one and writes it where the application will read it: a new file, mode
//! 0600 (0640 on request, for an application in another user that shares a group), with no
//! trailing newline, because some SDKs send the file's bytes verbatim and a header value
//! cannot hold a newline.

use std::fs::OpenOptions;
use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// A token shorter than this is refused: it would be guessable by a local process.
pub const MIN_TOKEN_LEN: usize = 16;

/// The expected token, kept only as its SHA-256 digest.
///
/// Comparing digests is constant time by construction: whatever the presented value (short,
/// long, sharing a prefix with the token or not), the comparison is over two 32-byte arrays
/// with `subtle`'s branch-free equality, so its duration says nothing about how much of the
/// token an attacker guessed, or how long it is.
pub struct ExpectedToken {
    digest: [u8; 32],
}

impl ExpectedToken {
    pub fn new(token: &[u8]) -> Self {
        ExpectedToken {
            digest: Sha256::digest(token).into(),
        }
    }

    /// Another handle on the same expected token (the digest is copied, never the token).
    pub fn clone_of(other: &ExpectedToken) -> Self {
        ExpectedToken {
            digest: other.digest,
        }
    }

    pub fn matches(&self, presented: &[u8]) -> bool {
        let presented: [u8; 32] = Sha256::digest(presented).into();
        bool::from(presented.ct_eq(&self.digest))
    }
}

/// Where the token lives, and whether the agent created the file (and so removes it).
pub struct TokenFile {
    pub path: PathBuf,
    pub expected: ExpectedToken,
    pub created: bool,
    /// A private directory the agent made for the file, removed with it.
    _dir: Option<tempfile::TempDir>,
}

impl std::fmt::Debug for TokenFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenFile")
            .field("path", &self.path)
            .field("created", &self.created)
            .finish_non_exhaustive()
    }
}

impl Drop for TokenFile {
    fn drop(&mut self) {
        if self.created {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("token file {}: {reason}", path.display())]
    Invalid { path: PathBuf, reason: String },
    #[error("token file {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Reads the token at `path` if the file exists, or generates one and writes it there. With
/// no path, the file goes in a new private directory under the system's temporary directory.
pub fn load_or_create(path: Option<&Path>, group_readable: bool) -> Result<TokenFile, TokenError> {
    let (path, dir) = match path {
        Some(path) => (path.to_owned(), None),
        None => {
            let dir = tempfile::Builder::new()
                .prefix("airlock-agent-")
                .permissions(std::fs::Permissions::from_mode(0o700))
                .tempdir()
                .map_err(|source| TokenError::Io {
                    path: std::env::temp_dir(),
                    source,
                })?;
            (dir.path().join("token"), Some(dir))
        }
    };
    match std::fs::read(&path) {
        Ok(bytes) => {
            let bytes = Zeroizing::new(bytes);
            check_given(&path, &bytes)?;
            Ok(TokenFile {
                expected: ExpectedToken::new(&bytes),
                path,
                created: false,
                _dir: dir,
            })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let token = generate();
            let mode = if group_readable { 0o640 } else { 0o600 };
            let mut file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(mode)
                .open(&path)
                .map_err(|source| TokenError::Io {
                    path: path.clone(),
                    source,
                })?;
            // The umask may have taken bits from the mode; set exactly what was asked for.
            let written = file
                .write_all(token.as_bytes())
                .and_then(|()| file.set_permissions(std::fs::Permissions::from_mode(mode)));
            if let Err(source) = written {
                let _ = std::fs::remove_file(&path);
                return Err(TokenError::Io { path, source });
            }
            Ok(TokenFile {
                expected: ExpectedToken::new(token.as_bytes()),
                path,
                created: true,
                _dir: dir,
            })
        }
        Err(source) => Err(TokenError::Io { path, source }),
    }
}

/// 32 random bytes as 64 hex digits: valid in a header, no padding, no newline.
fn generate() -> Zeroizing<String> {
    let mut bytes = Zeroizing::new([0u8; 32]);
    rand::rng().fill_bytes(bytes.as_mut());
    let mut hex = Zeroizing::new(String::with_capacity(64));
    for b in bytes.iter() {
        hex.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
        hex.push(char::from(b"0123456789abcdef"[usize::from(b & 0xf)]));
    }
    hex
}

fn check_given(path: &Path, token: &[u8]) -> Result<(), TokenError> {
    let invalid = |reason: &str| TokenError::Invalid {
        path: path.to_owned(),
        reason: reason.to_owned(),
    };
    if token.ends_with(b"\n") || token.ends_with(b"\r") {
        return Err(invalid(
            "it ends with a newline, which SDKs send verbatim and HTTP refuses; write it without one (printf %s)",
        ));
    }
    if token.len() < MIN_TOKEN_LEN {
        return Err(invalid("the token is shorter than 16 bytes"));
    }
    if !token.iter().all(|b| b.is_ascii_graphic()) {
        return Err(invalid(
            "the token may hold only printable ASCII without spaces",
        ));
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test's panic is its failure report
mod tests {
    use super::*;

    #[test]
    fn a_generated_token_is_private_without_newline_and_removed_with_the_agent() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        let file = load_or_create(Some(&path), false).unwrap();
        assert!(file.created);
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        let token = std::fs::read(&path).unwrap();
        assert_eq!(token.len(), 64);
        assert!(token.iter().all(u8::is_ascii_hexdigit));
        assert!(file.expected.matches(&token));
        drop(file);
        assert!(!path.exists(), "the agent removes the token it created");
    }

    #[test]
    fn group_readable_is_0640_and_the_default_path_is_a_private_directory() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        load_or_create(Some(&path), true).unwrap();
        // (dropped at once; create again to inspect)
        let file = load_or_create(Some(&path), true).unwrap();
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o640
        );
        drop(file);
        let default = load_or_create(None, false).unwrap();
        let parent = default.path.parent().unwrap();
        assert_eq!(
            std::fs::metadata(parent).unwrap().permissions().mode() & 0o777,
            0o700
        );
        assert_eq!(
            std::fs::metadata(&default.path)
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o600
        );
        let parent = parent.to_owned();
        drop(default);
        assert!(!parent.exists());
    }

    #[test]
    fn a_given_token_is_used_as_is_and_never_removed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "given-token-0123456789").unwrap();
        let file = load_or_create(Some(&path), false).unwrap();
        assert!(!file.created);
        assert!(file.expected.matches(b"given-token-0123456789"));
        drop(file);
        assert!(path.exists());
    }

    #[test]
    fn a_given_token_with_a_newline_or_too_short_is_refused_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        for (content, why) in [
            ("given-token-0123456789\n", "newline"),
            ("short", "shorter than 16"),
            ("given token with spaces", "printable ASCII"),
        ] {
            std::fs::write(&path, content).unwrap();
            let err = load_or_create(Some(&path), false).unwrap_err().to_string();
            assert!(err.contains(why) && err.contains("token file"), "{err}");
            assert!(
                !err.contains("given-token"),
                "the error must not echo the token: {err}"
            );
        }
    }

    #[test]
    fn only_the_exact_token_matches() {
        let expected = ExpectedToken::new(b"0123456789abcdef0123");
        assert!(expected.matches(b"0123456789abcdef0123"));
        for wrong in [
            &b""[..],
            b"0123456789abcdef012",
            b"0123456789abcdef01234",
            b"1123456789abcdef0123",
            b"0123456789abcdef0124",
            b"0123456789abcdef0123 ",
        ] {
            assert!(!expected.matches(wrong), "{wrong:?}");
        }
    }

    #[test]
    fn the_comparison_is_over_fixed_size_digests_whatever_the_input() {
        // Constant time by construction: the only comparison `matches` makes is between two
        // [u8; 32] digests through subtle's ct_eq, so neither the presented value's length nor
        // a shared prefix changes the work the comparison does. This pins the representation:
        // the token itself is never stored, only its digest.
        let expected = ExpectedToken::new(b"0123456789abcdef0123");
        let digest: [u8; 32] = Sha256::digest(b"0123456789abcdef0123").into();
        assert_eq!(expected.digest, digest);
        assert_eq!(std::mem::size_of::<ExpectedToken>(), 32);
        let long = vec![b'0'; 1 << 16];
        assert!(!expected.matches(&long));
    }
}
