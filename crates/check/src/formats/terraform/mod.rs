//! Terraform: `.tf` (HCL, through hcl-edit) and `.tf.json`, to facts.
//!
//! Both syntaxes become the same [`TfBlock`]s (a top-level block with its labels and its body
//! as a [`Node`] map), and one extractor turns those into facts. Before that, a module
//! directory's expressions are evaluated ([`eval`]: variables from defaults, tfvars files and
//! the user's values; locals; conditionals, `for` expressions, operators and the common
//! functions of [`functions`]), and resources and data sources with a known `for_each` or
//! `count` become one block per instance, `dynamic` blocks one block per item ([`expand`]).
//! Local module calls instantiate the called directory with the call's arguments
//! ([`modules`]); registry and remote modules are not fetched. What cannot be decided
//! (resource attributes, unknown functions, what depends on them) stays unknown, its source
//! text kept as the origin, so a rule never reports on it.

mod eval;
mod expand;
mod extract;
mod functions;
mod hcl;
mod modules;
mod tfjson;

pub use eval::ModuleInputs;
pub(crate) use eval::TfVars;
pub(crate) use modules::{Directories, ModuleFile, ModuleInstance, directory};

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
    /// The address of this instance of a resource or data source when it is not the one its
    /// labels give: `aws_security_group.web["ssh"]` for an instance of a `for_each`.
    pub address: Option<String>,
    /// The address of the module instance the block is in, with a dot (`module.sg.`); empty
    /// in a root module. The block's references (`aws_vpc.this.id`) are to its siblings.
    pub module: String,
}

impl TfBlock {
    fn label(&self, index: usize) -> &str {
        self.labels.get(index).map(String::as_str).unwrap_or("")
    }

    /// The address the code refers to the block by: `aws_vpc.main`, `data.TYPE.NAME`.
    fn local_address(&self) -> String {
        match self.kind.as_str() {
            "data" => format!("data.{}.{}", self.label(0), self.label(1)),
            _ => format!("{}.{}", self.label(0), self.label(1)),
        }
    }

    /// The address findings name: this instance's.
    fn address(&self) -> String {
        self.address.clone().unwrap_or_else(|| self.local_address())
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
            facts_with(file, &blocks, &inputs, Evaluated::Root)
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

/// How a file's blocks are evaluated.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Evaluated<'a> {
    /// In a root module: all of them.
    Root,
    /// In a directory other directories call, on its own: only what does not depend on a
    /// call (variables, providers, locals, settings), no resources or data sources.
    CalledModule,
    /// In one instance of a module call: its resources and data sources, under its address.
    Instance(&'a ModuleInstance),
}

/// The facts of a file's blocks, with the module's inputs evaluated and each resource and
/// data source expanded into its instances.
pub(crate) fn facts_with(
    file: &SourceFile,
    blocks: &[TfBlock],
    inputs: &ModuleInputs,
    how: Evaluated<'_>,
) -> Parsed {
    let scope = eval::Scope::new(inputs);
    let prefix = match how {
        Evaluated::Instance(instance) => format!("{}.", instance.address),
        _ => String::new(),
    };
    let mut notes = Vec::new();
    let mut resolved = Vec::with_capacity(blocks.len());
    for block in blocks {
        let instantiated = matches!(block.kind.as_str(), "resource" | "data");
        let wanted = match how {
            Evaluated::Root => true,
            Evaluated::CalledModule => !instantiated,
            Evaluated::Instance(_) => instantiated,
        };
        if !wanted {
            continue;
        }
        let instances = match instantiated {
            true => expand::instances(&block.body, &scope),
            false => vec![expand::Instance {
                key: String::new(),
                binding: None,
            }],
        };
        for instance in instances {
            let scope = scope.with(instance.binding);
            let mut taken = Vec::new();
            let body = scope.resolve(&block.body, &mut taken);
            let address = (!instance.key.is_empty() || !prefix.is_empty())
                .then(|| format!("{prefix}{}{}", block.local_address(), instance.key));
            for note in &mut taken {
                note.resource.clone_from(&address);
            }
            notes.extend(taken);
            resolved.push(TfBlock {
                body,
                address,
                module: prefix.clone(),
                ..block.clone()
            });
        }
    }
    let mut parsed = extract::facts(file, &resolved);
    parsed.notes = notes;
    if let Evaluated::Instance(instance) = how {
        parsed.through = Some(crate::formats::Through {
            address: instance.address.clone(),
            calls: instance.calls.clone(),
            root_file: instance.root_file.clone(),
            root: instance.root.clone(),
        });
    }
    parsed
}
