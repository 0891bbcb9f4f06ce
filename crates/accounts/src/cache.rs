//! The short-lived cache behind `airlock whoami --format prompt`: a shell prompt runs it
//! before every command, and two AWS calls each time would make the shell feel slow.
//!
//! Entries are keyed by a SHA-256 of what decides the identity ([`KeyInputs`]): the access
//! key id in the environment, the selected profile and the contents of the config and
//! credentials files, the endpoint. Looking the key up must not cost an AWS call, so for a
//! role profile it is the profile's definition, not the session's fresh access key id, that
//! goes into the key; any edit of either file misses the cache. Only when neither the
//! environment nor the files decide (container or instance credentials) are the credentials
//! resolved and their access key id used. Secrets never go into the key. An entry lives
//! [`PROMPT_TTL`] at most and never past the credentials' expiry when that is known. Entries
//! hold the identity only (account, ARN, alias), in files of mode 0600 under a 0700 directory.

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

/// What decides which identity a process gets from the standard chain.
#[derive(Debug, Clone, Default)]
pub struct KeyInputs {
    /// `AWS_ACCESS_KEY_ID`: environment keys come first in every SDK's chain.
    pub env_access_key_id: Option<String>,
    /// `--profile`, `AWS_PROFILE` or `default`.
    pub profile: String,
    /// The contents of the shared config and credentials files, when they exist.
    pub config_file: Option<String>,
    pub credentials_file: Option<String>,
    pub endpoint: Option<String>,
}

impl KeyInputs {
    /// Whether these inputs alone decide the identity: keys in the environment, or a
    /// profile the files define.
    pub fn decide_identity(&self) -> bool {
        let header = |text: &Option<String>, wanted: &str| {
            text.as_deref()
                .is_some_and(|t| t.lines().any(|line| line.trim() == wanted))
        };
        let config_header = if self.profile == "default" {
            "[default]".to_string()
        } else {
            format!("[profile {}]", self.profile)
        };
        self.env_access_key_id.is_some()
            || header(&self.config_file, &config_header)
            || header(&self.credentials_file, &format!("[{}]", self.profile))
    }

    /// The cache key; `resolved_access_key_id` is given when the inputs do not decide.
    pub fn key(&self, resolved_access_key_id: Option<&str>) -> String {
        let digest = |text: &Option<String>| -> String {
            text.as_deref().map_or_else(String::new, |t| {
                Sha256::digest(t.as_bytes())
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect()
            })
        };
        let mut hasher = Sha256::new();
        for part in [
            "airlock whoami v1",
            self.env_access_key_id.as_deref().unwrap_or(""),
            &self.profile,
            &digest(&self.config_file),
            &digest(&self.credentials_file),
            self.endpoint.as_deref().unwrap_or(""),
            resolved_access_key_id.unwrap_or(""),
        ] {
            hasher.update(part.as_bytes());
            hasher.update([0]);
        }
        hasher
            .finalize()
            .iter()
            .take(16)
            .map(|b| format!("{b:02x}"))
            .collect()
    }
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
        let base = crate::user_base_dir(env, "XDG_CACHE_HOME", ".cache")?;
        Some(base.join("airlock").join("whoami"))
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
        let key = KeyInputs::default().key(Some("ASIAEXAMPLEEXAMPLE01"));
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
        let key = KeyInputs::default().key(None);
        cache
            .put(&key, &identity(None), SystemTime::now(), None)
            .unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir.path().join("airlock/whoami")), 0o700);
        assert_eq!(mode(&cache.path(&key)), 0o600);
    }

    #[test]
    fn keys_change_with_whatever_decides_the_identity() {
        let base = KeyInputs {
            env_access_key_id: None,
            profile: "prod-website-admin".into(),
            config_file: Some(
                "[profile prod-website-admin]\nrole_arn = arn:aws:iam::111111111111:role/Admin\n"
                    .into(),
            ),
            credentials_file: None,
            endpoint: None,
        };
        assert!(base.decide_identity());
        let key = base.key(None);
        let changed = |edit: &dyn Fn(&mut KeyInputs)| {
            let mut other = base.clone();
            edit(&mut other);
            other.key(None)
        };
        assert_ne!(key, changed(&|i| i.profile = "test-website-admin".into()));
        assert_ne!(
            key,
            changed(&|i| i.config_file = Some(
                "[profile prod-website-admin]\nrole_arn = arn:aws:iam::222222222222:role/Admin\n"
                    .into()
            ))
        );
        assert_ne!(
            key,
            changed(&|i| i.credentials_file = Some("[base]\n".into()))
        );
        assert_ne!(
            key,
            changed(&|i| i.endpoint = Some("http://127.0.0.1:5000".into()))
        );
        assert_ne!(
            key,
            changed(&|i| i.env_access_key_id = Some("AKIAEXAMPLEEXAMPLE01".into()))
        );
        assert_ne!(key, base.key(Some("ASIAEXAMPLEEXAMPLE01")));
        assert_eq!(key, base.clone().key(None));
        // The key never contains the access key id.
        let with_key = changed(&|i| i.env_access_key_id = Some("AKIAEXAMPLEEXAMPLE01".into()));
        assert!(!with_key.contains("AKIA"));

        // A profile the files do not define (instance or container credentials) does not
        // decide; neither does an empty environment.
        let undefined = KeyInputs {
            profile: "ops".into(),
            ..base.clone()
        };
        assert!(!undefined.decide_identity());
        assert!(
            KeyInputs {
                credentials_file: Some("[ops]\naws_access_key_id = AKIAEXAMPLEEXAMPLE01\n".into()),
                ..undefined.clone()
            }
            .decide_identity()
        );
        assert!(
            KeyInputs {
                profile: "default".into(),
                config_file: Some("[default]\nregion = eu-west-1\n".into()),
                ..undefined
            }
            .decide_identity()
        );
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
