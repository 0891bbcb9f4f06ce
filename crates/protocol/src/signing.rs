//! The signed envelope that carries a request from CI to the dispatcher.
//!
//! CI signs with AWS KMS (`ECDSA_SHA_256` on an `ECC_NIST_P256` key), so the private key never
//! leaves KMS; the dispatcher verifies with the public key alone, locally, without a KMS call.
//! CI hashes the payload with SHA-256 and has KMS `Sign` it with `MessageType=DIGEST` (a RAW
//! message is limited to 4096 bytes); that is the same ECDSA signature as KMS makes over the
//! RAW payload, since `ECDSA_SHA_256` signs the message's SHA-256 either way. It comes back
//! DER-encoded; [`SignedRequest::verify`] checks it over the exact `payload` bytes (base64 in
//! the envelope), and only then is the payload parsed.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use p256::ecdsa::signature::Verifier as _;
use p256::ecdsa::{Signature, VerifyingKey};
use p256::pkcs8::DecodePublicKey as _;
use serde::{Deserialize, Serialize};

use crate::ProtocolError;
use crate::request::{CancelRequest, DeployRequest};

/// The only signing algorithm: KMS's name for ECDSA over P-256 with SHA-256.
pub const SIGNING_ALGORITHM: &str = "ECDSA_SHA_256";

/// Which request an envelope carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestKind {
    Deploy,
    Cancel,
}

impl RequestKind {
    /// The name on the wire: `deploy` or `cancel`.
    pub fn name(self) -> &'static str {
        match self {
            RequestKind::Deploy => "deploy",
            RequestKind::Cancel => "cancel",
        }
    }
}

/// The envelope: what is published to SNS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedRequest {
    pub v: u32,
    pub kind: RequestKind,
    /// Base64 of the canonical payload bytes (the request's JSON), exactly as signed.
    pub payload: String,
    /// [`SIGNING_ALGORITHM`].
    pub algorithm: String,
    /// The KMS key ARN (or local key id) that signed; the verifier looks its public key up.
    pub key_id: String,
    /// Base64 of the DER-encoded ECDSA signature.
    pub signature: String,
}

/// The request inside a verified envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifiedRequest {
    Deploy(DeployRequest),
    Cancel(CancelRequest),
}

impl SignedRequest {
    /// The canonical bytes to sign for a deploy request.
    pub fn deploy_payload(request: &DeployRequest) -> Vec<u8> {
        serde_json::to_vec(request).unwrap_or_default()
    }

    /// The canonical bytes to sign for a cancel request.
    pub fn cancel_payload(request: &CancelRequest) -> Vec<u8> {
        serde_json::to_vec(request).unwrap_or_default()
    }

    /// Builds the envelope from payload bytes and the DER signature over them.
    pub fn new(
        kind: RequestKind,
        payload: &[u8],
        key_id: impl Into<String>,
        der_signature: &[u8],
    ) -> SignedRequest {
        SignedRequest {
            v: crate::PROTOCOL_VERSION,
            kind,
            payload: STANDARD.encode(payload),
            algorithm: SIGNING_ALGORITHM.to_string(),
            key_id: key_id.into(),
            signature: STANDARD.encode(der_signature),
        }
    }

