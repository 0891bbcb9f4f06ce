//! A format-neutral value tree with line numbers: what the YAML, JSON and HCL front ends turn
//! a document into before extracting facts from it.
//!
//! A value is either *known* (a literal) or [`Value::Unknown`]: an expression the scanner did
//! not evaluate (`var.cidr`, `!Ref AllowedCidr`, `aws_vpc.main.id`). Rules never report on an
//! unknown value; the accessors below return `None` for it, exactly as for a missing one, and
//! [`Node::known`] tells the two apart where that matters.

use std::fmt;

/// Lines are 1-based; `end_line >= line`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct Span {
    pub line: u32,
    pub end_line: u32,
}

impl Span {
    pub fn new(line: u32, end_line: u32) -> Self {
        Span {
            line,
            end_line: end_line.max(line),
        }
    }

    pub fn line(line: u32) -> Self {
        Span::new(line, line)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub value: Value,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    /// Kept as written, so `0777` or `1e3` round-trip and no precision is lost.
    Number(String),
    String(String),
    List(Vec<Node>),
    Map(Vec<Entry>),
    Unknown(Unknown),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub key: String,
    pub key_line: u32,
    pub value: Node,
}

/// An expression whose value is not known statically, and where it came from (the source
/// text, or a description such as `!Ref AllowedCidr`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unknown {
    pub origin: String,
}

/// The three states a looked-up value can be in.
#[derive(Debug, Clone, PartialEq)]
pub enum Known<T> {
    Value(T),
    /// Present, but not statically known; `origin` says what it was.
    Unknown(String),
    Absent,
}

impl<T> Known<T> {
    pub fn value(&self) -> Option<&T> {
        match self {
            Known::Value(v) => Some(v),
            _ => None,
        }
    }

    pub fn is_absent(&self) -> bool {
        matches!(self, Known::Absent)
    }

    pub fn is_unknown(&self) -> bool {
        matches!(self, Known::Unknown(_))
    }

    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Known<U> {
        match self {
            Known::Value(v) => Known::Value(f(v)),
            Known::Unknown(o) => Known::Unknown(o),
            Known::Absent => Known::Absent,
        }
    }

    /// A known value for which `f` returns `Some`, else unknown (with `origin`) or absent.
    pub fn and_then<U>(self, f: impl FnOnce(T) -> Option<U>, origin: &str) -> Known<U> {
        match self {
            Known::Value(v) => match f(v) {
                Some(u) => Known::Value(u),
                None => Known::Unknown(origin.to_string()),
            },
            Known::Unknown(o) => Known::Unknown(o),
            Known::Absent => Known::Absent,
        }
    }
}

impl Node {
    pub fn new(value: Value, span: Span) -> Self {
        Node { value, span }
    }

    pub fn string(s: impl Into<String>, span: Span) -> Self {
        Node::new(Value::String(s.into()), span)
    }

    pub fn unknown(origin: impl Into<String>, span: Span) -> Self {
        Node::new(
            Value::Unknown(Unknown {
                origin: origin.into(),
            }),
            span,
        )
    }

    /// The tree with every node given `span`: a value moved to where it is used (a
    /// parameter's default at the line of its `Ref`), or converted from text that is not the
    /// file's own, where the text's spans are meaningless.
    pub fn respanned(mut self, span: Span) -> Node {
        self.span = span;
        self.value = match self.value {
            Value::List(items) => {
                Value::List(items.into_iter().map(|n| n.respanned(span)).collect())
            }
            Value::Map(entries) => Value::Map(
                entries
                    .into_iter()
                    .map(|e| Entry {
                        key: e.key,
                        key_line: span.line,
                        value: e.value.respanned(span),
                    })
                    .collect(),
            ),
            other => other,
        };
        self
    }

