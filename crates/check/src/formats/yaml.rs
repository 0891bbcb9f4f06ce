//! YAML documents as [`Node`] trees with line numbers.
//!
//! Built directly from saphyr's event stream rather than its document types, because those
//! drop the tag of a tagged scalar (`!Ref X` would load as the bare string `X`), and the tags
//! are what CloudFormation's short form is made of. Scalars resolve per the YAML 1.2 core
//! schema, numbers are kept as written, aliases are expanded within a budget, and
//! CloudFormation short-form tags become the long form (`!Ref X` is `{Ref: X}`), so that the
//! front ends see one shape whichever form a template is written in.

use std::borrow::Cow;
use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, Span as YamlSpan, Tag};

use crate::finding::ScanError;
use crate::node::{Entry, Node, Span, Value};
use crate::source::SourceFile;

/// How many nodes alias expansion may produce in one file: far beyond any real template, far
/// below what an alias bomb ("billion laughs") would need to exhaust memory.
const ALIAS_NODE_BUDGET: usize = 100_000;

/// Deeper nesting than this is refused: the tree is walked recursively downstream.
const MAX_DEPTH: usize = 256;

/// CloudFormation functions whose short form `!Name v` is the long form `{Fn::Name: v}`.
const CFN_FUNCTIONS: [&str; 18] = [
    "Sub",
    "Join",
    "Select",
    "Split",
    "FindInMap",
    "ImportValue",
    "Base64",
    "Equals",
    "Not",
    "And",
    "Or",
    "If",
    "Cidr",
    "GetAZs",
    "Transform",
    "GetAtt",
    "Length",
    "ToJsonString",
];

/// Every document of a (multi-document) YAML file. Empty documents (a stray `---`) are left
/// out.
pub fn load(file: &SourceFile) -> Result<Vec<Node>, ScanError> {
    load_text(&file.text).map_err(|(line, message)| ScanError {
        file: file.path.to_string(),
        line,
        message,
    })
}

/// How many under-indented lines [`repair`] may fix in one file.
const MAX_REPAIRS: usize = 64;

fn load_text(text: &str) -> Result<Vec<Node>, (u32, String)> {
    let mut current = Cow::Borrowed(text.strip_prefix('\u{feff}').unwrap_or(text));
    let mut first_error = None;
    for _ in 0..=MAX_REPAIRS {
        match load_once(&current) {
            Ok(docs) => return Ok(docs),
            Err((error, syntax)) => {
                let repaired = syntax.and_then(|e| repair(&current, &e));
                let error = first_error.get_or_insert(error).clone();
                match repaired {
                    Some(text) => current = Cow::Owned(text),
                    None => return Err(error),
                }
            }
        }
    }
    Err(first_error.unwrap_or((1, "invalid YAML".into())))
}

type LoadFailure = ((u32, String), Option<saphyr_parser::ScanError>);

fn load_once(text: &str) -> Result<Vec<Node>, LoadFailure> {
    let mut parser = Parser::new_from_str(text);
    let mut builder = Builder {
        blank_lines: text.lines().map(|l| l.trim().is_empty()).collect(),
        indents: text
            .lines()
            .map(|l| l.chars().take_while(|c| c.is_whitespace()).count())
            .collect(),
        ..Builder::default()
    };
    while let Some(next) = parser.next_event() {
        let (event, span) = next.map_err(|e| {
            let error = (
                (e.marker().line() as u32).max(1),
                format!(
                    "invalid YAML: {} (column {})",
                    e.info(),
                    e.marker().col() + 1
                ),
            );
            (error, Some(e))
        })?;
        builder.event(event, span).map_err(|e| (e, None))?;
    }
    Ok(builder.docs)
}

