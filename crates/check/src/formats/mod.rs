//! Front ends: recognise a file's kind by name and content, parse it, and extract facts.
//!
//! Every front end reports parse failures as [`ScanError`]s with the file and line, never
//! panics, and never drops a file of a recognised kind silently.

use std::collections::BTreeMap;

use crate::finding::ScanError;
use crate::model::Fact;
use crate::rules::Format;
use crate::source::SourceFile;
use crate::suppress::Suppression;

pub mod awsconfig;
pub mod cloudformation;
pub mod credentials;
pub mod dockerfile;
pub mod ecs;
pub mod iam;
pub mod intrinsics;
pub mod json;
pub mod kubernetes;
pub mod terraform;
pub mod yaml;

/// What one front end made of a file.
#[derive(Debug, Default)]
pub struct Parsed {
    pub format: Option<Format>,
    pub facts: Vec<Fact>,
    /// Suppressions given as data (CloudFormation `Metadata`); comment suppressions are found
    /// by [`crate::suppress`] from the text itself.
    pub suppressions: Vec<Suppression>,
    pub errors: Vec<ScanError>,
    /// Where values came from parameters ("AllowedCidr defaults to 0.0.0.0/0"). The scan
    /// adds them to the findings about those values.
    pub notes: Vec<Note>,
    /// Set for the facts of a Terraform module as a call makes it: they are a unit of their
    /// own, and their findings say the calls.
    pub through: Option<Through>,
    /// What was left out without being an error (a registry module that is not fetched).
    pub notices: Vec<ScanError>,
}

/// Which module instance facts belong to. They are evaluated with the root module that makes
/// the outermost call, as Terraform plans them: one unit with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Through {
    /// `module.sg`, `module.a.module.b["k"]`.
    pub address: String,
    /// `module "sg" at main.tf:12`, outermost first.
    pub calls: Vec<String>,
    /// The root module's file that makes the outermost call, as the scan names it.
    pub root_file: String,
    /// That file relative to the module's directory (`../../main.tf`): two roots'
    /// `module.sg` are two instances, whose fingerprints differ, wherever the code is checked
    /// out.
    pub root: String,
}

impl Parsed {
    pub fn new(format: Format) -> Self {
        Parsed {
            format: Some(format),
            ..Parsed::default()
        }
    }

    pub fn error(format: Format, file: &SourceFile, line: u32, message: impl Into<String>) -> Self {
        Parsed {
            format: Some(format),
            errors: vec![ScanError {
                file: file.path.to_string(),
                line,
                message: message.into(),
            }],
            ..Parsed::default()
        }
    }
}

/// What a file may be, judged by its name alone. Content decides the rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Candidate {
    Terraform,
    TerraformJson,
    Yaml,
    Json,
    Dockerfile,
    /// No telling from the name: sniffed for Dockerfile, AWS config and credential content.
    Other,
}

pub fn candidate(path: &str) -> Candidate {
    let name = path.rsplit('/').next().unwrap_or(path);
    let lower = name.to_ascii_lowercase();
    if lower.ends_with(".tf.json") {
        Candidate::TerraformJson
    } else if lower.ends_with(".tf") {
        Candidate::Terraform
    } else if lower.ends_with(".yaml") || lower.ends_with(".yml") || lower.ends_with(".template") {
        Candidate::Yaml
    } else if lower.ends_with(".json") {
        Candidate::Json
    } else if dockerfile::is_dockerfile_name(name) {
        Candidate::Dockerfile
    } else {
        Candidate::Other
    }
}

/// Where a value came from a parameter or variable: on `line`, `value` is what `text` says
/// ("AllowedCidr defaults to 0.0.0.0/0", "var.cidr is 10.0.0.0/8 in terraform.tfvars").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub line: u32,
    pub value: String,
    pub text: String,
    /// The resource the note is about, when its line is evaluated once per instance (a
    /// `for_each`, a module call): a finding about another instance does not take it.
    pub resource: Option<String>,
}

/// What the user tells the front ends about the code's inputs.
#[derive(Debug, Clone, Default)]
pub struct ParseOptions {
    /// CloudFormation parameter values (`--cfn-param`, parameter files); they win over the
    /// templates' defaults, in every template that declares the parameter.
    pub cfn_params: BTreeMap<String, String>,
    /// Terraform variable values, in the order they apply: each `--var-file` (its path, its
    /// assignments), then `--var`s (labelled `--var`). They win over defaults and tfvars
    /// files, in every module that declares the variable.
    pub tf_vars: Vec<(String, Vec<(String, crate::node::Node)>)>,
}

/// Parses one file with every front end that recognises it. An empty result means the file
/// is of no kind airlock reads.
pub fn parse(file: &SourceFile) -> Vec<Parsed> {
    parse_with(file, &ParseOptions::default())
}

