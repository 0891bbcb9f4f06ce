//! The local lane's signer: a P-256 key in a PKCS#8 PEM file (`[lane.local] key`), made on
//! first use. It stands in for KMS: the same algorithm (ECDSA P-256 / SHA-256, DER
//! signatures), so the dispatcher verifies local and KMS envelopes with the same code.
//!
//! The key file must be readable by its owner only (mode 0600): anyone who can read it can
//! deploy through the local lane. A key file readable by group or others is refused, not
//! silently fixed, so that the owner learns the key may have leaked.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use p256::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey, LineEnding};
use sha2::{Digest, Sha256};

use crate::transport::{RequestSigner, TransportError};

/// Why the local key could not be used. Messages name the file, never the key material.
#[derive(Debug, thiserror::Error)]
pub enum SignerError {
    #[error(
        "refusing to use the signing key {path}: its mode {mode:04o} lets group or others read it; \
         run `chmod 600 {path}` (and make a new key if others may have read it)"
    )]
    TooOpen { path: String, mode: u32 },
    #[error("signing key {path}: {message}")]
    Io { path: String, message: String },
    #[error("signing key {path} is not a PKCS#8 PEM P-256 private key: {message}")]
    Malformed { path: String, message: String },
}

/// A local P-256 signing key.
#[derive(Clone)]
pub struct LocalSigner {
    key: SigningKey,
    key_id: String,
    path: PathBuf,
}

impl std::fmt::Debug for LocalSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key itself.
        f.debug_struct("LocalSigner")
            .field("key_id", &self.key_id)
            .field("path", &self.path)
            .finish()
    }
}

impl LocalSigner {
    /// Loads the key at `path`, generating it (mode 0600, directory 0700) when the file does
    /// not exist. Blocking file I/O: call at startup or from `spawn_blocking`.
    pub fn load_or_create(path: &Path) -> Result<LocalSigner, SignerError> {
        match std::fs::symlink_metadata(path) {
            Ok(_) => LocalSigner::load(path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                match LocalSigner::create(path) {
                    Ok(signer) => Ok(signer),
                    // Another process made it between our look and our write: use theirs.
                    Err(SignerError::Io { .. }) if path.exists() => LocalSigner::load(path),
                    Err(e) => Err(e),
                }
            }
            Err(e) => Err(io_error(path, &e)),
        }
    }

    /// Loads an existing key, refusing one that group or others can read.
    pub fn load(path: &Path) -> Result<LocalSigner, SignerError> {
        let metadata = std::fs::metadata(path).map_err(|e| io_error(path, &e))?;
        let mode = metadata.permissions().mode() & 0o7777;
        if mode & 0o077 != 0 {
            return Err(SignerError::TooOpen {
                path: path.display().to_string(),
                mode,
            });
        }
        let pem = std::fs::read_to_string(path).map_err(|e| io_error(path, &e))?;
        let key = SigningKey::from_pkcs8_pem(&pem).map_err(|e| SignerError::Malformed {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        Ok(LocalSigner::from_key(key, path))
    }

    /// Generates a key and writes it without ever leaving a readable or half-written file:
    /// it goes to a private temporary file that is then hard-linked into place (which fails,
    /// rather than overwrites, if another process got there first).
    fn create(path: &Path) -> Result<LocalSigner, SignerError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
            && !dir.is_dir()
        {
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|e| io_error(dir, &e))?;
        }
        let key = SigningKey::random(&mut rand_core::OsRng);
        let pem = key
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| SignerError::Malformed {
                path: path.display().to_string(),
                message: format!("encoding a new key: {e}"),
            })?;
        let mut temp_name = path.as_os_str().to_owned();
        temp_name.push(format!(".tmp.{}", std::process::id()));
        let temp = PathBuf::from(temp_name);
        let written = (|| {
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&temp)?;
            file.write_all(pem.as_bytes())?;
            file.sync_all()?;
            std::fs::hard_link(&temp, path)
        })();
        let _ = std::fs::remove_file(&temp);
        written.map_err(|e| io_error(path, &e))?;
        tracing::info!(path = %path.display(), "generated the local lane's signing key");
        Ok(LocalSigner::from_key(key, path))
    }

    fn from_key(key: SigningKey, path: &Path) -> LocalSigner {
        let key_id = local_key_id(key.verifying_key());
        LocalSigner {
            key,
            key_id,
            path: path.to_path_buf(),
        }
    }

    /// The public key, for the dispatcher.
    pub fn verifying_key(&self) -> &VerifyingKey {
        self.key.verifying_key()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Signs synchronously (ECDSA signing is microseconds of CPU, no I/O).
    pub fn sign_now(&self, payload: &[u8]) -> Vec<u8> {
        let signature: Signature = self.key.sign(payload);
        signature.to_der().as_bytes().to_vec()
    }
}