    /// Parses an envelope (an SNS message body), checking the version first.
    pub fn from_json(body: &str) -> Result<SignedRequest, ProtocolError> {
        const WHAT: &str = "signed request envelope";
        let value: serde_json::Value =
            serde_json::from_str(body).map_err(|e| ProtocolError::Malformed {
                what: WHAT,
                reason: format!("not JSON: {e}"),
            })?;
        crate::check_version(&value, WHAT)?;
        let envelope: SignedRequest =
            serde_json::from_value(value).map_err(|e| ProtocolError::Malformed {
                what: WHAT,
                reason: e.to_string(),
            })?;
        envelope.check_algorithm()?;
        Ok(envelope)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Verifies the signature over the payload bytes with `key`, then parses the payload and
    /// checks that its kind and version match the envelope.
    ///
    /// `key` must be the public key of `key_id`, looked up by the caller: the key id is not
    /// covered by the signature, so a forged key id only selects a key that will not verify.
    pub fn verify(
        &self,
        key: &p256::ecdsa::VerifyingKey,
    ) -> Result<VerifiedRequest, ProtocolError> {
        if self.v != crate::PROTOCOL_VERSION {
            return Err(ProtocolError::UnsupportedVersion {
                found: u64::from(self.v),
            });
        }
        self.check_algorithm()?;
        let payload = STANDARD
            .decode(&self.payload)
            .map_err(|e| ProtocolError::InvalidField {
                field: "payload",
                reason: format!("not base64: {e}"),
            })?;
        let der = STANDARD
            .decode(&self.signature)
            .map_err(|e| ProtocolError::InvalidField {
                field: "signature",
                reason: format!("not base64: {e}"),
            })?;
        let signature = Signature::from_der(&der).map_err(|_| {
            ProtocolError::Signature(
                "the signature is not a DER-encoded ECDSA P-256 signature".into(),
            )
        })?;
        // ECDSA signatures come in two equally valid forms, (r, s) and (r, n - s). KMS does
        // not promise the "low-S" one, and the verifier does not need malleability resistance
        // (replays are caught by the nonce, not by the signature bytes), so both are accepted:
        // normalise first, which keeps this correct should the verifier ever insist on low S.
        let signature = signature.normalize_s().unwrap_or(signature);
        key.verify(&payload, &signature).map_err(|_| {
            ProtocolError::Signature(format!(
                "the signature does not match the payload for key {:?}",
                self.key_id
            ))
        })?;
        parse_payload(self.kind, &payload)
    }

    fn check_algorithm(&self) -> Result<(), ProtocolError> {
        if self.algorithm == SIGNING_ALGORITHM {
            Ok(())
        } else {
            Err(ProtocolError::InvalidField {
                field: "algorithm",
                reason: format!(
                    "unsupported signing algorithm {:?} (only {SIGNING_ALGORITHM} is accepted)",
                    self.algorithm
                ),
            })
        }
    }
}

/// Parses verified payload bytes as the request the envelope's `kind` says.
fn parse_payload(kind: RequestKind, payload: &[u8]) -> Result<VerifiedRequest, ProtocolError> {
    const WHAT: &str = "signed payload";
    let value: serde_json::Value =
        serde_json::from_slice(payload).map_err(|e| ProtocolError::Malformed {
            what: WHAT,
            reason: format!("not JSON: {e}"),
        })?;
    crate::check_version(&value, WHAT)?;
    let parsed = match kind {
        RequestKind::Deploy => {
            serde_json::from_value::<DeployRequest>(value.clone()).map(VerifiedRequest::Deploy)
        }
        RequestKind::Cancel => {
            serde_json::from_value::<CancelRequest>(value.clone()).map(VerifiedRequest::Cancel)
        }
    };
    parsed.map_err(|e| {
        // Name the likely cause when the payload is the other kind of request.
        let other_kind = match kind {
            RequestKind::Deploy => serde_json::from_value::<CancelRequest>(value)
                .ok()
                .map(|_| "a cancel request"),
            RequestKind::Cancel => serde_json::from_value::<DeployRequest>(value)
                .ok()
                .map(|_| "a deploy request"),
        };
        match other_kind {
            Some(other) => ProtocolError::InvalidField {
                field: "kind",
                reason: format!(
                    "the envelope says {} but the payload is {other}",
                    kind.name()
                ),
            },
            None => ProtocolError::Malformed {
                what: match kind {
                    RequestKind::Deploy => "deploy request",
                    RequestKind::Cancel => "cancel request",
                },
                reason: e.to_string(),
            },
        }
    })
}

/// Reads a public key as KMS `GetPublicKey` returns it (SubjectPublicKeyInfo DER) or as PEM
/// (`-----BEGIN PUBLIC KEY-----`).
pub fn public_key_from_der_or_pem(
    bytes: &[u8],
) -> Result<p256::ecdsa::VerifyingKey, ProtocolError> {
    let invalid = |reason: String| ProtocolError::InvalidField {
        field: "public key",
        reason,
    };
    if bytes.trim_ascii_start().starts_with(b"-----BEGIN") {
        let pem =
            std::str::from_utf8(bytes).map_err(|_| invalid("PEM text is not UTF-8".into()))?;
        VerifyingKey::from_public_key_pem(pem.trim())
            .map_err(|e| invalid(format!("not a P-256 public key in PEM: {e}")))
    } else {
        VerifyingKey::from_public_key_der(bytes).map_err(|e| {
            invalid(format!(
                "not a P-256 SubjectPublicKeyInfo (DER) or PEM public key: {e}"
            ))
        })
    }
}

/// Reads a public key written as text: PEM, or the base64 of its DER, which is what
/// `aws kms get-public-key --query PublicKey --output text` prints and what a CloudFormation
/// parameter can hold (PEM's 64-character lines cannot be built from one parameter).
pub fn public_key_from_text(text: &str) -> Result<p256::ecdsa::VerifyingKey, ProtocolError> {
    let text = text.trim();
    if text.starts_with("-----BEGIN") {
        return public_key_from_der_or_pem(text.as_bytes());
    }
    let der = STANDARD
        .decode(text)
        .map_err(|e| ProtocolError::InvalidField {
            field: "public key",
            reason: format!("neither PEM nor the base64 of a DER public key: {e}"),
        })?;
    public_key_from_der_or_pem(&der)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::Requester;
    use p256::ecdsa::SigningKey;
    use p256::ecdsa::signature::Signer as _;
    use p256::pkcs8::{EncodePublicKey as _, LineEnding};
    use time::macros::datetime;

    const KEY_ID: &str = "arn:aws:kms:eu-west-1:123456789012:key/test-only";

    /// A test key from a fixed seed: obviously not a real one.
    fn test_key(seed: u8) -> SigningKey {
        SigningKey::from_slice(&[seed; 32]).expect("valid scalar")
    }

    fn deploy() -> DeployRequest {
        DeployRequest {
            v: crate::PROTOCOL_VERSION,
            request_id: "5c1e0f3a-2b4d-4e6f-8a9b-0c1d2e3f4a5b".into(),
            job: "deploy-web".into(),
            params: [("ENV".to_string(), "staging".to_string())].into(),
            image: None,
            requester: Requester {
                ci: "github-actions".into(),
                repository: Some("acme/web".into()),
                ..Requester::default()
            },
            issued_at: datetime!(2025-01-02 03:04:05 UTC),
            expires_at: datetime!(2025-01-02 03:09:05 UTC),
            nonce: "00112233445566778899aabbccddeeff".into(),
            timeout_secs: Some(600),
        }
    }

    fn cancel() -> CancelRequest {
        CancelRequest {
            v: crate::PROTOCOL_VERSION,
            request_id: "5c1e0f3a-2b4d-4e6f-8a9b-0c1d2e3f4a5b".into(),
            job: "deploy-web".into(),
            requester: Requester {
                ci: "local".into(),
                ..Requester::default()
            },
            issued_at: datetime!(2025-01-02 03:05:00 UTC),
            expires_at: datetime!(2025-01-02 03:10:00 UTC),
            nonce: "ffeeddccbbaa99887766554433221100".into(),
            reason: "SIGINT from CI".into(),
        }
    }

    fn sign(key: &SigningKey, kind: RequestKind, payload: &[u8]) -> SignedRequest {
        let signature: Signature = key.sign(payload);
        SignedRequest::new(kind, payload, KEY_ID, signature.to_der().as_bytes())
    }

    fn deploy_envelope() -> SignedRequest {
        sign(
            &test_key(7),
            RequestKind::Deploy,
            &SignedRequest::deploy_payload(&deploy()),
        )
    }

    fn verifying(seed: u8) -> VerifyingKey {
        *test_key(seed).verifying_key()
    }

    #[test]
    fn signed_requests_round_trip_and_verify() {
        let envelope = deploy_envelope();
        assert_eq!(envelope.v, crate::PROTOCOL_VERSION);
        assert_eq!(envelope.algorithm, SIGNING_ALGORITHM);
        let parsed = SignedRequest::from_json(&envelope.to_json()).expect("parses");
        assert_eq!(parsed, envelope);
        assert_eq!(
            parsed.verify(&verifying(7)),
            Ok(VerifiedRequest::Deploy(deploy()))
        );

        let cancel_envelope = sign(
            &test_key(7),
            RequestKind::Cancel,
            &SignedRequest::cancel_payload(&cancel()),
        );
        let parsed = SignedRequest::from_json(&cancel_envelope.to_json()).expect("parses");
        assert_eq!(
            parsed.verify(&verifying(7)),
            Ok(VerifiedRequest::Cancel(cancel()))
        );
    }

    #[test]
    fn a_tampered_payload_or_signature_is_rejected() {
        let mut tampered = deploy_envelope();
        let mut payload = STANDARD.decode(&tampered.payload).expect("base64");
        let at = payload
            .windows(7)
            .position(|w| w == b"staging")
            .expect("param in payload");
        payload[at..at + 7].copy_from_slice(b"product");
        tampered.payload = STANDARD.encode(&payload);
        assert!(matches!(
            tampered.verify(&verifying(7)),
            Err(ProtocolError::Signature(m)) if m.contains("does not match")
        ));

        let mut tampered = deploy_envelope();
        let mut der = STANDARD.decode(&tampered.signature).expect("base64");
        let last = der.len() - 1;
        der[last] ^= 1;
        tampered.signature = STANDARD.encode(&der);
        assert!(matches!(
            tampered.verify(&verifying(7)),
            Err(ProtocolError::Signature(m)) if m.contains("does not match")
        ));

        let mut not_der = deploy_envelope();
        not_der.signature = STANDARD.encode(b"not a signature");
        assert!(matches!(
            not_der.verify(&verifying(7)),
            Err(ProtocolError::Signature(m)) if m.contains("DER")
        ));
    }

    #[test]
    fn a_forged_key_id_selects_a_key_that_does_not_verify() {
        let keys = [
            (KEY_ID.to_string(), verifying(7)),
            ("other-key".to_string(), verifying(8)),
        ];
        let mut forged = deploy_envelope();
        forged.key_id = "other-key".into();
        let key = keys
            .iter()
            .find(|(id, _)| *id == forged.key_id)
            .map(|(_, key)| key)
            .expect("known key id");
        assert!(matches!(
            forged.verify(key),
            Err(ProtocolError::Signature(m)) if m.contains("other-key")
        ));
    }

    #[test]
    fn a_swapped_kind_is_named() {
        let mut swapped = deploy_envelope();
        swapped.kind = RequestKind::Cancel;
        assert_eq!(
            swapped.verify(&verifying(7)),
            Err(ProtocolError::InvalidField {
                field: "kind",
                reason: "the envelope says cancel but the payload is a deploy request".into()
            })
        );
    }

    #[test]
    fn bad_base64_names_its_field() {
        let mut bad = deploy_envelope();
        bad.payload = "***".into();
        assert!(matches!(
            bad.verify(&verifying(7)),
            Err(ProtocolError::InvalidField {
                field: "payload",
                ..
            })
        ));
        let mut bad = deploy_envelope();
        bad.signature = "***".into();
        assert!(matches!(
            bad.verify(&verifying(7)),
            Err(ProtocolError::InvalidField {
                field: "signature",
                ..
            })
        ));
    }

    #[test]
    fn signed_garbage_is_not_json() {
        let envelope = sign(&test_key(7), RequestKind::Deploy, b"\xffnot json");
        assert!(matches!(
            envelope.verify(&verifying(7)),
            Err(ProtocolError::Malformed { what: "signed payload", reason }) if reason.starts_with("not JSON")
        ));
        let incomplete = sign(&test_key(7), RequestKind::Deploy, br#"{"v":1,"job":"x"}"#);
        assert!(matches!(
            incomplete.verify(&verifying(7)),
            Err(ProtocolError::Malformed {
                what: "deploy request",
                ..
            })
        ));
    }

    #[test]
    fn unknown_versions_are_unsupported() {
        let mut json: serde_json::Value =
            serde_json::from_str(&deploy_envelope().to_json()).expect("json");
        json["v"] = 2.into();
        json["new_field"] = "from the future".into();
        assert_eq!(
            SignedRequest::from_json(&json.to_string()),
            Err(ProtocolError::UnsupportedVersion { found: 2 })
        );

        let mut newer = deploy();
        newer.v = 2;
        let envelope = sign(
            &test_key(7),
            RequestKind::Deploy,
            &SignedRequest::deploy_payload(&newer),
        );
        assert_eq!(
            envelope.verify(&verifying(7)),
            Err(ProtocolError::UnsupportedVersion { found: 2 })
        );
    }

    #[test]
    fn unknown_algorithms_and_fields_are_refused() {
        let mut json: serde_json::Value =
            serde_json::from_str(&deploy_envelope().to_json()).expect("json");
        json["algorithm"] = "RSASSA_PSS_SHA_256".into();
        assert!(matches!(
            SignedRequest::from_json(&json.to_string()),
            Err(ProtocolError::InvalidField {
                field: "algorithm",
                ..
            })
        ));
        let mut other = deploy_envelope();
        other.algorithm = "none".into();
        assert!(matches!(
            other.verify(&verifying(7)),
            Err(ProtocolError::InvalidField {
                field: "algorithm",
                ..
            })
        ));
        for bad in ["", "{", r#"{"v":1}"#, r#"{"v":1,"kind":"launch"}"#] {
            assert!(
                matches!(
                    SignedRequest::from_json(bad),
                    Err(ProtocolError::Malformed { .. })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_signature_over_the_payloads_sha256_digest_verifies_over_the_payload() {
        use p256::ecdsa::signature::hazmat::PrehashSigner as _;
        use sha2::{Digest as _, Sha256};

        // Larger than KMS's 4096-byte RAW limit, which is why CI signs the digest.
        let mut request = deploy();
        request.params = (0..7)
            .map(|i| (format!("PARAM_{i}"), "v".repeat(1000)))
            .collect();
        let payload = SignedRequest::deploy_payload(&request);
        assert!(payload.len() > 7000, "{}", payload.len());
        let digest = Sha256::digest(&payload);
        assert_eq!(digest.len(), 32);

        // What KMS does with `MessageType=DIGEST`: sign the 32 bytes as the hash, unhashed.
        let prehashed: Signature = test_key(7).sign_prehash(&digest).expect("a 32-byte digest");
        let envelope = SignedRequest::new(
            RequestKind::Deploy,
            &payload,
            KEY_ID,
            prehashed.to_der().as_bytes(),
        );
        assert_eq!(
            envelope.verify(&verifying(7)),
            Ok(VerifiedRequest::Deploy(request))
        );
        // It is the very signature of the payload itself (RFC 6979 makes both deterministic),
        // so RAW and DIGEST envelopes are indistinguishable to the dispatcher.
        let raw: Signature = test_key(7).sign(&payload);
        assert_eq!(prehashed, raw);

        // Hashing the digest once more (a signer that sent the digest as RAW) does not verify.
        let hashed_twice: Signature = test_key(7).sign(&digest[..]);
        let envelope = SignedRequest::new(
            RequestKind::Deploy,
            &payload,
            KEY_ID,
            hashed_twice.to_der().as_bytes(),
        );
        assert!(matches!(
            envelope.verify(&verifying(7)),
            Err(ProtocolError::Signature(m)) if m.contains("does not match")
        ));
    }

    #[test]
    fn high_s_signatures_are_accepted() {
        let payload = SignedRequest::deploy_payload(&deploy());
        let signature: Signature = test_key(7).sign(&payload);
        // Build the other (r, n - s) form, whichever one the signer gave.
        let (r, s) = signature.split_scalars();
        let flipped = Signature::from_scalars(r.to_bytes(), (-*s).to_bytes()).expect("valid");
        let high = if signature.normalize_s().is_some() {
            signature
        } else {
            flipped
        };
        assert!(high.normalize_s().is_some(), "the test signature is high-S");
        let envelope = SignedRequest::new(
            RequestKind::Deploy,
            &payload,
            KEY_ID,
            high.to_der().as_bytes(),
        );
        assert_eq!(
            envelope.verify(&verifying(7)),
            Ok(VerifiedRequest::Deploy(deploy()))
        );
    }

    #[test]
    fn public_keys_read_from_der_and_pem() {
        let key = verifying(7);
        let der = key.to_public_key_der().expect("der");
        assert_eq!(public_key_from_der_or_pem(der.as_bytes()), Ok(key));
        let pem = key.to_public_key_pem(LineEnding::LF).expect("pem");
        assert_eq!(
            public_key_from_der_or_pem(format!("\n{pem}\n").as_bytes()),
            Ok(key)
        );
        for bad in [
            &b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"[..],
            b"",
            &der.as_bytes()[1..],
        ] {
            assert!(matches!(
                public_key_from_der_or_pem(bad),
                Err(ProtocolError::InvalidField {
                    field: "public key",
                    ..
                })
            ));
        }
    }

    #[test]
    fn public_keys_are_read_from_pem_or_base64_der_text() {
        use p256::pkcs8::EncodePublicKey as _;
        let key = SigningKey::from_slice(&[9u8; 32]).expect("valid scalar");
        let expected = *key.verifying_key();
        let der = expected.to_public_key_der().expect("der");
        let pem = expected.to_public_key_pem(LineEnding::LF).expect("pem");
        let base64 = STANDARD.encode(der.as_bytes());
        assert_eq!(public_key_from_text(&pem).expect("pem"), expected);
        assert_eq!(
            public_key_from_text(&format!(" {base64}\n")).expect("base64"),
            expected
        );
        let e = public_key_from_text("not a key!").expect_err("garbage");
        assert!(e.to_string().contains("base64"), "{e}");
        let e = public_key_from_text(&STANDARD.encode(b"short")).expect_err("not DER");
        assert!(e.to_string().contains("public key"), "{e}");
    }
}
