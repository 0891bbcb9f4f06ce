//! CloudFormation's intrinsic functions, evaluated where the template decides their value:
//! `Ref` to parameters (their defaults, or values given with `--cfn-param` or a parameter
//! file) and to the pseudo parameters whose value does not depend on the stack, `Fn::Sub`
//! (string and map forms), `Fn::Join`, `Fn::Select`, `Fn::Split`, `Fn::FindInMap`, and
//! `Fn::If` on conditions that can be decided (`Fn::Equals`, `Fn::And`, `Fn::Or`, `Fn::Not`,
//! `Condition`). Everything else (`Fn::GetAtt`, `Ref` to a resource, `Fn::ImportValue`,
//! `AWS::Region`, SSM parameter types, `NoEcho` parameters) stays unknown, with where it came
//! from, so that no rule reports on a guess.
//!
//! Each substitution of a parameter leaves a note on its line ("AllowedCidr defaults to
//! 0.0.0.0/0"), which the scan adds to a finding on that line: the finding then says which
//! parameter it depends on.

use std::cell::RefCell;
use std::collections::BTreeMap;

use crate::formats::Note;
use crate::node::{Entry, Node, Span, Value};

/// Where parameter values given from outside the template came from, for the notes.
pub const OVERRIDE_SOURCE: &str = "as given";

/// Nesting beyond this is not evaluated (it stays unknown): templates nest a few levels,
/// and a bound keeps hostile input from recursing without end.
const MAX_DEPTH: usize = 32;

#[derive(Debug, Clone)]
enum Parameter {
    /// The value (and as written), and how to say where it came from.
    Known {
        value: Node,
        written: String,
        note: String,
    },
    /// No value to use (no default, `NoEcho`, an SSM parameter type).
    Unknown,
}

/// One template's parameters, mappings and conditions.
pub struct Evaluator<'a> {
    parameters: BTreeMap<String, Parameter>,
    mappings: Option<&'a Node>,
    conditions: Option<&'a Node>,
    /// Decided conditions, and the ones being decided (`None`), which guards against cycles.
    decided: RefCell<BTreeMap<String, Option<bool>>>,
    notes: RefCell<Vec<Note>>,
}

/// `None` stands for `AWS::NoValue`: the property, or list item, is removed.
type Evaluated = Option<Node>;

