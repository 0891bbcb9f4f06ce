//! HCL (`.tf`) to [`TfBlock`]s: hcl-edit keeps byte spans, which become 1-based lines.
//!
//! Nothing is evaluated: literals become known values, and every expression that would need
//! evaluation (references, function calls, conditionals, `for`, interpolated templates)
//! becomes [`Value::Unknown`] with its source text as the origin. The one exception is
//! `jsonencode(...)` of an object or array constructor, which is replaced by the structure
//! itself so that policies and container definitions written with it can be read.

use std::ops::Range;

use hcl_edit::expr::{Expression, ObjectKey};
use hcl_edit::structure::{Body, Structure};
use hcl_edit::template::{Element, Template};
use hcl_edit::{Ident, Span as _};

use super::TfBlock;
use crate::finding::ScanError;
use crate::node::{Entry, Node, Span, Value};
use crate::source::SourceFile;

/// Parses a whole file into its top-level blocks (top-level attributes are not valid
/// Terraform and are ignored).
pub(super) fn blocks(file: &SourceFile) -> Result<Vec<TfBlock>, ScanError> {
    // A byte order mark is not HCL; blanking it (three bytes for three) keeps every offset.
    let text = match file.text.strip_prefix('\u{feff}') {
        Some(rest) => std::borrow::Cow::Owned(format!("   {rest}")),
        None => std::borrow::Cow::Borrowed(file.text.as_str()),
    };
    // hcl-edit is not known to panic, but a scanner must survive any input: a panic in the
    // parser becomes a parse error for this file instead of aborting the scan.
    let parsed = std::panic::catch_unwind(|| hcl_edit::parser::parse_body(&text));
    let body = match parsed {
        Ok(Ok(body)) => body,
        Ok(Err(error)) => {
            let location = error.location();
            return Err(ScanError {
                file: file.path.to_string(),
                line: u32::try_from(location.line()).unwrap_or(0),
                message: format!(
                    "HCL parse error at column {}: {}",
                    location.column(),
                    error.message()
                ),
            });
        }
        Err(_) => {
            return Err(ScanError {
                file: file.path.to_string(),
                line: 0,
                message: "the HCL parser failed on this file".into(),
            });
        }
    };
    let converter = Converter { file };
    Ok(body
        .iter()
        .filter_map(Structure::as_block)
        .map(|block| {
            let span = converter.span(block.span(), Span::line(1));
            TfBlock {
                kind: block.ident.value().to_string(),
                labels: block
                    .labels
                    .iter()
                    .map(|l| l.as_str().to_string())
                    .collect(),
                body: converter.body(&block.body, span),
                span,
                address: None,
                module: String::new(),
            }
        })
        .collect())
}

/// The top-level attributes of a file (a `.tfvars` file: `name = value` lines), converted.
pub(super) fn attributes(file: &SourceFile) -> Option<Vec<(String, Node)>> {
    let body = std::panic::catch_unwind(|| hcl_edit::parser::parse_body(&file.text))
        .ok()?
        .ok()?;
    let converter = Converter { file };
    Some(
        body.iter()
            .filter_map(Structure::as_attribute)
            .map(|attr| {
                let span = converter.span(attr.span(), Span::line(1));
                (
                    attr.key.value().to_string(),
                    converter.expr(&attr.value, span),
                )
            })
            .collect(),
    )
}

/// One HCL expression given as source text (the inside of a `"${...}"` string in JSON
/// syntax), converted; every node gets `span`, the text having no lines of its own.
pub(super) fn expression(text: &str, span: Span) -> Option<Node> {
    let expr = hcl_edit::parser::parse_expr(text).ok()?;
    let file = SourceFile::new("expression", text);
    Some(Converter { file: &file }.expr(&expr, span).respanned(span))
}