impl RequestSigner for LocalSigner {
    fn key_id(&self) -> &str {
        &self.key_id
    }

    async fn sign(&self, payload: &[u8]) -> Result<Vec<u8>, TransportError> {
        Ok(self.sign_now(payload))
    }
}

/// `local:<first 16 hex digits of SHA-256 of the public key's SubjectPublicKeyInfo DER>`.
pub fn local_key_id(key: &VerifyingKey) -> String {
    let der = key
        .to_public_key_der()
        .map(|doc| doc.as_bytes().to_vec())
        // A valid key always encodes; fall back to the SEC1 point so the id stays stable.
        .unwrap_or_else(|_| key.to_encoded_point(false).as_bytes().to_vec());
    let digest = Sha256::digest(&der);
    let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!("local:{hex}")
}

fn io_error(path: &Path, error: &std::io::Error) -> SignerError {
    SignerError::Io {
        path: path.display().to_string(),
        message: error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::signature::Verifier;

    #[test]
    fn a_key_is_made_private_on_first_use_and_reloaded_after() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(".airlock/local-signing-key.pem");
        let made = LocalSigner::load_or_create(&path).expect("generated");
        let mode = std::fs::metadata(&path)
            .expect("key file")
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);
        let dir_mode = std::fs::metadata(path.parent().expect("dir"))
            .expect("dir")
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(dir_mode, 0o700);
        let loaded = LocalSigner::load_or_create(&path).expect("loaded");
        assert_eq!(made.key_id(), loaded.key_id());
        assert!(made.key_id().starts_with("local:"));
        assert_eq!(made.key_id().len(), "local:".len() + 16);
        assert!(!format!("{made:?}").contains("BEGIN"));

        let signature = made.sign_now(b"payload");
        let parsed = Signature::from_der(&signature).expect("DER signature");
        loaded
            .verifying_key()
            .verify(b"payload", &parsed)
            .expect("verifies");
        assert!(loaded.verifying_key().verify(b"other", &parsed).is_err());
    }

    #[test]
    fn a_key_readable_by_others_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("key.pem");
        LocalSigner::load_or_create(&path).expect("generated");
        for mode in [0o644, 0o640, 0o604] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
            let error = LocalSigner::load_or_create(&path)
                .expect_err("refused")
                .to_string();
            assert!(error.contains("refusing to use the signing key"), "{error}");
            assert!(error.contains(&path.display().to_string()), "{error}");
            assert!(error.contains(&format!("{mode:04o}")), "{error}");
            assert!(error.contains("chmod 600"), "{error}");
        }
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o400)).expect("chmod");
        LocalSigner::load(&path).expect("owner-only is fine");
    }

    #[test]
    fn a_file_that_is_not_a_key_is_refused_without_echoing_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("key.pem");
        std::fs::write(&path, "not-a-key-SECRETVALUE").expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        let error = LocalSigner::load(&path).expect_err("refused").to_string();
        assert!(
            error.contains("is not a PKCS#8 PEM P-256 private key"),
            "{error}"
        );
        assert!(!error.contains("SECRETVALUE"), "{error}");
    }
}
