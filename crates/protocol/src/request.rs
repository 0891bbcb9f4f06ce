//! What CI asks the production account to do.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::ProtocolError;

/// A request to run one allowlisted job once. Signed by CI (see [`crate::signing`]) and
/// validated by the dispatcher before anything runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeployRequest {
    /// Protocol version ([`crate::PROTOCOL_VERSION`]).
    pub v: u32,
    /// Unique per request (a UUID v4 from CI); names the request in every log and message.
    pub request_id: String,
    /// The allowlisted job to run.
    pub job: String,
    /// Job parameters, validated by the dispatcher against the job's schema.
    #[serde(default)]
    pub params: BTreeMap<String, String>,
    /// The image to run, pinned by digest; `None` runs the task definition's own image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<ImageRef>,
    pub requester: Requester,
    #[serde(with = "time::serde::rfc3339")]
    pub issued_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// Random, at least 128 bits, hex: the dispatcher refuses a nonce it has seen (replay).
    pub nonce: String,
    /// How long the job may run before the runner stops it, in seconds (the job's configured
    /// timeout caps it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_secs: Option<u64>,
}

/// A request to stop a running deployment (CI got SIGINT/SIGTERM). Signed like a deploy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CancelRequest {
    pub v: u32,
    /// The deployment to cancel.
    pub request_id: String,
    pub job: String,
    pub requester: Requester,
    #[serde(with = "time::serde::rfc3339")]
    pub issued_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    pub nonce: String,
    /// Why (for the audit trail): "SIGINT from CI", …
    pub reason: String,
}

/// Who asked: shown in the production account's logs and in "lane busy" refusals.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Requester {
    /// "github-actions", "gitlab-ci", "jenkins", "local", …
    pub ci: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
}

/// An image pinned by digest: `repository@sha256:<64 lowercase hex>`. Tags are refused: a tag
/// can be moved after the request was signed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ImageRef {
    /// Everything before `@`, e.g. `123456789012.dkr.ecr.eu-west-1.amazonaws.com/deploy`.
    pub repository: String,
    /// The 64 hex digits after `sha256:`.
    pub digest: String,
}

impl ImageRef {
    pub fn parse(text: &str) -> Result<ImageRef, ProtocolError> {
        let invalid = |reason: &str| ProtocolError::InvalidField {
            field: "image",
            reason: format!("{reason} (expected REPOSITORY@sha256:<64 hex digits>, got {text:?})"),
        };
        let (repository, digest) = text
            .split_once('@')
            .ok_or_else(|| invalid("not pinned by digest"))?;
        let digest = digest
            .strip_prefix("sha256:")
            .ok_or_else(|| invalid("digest is not sha256"))?;
        if digest.len() != 64
            || !digest
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        {
            return Err(invalid("digest is not 64 lowercase hex digits"));
        }
        let repo_ok = !repository.is_empty()
            && repository.len() <= 255
            && repository
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-/:".contains(&b));
        if !repo_ok {
            return Err(invalid(
                "repository name is empty or has characters a registry refuses",
            ));
        }
        if repository
            .rsplit('/')
            .next()
            .is_some_and(|last| last.contains(':'))
        {
            return Err(invalid(
                "a tag and a digest together are ambiguous; give the digest only",
            ));
        }
        Ok(ImageRef {
            repository: repository.to_string(),
            digest: digest.to_string(),
        })
    }
}

impl std::fmt::Display for ImageRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@sha256:{}", self.repository, self.digest)
    }
}

impl Serialize for ImageRef {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ImageRef {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        ImageRef::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn images_must_be_pinned_by_a_sha256_digest() {
        let ok = ImageRef::parse(&format!(
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com/deploy@sha256:{DIGEST}"
        ))
        .expect("pinned image");
        assert_eq!(
            ok.repository,
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com/deploy"
        );
        assert_eq!(ok.to_string(), format!("{}@sha256:{DIGEST}", ok.repository));
        for bad in [
            "deploy:latest".to_string(),
            format!("deploy:v1@sha256:{DIGEST}"),
            format!("deploy@sha512:{DIGEST}"),
            format!("deploy@sha256:{}", &DIGEST[1..]),
            format!("deploy@sha256:{}", DIGEST.to_uppercase()),
            format!("@sha256:{DIGEST}"),
            format!("Deploy@sha256:{DIGEST}"),
        ] {
            assert!(ImageRef::parse(&bad).is_err(), "{bad} accepted");
        }
        // A registry with a port is not a tag.
        assert!(ImageRef::parse(&format!("localhost:5000/deploy@sha256:{DIGEST}")).is_ok());
    }
}