impl<'a> Evaluator<'a> {
    /// `overrides` are parameter values given from outside (they win over defaults).
    pub fn new(doc: &'a Node, overrides: &BTreeMap<String, String>) -> Evaluator<'a> {
        let mut parameters = BTreeMap::new();
        if let Some(declared) = doc.get("Parameters") {
            for entry in declared.entries() {
                parameters.insert(
                    entry.key.clone(),
                    parameter(&entry.key, &entry.value, overrides.get(&entry.key)),
                );
            }
        }
        Evaluator {
            parameters,
            mappings: doc.get("Mappings"),
            conditions: doc.get("Conditions"),
            decided: RefCell::new(BTreeMap::new()),
            notes: RefCell::new(Vec::new()),
        }
    }

    /// The notes left so far.
    pub fn take_notes(&self) -> Vec<Note> {
        std::mem::take(&mut self.notes.borrow_mut())
    }

    /// The tree with every intrinsic evaluated where it can be, and unknown where not.
    /// `AWS::NoValue` removes the entry or item it stands for; at the top it is an empty map.
    pub fn eval(&self, node: &Node) -> Node {
        self.eval_at(node, 0)
            .unwrap_or_else(|| Node::new(Value::Map(Vec::new()), node.span))
    }

    /// Whether a named condition holds, when that can be decided.
    pub fn condition(&self, name: &str) -> Option<bool> {
        if let Some(decided) = self.decided.borrow().get(name) {
            return *decided;
        }
        let definition = self.conditions?.get(name)?;
        self.decided.borrow_mut().insert(name.to_string(), None);
        let value = self.decide(definition, 0);
        self.decided.borrow_mut().insert(name.to_string(), value);
        value
    }

    fn decide(&self, node: &Node, depth: usize) -> Option<bool> {
        if depth > MAX_DEPTH {
            return None;
        }
        let [entry] = node.entries() else {
            return node.as_bool();
        };
        let arguments = entry.value.items();
        match entry.key.as_str() {
            "Condition" => self.condition(entry.value.as_str()?),
            "Fn::Equals" => {
                let [a, b] = arguments else { return None };
                let a = Node::scalar_text(&self.eval_at(a, depth + 1)?)?;
                let b = Node::scalar_text(&self.eval_at(b, depth + 1)?)?;
                Some(a == b)
            }
            "Fn::Not" => {
                let [inner] = arguments else { return None };
                self.decide(inner, depth + 1).map(|v| !v)
            }
            "Fn::And" | "Fn::Or" => {
                let and = entry.key == "Fn::And";
                // Three-valued: one false decides an And (one true an Or) even when other
                // operands are unknown.
                let mut unknown = false;
                for operand in arguments {
                    match self.decide(operand, depth + 1) {
                        Some(v) if v != and => return Some(v),
                        Some(_) => {}
                        None => unknown = true,
                    }
                }
                (!unknown).then_some(and)
            }
            _ => None,
        }
    }

    fn eval_at(&self, node: &Node, depth: usize) -> Evaluated {
        if depth > MAX_DEPTH {
            return Some(Node::unknown("(nested too deeply)", node.span));
        }
        match &node.value {
            Value::Map(entries) => match entries.as_slice() {
                [only] if only.key == "Ref" || only.key.starts_with("Fn::") => {
                    self.intrinsic(node, only, depth)
                }
                _ => Some(Node::new(
                    Value::Map(
                        entries
                            .iter()
                            .filter_map(|e| {
                                self.eval_at(&e.value, depth + 1).map(|value| Entry {
                                    key: e.key.clone(),
                                    key_line: e.key_line,
                                    value,
                                })
                            })
                            .collect(),
                    ),
                    node.span,
                )),
            },
            Value::List(items) => Some(Node::new(
                Value::List(
                    items
                        .iter()
                        .filter_map(|i| self.eval_at(i, depth + 1))
                        .collect(),
                ),
                node.span,
            )),
            Value::String(text) if text.contains("{{resolve:") => {
                Some(Node::unknown(text.clone(), node.span))
            }
            _ => Some(node.clone()),
        }
    }

    fn intrinsic(&self, node: &Node, call: &Entry, depth: usize) -> Evaluated {
        let unknown = || Some(super::cloudformation::unknown_intrinsic(node));
        let argument = &call.value;
        let value = match call.key.as_str() {
            "Ref" => {
                let Some(name) = argument.as_str() else {
                    return unknown();
                };
                // `AWS::NoValue` is the one reference that removes what it stands for.
                if name == "AWS::NoValue" {
                    return None;
                }
                return self.reference(name, node.span).or_else(unknown);
            }
            "Fn::If" => {
                let [condition, then, otherwise] = argument.items() else {
                    return unknown();
                };
                return match condition.as_str().and_then(|c| self.condition(c)) {
                    Some(true) => self.eval_at(then, depth + 1),
                    Some(false) => self.eval_at(otherwise, depth + 1),
                    None => unknown(),
                };
            }
            "Fn::Sub" => self.sub(argument, node.span, depth),
            "Fn::Join" => (|| {
                let [delimiter, list] = argument.items() else {
                    return None;
                };
                let delimiter = Node::scalar_text(&self.eval_at(delimiter, depth + 1)?)?;
                let list = self.eval_at(list, depth + 1)?;
                let parts: Option<Vec<String>> =
                    list.items().iter().map(Node::scalar_text).collect();
                matches!(list.value, Value::List(_))
                    .then(|| parts.map(|p| Node::string(p.join(&delimiter), node.span)))?
            })(),
            "Fn::Select" => (|| {
                let [index, list] = argument.items() else {
                    return None;
                };
                let index: usize = Node::scalar_text(&self.eval_at(index, depth + 1)?)?
                    .parse()
                    .ok()?;
                let list = self.eval_at(list, depth + 1)?;
                let Value::List(items) = &list.value else {
                    return None;
                };
                let item = items.get(index)?;
                (!item.is_unknown()).then(|| item.clone().respanned(node.span))
            })(),
            "Fn::Split" => (|| {
                let [delimiter, source] = argument.items() else {
                    return None;
                };
                let delimiter = Node::scalar_text(&self.eval_at(delimiter, depth + 1)?)?;
                let source = Node::scalar_text(&self.eval_at(source, depth + 1)?)?;
                if delimiter.is_empty() {
                    return None;
                }
                Some(Node::new(
                    Value::List(
                        source
                            .split(delimiter.as_str())
                            .map(|part| Node::string(part, node.span))
                            .collect(),
                    ),
                    node.span,
                ))
            })(),
            "Fn::FindInMap" => (|| {
                let [map, top, second] = argument.items() else {
                    return None;
                };
                let keys: Option<Vec<String>> = [map, top, second]
                    .iter()
                    .map(|k| Node::scalar_text(&self.eval_at(k, depth + 1)?))
                    .collect();
                let keys = keys?;
                let value = self.mappings?.get(&keys[0])?.get(&keys[1])?.get(&keys[2])?;
                self.eval_at(&value.clone().respanned(node.span), depth + 1)
            })(),
            _ => None,
        };
        value.or_else(unknown)
    }

    /// A `Ref`'s value: a parameter's, or a pseudo parameter's that does not depend on the
    /// stack. `None` for anything else (a resource, `AWS::Region`, an unknown name).
    fn reference(&self, name: &str, span: Span) -> Option<Node> {
        match name {
            "AWS::Partition" => return Some(Node::string("aws", span)),
            "AWS::URLSuffix" => return Some(Node::string("amazonaws.com", span)),
            _ => {}
        }
        match self.parameters.get(name)? {
            Parameter::Known {
                value,
                written,
                note,
            } => {
                self.notes.borrow_mut().push(Note {
                    line: span.line,
                    value: written.clone(),
                    text: note.clone(),
                    resource: None,
                });
                Some(value.clone().respanned(span))
            }
            Parameter::Unknown => None,
        }
    }

    /// `Fn::Sub`: `${Name}` from the map form's variables, the parameters and the pseudo
    /// parameters; `${!Literal}` stands for `${Literal}`. One unknown variable makes the whole
    /// string unknown.
    fn sub(&self, argument: &Node, span: Span, depth: usize) -> Option<Node> {
        let (template, variables) = match &argument.value {
            Value::String(text) => (text.as_str(), None),
            Value::List(items) => match items.as_slice() {
                [template, variables] => (template.as_str()?, Some(variables)),
                _ => return None,
            },
            _ => return None,
        };
        let mut out = String::new();
        let mut rest = template;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after.find('}')?;
            let name = &after[..end];
            if let Some(literal) = name.strip_prefix('!') {
                out.push_str("${");
                out.push_str(literal);
                out.push('}');
            } else {
                let value = match variables.and_then(|v| v.get(name)) {
                    Some(variable) => self.eval_at(variable, depth + 1)?,
                    None => self.reference(name, span)?,
                };
                out.push_str(&Node::scalar_text(&value)?);
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Some(Node::string(out, span))
    }
}

/// Reads a parameter file: the AWS CLI's list (`[{"ParameterKey": "A", "ParameterValue":
/// "B"}]`), CodePipeline's template configuration (`{"Parameters": {"A": "B"}}`), or a plain
/// map (`{"A": "B"}`). Errors say what is wrong; the caller names the file.
pub fn read_parameter_file(text: &str) -> Result<BTreeMap<String, String>, String> {
    let json: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let text_of = |value: &serde_json::Value, what: &str| match value {
        serde_json::Value::String(s) => Ok(s.clone()),
        serde_json::Value::Number(n) => Ok(n.to_string()),
        serde_json::Value::Bool(b) => Ok(b.to_string()),
        _ => Err(format!("{what} must be a string")),
    };
    let mut out = BTreeMap::new();
    match &json {
        serde_json::Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let key = item
                    .get("ParameterKey")
                    .ok_or_else(|| format!("item {i} has no ParameterKey"))?;
                let key = text_of(key, &format!("ParameterKey of item {i}"))?;
                let value = item
                    .get("ParameterValue")
                    .ok_or_else(|| format!("{key} has no ParameterValue"))?;
                out.insert(key.clone(), text_of(value, &key)?);
            }
        }
        serde_json::Value::Object(map) => {
            let map = match map.get("Parameters") {
                Some(serde_json::Value::Object(inner)) => inner,
                Some(_) => return Err("`Parameters` must be a map of names to values".into()),
                None => map,
            };
            for (key, value) in map {
                out.insert(key.clone(), text_of(value, key)?);
            }
        }
        _ => {
            return Err(
                "expected a list of ParameterKey/ParameterValue or a map of names to values".into(),
            );
        }
    }
    Ok(out)
}