/// [`parse`], with the user's inputs.
pub fn parse_with(file: &SourceFile, options: &ParseOptions) -> Vec<Parsed> {
    let mut out = Vec::new();
    match candidate(&file.path) {
        Candidate::Terraform => out.push(terraform::parse(file)),
        Candidate::TerraformJson => out.push(terraform::parse_json(file)),
        Candidate::Yaml => out.extend(parse_yaml(file, options)),
        Candidate::Json => out.extend(parse_json(file, options)),
        Candidate::Dockerfile => out.push(dockerfile::parse(file)),
        Candidate::Other => {
            if dockerfile::is_dockerfile_content(&file.text) {
                out.push(dockerfile::parse(file));
            } else if awsconfig::is_aws_config(file) {
                out.push(awsconfig::parse(file));
            }
        }
    }
    out.extend(any_file(file));
    out
}

/// Credential files, found in any file by name and content.
fn any_file(file: &SourceFile) -> Option<Parsed> {
    let fact = credentials::detect(file)?;
    let mut parsed = Parsed::new(Format::AnyFile);
    parsed.facts.push(fact);
    Some(parsed)
}

/// The scan's first pass over a file: Terraform files only to their blocks, because their
/// values depend on the variables of the whole module directory; everything else to facts.
pub(crate) enum FirstPass {
    Done(Vec<Parsed>),
    Terraform {
        blocks: Result<Vec<terraform::TfBlock>, ScanError>,
        others: Vec<Parsed>,
    },
}

pub(crate) fn first_pass(file: &SourceFile, options: &ParseOptions) -> FirstPass {
    match candidate(&file.path) {
        kind @ (Candidate::Terraform | Candidate::TerraformJson) => FirstPass::Terraform {
            blocks: terraform::blocks(file, kind == Candidate::TerraformJson),
            others: any_file(file).into_iter().collect(),
        },
        _ => FirstPass::Done(parse_with(file, options)),
    }
}

fn parse_yaml(file: &SourceFile, options: &ParseOptions) -> Option<Parsed> {
    let docs = match yaml::load(file) {
        Ok(docs) => docs,
        Err(error) => {
            // A YAML file that does not parse is reported only if it looks like something we
            // read: a Helm template or an Ansible play with Jinja is not our business.
            return looks_like_ours(&file.text).then(|| Parsed {
                format: None,
                errors: vec![error],
                ..Parsed::default()
            });
        }
    };
    if let [doc] = docs.as_slice()
        && cloudformation::is_template(doc)
    {
        return Some(cloudformation::extract(file, doc, &options.cfn_params));
    }
    if docs.iter().any(kubernetes::is_manifest) {
        return Some(kubernetes::extract(file, &docs));
    }
    if docs.iter().any(cloudformation::is_template) {
        return Some(Parsed::error(
            Format::CloudFormation,
            file,
            1,
            "a CloudFormation template must be a single YAML document",
        ));
    }
    None
}

fn parse_json(file: &SourceFile, options: &ParseOptions) -> Option<Parsed> {
    let doc = match json::load(file) {
        Ok(doc) => doc,
        Err(error) => {
            return looks_like_ours(&file.text).then(|| Parsed {
                format: None,
                errors: vec![error],
                ..Parsed::default()
            });
        }
    };
    if cloudformation::is_template(&doc) {
        Some(cloudformation::extract(file, &doc, &options.cfn_params))
    } else if ecs::is_task_definition(&doc) {
        Some(ecs::extract(file, &doc))
    } else if iam::is_policy(&doc) {
        Some(iam::extract(file, &doc))
    } else if kubernetes::is_manifest(&doc) {
        Some(kubernetes::extract(file, std::slice::from_ref(&doc)))
    } else {
        None
    }
}

/// Whether unparseable text mentions what our formats are made of, so that a broken file of
/// ours is reported while somebody else's config is left alone.
fn looks_like_ours(text: &str) -> bool {
    const MARKERS: [&str; 7] = [
        "AWSTemplateFormatVersion",
        "AWS::",
        "apiVersion",
        "containerDefinitions",
        "\"Statement\"",
        "Statement:",
        "Resources:",
    ];
    MARKERS.iter().any(|m| text.contains(m))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_decide_the_candidate_kind() {
        assert_eq!(candidate("main.tf"), Candidate::Terraform);
        assert_eq!(candidate("x/main.tf.json"), Candidate::TerraformJson);
        assert_eq!(candidate("stack.YAML"), Candidate::Yaml);
        assert_eq!(candidate("app.template"), Candidate::Yaml);
        assert_eq!(candidate("taskdef.json"), Candidate::Json);
        assert_eq!(candidate("Dockerfile"), Candidate::Dockerfile);
        assert_eq!(candidate("dir/Dockerfile.prod"), Candidate::Dockerfile);
        assert_eq!(candidate("api.Dockerfile"), Candidate::Dockerfile);
        assert_eq!(candidate("00-Dockerfile"), Candidate::Dockerfile);
        assert_eq!(candidate("README.md"), Candidate::Other);
    }
}
