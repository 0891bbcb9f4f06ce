//! A module's input variables, evaluated where the code decides them: `var.NAME` is the
//! value from `*.auto.tfvars` (in name order), else `terraform.tfvars`, else the variable's
//! `default`, when that value is a literal. Templates made of literals and such references
//! (`"${var.env}-web"`) become known strings. Anything else (`local.*`, resource attributes,
//! function calls, conditionals) stays unknown.
//!
//! Each substitution leaves a note on its line ("var.allowed_cidr defaults to 0.0.0.0/0"),
//! which the scan adds to a finding about that value.

use std::collections::BTreeMap;

use hcl_edit::expr::{Expression, TraversalOperator};
use hcl_edit::template::Element;

use super::TfBlock;
use crate::formats::Note;
use crate::node::{Entry, Node, Span, Value};

/// The values of a module's variables, and how to say where each came from.
#[derive(Debug, Clone, Default)]
pub struct ModuleInputs {
    variables: BTreeMap<String, (Node, String)>,
    /// Locals the variables and literals decide, with the notes of what they came from.
    locals: BTreeMap<String, (Node, Vec<String>)>,
}

/// Locals that refer to locals are evaluated in rounds; real modules chain a few deep.
const LOCAL_ROUNDS: usize = 8;

/// A tfvars file of the module: its name, and its assignments.
pub(crate) struct TfVars<'a> {
    pub name: &'a str,
    pub values: Vec<(String, Node)>,
}

