//! Temporary credentials as the agent holds them: in memory only, the secret parts zeroised
//! when the last reference goes, and never printed (`Debug` shows only what is not secret).

use std::fmt;
use std::time::{Duration, SystemTime};

use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use zeroize::Zeroizing;

/// One set of temporary credentials from AssumeRole.
pub struct Issued {
    pub access_key_id: String,
    secret_access_key: Zeroizing<String>,
    session_token: Zeroizing<String>,
    /// When STS says they expire.
    pub expiration: SystemTime,
    /// When the AssumeRole call that produced them started: the conservative start of their
    /// lifetime, whatever the call's latency was.
    pub obtained_at: SystemTime,
    /// The account of the assumed role, served as `AccountId` (SDKs use it for
    /// account-based endpoints).
    pub account_id: String,
    /// `arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION`, for logs.
    pub assumed_role_arn: String,
}

impl Issued {
    pub fn new(
        access_key_id: String,
        secret_access_key: String,
        session_token: String,
        expiration: SystemTime,
        obtained_at: SystemTime,
        assumed_role_arn: String,
        account_id: String,
    ) -> Self {
        Issued {
            access_key_id,
            secret_access_key: Zeroizing::new(secret_access_key),
            session_token: Zeroizing::new(session_token),
            expiration,
            obtained_at,
            account_id,
            assumed_role_arn,
        }
    }

    /// Still usable at `now`. Credentials are never served at or after their expiration.
    pub fn valid_at(&self, now: SystemTime) -> bool {
        now < self.expiration
    }

    /// Time left at `now`; zero once expired.
    pub fn remaining_at(&self, now: SystemTime) -> Duration {
        self.expiration
            .duration_since(now)
            .unwrap_or(Duration::ZERO)
    }

    /// How long STS made them valid for, counted from the start of the call.
    pub fn lifetime(&self) -> Duration {
        self.expiration
            .duration_since(self.obtained_at)
            .unwrap_or(Duration::ZERO)
    }

    /// The container-credentials response body. The buffer is zeroised when dropped; the
    /// copy the HTTP stack sends is freed by it right after the write.
    pub fn response_body(&self) -> Zeroizing<Vec<u8>> {
        #[derive(Serialize)]
        #[serde(rename_all = "PascalCase")]
        struct Body<'a> {
            access_key_id: &'a str,
            secret_access_key: &'a str,
            token: &'a str,
            expiration: String,
            account_id: &'a str,
        }
        let body = Body {
            access_key_id: &self.access_key_id,
            secret_access_key: &self.secret_access_key,
            token: &self.session_token,
            expiration: rfc3339_seconds(self.expiration),
            account_id: &self.account_id,
        };
        // Serialising borrowed strings into a Vec cannot fail.
        Zeroizing::new(serde_json::to_vec(&body).unwrap_or_default())
    }
}

impl fmt::Debug for Issued {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Issued")
            .field("assumed_role_arn", &self.assumed_role_arn)
            .field("expiration", &rfc3339_seconds(self.expiration))
            .field("secret_access_key", &"<redacted>")
            .field("session_token", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// RFC 3339 in UTC to the second, rounded down so that the expiry an SDK sees is never later
/// than the real one: `2026-12-01T23:59:59Z`.
pub fn rfc3339_seconds(t: SystemTime) -> String {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    OffsetDateTime::from_unix_timestamp(i64::try_from(secs).unwrap_or(i64::MAX))
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".to_owned())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test's panic is its failure report
mod tests {
    use super::*;

    fn sample() -> Issued {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_169_599);
        Issued::new(
            "ASIAFAKEAGENTTEST".into(),
            "fake-secret-value".into(),
            "fake-session-token".into(),
            t + Duration::from_millis(900),
            t - Duration::from_secs(3600),
            "arn:aws:sts::123456789012:assumed-role/orders/ns.pod".into(),
            "123456789012".into(),
        )
    }

    #[test]
    fn the_body_has_the_protocols_fields_and_a_utc_expiration_rounded_down() {
        let body: serde_json::Value = serde_json::from_slice(&sample().response_body()).unwrap();
        assert_eq!(body["AccessKeyId"], "ASIAFAKEAGENTTEST");
        assert_eq!(body["SecretAccessKey"], "fake-secret-value");
        assert_eq!(body["Token"], "fake-session-token");
        assert_eq!(body["AccountId"], "123456789012");
        assert_eq!(body["Expiration"], "2026-12-01T23:59:59Z");
        assert_eq!(body.as_object().unwrap().len(), 5);
    }

    #[test]
    fn debug_output_never_shows_the_secret_parts() {
        let shown = format!("{:?}", sample());
        assert!(!shown.contains("fake-secret-value") && !shown.contains("fake-session-token"));
        assert!(shown.contains("assumed-role/orders"));
    }

    #[test]
    fn validity_ends_at_expiration() {
        let c = sample();
        assert!(c.valid_at(c.expiration - Duration::from_millis(1)));
        assert!(!c.valid_at(c.expiration));
        assert_eq!(
            c.remaining_at(c.expiration + Duration::from_secs(5)),
            Duration::ZERO
        );
        assert_eq!(c.lifetime().as_secs(), 3600);
    }
}
