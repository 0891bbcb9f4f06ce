//! Arbitrary bytes in a form SQS accepts.
//!
//! SQS message bodies must be XML-legal Unicode: tab, newline, carriage return, and
//! U+0020–U+D7FF, U+E000–U+FFFD, U+10000–U+10FFFF. Deployment output has ANSI escapes, NUL,
//! `\r` and invalid UTF-8. [`WireBytes`] serialises as a JSON string when the bytes are UTF-8
//! (serde_json escapes every control character as `\u00XX`, so the JSON text itself stays
//! legal) and as base64 otherwise, or when they hold U+FFFE/U+FFFF, which JSON would carry
//! raw and SQS would refuse.
//!
//! Wire form: `{"text": "…"}` or `{"b64": "…"}`.

/// Bytes that survive the trip exactly.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct WireBytes(pub Vec<u8>);

/// Whether every character of `body` is one SQS accepts in a message body.
pub fn sqs_accepts(body: &str) -> bool {
    body.chars().all(|c| {
        matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}')
    })
}

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Wire {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    b64: Option<String>,
}

impl Serialize for WireBytes {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let wire = match std::str::from_utf8(&self.0) {
            Ok(text) if !text.contains(['\u{FFFE}', '\u{FFFF}']) => Wire {
                text: Some(text.to_string()),
                b64: None,
            },
            _ => Wire {
                text: None,
                b64: Some(STANDARD.encode(&self.0)),
            },
        };
        wire.serialize(s)
    }
}

impl<'de> Deserialize<'de> for WireBytes {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Wire::deserialize(d)? {
            Wire {
                text: Some(text),
                b64: None,
            } => Ok(WireBytes(text.into_bytes())),
            Wire {
                text: None,
                b64: Some(b64),
            } => STANDARD
                .decode(b64)
                .map(WireBytes)
                .map_err(|e| serde::de::Error::custom(format!("bad base64 in output bytes: {e}"))),
            _ => Err(serde::de::Error::custom(
                "output bytes need exactly one of `text` and `b64`",
            )),
        }
    }
}
