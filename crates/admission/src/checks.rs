//! The stateless checks of a signed request: the envelope and its signature
//! ([`verify_envelope`]), the validity window ([`check_window`]), the nonce's form
//! ([`check_nonce_format`]) and the request id's ([`valid_request_id`]), each refusing with a
//! stable code ([`codes`]). The order they run in is [`crate::Admission::handle_envelope`]'s.

use std::collections::BTreeMap;
use std::time::Duration;

use airlock_protocol::signing::VerifiedRequest;
use airlock_protocol::{ProtocolError, SIGNING_ALGORITHM, SignedRequest};
use base64::Engine as _;
use p256::ecdsa::VerifyingKey;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The stable codes of `Rejected` messages.
pub mod codes {
    pub const BAD_ENVELOPE: &str = "bad_envelope";
    pub const UNSUPPORTED_VERSION: &str = "unsupported_version";
    pub const UNKNOWN_KEY: &str = "unknown_key";
    pub const BAD_SIGNATURE: &str = "bad_signature";
    pub const NOT_YET_VALID: &str = "not_yet_valid";
    pub const EXPIRED: &str = "expired";
    pub const WINDOW_TOO_LONG: &str = "window_too_long";
    pub const REPLAYED: &str = "replayed";
    pub const UNKNOWN_JOB: &str = "unknown_job";
    pub const BAD_PARAMS: &str = "bad_params";
    pub const LANE_BUSY: &str = "lane_busy";
    pub const BAD_IMAGE: &str = "bad_image";
    pub const IMAGE_GATE: &str = "image_gate";
    pub const OVERRIDES_TOO_LARGE: &str = "overrides_too_large";
    pub const RUN_TASK_FAILED: &str = "run_task_failed";
    pub const INTERNAL: &str = "internal";
}

/// How far in the future `issued_at` may be (clock skew between CI and the dispatcher).
pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(60);
/// The longest validity window a request may ask for.
pub const MAX_WINDOW: Duration = Duration::from_secs(15 * 60);

/// Why a request was refused: a stable code (see [`codes`]) and a reason for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: &'static str,
    pub reason: String,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.reason)
    }
}

pub fn refuse(code: &'static str, reason: impl Into<String>) -> Refusal {
    Refusal {
        code,
        reason: reason.into(),
    }
}

/// The envelope checks, in order: parse and version, algorithm, trusted key id, signature over
/// the exact payload bytes, then the payload's own version. Each failure is a refusal with its
/// stable code.
///
/// `keys` maps each trusted key id to its public key; `keys_configured_in` says where they are
/// configured, for the refusal of an unknown key.
pub fn verify_envelope(
    envelope: &str,
    keys: &BTreeMap<String, VerifyingKey>,
    keys_configured_in: &str,
) -> Result<VerifiedRequest, Refusal> {
    let signed = SignedRequest::from_json(envelope).map_err(|e| match e {
        ProtocolError::UnsupportedVersion { .. } => {
            refuse(codes::UNSUPPORTED_VERSION, e.to_string())
        }
        e => refuse(codes::BAD_ENVELOPE, format!("envelope: {e}")),
    })?;
    if signed.algorithm != SIGNING_ALGORITHM {
        let reason = format!(
            "envelope: algorithm {:?} is not {SIGNING_ALGORITHM}",
            signed.algorithm
        );
        return Err(refuse(codes::BAD_ENVELOPE, reason));
    }
    let Some(key) = keys.get(&signed.key_id) else {
        let trusted: Vec<String> = keys.keys().map(|k| format!("{k:?}")).collect();
        let reason = format!(
            "signed by key {:?}; this lane trusts only {} ({keys_configured_in})",
            shorten(&signed.key_id),
            if trusted.is_empty() {
                "no key".to_string()
            } else {
                trusted.join(", ")
            }
        );
        return Err(refuse(codes::UNKNOWN_KEY, reason));
    };
    signed.verify(key).map_err(|e| match e {
        ProtocolError::Signature(_) => refuse(codes::BAD_SIGNATURE, e.to_string()),
        ProtocolError::UnsupportedVersion { .. } => {
            refuse(codes::UNSUPPORTED_VERSION, e.to_string())
        }
        e => refuse(codes::BAD_ENVELOPE, format!("payload: {e}")),
    })
}

pub fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

pub fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_else(|_| t.to_string())
}

