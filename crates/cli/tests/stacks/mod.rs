//! The lane's CloudFormation templates (deploy/cloudformation) as the tests read them: parsed
//! with the scanner's YAML loader (short tags become their long forms, so `!Sub` is
//! `{"Fn::Sub": …}`), and a small evaluator of the intrinsics the templates use, given the
//! parameters and what each resource's `Ref` and attributes are.
#![allow(dead_code)] // Each test file uses a different subset.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::{Map, Value};

pub const CI_TEMPLATE: &str = "deploy/cloudformation/airlock-ci.yaml";
pub const PRODUCTION_TEMPLATE: &str = "deploy/cloudformation/airlock-production.yaml";

pub fn workspace_root() -> PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("workspace root")
}

/// A template's text and its document as JSON, intrinsics in long form.
pub struct Template {
    pub path: String,
    pub text: String,
    pub doc: Value,
}

impl Template {
    pub fn load(relative: &str) -> Template {
        let text = std::fs::read_to_string(workspace_root().join(relative))
            .unwrap_or_else(|e| panic!("{relative}: {e}"));
        let source = airlock_check::SourceFile::new(relative, text.clone());
        let docs = airlock_check::formats::yaml::load(&source)
            .unwrap_or_else(|e| panic!("{relative}: {e:?}"));
        let doc = docs.first().map(|d| d.to_json()).expect("one document");
        Template {
            path: relative.to_string(),
            text,
            doc,
        }
    }

    pub fn resources(&self) -> &Map<String, Value> {
        self.doc["Resources"].as_object().expect("Resources")
    }

    pub fn resource(&self, logical_id: &str) -> &Value {
        self.resources()
            .get(logical_id)
            .unwrap_or_else(|| panic!("{}: no resource {logical_id}", self.path))
    }

    /// Logical ids of the resources of `resource_type`.
    pub fn of_type(&self, resource_type: &str) -> Vec<String> {
        self.resources()
            .iter()
            .filter(|(_, r)| r["Type"] == resource_type)
            .map(|(id, _)| id.clone())
            .collect()
    }
}

/// What the evaluator knows: parameter values (lists for list parameters), and how to read
/// a resource's `Ref` and its attributes.
pub struct Scope<'a> {
    pub template: &'a Template,
    pub params: BTreeMap<String, Value>,
    pub region: String,
    pub account: String,
    pub stack_name: String,
    pub reference: &'a dyn Fn(&str) -> Option<String>,
    pub attribute: &'a dyn Fn(&str, &str) -> Option<String>,
}

/// `AWS::NoValue`: removed from the map or list that holds it.
const NO_VALUE: &str = "\u{0}AWS::NoValue";

