//! JSON documents as [`Node`] trees with line numbers.
//!
//! A small strict parser of our own: serde_json does not say where a value is, and a YAML
//! reader accepts things JSON does not. Numbers are kept as written; a later duplicate key
//! replaces the earlier one, as JavaScript and most JSON readers do.

use crate::finding::ScanError;
use crate::node::{Entry, Node, Span, Value};
use crate::source::SourceFile;

/// Deeper nesting than this is refused: the parser and the tree's users recurse.
const MAX_DEPTH: usize = 256;

pub fn load(file: &SourceFile) -> Result<Node, ScanError> {
    load_str(&file.text, &file.path, 1)
}

/// Parses JSON that starts on line `first_line` of the file `path` (JSON embedded in a
/// string of another format).
pub fn load_str(text: &str, path: &str, first_line: u32) -> Result<Node, ScanError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut parser = JsonParser {
        bytes: text.as_bytes(),
        pos: 0,
        line: first_line.max(1),
        depth: 0,
    };
    let result = parser.document();
    result.map_err(|(line, message)| ScanError {
        file: path.to_string(),
        line,
        message: format!("invalid JSON: {message}"),
    })
}

/// Converts an already-parsed JSON value into a tree where every node carries `span`. Used
/// for JSON embedded in another format (a Terraform heredoc policy), where the enclosing
/// attribute's lines are the best location there is.
pub fn from_serde(value: &serde_json::Value, span: Span) -> Node {
    let v = match value {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => Value::Number(n.to_string()),
        serde_json::Value::String(s) => Value::String(s.clone()),
        serde_json::Value::Array(items) => {
            Value::List(items.iter().map(|i| from_serde(i, span)).collect())
        }
        serde_json::Value::Object(map) => Value::Map(
            map.iter()
                .map(|(k, v)| Entry {
                    key: k.clone(),
                    key_line: span.line,
                    value: from_serde(v, span),
                })
                .collect(),
        ),
    };
    Node::new(v, span)
}

type Parse<T> = Result<T, (u32, String)>;

struct JsonParser<'a> {
    bytes: &'a [u8],
    pos: usize,
    line: u32,
    depth: usize,
}

