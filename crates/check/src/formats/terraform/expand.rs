//! Blocks that stand for many: a resource, data source or module call with `for_each` or
//! `count` is one instance per key or index (`aws_security_group.web["ssh"]`,
//! `aws_instance.app[0]`), with `each` or `count` bound in its body; a `dynamic "NAME"` block
//! is one `NAME` block per item of its `for_each`, with its iterator bound in the `content`.
//!
//! Only a collection known in full (its keys, for a map) is expanded. Otherwise the block
//! stays one, as written, and what reads `each`, `count` or the iterator stays unknown.

use super::eval::{Binding, Scope};
use crate::formats::Note;
use crate::node::{Entry, Node, Span, Value};

/// At most this many instances of a block (or blocks of a dynamic block) are made; beyond
/// it the block stays as written, so that no input makes the scan slow.
const MAX_INSTANCES: usize = 256;

/// One instance of a block: its key as the address shows it (`["ssh"]`, `[0]`, empty for a
/// block without `for_each`/`count` or one whose collection is not known), and the name it
/// binds.
pub(super) struct Instance {
    pub key: String,
    pub binding: Option<Binding>,
}

/// The instances of a resource, data source or module call, as its `for_each` or `count`
/// decides them in `scope`. `count = 0` and an empty `for_each` give none: the block does
/// not exist.
pub(super) fn instances(body: &Node, scope: &Scope<'_>) -> Vec<Instance> {
    let single = || {
        vec![Instance {
            key: String::new(),
            binding: None,
        }]
    };
    let mut notes = Vec::new();
    if let Some(for_each) = body.get("for_each") {
        let collection = scope.resolve(for_each, &mut notes);
        let Some(pairs) = each_pair(&collection, Lists::AsSets) else {
            return single();
        };
        let texts = texts(notes);
        return pairs
            .into_iter()
            .map(|(key, value)| Instance {
                key: format!("[{}]", serde_json::Value::String(key.clone())),
                binding: Some(Binding {
                    name: "each".into(),
                    value: key_and_value(key, value, collection.span),
                    texts: texts.clone(),
                }),
            })
            .collect();
    }
    if let Some(count) = body.get("count") {
        let count = scope.resolve(count, &mut notes);
        let count = match count.value {
            Value::Number(_) | Value::String(_) => count.as_i64(),
            _ => None,
        };
        let Some(count) = count.and_then(|n| usize::try_from(n).ok()) else {
            return single();
        };
        if count > MAX_INSTANCES {
            return single();
        }
        // What decided the count is not what an instance's values are: no notes.
        return (0..count)
            .map(|index| Instance {
                key: format!("[{index}]"),
                binding: Some(Binding {
                    name: "count".into(),
                    value: Node::new(
                        Value::Map(vec![entry(
                            "index",
                            Node::new(Value::Number(index.to_string()), body.span),
                        )]),
                        body.span,
                    ),
                    texts: Vec::new(),
                }),
            })
            .collect();
    }
    single()
}

/// A body's `dynamic "NAME"` blocks (held under `dynamic` as `{NAME = {for_each, iterator,
/// content}}`, one map per block, as both syntaxes give them), expanded in `scope`: the
/// blocks they make, by name in order, and the dynamic blocks that could not be expanded,
/// kept as written (`None` when there are none).
pub(super) fn dynamic_blocks(
    scope: &Scope<'_>,
    dynamic: &Node,
    notes: &mut Vec<Note>,
) -> (Vec<(String, Node)>, Option<Node>) {
    let mut made = Vec::new();
    let mut kept = Vec::new();
    for item in dynamic.items() {
        let mut kept_entries = Vec::new();
        for entry in item.entries() {
            for spec in entry.value.items() {
                match expand_dynamic(scope, &entry.key, spec, notes) {
                    Some(blocks) => made.extend(blocks.into_iter().map(|b| (entry.key.clone(), b))),
                    None => kept_entries.push(Entry {
                        key: entry.key.clone(),
                        key_line: entry.key_line,
                        value: spec.clone(),
                    }),
                }
            }
        }
        if !kept_entries.is_empty() {
            kept.push(Node::new(Value::Map(kept_entries), item.span));
        }
    }
    let kept = match kept.len() {
        0 => None,
        1 => kept.pop(),
        _ => Some(Node::new(Value::List(kept), dynamic.span)),
    };
    (made, kept)
}

/// The blocks one dynamic block makes, or `None` if its `for_each` is not known.
fn expand_dynamic(
    scope: &Scope<'_>,
    name: &str,
    spec: &Node,
    notes: &mut Vec<Note>,
) -> Option<Vec<Node>> {
    let mut taken = Vec::new();
    let collection = scope.resolve(spec.get("for_each")?, &mut taken);
    let pairs = each_pair(&collection, Lists::ByIndex)?;
    // `iterator = rule` is a bare name, which the converter keeps as unknown source text.
    let iterator = match spec.get("iterator").map(|i| &i.value) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Unknown(u)) => u.origin.clone(),
        _ => name.to_string(),
    };
    let content = spec
        .get("content")?
        .items()
        .iter()
        .find(|c| matches!(c.value, Value::Map(_)))?;
    let texts = texts(taken);
    Some(
        pairs
            .into_iter()
            .map(|(key, value)| {
                let binding = Binding {
                    name: iterator.clone(),
                    value: key_and_value(key, value, content.span),
                    texts: texts.clone(),
                };
                scope.with([binding]).resolve(content, notes)
            })
            .collect(),
    )
}

/// How `for_each` reads a list: a resource's as a set of strings (each its own key and
/// value, in Terraform's order), a dynamic block's as a list (keyed by index).
#[derive(Clone, Copy, PartialEq)]
enum Lists {
    AsSets,
    ByIndex,
}

/// The keys and values `for_each` iterates: a map's entries, or a list's items. `None` when
/// they are not known, or too many.
fn each_pair(collection: &Node, lists: Lists) -> Option<Vec<(String, Node)>> {
    let pairs: Vec<(String, Node)> = match &collection.value {
        Value::Map(entries) => entries
            .iter()
            .map(|e| (e.key.clone(), e.value.clone()))
            .collect(),
        Value::List(items) if lists == Lists::ByIndex => items
            .iter()
            .enumerate()
            .map(|(index, item)| (index.to_string(), item.clone()))
            .collect(),
        Value::List(items) => super::functions::as_set(items)
            .into_iter()
            .map(|item| Some((item.scalar_text()?, item)))
            .collect::<Option<_>>()?,
        _ => return None,
    };
    (pairs.len() <= MAX_INSTANCES).then_some(pairs)
}

/// `each` or a dynamic block's iterator: `{key = ..., value = ...}`.
fn key_and_value(key: String, value: Node, span: Span) -> Node {
    Node::new(
        Value::Map(vec![
            entry("key", Node::string(key, span)),
            entry("value", value),
        ]),
        span,
    )
}

fn entry(key: &str, value: Node) -> Entry {
    Entry {
        key: key.into(),
        key_line: value.span.line,
        value,
    }
}

/// The texts of notes, once each: where a collection came from.
fn texts(notes: Vec<Note>) -> Vec<String> {
    let mut texts: Vec<String> = Vec::new();
    for note in notes {
        if !texts.contains(&note.text) {
            texts.push(note.text);
        }
    }
    texts
}