/// Re-indents the lines of a quoted scalar or flow collection that are indented less than the
/// block around them. Strict YAML rejects them, but PyYAML and CloudFormation itself accept
/// them, and templates in the wild rely on it. Leading white space is insignificant in those
/// two places (it is folded away in a quoted scalar, and separates nothing in a flow
/// collection), so padding them changes no value and no line number.
fn repair(text: &str, error: &saphyr_parser::ScanError) -> Option<String> {
    let marker = error.marker();
    let at = text.char_indices().nth(marker.index()).map(|(i, _)| i)?;
    let padding = " ".repeat(marker.col() + 1);
    match error.info() {
        "invalid indentation in quoted scalar" => {
            let quote = text
                .get(at..)?
                .chars()
                .next()
                .filter(|c| *c == '\'' || *c == '"')?;
            let close = closing_quote(text, at, quote)?;
            let mut out = String::with_capacity(text.len() + 256);
            let mut last = 0;
            for (i, _) in text
                .get(..close)?
                .match_indices('\n')
                .filter(|(i, _)| *i > at)
            {
                out.push_str(text.get(last..=i)?);
                out.push_str(&padding);
                last = i + 1;
            }
            out.push_str(text.get(last..)?);
            Some(out)
        }
        "invalid indentation" | "invalid indentation in flow construct" => {
            let line_start = text.get(..at)?.rfind('\n').map_or(0, |i| i + 1);
            let rest = text.get(at..)?;
            let flow = error.info() != "invalid indentation" || rest.starts_with([']', '}', ',']);
            if !flow || text.get(line_start..at)?.trim() != "" {
                return None;
            }
            let mut out = String::with_capacity(text.len() + padding.len() * 2);
            out.push_str(text.get(..line_start)?);
            out.push_str(&padding);
            out.push_str(&padding);
            out.push_str(text.get(line_start..)?);
            Some(out)
        }
        _ => None,
    }
}

/// The byte offset of the quote closing the scalar opened at `open`.
fn closing_quote(text: &str, open: usize, quote: char) -> Option<usize> {
    let body = text.get(open + 1..)?;
    let mut chars = body.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match (quote, c) {
            ('"', '\\') => {
                chars.next();
            }
            ('\'', '\'') if chars.peek().is_some_and(|(_, n)| *n == '\'') => {
                chars.next();
            }
            (q, c) if q == c => return Some(open + 1 + i),
            _ => {}
        }
    }
    None
}

/// A collection being built, with what its start event said about it.
struct Frame {
    kind: FrameKind,
    line: u32,
    anchor: usize,
    tag: Option<Tag>,
}

enum FrameKind {
    List(Vec<Node>),
    Map {
        entries: Vec<Entry>,
        /// The key read and waiting for its value: its text, line, and whether it is the
        /// plain `<<` merge key.
        key: Option<(String, u32, bool)>,
    },
}

#[derive(Default)]
struct Builder {
    docs: Vec<Node>,
    stack: Vec<Frame>,
    anchors: HashMap<usize, Node>,
    alias_nodes: usize,
    /// Whether each line (0-based) is blank: block scalars keep trailing blank lines in their
    /// extent, which is not where they end to a reader.
    blank_lines: Vec<bool>,
    /// Leading whitespace of each line (0-based), in characters.
    indents: Vec<usize>,
}

/// A finished node and, for a scalar, its text as written (what a map key is named by).
struct Done {
    node: Node,
    text: Option<String>,
    merge_key: bool,
}