    /// A scalar as text (strings and numbers as written, booleans); `None` for null, lists,
    /// maps and unknowns.
    pub fn scalar_text(&self) -> Option<String> {
        match &self.value {
            Value::String(s) | Value::Number(s) => Some(s.clone()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }

    pub fn line(&self) -> u32 {
        self.span.line
    }

    pub fn is_unknown(&self) -> bool {
        matches!(self.value, Value::Unknown(_))
    }

    /// The entry `key` of a map (exact, case-sensitive match).
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.value {
            Value::Map(entries) => entries.iter().find(|e| e.key == key).map(|e| &e.value),
            _ => None,
        }
    }

    /// The entry `key` of a map, ignoring ASCII case (Terraform and CloudFormation differ in
    /// case for the same property, and some tools are lenient).
    pub fn get_ignore_case(&self, key: &str) -> Option<&Node> {
        match &self.value {
            Value::Map(entries) => entries
                .iter()
                .find(|e| e.key.eq_ignore_ascii_case(key))
                .map(|e| &e.value),
            _ => None,
        }
    }

    /// Follows a path of map keys.
    pub fn path(&self, keys: &[&str]) -> Option<&Node> {
        keys.iter().try_fold(self, |node, key| node.get(key))
    }

    pub fn entries(&self) -> &[Entry] {
        match &self.value {
            Value::Map(entries) => entries,
            _ => &[],
        }
    }

    /// Elements of a list; a single non-list value counts as a list of one (CloudFormation
    /// and IAM accept `"Action": "s3:*"` for `["s3:*"]`). Null is an empty list.
    pub fn items(&self) -> &[Node] {
        match &self.value {
            Value::List(items) => items,
            Value::Null => &[],
            _ => std::slice::from_ref(self),
        }
    }

    /// A known string; numbers and booleans are given as written.
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::String(s) | Value::Number(s) => Some(s),
            Value::Bool(true) => Some("true"),
            Value::Bool(false) => Some("false"),
            _ => None,
        }
    }

    /// A known boolean; the strings `true`/`false` (any case) count, as they do for AWS.
    pub fn as_bool(&self) -> Option<bool> {
        match &self.value {
            Value::Bool(b) => Some(*b),
            Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
            Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
            _ => None,
        }
    }

    /// A known integer, from a number or a numeric string.
    pub fn as_i64(&self) -> Option<i64> {
        match &self.value {
            Value::Number(s) | Value::String(s) => s.trim().parse::<i64>().ok().or_else(|| {
                s.trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                    .map(|f| f as i64)
            }),
            _ => None,
        }
    }

    /// What kind of known/unknown/absent this optional node is, converted by `f`.
    pub fn known<T>(node: Option<&Node>, f: impl FnOnce(&Node) -> Option<T>) -> Known<T> {
        match node {
            None => Known::Absent,
            Some(Node {
                value: Value::Null, ..
            }) => Known::Absent,
            Some(Node {
                value: Value::Unknown(u),
                ..
            }) => Known::Unknown(u.origin.clone()),
            Some(node) => match f(node) {
                Some(v) => Known::Value(v),
                None => Known::Unknown(node.describe()),
            },
        }
    }

    pub fn known_str(node: Option<&Node>) -> Known<String> {
        Node::known(node, |n| n.as_str().map(str::to_string))
    }

    pub fn known_bool(node: Option<&Node>) -> Known<bool> {
        Node::known(node, Node::as_bool)
    }

    pub fn known_i64(node: Option<&Node>) -> Known<i64> {
        Node::known(node, Node::as_i64)
    }

    /// A short description for messages: the value if it is a scalar, else its shape.
    pub fn describe(&self) -> String {
        match &self.value {
            Value::Null => "null".into(),
            Value::Bool(b) => b.to_string(),
            Value::Number(s) | Value::String(s) => s.clone(),
            Value::List(_) => "a list".into(),
            Value::Map(_) => "a map".into(),
            Value::Unknown(u) => u.origin.clone(),
        }
    }

    /// Every node of the tree, depth first, with the map key it sits under (if any).
    pub fn walk<'a>(&'a self, f: &mut dyn FnMut(Option<&'a str>, &'a Node)) {
        fn go<'a>(
            key: Option<&'a str>,
            node: &'a Node,
            f: &mut dyn FnMut(Option<&'a str>, &'a Node),
        ) {
            f(key, node);
            match &node.value {
                Value::List(items) => items.iter().for_each(|n| go(key, n, f)),
                Value::Map(entries) => entries
                    .iter()
                    .for_each(|e| go(Some(e.key.as_str()), &e.value, f)),
                _ => {}
            }
        }
        go(None, self, f)
    }

    /// Converts a fully known tree to JSON (used to hand embedded documents, such as an IAM
    /// policy written as a map, to the same code that reads JSON strings). Unknown leaves
    /// become `null`.
    pub fn to_json(&self) -> serde_json::Value {
        match &self.value {
            Value::Null | Value::Unknown(_) => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Number(s) => s
                .parse::<serde_json::Number>()
                .map(serde_json::Value::Number)
                .unwrap_or_else(|_| serde_json::Value::String(s.clone())),
            Value::String(s) => serde_json::Value::String(s.clone()),
            Value::List(items) => items.iter().map(Node::to_json).collect(),
            Value::Map(entries) => entries
                .iter()
                .map(|e| (e.key.clone(), e.value.to_json()))
                .collect::<serde_json::Map<_, _>>()
                .into(),
        }
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.end_line > self.line {
            write!(f, "{}-{}", self.line, self.end_line)
        } else {
            write!(f, "{}", self.line)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(entries: Vec<(&str, Node)>) -> Node {
        Node::new(
            Value::Map(
                entries
                    .into_iter()
                    .map(|(k, v)| Entry {
                        key: k.into(),
                        key_line: v.span.line,
                        value: v,
                    })
                    .collect(),
            ),
            Span::new(1, 3),
        )
    }

    #[test]
    fn known_tells_absent_unknown_and_literal_apart() {
        let node = map(vec![
            ("a", Node::string("0.0.0.0/0", Span::line(1))),
            ("b", Node::unknown("var.cidr", Span::line(2))),
            ("c", Node::new(Value::Null, Span::line(3))),
        ]);
        assert_eq!(
            Node::known_str(node.get("a")),
            Known::Value("0.0.0.0/0".into())
        );
        assert_eq!(
            Node::known_str(node.get("b")),
            Known::Unknown("var.cidr".into())
        );
        assert_eq!(Node::known_str(node.get("c")), Known::Absent);
        assert_eq!(Node::known_str(node.get("d")), Known::Absent);
    }

    #[test]
    fn scalars_convert_as_aws_does() {
        let s = |v: &str| Node::string(v, Span::line(1));
        assert_eq!(s("TRUE").as_bool(), Some(true));
        assert_eq!(s("22").as_i64(), Some(22));
        assert_eq!(
            Node::new(Value::Number("22.0".into()), Span::line(1)).as_i64(),
            Some(22)
        );
        assert_eq!(s("ssh").as_i64(), None);
        assert_eq!(s("x").items().len(), 1);
    }
}