/// The arguments of a function call given as source text, converted, if `text` is a call of
/// `function`.
pub(super) fn call_arguments(text: &str, function: &str, span: Span) -> Option<Vec<Node>> {
    let expr = hcl_edit::parser::parse_expr(text).ok()?;
    let Expression::FuncCall(call) = expr else {
        return None;
    };
    if !call.name.namespace.is_empty() || call.name.name.value().as_str() != function {
        return None;
    }
    let file = SourceFile::new("expression", text);
    let converter = Converter { file: &file };
    Some(
        call.args
            .iter()
            .map(|arg| converter.expr(arg, span).respanned(span))
            .collect(),
    )
}

/// A template given as source text (a heredoc or quoted string with interpolations), as its
/// pieces: literal text and the source text of each interpolation. `None` if it is not a
/// template or holds directives (`%{if}`), whose result cannot be laid out statically.
pub(super) fn template_pieces(text: &str) -> Option<Vec<Piece>> {
    let expr = hcl_edit::parser::parse_expr(text).ok()?;
    let template = match &expr {
        Expression::StringTemplate(t) => &**t,
        Expression::HeredocTemplate(h) => &h.template,
        _ => return None,
    };
    template
        .iter()
        .map(|element| match element {
            Element::Literal(l) => Some(Piece::Literal(l.value().clone())),
            Element::Interpolation(i) => Some(Piece::Interpolation(
                i.expr
                    .span()
                    .and_then(|r| text.get(r))
                    .unwrap_or("${...}")
                    .trim()
                    .to_string(),
            )),
            Element::Directive(_) => None,
        })
        .collect()
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Piece {
    Literal(String),
    Interpolation(String),
}

struct Converter<'a> {
    file: &'a SourceFile,
}