impl Builder {
    fn event(&mut self, event: Event<'_>, span: YamlSpan) -> Result<(), (u32, String)> {
        let line = (span.start.line() as u32).max(1);
        match event {
            Event::Nothing
            | Event::StreamStart
            | Event::StreamEnd
            | Event::DocumentStart(_)
            | Event::DocumentEnd => Ok(()),
            Event::Alias(id) => {
                let Some(target) = self.anchors.get(&id) else {
                    return Err((line, "alias to an undefined anchor".into()));
                };
                // Each alias can nest its target one level deeper than before: keep the
                // tree within the depth the rest of the scanner can recurse into.
                if self.stack.len() + depth(target) > MAX_DEPTH {
                    return Err((line, format!("nesting deeper than {MAX_DEPTH} levels")));
                }
                self.alias_nodes += count_nodes(target);
                if self.alias_nodes > ALIAS_NODE_BUDGET {
                    return Err((
                        line,
                        format!(
                            "aliases expand to more than {ALIAS_NODE_BUDGET} nodes (an alias bomb?)"
                        ),
                    ));
                }
                let mut node = target.clone();
                node.span = Span::line(line);
                self.finish(Done {
                    node,
                    text: None,
                    merge_key: false,
                })
            }
            Event::Scalar(text, style, anchor, tag) => {
                let mut end = self.scalar_end_line(&span, line);
                while end > line && self.is_blank(end) {
                    end -= 1;
                }
                let plain = style == ScalarStyle::Plain;
                let tag = tag.map(|t| t.into_owned());
                let value = scalar_value(&text, plain, tag.as_ref());
                let node = apply_tag(Node::new(value, Span::new(line, end)), tag.as_ref());
                if anchor > 0 {
                    self.anchors.insert(anchor, node.clone());
                }
                self.finish(Done {
                    merge_key: plain && tag.is_none() && text == "<<",
                    text: Some(text.into_owned()),
                    node,
                })
            }
            Event::SequenceStart(anchor, tag) => {
                self.open(FrameKind::List(Vec::new()), line, anchor, tag)
            }
            Event::MappingStart(anchor, tag) => self.open(
                FrameKind::Map {
                    entries: Vec::new(),
                    key: None,
                },
                line,
                anchor,
                tag,
            ),
            Event::SequenceEnd | Event::MappingEnd => {
                let Some(frame) = self.stack.pop() else {
                    return Err((line, "unbalanced collection end".into()));
                };
                let (value, end) = match frame.kind {
                    FrameKind::List(items) => {
                        let end = items.iter().map(|n| n.span.end_line).max();
                        (Value::List(items), end)
                    }
                    FrameKind::Map { entries, key } => {
                        if let Some((_, key_line, _)) = key {
                            return Err((key_line, "mapping key without a value".into()));
                        }
                        let end = entries
                            .iter()
                            .map(|e| e.value.span.end_line.max(e.key_line))
                            .max();
                        (Value::Map(entries), end)
                    }
                };
                let span = Span::new(frame.line, end.unwrap_or(frame.line));
                let node = apply_tag(Node::new(value, span), frame.tag.as_ref());
                if frame.anchor > 0 {
                    self.anchors.insert(frame.anchor, node.clone());
                }
                self.finish(Done {
                    node,
                    text: None,
                    merge_key: false,
                })
            }
        }
    }

    /// The last line of a scalar. saphyr's end marker sits just past it, which for a block
    /// scalar is the indentation of the next token's line.
    fn scalar_end_line(&self, span: &YamlSpan, line: u32) -> u32 {
        let end = span.end.line() as u32;
        let indent = self
            .indents
            .get((end as usize).wrapping_sub(1))
            .copied()
            .unwrap_or(0);
        if end > line && span.end.col() <= indent {
            end - 1
        } else {
            end.max(line)
        }
    }

    fn is_blank(&self, line: u32) -> bool {
        self.blank_lines
            .get((line as usize).wrapping_sub(1))
            .copied()
            .unwrap_or(false)
    }

    fn open(
        &mut self,
        kind: FrameKind,
        line: u32,
        anchor: usize,
        tag: Option<Cow<'_, Tag>>,
    ) -> Result<(), (u32, String)> {
        if self.stack.len() >= MAX_DEPTH {
            return Err((line, format!("nesting deeper than {MAX_DEPTH} levels")));
        }
        self.stack.push(Frame {
            kind,
            line,
            anchor,
            tag: tag.map(Cow::into_owned),
        });
        Ok(())
    }

    /// Places a finished node in its parent, or makes it a document.
    fn finish(&mut self, done: Done) -> Result<(), (u32, String)> {
        let Some(parent) = self.stack.last_mut() else {
            // An empty document (`---` followed by nothing) is an empty plain scalar.
            let empty = done.node.value == Value::Null && done.text.as_deref() == Some("");
            if !empty {
                self.docs.push(done.node);
            }
            return Ok(());
        };
        match &mut parent.kind {
            FrameKind::List(items) => items.push(done.node),
            FrameKind::Map { entries, key } => match key.take() {
                None => {
                    let name = done.text.unwrap_or_else(|| done.node.describe());
                    *key = Some((name, done.node.span.line, done.merge_key));
                }
                Some((name, key_line, true)) => merge(entries, done.node, &name, key_line),
                Some((name, key_line, false)) => insert(entries, name, key_line, done.node),
            },
        }
        Ok(())
    }
}