/// Checks a request's validity window against `now`.
pub fn check_window(
    issued_at: OffsetDateTime,
    expires_at: OffsetDateTime,
    now: OffsetDateTime,
) -> Result<(), Refusal> {
    if expires_at <= issued_at {
        return Err(refuse(
            codes::BAD_ENVELOPE,
            format!(
                "expires_at {} is not after issued_at {}",
                rfc3339(expires_at),
                rfc3339(issued_at)
            ),
        ));
    }
    let window = expires_at - issued_at;
    if window > MAX_WINDOW {
        return Err(refuse(
            codes::WINDOW_TOO_LONG,
            format!(
                "the request is valid for {} s (issued_at {} to expires_at {}); the limit is {} s",
                window.whole_seconds(),
                rfc3339(issued_at),
                rfc3339(expires_at),
                MAX_WINDOW.as_secs()
            ),
        ));
    }
    if issued_at > now + MAX_CLOCK_SKEW {
        return Err(refuse(
            codes::NOT_YET_VALID,
            format!(
                "issued_at {} is {} s in the future (the limit is {} s of clock skew); check the clocks",
                rfc3339(issued_at),
                (issued_at - now).whole_seconds(),
                MAX_CLOCK_SKEW.as_secs()
            ),
        ));
    }
    if now >= expires_at {
        return Err(refuse(
            codes::EXPIRED,
            format!(
                "expired at {} ({} s ago)",
                rfc3339(expires_at),
                (now - expires_at).whole_seconds()
            ),
        ));
    }
    Ok(())
}

/// Nonces are at least 128 bits of hex (and at most 256 characters).
pub fn check_nonce_format(nonce: &str) -> Result<(), Refusal> {
    if (32..=256).contains(&nonce.len()) && nonce.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(refuse(
            codes::BAD_ENVELOPE,
            "nonce: must be 32 to 256 hex digits (at least 128 random bits)",
        ))
    }
}

/// What an envelope claims about itself, read without trusting it: only to address a refusal
/// (to the request's follower, through the claimed job's feedback queue). Fields that cannot
/// be read, or do not look like an id or a job name, are `None`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnverifiedClaims {
    pub request_id: Option<String>,
    pub job: Option<String>,
    pub is_cancel: bool,
}

pub fn unverified_claims(envelope: &str) -> UnverifiedClaims {
    let Ok(value) = serde_json::from_str::<serde_json::Value>(envelope) else {
        return UnverifiedClaims::default();
    };
    let is_cancel = value.get("kind").and_then(|k| k.as_str()) == Some("cancel");
    let payload = value
        .get("payload")
        .and_then(|p| p.as_str())
        .and_then(|p| base64::engine::general_purpose::STANDARD.decode(p).ok())
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok());
    let field = |name: &str| {
        payload
            .as_ref()
            .and_then(|p| p.get(name)?.as_str().map(str::to_string))
            .filter(|text| valid_request_id(text))
    };
    UnverifiedClaims {
        request_id: field("request_id"),
        job: field("job"),
        is_cancel,
    }
}

/// The request id and kind an envelope claims (see [`unverified_claims`]).
pub fn unverified_addressee(envelope: &str) -> (Option<String>, bool) {
    let claims = unverified_claims(envelope);
    (claims.request_id, claims.is_cancel)
}

/// Request ids name files, DynamoDB items and ECS tags: 1 to 128 of `A-Z a-z 0-9 - _ . :`.
pub fn valid_request_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// A value from an untrusted envelope for a message: escaped and cut to 128 characters.
fn shorten(value: &str) -> String {
    const LIMIT: usize = 128;
    if value.chars().count() <= LIMIT {
        value.to_string()
    } else {
        let head: String = value.chars().take(LIMIT).collect();
        format!("{head}… ({} characters)", value.chars().count())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_700_000_000 + secs).expect("valid time")
    }

    #[test]
    fn validity_windows() {
        let now = at(0);
        assert!(check_window(at(-10), at(300), now).is_ok());
        assert!(
            check_window(at(59), at(300), now).is_ok(),
            "small skew is allowed"
        );
        let code = |issued, expires| {
            check_window(at(issued), at(expires), now)
                .err()
                .map(|r| r.code)
        };
        assert_eq!(code(61, 300), Some(codes::NOT_YET_VALID));
        assert_eq!(code(-600, -1), Some(codes::EXPIRED));
        assert_eq!(
            code(-600, 0),
            Some(codes::EXPIRED),
            "expires_at itself is too late"
        );
        assert_eq!(code(0, 901), Some(codes::WINDOW_TOO_LONG));
        assert_eq!(code(0, 900), None);
        assert_eq!(code(10, 10), Some(codes::BAD_ENVELOPE));
    }

    #[test]
    fn nonces_must_be_long_hex() {
        assert!(check_nonce_format(&"ab".repeat(16)).is_ok());
        assert!(check_nonce_format(&"ab".repeat(15)).is_err());
        assert!(check_nonce_format(&format!("{}zz", "ab".repeat(16))).is_err());
    }

    #[test]
    fn the_addressee_is_read_only_from_a_plausible_payload() {
        let payload = base64::engine::general_purpose::STANDARD.encode(br#"{"request_id":"r-1"}"#);
        let envelope = format!(r#"{{"kind":"deploy","payload":"{payload}"}}"#);
        assert_eq!(unverified_addressee(&envelope), (Some("r-1".into()), false));
        let bad = base64::engine::general_purpose::STANDARD.encode(br#"{"request_id":"a b\n"}"#);
        let envelope = format!(r#"{{"kind":"cancel","payload":"{bad}"}}"#);
        assert_eq!(unverified_addressee(&envelope), (None, true));
        assert_eq!(unverified_addressee("not json"), (None, false));
    }
}