impl JsonParser<'_> {
    fn document(&mut self) -> Parse<Node> {
        self.skip_space();
        if self.pos >= self.bytes.len() {
            return Err((self.line, "the document is empty".into()));
        }
        let node = self.value()?;
        self.skip_space();
        if self.pos < self.bytes.len() {
            return Err(self.unexpected("the end of the document"));
        }
        Ok(node)
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn skip_space(&mut self) {
        while let Some(b) = self.peek() {
            match b {
                b'\n' => self.line += 1,
                b' ' | b'\t' | b'\r' => {}
                _ => return,
            }
            self.pos += 1;
        }
    }

    fn unexpected(&self, expected: &str) -> (u32, String) {
        let found = match self.peek() {
            None => "the end of the text".to_string(),
            Some(_) => {
                let rest = self.bytes.get(self.pos..).unwrap_or_default();
                let shown = String::from_utf8_lossy(&rest[..rest.len().min(12)])
                    .chars()
                    .take_while(|c| *c != '\n')
                    .collect::<String>();
                format!("`{shown}`")
            }
        };
        (self.line, format!("expected {expected}, found {found}"))
    }

    fn expect(&mut self, byte: u8, what: &str) -> Parse<()> {
        self.skip_space();
        if self.peek() == Some(byte) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.unexpected(what))
        }
    }

    fn value(&mut self) -> Parse<Node> {
        self.skip_space();
        let line = self.line;
        match self.peek() {
            Some(b'{') => self.nested(|p| p.object(line)),
            Some(b'[') => self.nested(|p| p.array(line)),
            Some(b'"') => Ok(Node::new(Value::String(self.string()?), Span::line(line))),
            Some(b't') => self.word("true", Value::Bool(true)),
            Some(b'f') => self.word("false", Value::Bool(false)),
            Some(b'n') => self.word("null", Value::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => Err(self.unexpected("a value")),
        }
    }

    fn nested(&mut self, f: impl FnOnce(&mut Self) -> Parse<Node>) -> Parse<Node> {
        if self.depth >= MAX_DEPTH {
            return Err((self.line, format!("nesting deeper than {MAX_DEPTH} levels")));
        }
        self.depth += 1;
        let result = f(self);
        self.depth -= 1;
        result
    }

    fn word(&mut self, word: &str, value: Value) -> Parse<Node> {
        let line = self.line;
        if self.bytes.get(self.pos..self.pos + word.len()) == Some(word.as_bytes()) {
            self.pos += word.len();
            Ok(Node::new(value, Span::line(line)))
        } else {
            Err(self.unexpected("a value"))
        }
    }

    fn object(&mut self, line: u32) -> Parse<Node> {
        self.pos += 1;
        let mut entries: Vec<Entry> = Vec::new();
        self.skip_space();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(Node::new(Value::Map(entries), Span::line(line)));
        }
        loop {
            self.skip_space();
            if self.peek() != Some(b'"') {
                return Err(self.unexpected("a quoted key"));
            }
            let key_line = self.line;
            let key = self.string()?;
            self.expect(b':', "`:` after a key")?;
            let value = self.value()?;
            match entries.iter_mut().find(|e| e.key == key) {
                Some(existing) => {
                    existing.key_line = key_line;
                    existing.value = value;
                }
                None => entries.push(Entry {
                    key,
                    key_line,
                    value,
                }),
            }
            self.skip_space();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(Node::new(Value::Map(entries), Span::new(line, self.line)));
                }
                _ => return Err(self.unexpected("`,` or `}`")),
            }
        }
    }

    fn array(&mut self, line: u32) -> Parse<Node> {
        self.pos += 1;
        let mut items = Vec::new();
        self.skip_space();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(Node::new(Value::List(items), Span::line(line)));
        }
        loop {
            items.push(self.value()?);
            self.skip_space();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(Node::new(Value::List(items), Span::new(line, self.line)));
                }
                _ => return Err(self.unexpected("`,` or `]`")),
            }
        }
    }

    fn number(&mut self) -> Parse<Node> {
        let start = self.pos;
        let digits = |p: &mut Self| {
            let from = p.pos;
            while p.peek().is_some_and(|b| b.is_ascii_digit()) {
                p.pos += 1;
            }
            p.pos > from
        };
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        if self.peek() == Some(b'0') {
            self.pos += 1;
        } else if !digits(self) {
            return Err(self.unexpected("a digit"));
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if !digits(self) {
                return Err(self.unexpected("a digit after `.`"));
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.pos += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            if !digits(self) {
                return Err(self.unexpected("an exponent"));
            }
        }
        let text = String::from_utf8_lossy(self.bytes.get(start..self.pos).unwrap_or_default());
        Ok(Node::new(
            Value::Number(text.into_owned()),
            Span::line(self.line),
        ))
    }

    /// A quoted string, the cursor on its opening quote.
    fn string(&mut self) -> Parse<String> {
        let line = self.line;
        self.pos += 1;
        let mut out: Vec<u8> = Vec::new();
        loop {
            let Some(b) = self.peek() else {
                return Err((line, "unterminated string".into()));
            };
            self.pos += 1;
            match b {
                b'"' => break,
                b'\\' => {
                    let Some(escape) = self.peek() else {
                        return Err((line, "unterminated string".into()));
                    };
                    self.pos += 1;
                    let c = match escape {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => self.unicode_escape()?,
                        _ => return Err((self.line, "invalid escape in a string".into())),
                    };
                    let mut buffer = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buffer).as_bytes());
                }
                b'\n' => {
                    return Err((self.line, "line break inside a string (use \\n)".into()));
                }
                b if b < 0x20 => {
                    return Err((self.line, "control character inside a string".into()));
                }
                _ => out.push(b),
            }
        }
        // The input is a &str and escapes are encoded as UTF-8, so this cannot fail; should it,
        // the replacement character is better than a panic.
        Ok(String::from_utf8_lossy(&out).into_owned())
    }

    fn hex4(&mut self) -> Parse<u32> {
        let digits = self
            .bytes
            .get(self.pos..self.pos + 4)
            .and_then(|d| std::str::from_utf8(d).ok())
            .and_then(|d| u32::from_str_radix(d, 16).ok())
            .ok_or_else(|| (self.line, "invalid \\u escape".to_string()))?;
        self.pos += 4;
        Ok(digits)
    }

    fn unicode_escape(&mut self) -> Parse<char> {
        let first = self.hex4()?;
        if (0xD800..0xDC00).contains(&first)
            && self.bytes.get(self.pos..self.pos + 2) == Some(b"\\u".as_slice())
        {
            self.pos += 2;
            let second = self.hex4()?;
            if (0xDC00..0xE000).contains(&second) {
                let code = 0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00);
                return Ok(char::from_u32(code).unwrap_or('\u{fffd}'));
            }
            return Ok('\u{fffd}');
        }
        Ok(char::from_u32(first).unwrap_or('\u{fffd}'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Node {
        match load_str(text, "t.json", 1) {
            Ok(node) => node,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn every_node_has_its_line() {
        let doc = parse("{\n  \"a\": {\n    \"b\": [1,\n      \"x\"]\n  },\n  \"c\": true\n}\n");
        assert_eq!(doc.span, Span::new(1, 7));
        let a = doc.get("a").map(|n| n.span);
        assert_eq!(a, Some(Span::new(2, 5)));
        let b = doc.path(&["a", "b"]).map(|n| n.items().to_vec());
        let lines: Vec<u32> = b.unwrap_or_default().iter().map(|n| n.line()).collect();
        assert_eq!(lines, vec![3, 4]);
        assert_eq!(doc.entries().get(1).map(|e| e.key_line), Some(6));
        assert_eq!(doc.get("c").and_then(Node::as_bool), Some(true));
    }

    #[test]
    fn scalars_are_kept_as_written() {
        let doc = parse(r#"{"n": -1.50e3, "s": "a\"b\u00e9\ud83d\ude00", "z": null}"#);
        assert_eq!(
            doc.get("n").map(|n| n.value.clone()),
            Some(Value::Number("-1.50e3".into()))
        );
        assert_eq!(doc.get("s").and_then(Node::as_str), Some("a\"bé😀"));
        assert_eq!(doc.get("z").map(|n| n.value.clone()), Some(Value::Null));
    }

    #[test]
    fn first_line_offsets_embedded_json() {
        let doc = parse("{}");
        assert_eq!(doc.line(), 1);
        let embedded = load_str("{\n\"a\": 1}", "t.tf", 10).map(|d| d.get("a").map(Node::line));
        assert_eq!(embedded.ok().flatten(), Some(11));
    }

    #[test]
    fn errors_name_the_line() {
        let cases = [
            ("{\n  \"a\": 1,\n}", 3),
            ("{\n  \"a\": 1\n  \"b\": 2\n}", 3),
            ("[1,\n 2,\n tru]", 3),
            ("{\"a\": \"open\n}", 1),
            ("\n\n", 3),
            ("{} x", 1),
            ("[01]", 1),
        ];
        for (text, line) in cases {
            match load_str(text, "bad.json", 1) {
                Ok(_) => panic!("{text:?} parsed"),
                Err(e) => {
                    assert_eq!(
                        (e.file.as_str(), e.line),
                        ("bad.json", line),
                        "{text:?}: {e}"
                    );
                    assert!(e.message.starts_with("invalid JSON: "), "{}", e.message);
                }
            }
        }
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let text = "[".repeat(100_000);
        assert!(load_str(&text, "deep.json", 1).is_err());
    }

    #[test]
    fn mangled_input_never_panics() {
        let text = r#"{"a": [1, 2.5, {"b": "c\u12"}], "d": "\ud800", "e": -, "f": 1e}"#;
        for cut in 0..=text.len() {
            let _ = load_str(&text[..cut], "cut.json", 1);
        }
        let doc = parse(r#"{"d": "\ud800x"}"#);
        assert_eq!(doc.get("d").and_then(Node::as_str), Some("\u{fffd}x"));
    }
}