/// A parameter's value for evaluation, from an override or its default.
fn parameter(name: &str, declaration: &Node, given: Option<&String>) -> Parameter {
    let kind = declaration
        .get("Type")
        .and_then(Node::as_str)
        .unwrap_or("String");
    if kind.starts_with("AWS::SSM::Parameter::") {
        // The default is the name of an SSM parameter; the value is read at deploy time.
        return Parameter::Unknown;
    }
    let no_echo = declaration
        .get("NoEcho")
        .is_some_and(|v| v.as_bool() == Some(true) || v.as_str() == Some("true"));
    if no_echo || crate::secrets::is_secret_name(name) {
        // A secret's default is reported where it is written (SEC008), and never copied to
        // where it is used: not reported twice, never quoted in a note.
        return Parameter::Unknown;
    }
    let (text, note) = match given {
        Some(value) => (
            value.clone(),
            format!("{name} is {value} {OVERRIDE_SOURCE}"),
        ),
        None => match declaration.get("Default").and_then(Node::scalar_text) {
            Some(default) => {
                let note = format!("{name} defaults to {default}");
                (default, note)
            }
            None => return Parameter::Unknown,
        },
    };
    let span = declaration.span;
    let value = if kind == "CommaDelimitedList" || kind.starts_with("List<") {
        Node::new(
            Value::List(
                text.split(',')
                    .map(|part| Node::string(part.trim(), span))
                    .collect(),
            ),
            span,
        )
    } else if kind == "Number" && text.trim().parse::<f64>().is_ok() {
        Node::new(Value::Number(text.trim().to_string()), span)
    } else {
        Node::string(text.clone(), span)
    };
    Parameter::Known {
        value,
        written: text,
        note,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test's panic is its failure report
mod tests {
    use super::*;
    use crate::source::SourceFile;

    fn template(text: &str) -> Node {
        let docs = crate::formats::yaml::load(&SourceFile::new("t.yaml", text)).unwrap();
        docs.into_iter().next().unwrap()
    }

    fn property(doc: &Node, overrides: &[(&str, &str)], path: &[&str]) -> (Node, Vec<Note>) {
        let overrides = overrides
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let evaluator = Evaluator::new(doc, &overrides);
        let value = evaluator.eval(doc.path(path).unwrap());
        (value, evaluator.take_notes())
    }

    const TEMPLATE: &str = r#"AWSTemplateFormatVersion: "2010-09-09"
Parameters:
  AllowedCidr:
    Type: String
    Default: 0.0.0.0/0
  Env:
    Type: String
    Default: prod
  Ports:
    Type: CommaDelimitedList
    Default: "22,443"
  Password:
    Type: String
    NoEcho: true
    Default: hunter2hunter2
  AmiId:
    Type: AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>
    Default: /aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64
  NoDefault:
    Type: String
Mappings:
  Cidrs:
    prod: {Office: 10.0.0.0/8}
    test: {Office: 0.0.0.0/0}
Conditions:
  IsProd: !Equals [!Ref Env, prod]
  IsTest: !Not [!Condition IsProd]
  ProdAndOpen: !And [!Condition IsProd, !Equals [!Ref AllowedCidr, 0.0.0.0/0]]
  Unknowable: !Equals [!Ref AWS::Region, eu-west-1]
  EitherWay: !Or [!Condition IsProd, !Condition Unknowable]
  Loop: !Condition Loop
Resources:
  Sg:
    Type: AWS::EC2::SecurityGroup
    Properties:
      Ref: !Ref AllowedCidr
      Sub: !Sub "${AllowedCidr} in ${Env} on ${AWS::Partition}, not ${!Literal}"
      SubMap: !Sub ["${Prefix}-${Env}", {Prefix: !Select [1, !Ref Ports]}]
      Join: !Join ["-", [a, !Ref Env, !Select [0, !Split [",", "x,y"]]]]
      Map: !FindInMap [Cidrs, !Ref Env, Office]
      If: !If [IsProd, yes-prod, no-test]
      Gone: !If [IsTest, here, !Ref AWS::NoValue]
      List: [a, !If [IsProd, !Ref AWS::NoValue, b], c]
      Secret: !Ref Password
      Ami: !Ref AmiId
      Missing: !Ref NoDefault
      Region: !Ref AWS::Region
      Att: !GetAtt Other.Arn
      Resource: !Ref Other
      Undecided: !If [Unknowable, a, b]
      Cycle: !If [Loop, a, b]
"#;

    fn text_of(node: &Node, key: &str) -> Option<String> {
        node.get(key).and_then(Node::as_str).map(str::to_string)
    }

    #[test]
    fn parameters_functions_and_conditions_evaluate() {
        let doc = template(TEMPLATE);
        let (props, notes) = property(&doc, &[], &["Resources", "Sg", "Properties"]);
        assert_eq!(text_of(&props, "Ref").as_deref(), Some("0.0.0.0/0"));
        assert_eq!(
            text_of(&props, "Sub").as_deref(),
            Some("0.0.0.0/0 in prod on aws, not ${Literal}")
        );
        assert_eq!(text_of(&props, "SubMap").as_deref(), Some("443-prod"));
        assert_eq!(text_of(&props, "Join").as_deref(), Some("a-prod-x"));
        assert_eq!(text_of(&props, "Map").as_deref(), Some("10.0.0.0/8"));
        assert_eq!(text_of(&props, "If").as_deref(), Some("yes-prod"));
        assert!(
            props.get("Gone").is_none(),
            "AWS::NoValue removes the property"
        );
        let list: Vec<&str> = props
            .get("List")
            .unwrap()
            .items()
            .iter()
            .filter_map(Node::as_str)
            .collect();
        assert_eq!(list, ["a", "c"]);
        for unknown in [
            "Secret",
            "Ami",
            "Missing",
            "Region",
            "Att",
            "Resource",
            "Undecided",
            "Cycle",
        ] {
            assert!(
                props.get(unknown).unwrap().is_unknown(),
                "{unknown} should be unknown"
            );
        }
        // The Ref's line carries the note, not the parameter's declaration.
        let ref_line = props.get("Ref").unwrap().span.line;
        assert!(
            notes.contains(&Note {
                line: ref_line,
                value: "0.0.0.0/0".into(),
                text: "AllowedCidr defaults to 0.0.0.0/0".into(),
                resource: None,
            }),
            "{notes:?}"
        );
        assert!(notes.iter().any(|n| n.text == "Env defaults to prod"));
        assert!(
            !notes.iter().any(|n| n.text.contains("hunter2")),
            "{notes:?}"
        );
    }

    #[test]
    fn given_values_win_over_defaults_and_change_conditions() {
        let doc = template(TEMPLATE);
        let (props, notes) = property(
            &doc,
            &[("AllowedCidr", "10.1.0.0/16"), ("Env", "test")],
            &["Resources", "Sg", "Properties"],
        );
        assert_eq!(text_of(&props, "Ref").as_deref(), Some("10.1.0.0/16"));
        assert_eq!(text_of(&props, "If").as_deref(), Some("no-test"));
        assert_eq!(text_of(&props, "Gone").as_deref(), Some("here"));
        assert_eq!(text_of(&props, "Map").as_deref(), Some("0.0.0.0/0"));
        assert!(
            notes
                .iter()
                .any(|n| n.text == "AllowedCidr is 10.1.0.0/16 as given"),
            "{notes:?}"
        );
    }

    #[test]
    fn parameter_files_in_the_three_shapes() {
        let expected = BTreeMap::from([
            ("AllowedCidr".to_string(), "10.0.0.0/8".to_string()),
            ("Port".to_string(), "443".to_string()),
        ]);
        for text in [
            r#"[{"ParameterKey": "AllowedCidr", "ParameterValue": "10.0.0.0/8"}, {"ParameterKey": "Port", "ParameterValue": 443}]"#,
            r#"{"Parameters": {"AllowedCidr": "10.0.0.0/8", "Port": "443"}, "Tags": {}}"#,
            r#"{"AllowedCidr": "10.0.0.0/8", "Port": 443}"#,
        ] {
            assert_eq!(read_parameter_file(text).unwrap(), expected, "{text}");
        }
        for (text, needle) in [
            (
                "[{\"ParameterValue\": \"x\"}]",
                "item 0 has no ParameterKey",
            ),
            ("[{\"ParameterKey\": \"A\"}]", "A has no ParameterValue"),
            ("{\"A\": [1]}", "A must be a string"),
            ("{\"Parameters\": []}", "`Parameters` must be a map"),
            ("\"x\"", "expected a list"),
            ("{", "not JSON"),
        ] {
            let error = read_parameter_file(text).unwrap_err();
            assert!(error.contains(needle), "{text}: {error}");
        }
    }

    #[test]
    fn three_valued_conditions() {
        let doc = template(TEMPLATE);
        let evaluator = Evaluator::new(&doc, &BTreeMap::new());
        assert_eq!(evaluator.condition("IsProd"), Some(true));
        assert_eq!(evaluator.condition("IsTest"), Some(false));
        assert_eq!(evaluator.condition("ProdAndOpen"), Some(true));
        assert_eq!(evaluator.condition("Unknowable"), None);
        // One true operand decides an Or, whatever the others are.
        assert_eq!(evaluator.condition("EitherWay"), Some(true));
        assert_eq!(evaluator.condition("Loop"), None);
        assert_eq!(evaluator.condition("Undefined"), None);
        let overrides = BTreeMap::from([("Env".to_string(), "test".to_string())]);
        let evaluator = Evaluator::new(&doc, &overrides);
        assert_eq!(evaluator.condition("EitherWay"), None);
        assert_eq!(evaluator.condition("ProdAndOpen"), Some(false));
    }
}
