//! The signed envelope that carries a request from CI to the dispatcher.
//!
//! CI signs with AWS KMS (`ECDSA_SHA_256` on an `ECC_NIST_P256` key), so the private key never
//! leaves KMS; the dispatcher verifies with the public key alone, locally, without a KMS call.
//! KMS `Sign` with `MessageType=RAW` hashes the message with SHA-256 and returns a DER-encoded
//! ECDSA signature; [`SignedRequest::verify`] checks exactly that over the exact `payload` bytes
//! (base64 in the envelope), and only then is the payload parsed.

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
        let _ = (kind, payload, key_id.into(), der_signature);
        todo!("protocol helper")
    }

    /// Parses an envelope (an SNS message body), checking the version first.
    pub fn from_json(body: &str) -> Result<SignedRequest, ProtocolError> {
        let _ = body;
        todo!("protocol helper")
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Verifies the signature over the payload bytes with `key`, then parses the payload and
    /// checks that its kind and version match the envelope.
    pub fn verify(
        &self,
        key: &p256::ecdsa::VerifyingKey,
    ) -> Result<VerifiedRequest, ProtocolError> {
        let _ = key;
        todo!("protocol helper")
    }
}

/// Reads a public key as KMS `GetPublicKey` returns it (SubjectPublicKeyInfo DER) or as PEM.
pub fn public_key_from_der_or_pem(
    bytes: &[u8],
) -> Result<p256::ecdsa::VerifyingKey, ProtocolError> {
    let _ = bytes;
    todo!("protocol helper")
}
