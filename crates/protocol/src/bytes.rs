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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn json(bytes: &[u8]) -> String {
        serde_json::to_string(&WireBytes(bytes.to_vec())).expect("serialises")
    }

    fn round_trip(bytes: &[u8]) -> Vec<u8> {
        serde_json::from_str::<WireBytes>(&json(bytes))
            .expect("parses back")
            .0
    }

    #[test]
    fn text_stays_text_and_control_characters_are_escaped() {
        let ansi = b"\x1b[31merror\x1b[0m\r\n\0tab\there";
        let wire = json(ansi);
        assert!(wire.starts_with(r#"{"text":"#), "{wire}");
        assert!(wire.contains(r"\u001b[31m"), "{wire}");
        assert!(wire.contains(r"\u0000"), "{wire}");
        assert!(sqs_accepts(&wire));
        assert_eq!(round_trip(ansi), ansi);
    }

    #[test]
    fn invalid_utf8_and_noncharacters_go_as_base64() {
        for bytes in [
            &b"caf\xe9"[..],
            "a\u{FFFE}b".as_bytes(),
            "\u{FFFF}".as_bytes(),
            &[0xf0, 0x9f, 0x98][..],
        ] {
            let wire = json(bytes);
            assert!(wire.starts_with(r#"{"b64":"#), "{wire}");
            assert!(sqs_accepts(&wire));
            assert_eq!(round_trip(bytes), bytes);
        }
    }

    #[test]
    fn sqs_accepts_only_xml_legal_characters() {
        assert!(sqs_accepts(
            "plain\t\n\r text \u{D7FF}\u{E000}\u{FFFD}\u{10FFFF}"
        ));
        for refused in ["\0", "\u{1b}", "\u{FFFE}", "\u{FFFF}", "\u{8}"] {
            assert!(!sqs_accepts(refused), "{refused:?} accepted");
        }
    }

    #[test]
    fn malformed_wire_bytes_are_refused() {
        for bad in [
            r#"{"text":"a","b64":"YQ=="}"#,
            r#"{}"#,
            r#"{"b64":"not base64!"}"#,
            r#"{"text":"a","extra":1}"#,
        ] {
            assert!(
                serde_json::from_str::<WireBytes>(bad).is_err(),
                "{bad} accepted"
            );
        }
    }

    fn interesting_bytes() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..300),
            any::<String>().prop_map(String::into_bytes),
            proptest::collection::vec(
                prop_oneof![
                    Just(b"\x1b[1;32m".to_vec()),
                    Just(b"\0".to_vec()),
                    Just(b"\r".to_vec()),
                    Just("\u{FFFE}".as_bytes().to_vec()),
                    Just(vec![0xff]),
                    Just("é✓😀".as_bytes().to_vec()),
                    "[ -~]{0,20}".prop_map(String::into_bytes),
                ],
                0..30
            )
            .prop_map(|parts| parts.concat()),
        ]
    }

    proptest! {
        #[test]
        fn any_bytes_round_trip_in_a_form_sqs_accepts(bytes in interesting_bytes()) {
            let wire = json(&bytes);
            prop_assert!(sqs_accepts(&wire), "{wire}");
            prop_assert_eq!(round_trip(&bytes), bytes);
        }
    }
}
