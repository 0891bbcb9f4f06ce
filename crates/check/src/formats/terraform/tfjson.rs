//! Terraform's JSON syntax (`.tf.json`) to [`TfBlock`]s.
//!
//! serde_json keeps no positions, so lines are recovered from the text: a block's lines are
//! those of its name's key and the object that follows it, and each top-level attribute of a
//! block points at the first line inside the block where its key is written. Every line given
//! is a real line of the file.
//!
//! Strings holding `${...}` are templates in this syntax and become unknown values.

use crate::finding::ScanError;
use crate::formats::json::from_serde;
use crate::node::{Entry, Node, Span, Value};
use crate::source::SourceFile;

use super::{TfBlock, hcl};

/// Top-level block types with two labels (`resource "type" "name"`) in the JSON nesting.
const TWO_LABELS: [&str; 2] = ["resource", "data"];
/// Top-level block types with one label.
const ONE_LABEL: [&str; 4] = ["variable", "provider", "module", "output"];

pub(super) fn blocks(file: &SourceFile) -> Result<Vec<TfBlock>, ScanError> {
    let doc: serde_json::Value = serde_json::from_str(&file.text).map_err(|e| ScanError {
        file: file.path.to_string(),
        line: u32::try_from(e.line()).unwrap_or(0),
        message: format!("JSON parse error: {e}"),
    })?;
    let Some(top) = doc.as_object() else {
        return Err(ScanError {
            file: file.path.to_string(),
            line: 1,
            message: "a Terraform JSON file must hold an object".into(),
        });
    };
    let locator = Locator { file };
    let mut out = Vec::new();
    for (kind, value) in top {
        let labels_expected = if TWO_LABELS.contains(&kind.as_str()) {
            2
        } else if ONE_LABEL.contains(&kind.as_str()) {
            1
        } else {
            continue;
        };
        // Each level may be an object or a list of objects (Terraform accepts both).
        for level1 in as_objects(value) {
            for (label1, value1) in level1 {
                if labels_expected == 1 {
                    for body in as_objects(value1) {
                        out.push(locator.block(kind, vec![label1.clone()], body));
                    }
                    continue;
                }
                for level2 in as_objects(value1) {
                    for (label2, value2) in level2 {
                        for body in as_objects(value2) {
                            out.push(locator.block(
                                kind,
                                vec![label1.clone(), label2.clone()],
                                body,
                            ));
                        }
                    }
                }
            }
        }
    }
    Ok(out)
}

fn as_objects(value: &serde_json::Value) -> Vec<&serde_json::Map<String, serde_json::Value>> {
    match value {
        serde_json::Value::Object(map) => vec![map],
        serde_json::Value::Array(items) => items.iter().filter_map(|i| i.as_object()).collect(),
        _ => Vec::new(),
    }
}

struct Locator<'a> {
    file: &'a SourceFile,
}

impl Locator<'_> {
    fn block(
        &self,
        kind: &str,
        labels: Vec<String>,
        body: &serde_json::Map<String, serde_json::Value>,
    ) -> TfBlock {
        let span = self.block_span(kind, &labels);
        let entries = body
            .iter()
            .map(|(key, value)| {
                let line = self.key_line(key, span).unwrap_or(span.line);
                let value_span = Span::line(line);
                Entry {
                    key: key.clone(),
                    key_line: line,
                    value: templates_unknown(from_serde(value, value_span)),
                }
            })
            .collect();
        TfBlock {
            kind: kind.to_string(),
            labels,
            body: Node::new(Value::Map(entries), span),
            span,
            address: None,
            module: String::new(),
        }
    }

    /// The lines of the block: from the last label's key (searched after the type's key) to
    /// the end of the object that follows it.
    fn block_span(&self, kind: &str, labels: &[String]) -> Span {
        let text = &self.file.text;
        let mut from = find_key(text, kind, 0).unwrap_or(0);
        for label in labels {
            from = find_key(text, label, from).unwrap_or(from);
        }
        let start_line = self.file.line_of(from);
        let end = text
            .get(from..)
            .and_then(|rest| rest.find('{'))
            .and_then(|open| object_end(text, from + open))
            .unwrap_or(from);
        Span::new(start_line, self.file.line_of(end))
    }

    fn key_line(&self, key: &str, within: Span) -> Option<u32> {
        (within.line..=within.end_line).find(|&line| {
            let quoted = format!("\"{key}\"");
            self.file.line_text(line).contains(&quoted)
        })
    }
}

/// Byte offset just after `"key"` followed by `:`, searching from `from`.
fn find_key(text: &str, key: &str, from: usize) -> Option<usize> {
    let quoted = format!("\"{key}\"");
    let mut at = from;
    while let Some(found) = text.get(at..).and_then(|rest| rest.find(&quoted)) {
        let start = at + found;
        let after = start + quoted.len();
        if text
            .get(after..)
            .is_some_and(|rest| rest.trim_start().starts_with(':'))
        {
            return Some(start);
        }
        at = after;
    }
    None
}

/// The offset of the `}` closing the object opened at `open`, skipping strings.
fn object_end(text: &str, open: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for (i, c) in text.get(open..)?.char_indices() {
        if in_string {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_string = true,
            '{' | '[' => depth += 1,
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return Some(open + i);
                }
            }
            _ => {}
        }
    }
    None
}

/// Strings with `${` are templates in Terraform's JSON syntax. A string that is one
/// interpolation is that expression, read as in HCL (so `"${jsonencode({...})}"` is the
/// structure and `"${var.x}"` is unknown as `var.x`); any other template is unknown.
fn templates_unknown(node: Node) -> Node {
    let span = node.span;
    match node.value {
        Value::String(s) if s.contains("${") => {
            let single = s
                .strip_prefix("${")
                .and_then(|rest| rest.strip_suffix('}'))
                .filter(|inner| !inner.contains("${"))
                .map(str::trim);
            match single {
                Some(inner) => {
                    hcl::expression(inner, span).unwrap_or_else(|| Node::unknown(inner, span))
                }
                None => Node::unknown(s, span),
            }
        }
        Value::List(items) => Node::new(
            Value::List(items.into_iter().map(templates_unknown).collect()),
            span,
        ),
        Value::Map(entries) => Node::new(
            Value::Map(
                entries
                    .into_iter()
                    .map(|e| Entry {
                        key: e.key,
                        key_line: e.key_line,
                        value: templates_unknown(e.value),
                    })
                    .collect(),
            ),
            span,
        ),
        value => Node::new(value, span),
    }
}