impl Scope<'_> {
    /// Parameters with defaults filled in from the template.
    pub fn with_defaults(mut self) -> Self {
        if let Some(params) = self.template.doc["Parameters"].as_object() {
            for (name, spec) in params {
                if let Some(default) = spec.get("Default")
                    && !self.params.contains_key(name)
                {
                    let value = match default {
                        Value::String(s) => Value::String(s.clone()),
                        other => Value::String(other.to_string()),
                    };
                    self.params.insert(name.clone(), value);
                }
            }
        }
        self
    }

    /// `value` with every intrinsic evaluated.
    pub fn eval(&self, value: &Value) -> Value {
        self.try_eval(value)
            .unwrap_or_else(|e| panic!("{}: {e} in {value}", self.template.path))
    }

    pub fn condition(&self, name: &str) -> bool {
        let condition = &self.template.doc["Conditions"][name];
        self.truth(condition)
            .unwrap_or_else(|e| panic!("{}: condition {name}: {e}", self.template.path))
    }

    fn truth(&self, value: &Value) -> Result<bool, String> {
        let Some((function, args)) = single(value) else {
            return value.as_bool().ok_or(format!("not a condition: {value}"));
        };
        match function {
            "Fn::Equals" => {
                let pair = args.as_array().ok_or("Fn::Equals takes a list")?;
                Ok(self.try_eval(&pair[0])? == self.try_eval(&pair[1])?)
            }
            "Fn::Not" => Ok(!self.truth(&args[0])?),
            "Fn::And" => args
                .as_array()
                .ok_or("Fn::And takes a list")?
                .iter()
                .try_fold(true, |all, c| Ok(all && self.truth(c)?)),
            "Fn::Or" => args
                .as_array()
                .ok_or("Fn::Or takes a list")?
                .iter()
                .try_fold(false, |any, c| Ok(any || self.truth(c)?)),
            "Condition" => Ok(self.condition(args.as_str().ok_or("Condition takes a name")?)),
            other => Err(format!("{other} is not a condition function")),
        }
    }

    fn try_eval(&self, value: &Value) -> Result<Value, String> {
        if let Some((function, args)) = single(value) {
            match function {
                "Ref" => return self.reference(args.as_str().ok_or("Ref takes a name")?),
                "Fn::GetAtt" => {
                    let (resource, attribute) = match args {
                        Value::String(s) => s.split_once('.').ok_or("Fn::GetAtt needs R.A")?,
                        Value::Array(pair) => (
                            pair[0].as_str().ok_or("Fn::GetAtt resource")?,
                            pair[1].as_str().ok_or("Fn::GetAtt attribute")?,
                        ),
                        _ => return Err("Fn::GetAtt takes a list".into()),
                    };
                    return (self.attribute)(resource, attribute)
                        .map(Value::String)
                        .ok_or(format!("no value for {resource}.{attribute}"));
                }
                "Fn::Sub" => return self.sub(args),
                "Fn::Join" => {
                    let sep = args[0].as_str().ok_or("Fn::Join separator")?;
                    let items = self.try_eval(&args[1])?;
                    let parts: Vec<String> = items
                        .as_array()
                        .ok_or("Fn::Join takes a list")?
                        .iter()
                        .map(|v| {
                            v.as_str()
                                .map(str::to_string)
                                .ok_or("Fn::Join of a non-string")
                        })
                        .collect::<Result<_, _>>()?;
                    return Ok(Value::String(parts.join(sep)));
                }
                "Fn::If" => {
                    let name = args[0].as_str().ok_or("Fn::If condition")?;
                    let chosen = if self.condition(name) {
                        &args[1]
                    } else {
                        &args[2]
                    };
                    return self.try_eval(chosen);
                }
                _ => {}
            }
        }
        Ok(match value {
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|v| self.try_eval(v))
                    .collect::<Result<Vec<_>, _>>()?
                    .into_iter()
                    .filter(|v| v != NO_VALUE)
                    .collect(),
            ),
            Value::Object(map) => {
                let mut out = Map::new();
                for (k, v) in map {
                    let v = self.try_eval(v)?;
                    if v != NO_VALUE {
                        out.insert(k.clone(), v);
                    }
                }
                Value::Object(out)
            }
            other => other.clone(),
        })
    }

    fn reference(&self, name: &str) -> Result<Value, String> {
        let pseudo = match name {
            "AWS::Region" => Some(self.region.clone()),
            "AWS::AccountId" => Some(self.account.clone()),
            "AWS::Partition" => Some("aws".to_string()),
            "AWS::StackName" => Some(self.stack_name.clone()),
            "AWS::URLSuffix" => Some("amazonaws.com".to_string()),
            "AWS::NoValue" => Some(NO_VALUE.to_string()),
            _ => None,
        };
        if let Some(value) = pseudo {
            return Ok(Value::String(value));
        }
        if let Some(value) = self.params.get(name) {
            return Ok(value.clone());
        }
        (self.reference)(name)
            .map(Value::String)
            .ok_or(format!("no value for Ref {name}"))
    }

    fn sub(&self, args: &Value) -> Result<Value, String> {
        let (text, vars) = match args {
            Value::String(text) => (text.as_str(), Map::new()),
            Value::Array(pair) => (
                pair[0].as_str().ok_or("Fn::Sub text")?,
                pair[1].as_object().cloned().unwrap_or_default(),
            ),
            _ => return Err("Fn::Sub takes a string or a list".into()),
        };
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after.find('}').ok_or("unclosed ${ in Fn::Sub")?;
            let name = &after[..end];
            if let Some(literal) = name.strip_prefix('!') {
                out.push_str("${");
                out.push_str(literal);
                out.push('}');
            } else {
                let value = match vars.get(name) {
                    Some(v) => self.try_eval(v)?,
                    None => match name.split_once('.') {
                        Some((resource, attribute)) if !name.starts_with("AWS::") => {
                            (self.attribute)(resource, attribute)
                                .map(Value::String)
                                .ok_or(format!("no value for ${{{name}}}"))?
                        }
                        _ => self.reference(name)?,
                    },
                };
                match value {
                    Value::String(s) => out.push_str(&s),
                    other => out.push_str(&other.to_string()),
                }
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(Value::String(out))
    }
}

/// `{"Fn::X": args}` as `("Fn::X", args)`.
fn single(value: &Value) -> Option<(&str, &Value)> {
    let map = value.as_object()?;
    if map.len() != 1 {
        return None;
    }
    let (k, v) = map.iter().next()?;
    (k == "Ref" || k == "Condition" || k.starts_with("Fn::")).then_some((k.as_str(), v))
}

/// A policy statement's `Action` (or `NotAction`) as a list.
pub fn strings(value: &Value) -> Vec<String> {
    match value {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}
