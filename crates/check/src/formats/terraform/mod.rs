//! Terraform: `.tf` (HCL, through hcl-edit) and `.tf.json`, to facts.
//!
//! Both syntaxes become the same [`TfBlock`]s (a top-level block with its labels and its body
//! as a [`Node`] map), and one extractor turns those into facts. A module directory's
//! variables are evaluated ([`eval`]: defaults and tfvars files); locals, references and
//! function calls stay unknown (their source text is kept as the origin), so a rule never
//! reports on them. Modules are not followed.

mod eval;
mod extract;
mod hcl;
mod tfjson;

pub use eval::ModuleInputs;
pub(crate) use eval::TfVars;

#[cfg(test)]
mod tests;

use crate::finding::ScanError;
use crate::formats::Parsed;
use crate::node::{Node, Span};
use crate::rules::Format;
use crate::source::SourceFile;

/// A top-level block: `resource "aws_vpc" "main" { ... }` has kind `resource`, labels
/// `["aws_vpc", "main"]`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TfBlock {
    pub kind: String,
    pub labels: Vec<String>,
    /// The body as a map; nested blocks of one type repeated become a list of maps.
    pub body: Node,
    pub span: Span,
}

impl TfBlock {
    fn label(&self, index: usize) -> &str {
        self.labels.get(index).map(String::as_str).unwrap_or("")
    }
}

/// Parses a `.tf` file on its own: its variables are the only ones it sees.
pub fn parse(file: &SourceFile) -> Parsed {
    alone(file, hcl::blocks(file))
}

/// Parses a `.tf.json` file on its own.
pub fn parse_json(file: &SourceFile) -> Parsed {
    alone(file, tfjson::blocks(file))
}

fn alone(file: &SourceFile, blocks: Result<Vec<TfBlock>, ScanError>) -> Parsed {
    match blocks {
        Ok(blocks) => {
            let inputs = ModuleInputs::new(&blocks, &mut [], &[]);
            facts_with(file, &blocks, &inputs)
        }
        Err(error) => parse_error(error),
    }
}

pub(crate) fn parse_error(error: ScanError) -> Parsed {
    let mut parsed = Parsed::new(Format::Terraform);
    parsed.errors.push(error);
    parsed
}

/// The blocks of a `.tf` or `.tf.json` file, for the scan to gather a module's variables.
pub(crate) fn blocks(file: &SourceFile, json: bool) -> Result<Vec<TfBlock>, ScanError> {
    if json {
        tfjson::blocks(file)
    } else {
        hcl::blocks(file)
    }
}

/// A `terraform.tfvars` or `*.auto.tfvars` file's assignments (`None` for any other file,
/// or one that does not parse: Terraform would refuse it, and it is not ours to report).
pub(crate) fn tfvars(file: &SourceFile) -> Option<TfVars<'_>> {
    let name = file.name();
    if name != "terraform.tfvars" && !name.ends_with(".auto.tfvars") {
        return None;
    }
    Some(TfVars {
        name,
        values: hcl::attributes(file)?,
    })
}

/// A `--var-file`'s assignments; the error says what is wrong (the caller names the file).
pub fn var_file(text: &str) -> Result<Vec<(String, Node)>, String> {
    let file = SourceFile::new("var-file", text);
    hcl::attributes(&file).ok_or_else(|| "not a tfvars file (`name = value` lines)".to_string())
}

/// A `--var NAME=VALUE` value: an HCL literal (`["10.0.0.0/8"]`, `443`, `"x"`) when it is
/// one, otherwise the text as a string, as Terraform reads it.
pub fn var_value(text: &str) -> Node {
    let span = Span::line(1);
    match hcl::expression(text, span) {
        Some(node) if !node.is_unknown() => node,
        _ => Node::string(text, span),
    }
}

/// The facts of a file's blocks, with the module's variables evaluated.
pub(crate) fn facts_with(file: &SourceFile, blocks: &[TfBlock], inputs: &ModuleInputs) -> Parsed {
    // Without a `var.` or `local.` in the text there is nothing to evaluate, and no tree to
    // rebuild.
    if inputs.is_empty() || !(file.text.contains("var.") || file.text.contains("local.")) {
        return extract::facts(file, blocks);
    }
    let mut notes = Vec::new();
    let resolved: Vec<TfBlock> = blocks
        .iter()
        .map(|block| TfBlock {
            body: inputs.resolve(&block.body, &mut notes),
            ..block.clone()
        })
        .collect();
    let mut parsed = extract::facts(file, &resolved);
    parsed.notes = notes;
    parsed
}