/// A later duplicate key replaces the earlier value, as most YAML readers do.
fn insert(entries: &mut Vec<Entry>, key: String, key_line: u32, value: Node) {
    if let Some(existing) = entries.iter_mut().find(|e| e.key == key) {
        existing.key_line = key_line;
        existing.value = value;
    } else {
        entries.push(Entry {
            key,
            key_line,
            value,
        });
    }
}

/// `<<: *base` (or a list of them) adds the keys the mapping does not set itself.
fn merge(entries: &mut Vec<Entry>, value: Node, name: &str, key_line: u32) {
    let sources: Vec<Node> = match value.value {
        Value::Map(_) => vec![value],
        Value::List(items) => items,
        _ => {
            insert(entries, name.to_string(), key_line, value);
            return;
        }
    };
    for source in sources {
        if let Value::Map(source_entries) = source.value {
            for entry in source_entries {
                if !entries.iter().any(|e| e.key == entry.key) {
                    entries.push(entry);
                }
            }
        }
    }
}

/// How deep a tree is; trees built here are at most [`MAX_DEPTH`] deep, so this recursion is
/// bounded.
fn depth(node: &Node) -> usize {
    match &node.value {
        Value::List(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        Value::Map(entries) => 1 + entries.iter().map(|e| depth(&e.value)).max().unwrap_or(0),
        _ => 1,
    }
}

fn count_nodes(node: &Node) -> usize {
    let mut count = 0;
    node.walk(&mut |_, _| count += 1);
    count
}

fn is_core_tag(tag: &Tag) -> bool {
    tag.handle == "tag:yaml.org,2002:"
}

/// A scalar's value: quoted scalars are strings; plain ones resolve per the YAML 1.2 core
/// schema unless a tag says otherwise.
fn scalar_value(text: &str, plain: bool, tag: Option<&Tag>) -> Value {
    match tag {
        Some(tag) if is_core_tag(tag) => match tag.suffix.as_str() {
            "str" => Value::String(text.to_string()),
            "null" => Value::Null,
            "bool" => match resolve_plain(text) {
                b @ Value::Bool(_) => b,
                _ => Value::String(text.to_string()),
            },
            "int" | "float" => Value::Number(text.trim().to_string()),
            _ => Value::String(text.to_string()),
        },
        // CloudFormation's functions take their scalar argument as text.
        Some(tag) if cfn_tag(tag).is_some() => Value::String(text.to_string()),
        _ if plain => resolve_plain(text),
        _ => Value::String(text.to_string()),
    }
}

fn resolve_plain(text: &str) -> Value {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => Value::Null,
        "true" | "True" | "TRUE" => Value::Bool(true),
        "false" | "False" | "FALSE" => Value::Bool(false),
        _ if is_core_number(text) => Value::Number(text.to_string()),
        _ => Value::String(text.to_string()),
    }
}

/// The core schema's int and float forms.
fn is_core_number(text: &str) -> bool {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if let Some(hex) = text.strip_prefix("0x") {
        return !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit());
    }
    if let Some(oct) = text.strip_prefix("0o") {
        return !oct.is_empty() && oct.bytes().all(|b| (b'0'..=b'7').contains(&b));
    }
    if matches!(text, ".nan" | ".NaN" | ".NAN") {
        return true;
    }
    let unsigned = text.strip_prefix(['-', '+']).unwrap_or(text);
    if matches!(unsigned, ".inf" | ".Inf" | ".INF") {
        return true;
    }
    let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
        Some(at) => (&unsigned[..at], Some(&unsigned[at + 1..])),
        None => (unsigned, None),
    };
    let mantissa_ok = match mantissa.split_once('.') {
        Some((whole, fraction)) => {
            (digits(whole) && (fraction.is_empty() || digits(fraction)))
                || (whole.is_empty() && digits(fraction))
        }
        None => digits(mantissa),
    };
    let exponent_ok = exponent.is_none_or(|e| digits(e.strip_prefix(['-', '+']).unwrap_or(e)));
    mantissa_ok && exponent_ok
}

