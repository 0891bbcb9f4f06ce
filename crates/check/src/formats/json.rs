//! JSON documents as [`Node`] trees with line numbers.

use crate::finding::ScanError;
use crate::node::{Entry, Node, Span, Value};
use crate::source::SourceFile;

pub fn load(_file: &SourceFile) -> Result<Node, ScanError> {
    Ok(Node::new(Value::Null, Span::line(1)))
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