impl ModuleInputs {
    /// From the module's blocks, its tfvars files (given in any order), and the values the
    /// user gives (`--var-file`s in order, then `--var`s), which apply to the variables the
    /// module declares.
    pub(crate) fn new<'a>(
        blocks: impl IntoIterator<Item = &'a TfBlock>,
        tfvars: &mut [TfVars<'_>],
        given: &[TfVars<'_>],
    ) -> ModuleInputs {
        let blocks: Vec<&TfBlock> = blocks.into_iter().collect();
        let mut variables = BTreeMap::new();
        let mut secret: Vec<String> = Vec::new();
        let mut declared: Vec<String> = Vec::new();
        for block in &blocks {
            if block.kind != "variable" {
                continue;
            }
            let name = block.label(0);
            declared.push(name.to_string());
            if is_secret(name, &block.body) {
                secret.push(name.to_string());
                continue;
            }
            // A null default means the caller decides: a module's caller, or the root's user.
            if let Some(default) = block.body.get("default")
                && is_known(default)
                && !matches!(default.value, Value::Null)
            {
                let note = format!("var.{name} defaults to {}", shown(default));
                variables.insert(name.to_string(), (default.clone(), note));
            }
        }
        // terraform.tfvars first, then *.auto.tfvars in name order: later ones win.
        tfvars.sort_by_key(|f| (f.name != "terraform.tfvars", f.name.to_string()));
        for file in tfvars.iter().chain(given) {
            for (name, value) in &file.values {
                if is_known(value)
                    && declared.contains(name)
                    && !secret.contains(name)
                    && !crate::secrets::is_secret_name(name)
                {
                    let note = format!("var.{name} is {} in {}", shown(value), file.name);
                    variables.insert(name.clone(), (value.clone(), note));
                }
            }
        }
        let mut inputs = ModuleInputs {
            variables,
            locals: BTreeMap::new(),
        };
        inputs.evaluate_locals(&blocks);
        inputs
    }

    fn evaluate_locals(&mut self, blocks: &[&TfBlock]) {
        let mut pending: Vec<(&str, &Node)> = blocks
            .iter()
            .filter(|b| b.kind == "locals")
            .flat_map(|b| b.body.entries().iter().map(|e| (e.key.as_str(), &e.value)))
            .filter(|(name, _)| !crate::secrets::is_secret_name(name))
            .collect();
        for _ in 0..LOCAL_ROUNDS {
            let mut progressed = false;
            pending.retain(|(name, node)| {
                let mut notes = Vec::new();
                let value = self.resolve(node, &mut notes);
                if !is_known(&value) {
                    return true;
                }
                let mut texts = vec![format!("local.{name} is {}", shown(&value))];
                for note in notes {
                    if !texts.contains(&note.text) {
                        texts.push(note.text);
                    }
                }
                self.locals.insert(name.to_string(), (value, texts));
                progressed = true;
                false
            });
            if !progressed || pending.is_empty() {
                break;
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.variables.is_empty() && self.locals.is_empty()
    }

    /// The tree with every unknown that the variables decide replaced by its value.
    pub fn resolve(&self, node: &Node, notes: &mut Vec<Note>) -> Node {
        match &node.value {
            Value::Unknown(unknown) => self
                .evaluate_text(&unknown.origin, node.span, notes)
                .unwrap_or_else(|| node.clone()),
            Value::List(items) => Node::new(
                Value::List(items.iter().map(|i| self.resolve(i, notes)).collect()),
                node.span,
            ),
            Value::Map(entries) => Node::new(
                Value::Map(
                    entries
                        .iter()
                        .map(|e| Entry {
                            key: e.key.clone(),
                            key_line: e.key_line,
                            value: self.resolve(&e.value, notes),
                        })
                        .collect(),
                ),
                node.span,
            ),
            _ => node.clone(),
        }
    }

    /// An unknown's source text, parsed and evaluated. Notes are kept only if it succeeds.
    fn evaluate_text(&self, origin: &str, span: Span, notes: &mut Vec<Note>) -> Option<Node> {
        if !origin.contains("var.") && !origin.contains("local.") {
            return None;
        }
        let expr = hcl_edit::parser::parse_expr(origin).ok()?;
        let mut taken = Vec::new();
        let value = self.evaluate(&expr, span, &mut taken)?;
        notes.extend(taken);
        Some(value)
    }

    fn evaluate(&self, expr: &Expression, span: Span, notes: &mut Vec<Note>) -> Option<Node> {
        match expr {
            Expression::String(s) => Some(Node::string(s.value().clone(), span)),
            Expression::Number(n) => Some(Node::new(Value::Number(n.value().to_string()), span)),
            Expression::Bool(b) => Some(Node::new(Value::Bool(*b.value()), span)),
            Expression::Parenthesis(inner) => self.evaluate(inner.inner(), span, notes),
            Expression::Traversal(traversal) => {
                let Expression::Variable(root) = &traversal.expr else {
                    return None;
                };
                let (first, rest) = traversal.operators.split_first()?;
                let TraversalOperator::GetAttr(name) = first.value() else {
                    return None;
                };
                let name = name.value().as_str();
                let (mut value, texts) = match root.value().as_str() {
                    "var" => {
                        let (value, note) = self.variables.get(name)?;
                        (value, vec![note.clone()])
                    }
                    "local" => {
                        let (value, texts) = self.locals.get(name)?;
                        (value, texts.clone())
                    }
                    _ => return None,
                };
                // `local.tags.env`, `var.cidrs[0]`: into the value, by literal keys only.
                for operator in rest {
                    value = match operator.value() {
                        TraversalOperator::GetAttr(key) => value.get(key.value().as_str())?,
                        TraversalOperator::Index(Expression::Number(n)) => {
                            let index = usize::try_from(n.value().as_u64()?).ok()?;
                            value.items().get(index)?
                        }
                        TraversalOperator::Index(Expression::String(key)) => {
                            value.get(key.value())?
                        }
                        _ => return None,
                    };
                }
                if !is_known(value) {
                    return None;
                }
                let shown_value = match value.items() {
                    [only] => shown(only),
                    _ => shown(value),
                };
                for text in texts {
                    notes.push(Note {
                        line: span.line,
                        value: shown_value.clone(),
                        text,
                    });
                }
                Some(value.clone().respanned(span))
            }
            Expression::StringTemplate(template) => {
                let mut text = String::new();
                for element in template.iter() {
                    match element {
                        Element::Literal(literal) => text.push_str(literal.value()),
                        Element::Interpolation(interpolation) => {
                            let part = self.evaluate(&interpolation.expr, span, notes)?;
                            text.push_str(&Node::scalar_text(&part)?);
                        }
                        Element::Directive(_) => return None,
                    }
                }
                Some(Node::string(text, span))
            }
            _ => None,
        }
    }
}

/// A secret's value is reported where it is written (SEC008 for a variable's default) and
/// never copied to where it is used, so it is neither reported twice nor quoted in a note:
/// variables marked `sensitive`, or named like a secret, are not evaluated.
fn is_secret(name: &str, body: &Node) -> bool {
    body.get("sensitive").and_then(Node::as_bool) == Some(true)
        || crate::secrets::is_secret_name(name)
}

/// Whether a value has nothing unknown in it.
fn is_known(node: &Node) -> bool {
    match &node.value {
        Value::Unknown(_) => false,
        Value::List(items) => items.iter().all(is_known),
        Value::Map(entries) => entries.iter().all(|e| is_known(&e.value)),
        _ => true,
    }
}

/// A value as a note shows it: scalars as written, collections in short JSON-like form.
fn shown(node: &Node) -> String {
    match &node.value {
        Value::List(items) => format!(
            "[{}]",
            items.iter().map(shown).collect::<Vec<_>>().join(", ")
        ),
        Value::Map(_) => "{...}".into(),
        Value::Null => "null".into(),
        _ => node.scalar_text().unwrap_or_default(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test's panic is its failure report
mod tests {
    use crate::{ScanOptions, SourceFile, scan_sources};

    const MAIN: &str = r#"resource "aws_security_group" "web" {
  name   = "${var.env}-web"
  vpc_id = "vpc-0123456789abcdef0"

  ingress {
    from_port   = 22
    to_port     = 22
    protocol    = "tcp"
    cidr_blocks = [var.allowed_cidr]
  }
}
"#;

    const VARIABLES: &str = r#"variable "allowed_cidr" {
  type    = string
  default = "0.0.0.0/0"
}

variable "env" {
  default = "prod"
}
"#;

    /// (resource, message) of the NET findings of files scanned together.
    fn net(files: &[(&str, &str)]) -> Vec<(String, String)> {
        let sources: Vec<SourceFile> = files.iter().map(|(n, t)| SourceFile::new(*n, *t)).collect();
        let result = scan_sources(&sources, &ScanOptions::default());
        assert!(result.errors.is_empty(), "{:?}", result.errors);
        result
            .findings
            .into_iter()
            .filter(|f| f.rule.starts_with("NET"))
            .map(|f| (f.resource, f.message))
            .collect()
    }

    #[test]
    fn a_world_open_group_reached_only_through_a_variable_default_in_another_file() {
        let found = net(&[("infra/main.tf", MAIN), ("infra/variables.tf", VARIABLES)]);
        assert_eq!(found.len(), 1, "{found:#?}");
        assert_eq!(found[0].0, "aws_security_group.web");
        assert!(
            found[0]
                .1
                .ends_with("(var.allowed_cidr defaults to 0.0.0.0/0)"),
            "{found:#?}"
        );
        // The variables of another directory are another module's.
        assert!(net(&[("infra/main.tf", MAIN), ("other/variables.tf", VARIABLES)]).is_empty());
    }

    #[test]
    fn tfvars_override_defaults_in_terraform_order() {
        let open = "allowed_cidr = \"0.0.0.0/0\"\n";
        let closed = "allowed_cidr = \"10.0.0.0/8\"\n";
        let safe_default = VARIABLES.replace("0.0.0.0/0", "10.0.0.0/8");
        // Only through terraform.tfvars.
        let found = net(&[
            ("m/main.tf", MAIN),
            ("m/variables.tf", &safe_default),
            ("m/terraform.tfvars", open),
        ]);
        assert_eq!(found.len(), 1, "{found:#?}");
        assert!(
            found[0]
                .1
                .ends_with("(var.allowed_cidr is 0.0.0.0/0 in terraform.tfvars)"),
            "{found:#?}"
        );
        // An override makes it safe; *.auto.tfvars wins over terraform.tfvars.
        assert!(
            net(&[
                ("m/main.tf", MAIN),
                ("m/variables.tf", VARIABLES),
                ("m/terraform.tfvars", closed)
            ])
            .is_empty()
        );
        assert!(
            net(&[
                ("m/main.tf", MAIN),
                ("m/variables.tf", &safe_default),
                ("m/terraform.tfvars", open),
                ("m/zz.auto.tfvars", closed),
            ])
            .is_empty()
        );
        // Other names are not read by Terraform, so not here either.
        assert!(
            net(&[
                ("m/main.tf", MAIN),
                ("m/variables.tf", &safe_default),
                ("m/prod.tfvars", open)
            ])
            .is_empty()
        );
    }

    #[test]
    fn values_given_by_the_user_win_in_the_order_given() {
        use crate::formats::terraform::{var_file, var_value};
        let scan = |given: Vec<(String, Vec<(String, crate::node::Node)>)>| {
            let sources = [
                SourceFile::new("m/main.tf", MAIN),
                SourceFile::new("m/variables.tf", VARIABLES),
            ];
            let options = ScanOptions {
                parse: crate::formats::ParseOptions {
                    tf_vars: given,
                    ..Default::default()
                },
                ..ScanOptions::default()
            };
            scan_sources(&sources, &options)
                .findings
                .into_iter()
                .filter(|f| f.rule.starts_with("NET"))
                .map(|f| f.message)
                .collect::<Vec<_>>()
        };
        let safe = var_file("allowed_cidr = \"10.0.0.0/8\"\n").unwrap();
        let open = vec![("allowed_cidr".to_string(), var_value("0.0.0.0/0"))];
        assert!(scan(vec![("prod.tfvars".into(), safe.clone())]).is_empty());
        let found = scan(vec![("prod.tfvars".into(), safe), ("--var".into(), open)]);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].ends_with("(var.allowed_cidr is 0.0.0.0/0 in --var)"),
            "{found:?}"
        );
        // A variable the module does not declare is not taken.
        let undeclared = vec![("other".to_string(), var_value("0.0.0.0/0"))];
        assert_eq!(scan(vec![("--var".into(), undeclared)]).len(), 1);
        assert!(var_file("this is not hcl").is_err());
        assert_eq!(var_value("[\"a\"]").items().len(), 1);
        assert_eq!(var_value("plain text").as_str(), Some("plain text"));
    }

    #[test]
    fn secrets_and_null_defaults_are_not_evaluated() {
        use crate::formats::terraform::parse;
        let db = "resource \"aws_db_instance\" \"db\" {\n  password = var.db_password\n  port     = var.port\n}\n";
        let variables = "variable \"db_password\" {\n  default = \"Tr0ub4dor&3\"\n}\nvariable \"port\" {\n  default = null\n}\n";
        let sources = [
            SourceFile::new("m/main.tf", db),
            SourceFile::new("m/variables.tf", variables),
        ];
        let result = scan_sources(&sources, &ScanOptions::default());
        let rules: Vec<(&str, &str)> = result
            .findings
            .iter()
            .map(|f| (f.rule, f.file.as_str()))
            .collect();
        // SEC008 where the default is written, and no second report where it is used.
        assert!(rules.contains(&("SEC008", "m/variables.tf")), "{rules:?}");
        assert!(
            !rules.iter().any(|(_, file)| *file == "m/main.tf"),
            "{rules:?}"
        );
        let parsed = parse(&SourceFile::new("one.tf", format!("{variables}{db}")));
        assert!(
            !parsed.notes.iter().any(|n| n.text.contains("Tr0ub4dor")),
            "{:?}",
            parsed.notes
        );
        assert!(parsed.notes.is_empty(), "{:?}", parsed.notes);
    }

    #[test]
    fn locals_of_literals_and_variables_chain_and_open_objects() {
        let locals = r#"locals {
  net      = { ssh = local.anywhere }
  anywhere = var.allowed_cidr
  computed = cidrsubnet("10.0.0.0/8", 8, 1)
}
"#;
        let via = |reference: &str| {
            let main = MAIN.replace("[var.allowed_cidr]", &format!("[{reference}]"));
            net(&[
                ("m/main.tf", &main),
                ("m/variables.tf", VARIABLES),
                ("m/locals.tf", locals),
            ])
        };
        let found = via("local.net.ssh");
        assert_eq!(found.len(), 1, "{found:#?}");
        // The chain is told: the local used, and the variable it came from.
        assert!(
            found[0].1.ends_with("(local.net is {...}; local.anywhere is 0.0.0.0/0; var.allowed_cidr defaults to 0.0.0.0/0)"),
            "{found:#?}"
        );
        assert_eq!(via("local.anywhere").len(), 1);
        assert!(via("local.computed").is_empty());
        assert!(via("local.missing").is_empty());
        assert!(via("local.net.other").is_empty());
    }

    #[test]
    fn what_the_variables_do_not_decide_stays_unknown() {
        let main = MAIN.replace("[var.allowed_cidr]", "[local.office_cidr]");
        assert!(net(&[("m/main.tf", &main), ("m/variables.tf", VARIABLES)]).is_empty());
        let no_default = "variable \"allowed_cidr\" {\n  type = string\n}\n";
        assert!(net(&[("m/main.tf", MAIN), ("m/variables.tf", no_default)]).is_empty());
        let computed =
            "variable \"allowed_cidr\" {\n  default = cidrsubnet(\"0.0.0.0/0\", 0, 0)\n}\n";
        assert!(net(&[("m/main.tf", MAIN), ("m/variables.tf", computed)]).is_empty());
    }
}