/// The long-form key a CloudFormation short-form tag stands for.
fn cfn_tag(tag: &Tag) -> Option<String> {
    if tag.handle != "!" {
        return None;
    }
    match tag.suffix.as_str() {
        "Ref" => Some("Ref".into()),
        "Condition" => Some("Condition".into()),
        name if CFN_FUNCTIONS.contains(&name) => Some(format!("Fn::{name}")),
        _ => None,
    }
}

/// Rewrites a CloudFormation short-form node into its long form; other tags keep the value.
fn apply_tag(node: Node, tag: Option<&Tag>) -> Node {
    let Some(key) = tag.and_then(cfn_tag) else {
        return node;
    };
    let span = node.span;
    let argument = if key == "Fn::GetAtt" {
        split_get_att(node)
    } else {
        node
    };
    Node::new(
        Value::Map(vec![Entry {
            key,
            key_line: span.line,
            value: argument,
        }]),
        span,
    )
}

/// `!GetAtt Resource.Attribute.Path` is `[Resource, Attribute.Path]`: split on the first dot.
fn split_get_att(node: Node) -> Node {
    let span = node.span;
    match &node.value {
        Value::String(text) => match text.split_once('.') {
            Some((resource, attribute)) => Node::new(
                Value::List(vec![
                    Node::string(resource, span),
                    Node::string(attribute, span),
                ]),
                span,
            ),
            None => node,
        },
        _ => node,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_one(text: &str) -> Node {
        match load(&SourceFile::new("t.yaml", text)) {
            Ok(docs) if docs.len() == 1 => {
                docs.into_iter().next().unwrap_or_else(|| unreachable!())
            }
            Ok(docs) => panic!("{} documents", docs.len()),
            Err(e) => panic!("{e}"),
        }
    }

    fn value(doc: &Node, path: &[&str]) -> Value {
        doc.path(path)
            .map(|n| n.value.clone())
            .unwrap_or(Value::Null)
    }

    fn map(entries: &[(&str, Value)]) -> Value {
        Value::Map(
            entries
                .iter()
                .map(|(k, v)| Entry {
                    key: k.to_string(),
                    key_line: 0,
                    value: Node::new(v.clone(), Span::default()),
                })
                .collect(),
        )
    }

    /// The value with every line number zeroed, to compare shapes.
    fn shape(node: &Node) -> Value {
        match &node.value {
            Value::List(items) => Value::List(
                items
                    .iter()
                    .map(|n| Node::new(shape(n), Span::default()))
                    .collect(),
            ),
            Value::Map(entries) => Value::Map(
                entries
                    .iter()
                    .map(|e| Entry {
                        key: e.key.clone(),
                        key_line: 0,
                        value: Node::new(shape(&e.value), Span::default()),
                    })
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    #[test]
    fn plain_scalars_follow_the_core_schema_and_quoted_ones_are_strings() {
        let doc = load_one(
            "a: 22\nb: '22'\nc: true\nd: \"false\"\ne: ~\nf:\ng: 0777\nh: 1e3\ni: yes\nj: -.5\nk: 0x1F\nl: 1.2.3\n",
        );
        let number = |s: &str| Value::Number(s.into());
        let string = |s: &str| Value::String(s.into());
        assert_eq!(value(&doc, &["a"]), number("22"));
        assert_eq!(value(&doc, &["b"]), string("22"));
        assert_eq!(value(&doc, &["c"]), Value::Bool(true));
        assert_eq!(value(&doc, &["d"]), string("false"));
        assert_eq!(value(&doc, &["e"]), Value::Null);
        assert_eq!(value(&doc, &["f"]), Value::Null);
        assert_eq!(value(&doc, &["g"]), number("0777"));
        assert_eq!(value(&doc, &["h"]), number("1e3"));
        assert_eq!(value(&doc, &["i"]), string("yes"));
        assert_eq!(value(&doc, &["j"]), number("-.5"));
        assert_eq!(value(&doc, &["k"]), number("0x1F"));
        assert_eq!(value(&doc, &["l"]), string("1.2.3"));
    }

    #[test]
    fn spans_cover_collections_and_block_scalars() {
        let text = "# comment\nTop:\n  Inner:\n    - a\n    - b: 1\n      c: 2\n\n  Script: |\n    line one\n    line two\n\n# trailing\nNext: x\n";
        let doc = load_one(text);
        assert_eq!(doc.span, Span::new(2, 13));
        assert_eq!(doc.get("Top").map(|n| n.span), Some(Span::new(3, 10)));
        assert_eq!(
            doc.path(&["Top", "Inner"]).map(|n| n.span),
            Some(Span::new(4, 6))
        );
        assert_eq!(
            doc.path(&["Top", "Script"]).map(|n| n.span),
            Some(Span::new(9, 10))
        );
        assert_eq!(doc.entries().get(1).map(|e| e.key_line), Some(13));
    }

    #[test]
    fn short_form_tags_become_the_long_form() {
        let short = load_one(
            "a: !Ref Cidr\nb: !GetAtt Role.Arn\nc: !GetAtt [Db, Endpoint.Address]\nd: !Sub 'x-${AWS::Region}'\ne: !Join ['', [a, !Ref B]]\nf: !If [Cond, 1, !Ref AWS::NoValue]\ng: !Condition IsProd\nh: !GetAtt Db.Endpoint.Port\ni: !Custom 5\nj: !Base64 |\n  echo hi\n",
        );
        let long = load_one(
            r#"{"a": {"Ref": "Cidr"}, "b": {"Fn::GetAtt": ["Role", "Arn"]},
"c": {"Fn::GetAtt": ["Db", "Endpoint.Address"]}, "d": {"Fn::Sub": "x-${AWS::Region}"},
"e": {"Fn::Join": ["", ["a", {"Ref": "B"}]]},
"f": {"Fn::If": ["Cond", 1, {"Ref": "AWS::NoValue"}]}, "g": {"Condition": "IsProd"},
"h": {"Fn::GetAtt": ["Db", "Endpoint.Port"]}, "i": 5, "j": {"Fn::Base64": "echo hi\n"}}"#,
        );
        assert_eq!(shape(&short), shape(&long));
        assert_eq!(
            value(&short, &["a"]),
            map(&[("Ref", Value::String("Cidr".into()))]).clone_with_line(1)
        );
    }

    trait WithLine {
        fn clone_with_line(self, line: u32) -> Value;
    }

    impl WithLine for Value {
        fn clone_with_line(self, line: u32) -> Value {
            match self {
                Value::Map(entries) => Value::Map(
                    entries
                        .into_iter()
                        .map(|e| Entry {
                            key_line: line,
                            value: Node::new(e.value.value, Span::line(line)),
                            ..e
                        })
                        .collect(),
                ),
                other => other,
            }
        }
    }

    #[test]
    fn anchors_aliases_and_merge_keys_resolve() {
        let doc = load_one(
            "base: &base\n  image: nginx\n  port: 80\nweb:\n  <<: *base\n  port: 8080\ncopy: *base\n",
        );
        assert_eq!(
            value(&doc, &["web", "image"]),
            Value::String("nginx".into())
        );
        assert_eq!(value(&doc, &["web", "port"]), Value::Number("8080".into()));
        assert_eq!(value(&doc, &["copy", "port"]), Value::Number("80".into()));
    }

    #[test]
    fn alias_bombs_are_refused() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let p = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        match load(&SourceFile::new("bomb.yaml", text)) {
            Ok(_) => panic!("alias bomb loaded"),
            Err(e) => assert!(e.message.contains("alias"), "{e}"),
        }
    }

    #[test]
    fn aliases_cannot_nest_deeper_than_the_limit() {
        let mut text = String::from("a0: &a0 [x]\n");
        for i in 1..400 {
            text.push_str(&format!("a{i}: &a{i} [*a{}]\n", i - 1));
        }
        match load(&SourceFile::new("deep.yaml", text)) {
            Ok(_) => panic!("nested aliases loaded"),
            Err(e) => assert!(e.message.contains("nesting"), "{e}"),
        }
    }

    #[test]
    fn documents_are_split_and_empty_ones_dropped() {
        let docs = load(&SourceFile::new(
            "m.yaml",
            "---\na: 1\n---\n---\nb: 2\n...\n",
        ));
        let lines: Vec<u32> = docs.unwrap_or_default().iter().map(Node::line).collect();
        assert_eq!(lines, vec![2, 5]);
    }

    #[test]
    fn syntax_errors_name_file_and_line() {
        let cases = [
            ("a: 1\nb: [1, 2\nc: 3\n", 4),
            ("a: 1\n  b: 2\n", 2),
            ("a: 'open\n", 2),
            ("a:\n\t- x\n", 2),
            ("a: *nowhere\n", 1),
        ];
        for (text, line) in cases {
            match load(&SourceFile::new("bad.yaml", text)) {
                Ok(docs) => panic!("{text:?} loaded as {docs:?}"),
                Err(e) => {
                    assert_eq!(e.file, "bad.yaml");
                    assert!(e.line >= 1 && e.line <= line, "{text:?}: {e}");
                    assert!(
                        e.message.starts_with("invalid YAML") || e.message.contains("anchor"),
                        "{e}"
                    );
                }
            }
        }
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let text = "[".repeat(50_000);
        assert!(load(&SourceFile::new("deep.yaml", text)).is_err());
        let text = format!("{}x{}", "[".repeat(300), "]".repeat(300));
        assert!(load(&SourceFile::new("deep.yaml", text)).is_err());
    }

    #[test]
    fn under_indented_quoted_scalars_and_flow_collections_load_as_cloudformation_does() {
        let text = "Outputs:\n  Help:\n    Value: 'one two\n    three'\n    Other: x\nPolicy:\n    Key: [\n        a,\n        b\n    ]\n    After: !Ref y\n";
        let doc = load_one(text);
        assert_eq!(
            value(&doc, &["Outputs", "Help", "Value"]),
            Value::String("one two three".into())
        );
        assert_eq!(
            value(&doc, &["Outputs", "Help", "Other"]),
            Value::String("x".into())
        );
        let keys: Vec<String> = doc
            .path(&["Policy", "Key"])
            .map(|n| {
                n.items()
                    .iter()
                    .filter_map(|i| i.as_str())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(keys, vec!["a", "b"]);
        assert_eq!(doc.path(&["Policy", "After"]).map(Node::line), Some(11));
        // A genuinely mis-indented block is still an error, at its line.
        let broken = load(&SourceFile::new("bad.yaml", "a:\n    b: 1\n  c: 2\n"));
        assert_eq!(broken.map_err(|e| e.line).err(), Some(3));
    }

    /// Every prefix of the corpus templates, and each with bytes flipped, loads or fails with a
    /// located error, but never panics.
    #[test]
    fn truncated_and_mangled_files_never_panic() {
        let mut samples = vec![
            "a: !Ref [b, {c: *d}]\n".to_string(),
            "k: &x [*x]\n".to_string(),
            "? [a, b]\n: c\n--- !Sub\n- '\n".to_string(),
        ];
        if let Some(corpus) =
            airlock_test_corpora::require_corpus("yaml mutation seeds", "reinvent2019-con414")
        {
            let dir = corpus.join("cloudformation");
            for name in [
                "00-cluster-fargate-vpc.yml",
                "01-cluster-fargate-vpc-asm.yml",
            ] {
                let path = dir.join(name);
                let text = std::fs::read_to_string(&path)
                    .unwrap_or_else(|e| panic!("corpus file {}: {e}", path.display()));
                samples.push(text);
            }
        }
        for text in &samples {
            let cuts = text.char_indices().map(|(i, _)| i).step_by(11);
            for cut in cuts {
                let prefix = text.get(..cut).unwrap_or_default();
                let _ = load(&SourceFile::new("cut.yaml", prefix));
                let _ = crate::formats::parse(&SourceFile::new("cut.yaml", prefix));
                let mut mangled: Vec<char> = text.chars().collect();
                if let Some(c) = mangled.get_mut(cut % text.chars().count().max(1)) {
                    *c = ['[', ':', '\'', '!', '&', '*', '\t', '{', '-', '"'][cut % 10];
                }
                let mangled: String = mangled.into_iter().collect();
                if let Err(e) = load(&SourceFile::new("mangled.yaml", mangled.as_str())) {
                    assert!(e.line >= 1, "{e}");
                }
                let _ = crate::formats::parse(&SourceFile::new("mangled.yaml", mangled));
            }
        }
    }
}