impl Converter<'_> {
    fn span(&self, range: Option<Range<usize>>, fallback: Span) -> Span {
        match range {
            Some(r) => {
                let last = r.end.saturating_sub(1).max(r.start);
                Span::new(self.file.line_of(r.start), self.file.line_of(last))
            }
            None => fallback,
        }
    }

    fn text(&self, range: Option<Range<usize>>) -> String {
        range
            .and_then(|r| self.file.text.get(r))
            .map(|t| t.trim().to_string())
            .unwrap_or_else(|| "(expression)".into())
    }

    /// A block body as a map. Several nested blocks of one type become a list of maps, in
    /// order; a single one stays a map ([`Node::items`] reads both as a list).
    fn body(&self, body: &Body, span: Span) -> Node {
        let mut entries: Vec<Entry> = Vec::new();
        let mut block_keys: Vec<String> = Vec::new();
        for structure in body.iter() {
            match structure {
                Structure::Attribute(attr) => {
                    let attr_span = self.span(attr.span(), span);
                    let mut value = self.expr(&attr.value, attr_span);
                    // The attribute's lines (key to end of value) are what a finding points at.
                    value.span = attr_span;
                    entries.push(Entry {
                        key: attr.key.value().to_string(),
                        key_line: attr_span.line,
                        value,
                    });
                }
                Structure::Block(block) => {
                    let block_span = self.span(block.span(), span);
                    let key = block.ident.value().to_string();
                    let mut node = self.body(&block.body, block_span);
                    // `dynamic "ingress" { ... }` is held as `dynamic = {ingress = {...}}`, as
                    // the JSON syntax writes it, so that its label is kept.
                    if key == "dynamic"
                        && let Some(label) = block.labels.first()
                    {
                        node = Node::new(
                            Value::Map(vec![Entry {
                                key: label.as_str().to_string(),
                                key_line: block_span.line,
                                value: node,
                            }]),
                            block_span,
                        );
                    }
                    let existing = block_keys
                        .contains(&key)
                        .then(|| entries.iter_mut().find(|e| e.key == key))
                        .flatten();
                    match existing {
                        Some(entry) => {
                            let first_line = entry.value.span.line;
                            let previous = std::mem::replace(
                                &mut entry.value,
                                Node::new(Value::Null, block_span),
                            );
                            let mut items = match previous.value {
                                Value::List(items) => items,
                                value => vec![Node::new(value, previous.span)],
                            };
                            items.push(node);
                            entry.value = Node::new(
                                Value::List(items),
                                Span::new(first_line, block_span.end_line),
                            );
                        }
                        None => {
                            block_keys.push(key.clone());
                            entries.push(Entry {
                                key,
                                key_line: block_span.line,
                                value: node,
                            });
                        }
                    }
                }
            }
        }
        Node::new(Value::Map(entries), span)
    }

    fn expr(&self, expr: &Expression, parent: Span) -> Node {
        let span = self.span(expr.span(), parent);
        let unknown = || Node::unknown(self.text(expr.span()), span);
        match expr {
            Expression::Null(_) => Node::new(Value::Null, span),
            Expression::Bool(b) => Node::new(Value::Bool(*b.value()), span),
            Expression::Number(n) => Node::new(Value::Number(n.value().to_string()), span),
            Expression::String(s) => Node::string(s.value().clone(), span),
            Expression::Array(array) => Node::new(
                Value::List(array.iter().map(|e| self.expr(e, span)).collect()),
                span,
            ),
            Expression::Object(object) => Node::new(
                Value::Map(
                    object
                        .iter()
                        .map(|(key, value)| {
                            let value = self.expr(value.expr(), span);
                            Entry {
                                key: self.object_key(key),
                                key_line: value.span.line,
                                value,
                            }
                        })
                        .collect(),
                ),
                span,
            ),
            Expression::StringTemplate(template) => self.template(template, span, expr),
            Expression::HeredocTemplate(heredoc) => self.template(&heredoc.template, span, expr),
            Expression::Parenthesis(inner) => {
                let mut node = self.expr(inner.inner(), span);
                node.span = span;
                node
            }
            Expression::UnaryOp(op) => match (op.operator.value(), &op.expr) {
                (hcl_edit::expr::UnaryOperator::Neg, Expression::Number(n)) => {
                    Node::new(Value::Number(format!("-{}", n.value())), span)
                }
                _ => unknown(),
            },
            Expression::FuncCall(call) => {
                let name: &Ident = call.name.name.value();
                if call.name.namespace.is_empty()
                    && name.as_str() == "jsonencode"
                    && let [arg] = call.args.iter().collect::<Vec<_>>().as_slice()
                {
                    let node = self.expr(arg, span);
                    if matches!(node.value, Value::Map(_) | Value::List(_)) {
                        return node;
                    }
                }
                unknown()
            }
            Expression::Variable(_)
            | Expression::Conditional(_)
            | Expression::Traversal(_)
            | Expression::BinaryOp(_)
            | Expression::ForExpr(_) => unknown(),
        }
    }

    fn object_key(&self, key: &ObjectKey) -> String {
        match key {
            ObjectKey::Ident(ident) => ident.value().to_string(),
            ObjectKey::Expression(Expression::String(s)) => s.value().clone(),
            ObjectKey::Expression(expr) => match self.expr(expr, Span::line(1)).value {
                Value::String(s) => s,
                _ => self.text(expr.span()),
            },
        }
    }

    /// A template with only literal parts is a known string (hcl-edit has already removed
    /// the indentation of `<<-` heredocs); anything interpolated is unknown.
    fn template(&self, template: &Template, span: Span, whole: &Expression) -> Node {
        let mut text = String::new();
        for element in template.iter() {
            match element {
                Element::Literal(literal) => text.push_str(literal.value()),
                Element::Interpolation(interpolation) => {
                    // `"${var.x}"` is just `var.x`: name it so.
                    let only = template.iter().count() == 1;
                    let origin = if only {
                        self.text(interpolation.expr.span())
                    } else {
                        self.text(whole.span())
                    };
                    return Node::unknown(origin, span);
                }
                Element::Directive(_) => return Node::unknown(self.text(whole.span()), span),
            }
        }
        Node::string(text, span)
    }
}
