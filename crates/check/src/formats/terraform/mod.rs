//! Terraform: `.tf` (HCL, through hcl-edit) and `.tf.json`, to facts.
//!
//! Both syntaxes become the same [`TfBlock`]s (a top-level block with its labels and its body
//! as a [`Node`] map), and one extractor turns those into facts. Nothing is evaluated:
//! variables, references and function calls stay unknown (their source text is kept as the
//! origin), so a rule never reports on them. Modules are not followed.

mod extract;
mod hcl;
mod tfjson;

#[cfg(test)]
mod tests;

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

/// Parses a `.tf` file.
pub fn parse(file: &SourceFile) -> Parsed {
    match hcl::blocks(file) {
        Ok(blocks) => extract::facts(file, &blocks),
        Err(error) => {
            let mut parsed = Parsed::new(Format::Terraform);
            parsed.errors.push(error);
            parsed
        }
    }
}

/// Parses a `.tf.json` file.
pub fn parse_json(file: &SourceFile) -> Parsed {
    match tfjson::blocks(file) {
        Ok(blocks) => extract::facts(file, &blocks),
        Err(error) => {
            let mut parsed = Parsed::new(Format::Terraform);
            parsed.errors.push(error);
            parsed
        }
    }
}
