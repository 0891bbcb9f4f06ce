//! IAM policy documents: standalone JSON files (identity, trust and resource policies), and
//! the shared reader that every format uses for policies embedded in templates.

use crate::formats::Parsed;
use crate::model::{
    Condition, Fact, Known, Node, Policy, PolicyKind, Principal, Site, Span, Statement,
};
use crate::node::Value;
use crate::rules::Format;
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

/// A standalone policy file. Its kind is judged from its content: a trust policy names a
/// principal allowed to assume a role, a resource policy names principals otherwise, and an
/// identity policy names none.
pub fn extract(file: &SourceFile, doc: &Node) -> Parsed {
    let mut out = Parsed::new(Format::IamPolicy);
    let at = Site::new(&file.path, file.name(), doc.span);
    let mut policy = policy_from_node(at, PolicyKind::Identity, doc);
    let assumes_role = |s: &Statement| {
        s.actions.iter().any(|a| {
            a.value()
                .is_some_and(|a| a.to_ascii_lowercase().starts_with("sts:assumerole"))
        })
    };
    let with_principal: Vec<&Statement> = policy
        .statements
        .iter()
        .filter(|s| !s.principals.is_empty() || !s.not_principals.is_empty())
        .collect();
    policy.kind = if with_principal.iter().any(|s| assumes_role(s)) {
        PolicyKind::Trust
    } else if !with_principal.is_empty() {
        PolicyKind::Resource
    } else {
        PolicyKind::Identity
    };
    out.facts.push(Fact::Policy(policy));
    out
}

/// Reads a policy document (already a [`Node`], from JSON, YAML or HCL) into the model.
/// Works on whatever is known. A document, a statement list or a statement that is itself
/// unknown (`policy = var.policy`, `Statement: !If [...]`) becomes one statement whose every
/// element is unknown with that origin: no rule reports on it, and `--strict-unknowns` can
/// say which rules it leaves undecided.
pub fn policy_from_node(at: Site, kind: PolicyKind, doc: &Node) -> Policy {
    let statements = match (&doc.value, doc.get("Statement")) {
        (Value::Unknown(u), _) => vec![unknown_statement(doc.span, &u.origin)],
        (_, Some(list)) => match &list.value {
            Value::Unknown(u) => vec![unknown_statement(list.span, &u.origin)],
            _ => list.items().iter().map(statement_from_node).collect(),
        },
        (_, None) => Vec::new(),
    };
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

/// A statement nothing is known of but where it came from.
fn unknown_statement(span: Span, origin: &str) -> Statement {
    let unknown = || vec![Known::Unknown(origin.to_string())];
    Statement {
        span,
        sid: None,
        effect: Known::Unknown(origin.to_string()),
        actions: unknown(),
        not_actions: Vec::new(),
        resources: unknown(),
        not_resources: Vec::new(),
        principals: vec![Principal {
            kind: "AWS".into(),
            value: Known::Unknown(origin.to_string()),
        }],
        not_principals: Vec::new(),
        conditions: Vec::new(),
    }
}

fn statement_from_node(node: &Node) -> Statement {
    if let Value::Unknown(u) = &node.value {
        return unknown_statement(node.span, &u.origin);
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats;

    #[test]
    fn an_unknown_document_or_statement_list_is_one_unknown_statement() {
        let at = Site::new(
            &std::sync::Arc::from("main.tf"),
            "aws_iam_policy.app",
            Span::new(1, 9),
        );
        let unknown = |origin: &str| Node {
            value: Value::Unknown(crate::node::Unknown {
                origin: origin.into(),
            }),
            span: Span::new(4, 4),
        };
        let whole = policy_from_node(at.clone(), PolicyKind::Identity, &unknown("var.policy"));
        assert_eq!(whole.statements.len(), 1);
        let statement = &whole.statements[0];
        assert_eq!(statement.effect, Known::Unknown("var.policy".into()));
        assert_eq!(statement.actions, vec![Known::Unknown("var.policy".into())]);
        assert_eq!(
            statement.resources,
            vec![Known::Unknown("var.policy".into())]
        );
        assert_eq!(statement.span, Span::new(4, 4));
        let doc = crate::formats::json::from_serde(
            &serde_json::json!({"Version": "2012-10-17"}),
            Span::line(2),
        );
        assert!(
            policy_from_node(at, PolicyKind::Identity, &doc)
                .statements
                .is_empty()
        );
    }

    fn policy(text: &str) -> Policy {
        let parsed = formats::parse(&SourceFile::new("policies/policy.json", text));
        let found = parsed.into_iter().find_map(|p| {
            assert!(p.errors.is_empty(), "{:?}", p.errors);
            assert_eq!(p.format, Some(Format::IamPolicy));
            p.facts.into_iter().find_map(|f| match f {
                Fact::Policy(p) => Some(p),
                _ => None,
            })
        });
        match found {
            Some(p) => p,
            None => panic!("no policy in {text}"),
        }
    }

    #[test]
    fn identity_policies_have_no_principal() {
        let p = policy(
            "{\n  \"Version\": \"2012-10-17\",\n  \"Statement\": [\n    {\"Effect\": \"Allow\", \"Action\": \"*\", \"Resource\": \"*\"}\n  ]\n}",
        );
        assert_eq!(p.kind, PolicyKind::Identity);
        assert_eq!(p.at.resource, "policy.json");
        assert_eq!(p.at.span, Span::new(1, 6));
        assert_eq!(p.statements[0].span, Span::line(4));
        assert_eq!(p.statements[0].actions, vec![Known::Value("*".to_string())]);
    }

    #[test]
    fn trust_policies_let_a_principal_assume_a_role() {
        let p = policy(
            r#"{"Statement": {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:root"}, "Action": ["sts:AssumeRole"]}}"#,
        );
        assert_eq!(p.kind, PolicyKind::Trust);
        assert_eq!(p.statements[0].principals[0].kind, "AWS");
        let web_identity = policy(
            r#"{"Statement": [{"Effect": "Allow", "Principal": {"Federated": "x"}, "Action": "sts:AssumeRoleWithWebIdentity"}]}"#,
        );
        assert_eq!(web_identity.kind, PolicyKind::Trust);
    }

    #[test]
    fn resource_policies_name_principals_for_other_actions() {
        let p = policy(
            r#"{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}]}"#,
        );
        assert_eq!(p.kind, PolicyKind::Resource);
        assert_eq!(p.statements[0].principals[0].kind, "*");
    }
}
