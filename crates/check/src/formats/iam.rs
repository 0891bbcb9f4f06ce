//! IAM policy documents: standalone JSON files (identity, trust and resource policies), and
//! the shared reader that every format uses for policies embedded in templates.

use crate::formats::Parsed;
use crate::model::{Condition, Known, Node, Policy, PolicyKind, Principal, Site, Statement};
use crate::node::Value;
use crate::source::SourceFile;

/// Whether a JSON document is an IAM policy: a `Statement` (object or list) whose entries
/// carry `Effect`.
pub fn is_policy(doc: &Node) -> bool {
    doc.get("Statement").is_some_and(|s| {
        s.items().iter().any(|st| {
            st.get("Effect").is_some()
                && (st.get("Action").is_some() || st.get("NotAction").is_some())
        })
    })
}

pub fn extract(_file: &SourceFile, _doc: &Node) -> Parsed {
    Parsed::default()
}

/// Reads a policy document (already a [`Node`], from JSON, YAML or HCL) into the model.
/// Works on whatever is known: an unknown statement list yields no statements.
pub fn policy_from_node(at: Site, kind: PolicyKind, doc: &Node) -> Policy {
    let statements = doc
        .get("Statement")
        .map(|s| s.items().iter().map(statement_from_node).collect())
        .unwrap_or_default();
    Policy {
        at,
        kind,
        statements,
        attached_to: None,
    }
}

fn strings(node: Option<&Node>) -> Vec<Known<String>> {
    node.map(|n| {
        n.items()
            .iter()
            .map(|item| Node::known_str(Some(item)))
            .collect()
    })
    .unwrap_or_default()
}

fn principals(node: Option<&Node>) -> Vec<Principal> {
    let Some(node) = node else { return Vec::new() };
    match &node.value {
        Value::Map(entries) => entries
            .iter()
            .flat_map(|e| {
                e.value.items().iter().map(move |v| Principal {
                    kind: e.key.clone(),
                    value: Node::known_str(Some(v)),
                })
            })
            .collect(),
        Value::Unknown(u) => vec![Principal {
            kind: "AWS".into(),
            value: Known::Unknown(u.origin.clone()),
        }],
        _ => vec![Principal {
            kind: "*".into(),
            value: Node::known_str(Some(node)),
        }],
    }
}

fn statement_from_node(node: &Node) -> Statement {
    let conditions = node
        .get("Condition")
        .map(|c| {
            c.entries()
                .iter()
                .flat_map(|op| {
                    op.value.entries().iter().map(move |k| Condition {
                        operator: op.key.clone(),
                        key: k.key.clone(),
                        values: strings(Some(&k.value)),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    Statement {
        span: node.span,
        sid: node.get("Sid").and_then(|s| s.as_str()).map(str::to_string),
        effect: Node::known_str(node.get("Effect")),
        actions: strings(node.get("Action")),
        not_actions: strings(node.get("NotAction")),
        resources: strings(node.get("Resource")),
        not_resources: strings(node.get("NotResource")),
        principals: principals(node.get("Principal")),
        not_principals: principals(node.get("NotPrincipal")),
        conditions,
    }
}
