//! The short-lived cache behind `airlock whoami --format prompt`: a shell prompt runs it
//! before every command, and two AWS calls each time would make the shell feel slow.
//!
//! Entries are keyed by a SHA-256 of the credentials' access key id (never the key itself),
//! so new credentials (another profile, a refreshed session) miss the cache. An entry lives
//! [`PROMPT_TTL`] at most and never past the credentials' own expiry. Entries hold the
//! identity only (account, ARN, alias), in files of mode 0600 under a 0700 directory.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::identity::Identity;

/// How long a prompt may show an identity without asking AWS again.
pub const PROMPT_TTL: Duration = Duration::from_secs(300);

#[derive(Debug, Clone)]
pub struct PromptCache {
    dir: PathBuf,
    ttl: Duration,
}

#[derive(Debug, Serialize, Deserialize)]
struct Entry {
    identity: Identity,
    /// Seconds since the Unix epoch.
    expires_at: u64,
}

fn unix(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl PromptCache {
    pub fn new(dir: PathBuf, ttl: Duration) -> Self {
        PromptCache { dir, ttl }
    }

    /// `$XDG_CACHE_HOME/airlock/whoami`, else `~/.cache/airlock/whoami`.
    pub fn default_dir(env: impl Fn(&str) -> Option<String>) -> Option<PathBuf> {
        let base = env("XDG_CACHE_HOME")
            .filter(|v| Path::new(v).is_absolute())
            .map(PathBuf::from)
            .or_else(|| env("HOME").map(|home| Path::new(&home).join(".cache")))?;
        Some(base.join("airlock").join("whoami"))
    }

    /// The key for credentials: their access key id and where they are used (the endpoint),
    /// hashed.
    pub fn key(access_key_id: &str, endpoint: Option<&str>) -> String {
        let mut hasher = Sha256::new();
        hasher.update(b"airlock whoami v1\0");
        hasher.update(access_key_id.as_bytes());
        hasher.update([0]);
        hasher.update(endpoint.unwrap_or("").as_bytes());
        hasher
            .finalize()
            .iter()
            .take(16)
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    fn path(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.json"))
    }

    /// The cached identity, if there is one that has not expired. A damaged entry is a miss.
    pub fn get(&self, key: &str, now: SystemTime) -> Option<Identity> {
        let text = std::fs::read_to_string(self.path(key)).ok()?;
        let entry: Entry = serde_json::from_str(&text).ok()?;
        (unix(now) < entry.expires_at).then_some(entry.identity)
    }

    /// Stores an identity until `now + ttl`, or until the credentials expire if sooner.
    pub fn put(
        &self,
        key: &str,
        identity: &Identity,
        now: SystemTime,
        credentials_expire: Option<SystemTime>,
    ) -> std::io::Result<()> {
        let mut expires_at = unix(now + self.ttl);
        if let Some(expiry) = credentials_expire {
            expires_at = expires_at.min(unix(expiry));
        }
        create_private_dir(&self.dir)?;
        let entry = Entry {
            identity: identity.clone(),
            expires_at,
        };
        let text = serde_json::to_vec(&entry).map_err(std::io::Error::other)?;
        // Write beside, then rename: a prompt running concurrently never reads half a file.
        let mut file = tempfile::Builder::new()
            .prefix(".entry")
            .tempfile_in(&self.dir)?;
        file.write_all(&text)?;
        file.persist(self.path(key)).map_err(|e| e.error)?;
        Ok(())
    }
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test's panic is its failure report
mod tests {
    use super::*;
    use crate::identity::tests::identity;

    #[test]
    fn entries_expire_with_the_ttl_or_the_credentials() {
        let dir = tempfile::tempdir().unwrap();
        let cache = PromptCache::new(dir.path().join("whoami"), Duration::from_secs(300));
        let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let key = PromptCache::key("ASIAEXAMPLEEXAMPLE01", None);
        assert_eq!(cache.get(&key, now), None);
        cache
            .put(&key, &identity(Some("bboq-prod-website")), now, None)
            .unwrap();
        assert_eq!(
            cache
                .get(&key, now + Duration::from_secs(299))
                .and_then(|i| i.alias),
            Some("bboq-prod-website".into())
        );
        assert_eq!(cache.get(&key, now + Duration::from_secs(300)), None);
        // Credentials that expire in 60 s cap the entry.
        cache
            .put(
                &key,
                &identity(None),
                now,
                Some(now + Duration::from_secs(60)),
            )
            .unwrap();
        assert!(cache.get(&key, now + Duration::from_secs(59)).is_some());
        assert_eq!(cache.get(&key, now + Duration::from_secs(60)), None);
        // Other credentials, or the same ones at another endpoint, are other entries.
        assert_ne!(key, PromptCache::key("ASIAEXAMPLEEXAMPLE02", None));
        assert_ne!(
            key,
            PromptCache::key("ASIAEXAMPLEEXAMPLE01", Some("http://127.0.0.1:5000"))
        );
        // The key never contains the access key id.
        assert!(!key.contains("ASIA"));
        // A damaged entry is a miss, not an error.
        std::fs::write(cache.path(&key), "{").unwrap();
        assert_eq!(cache.get(&key, now), None);
    }

    #[cfg(unix)]
    #[test]
    fn entries_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let cache = PromptCache::new(dir.path().join("airlock/whoami"), PROMPT_TTL);
        let key = PromptCache::key("ASIAEXAMPLEEXAMPLE01", None);
        cache
            .put(&key, &identity(None), SystemTime::now(), None)
            .unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir.path().join("airlock/whoami")), 0o700);
        assert_eq!(mode(&cache.path(&key)), 0o600);
    }

    #[test]
    fn the_default_dir_follows_xdg() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert_eq!(
            PromptCache::default_dir(env(&[("XDG_CACHE_HOME", "/x/cache"), ("HOME", "/home/a")])),
            Some(PathBuf::from("/x/cache/airlock/whoami"))
        );
        assert_eq!(
            PromptCache::default_dir(env(&[("XDG_CACHE_HOME", "relative"), ("HOME", "/home/a")])),
            Some(PathBuf::from("/home/a/.cache/airlock/whoami"))
        );
        assert_eq!(PromptCache::default_dir(env(&[])), None);
    }
}
