//! The rule registry: every rule with a stable code, a kebab-case name, a default severity,
//! the practice it enforces, the formats it applies to, and its documentation and examples.
//!
//! One file per rule family. A rule looks at the normalised [`crate::model`], never at a
//! format's syntax, so it holds in every format that can express the resource.
//!
//! Each rule's examples are its documentation *and* its tests: `tests::examples` scans every
//! failing example (it must raise the rule) and every passing one (it must not).

use std::sync::LazyLock;

use crate::finding::{Finding, Severity};
use crate::model::Fact;

pub mod accounts;
pub mod containers;
pub mod doc;
pub mod dockerfile;
pub mod encryption;
pub mod iam;
pub mod kubernetes;
pub mod network;
pub mod registry;
pub mod secrets;
pub mod suppression;

/// The input formats airlock reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Format {
    Terraform,
    CloudFormation,
    Kubernetes,
    Dockerfile,
    EcsTaskDefinition,
    IamPolicy,
    AwsConfig,
    /// Any file: credential files are found by name and content.
    AnyFile,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Terraform => "terraform",
            Format::CloudFormation => "cloudformation",
            Format::Kubernetes => "kubernetes",
            Format::Dockerfile => "dockerfile",
            Format::EcsTaskDefinition => "ecs-task-definition",
            Format::IamPolicy => "iam-policy",
            Format::AwsConfig => "aws-config",
            Format::AnyFile => "any-file",
        }
    }
}

/// A sample for the rule's doc page and tests: a file name (it decides how the sample is
/// read) and its content.
#[derive(Debug, Clone, Copy)]
pub struct Example {
    pub file: &'static str,
    pub failing: &'static str,
    pub passing: &'static str,
}

/// Everything about a rule except its logic.
#[derive(Debug)]
pub struct RuleMeta {
    /// Stable code: a family prefix and a number (`NET001`). Never reused or renumbered.
    pub code: &'static str,
    /// kebab-case, unique.
    pub name: &'static str,
    pub severity: Severity,
    /// The practice the rule enforces, in one sentence.
    pub practice: &'static str,
    pub formats: &'static [Format],
    /// What the rule finds.
    pub what: &'static str,
    /// Why it matters.
    pub why: &'static str,
    /// How to fix it; the first sentence is the one-line hint in reports.
    pub fix: &'static str,
    /// At least one per format in `formats`.
    pub examples: &'static [Example],
    /// checkov check ids that look for the same thing, for parity work and the doc page.
    pub checkov: &'static [&'static str],
}

impl RuleMeta {
    /// The first sentence of `fix`.
    pub fn hint(&self) -> &'static str {
        match self.fix.find(". ") {
            Some(end) => &self.fix[..=end],
            None => self.fix,
        }
    }

    /// Where the rule's documentation lives.
    pub fn doc_url(&self) -> String {
        format!("{DOCS_BASE}/{}.md", self.code)
    }
}

/// Base URL of the generated rule pages (docs/rules/ in the repository).
pub const DOCS_BASE: &str = "https://github.com/airlock-dev/airlock/blob/main/docs/rules";

/// The facts a rule sees at once: one file, or for Terraform one module directory (so that
/// "a VPC with no flow log in the same module" can be decided).
#[derive(Debug, Default)]
pub struct Unit {
    pub facts: Vec<Fact>,
    /// The account naming convention of `[accounts]` in airlock.toml, for the ACC rules.
    pub convention: Option<std::sync::Arc<airlock_accounts::Convention>>,
}

pub trait Rule: Send + Sync {
    fn meta(&self) -> &'static RuleMeta;
    fn check(&self, unit: &Unit, out: &mut Vec<Finding>);
}

/// Every rule, in code order.
pub fn all() -> &'static [&'static dyn Rule] {
    static ALL: LazyLock<Vec<&'static dyn Rule>> = LazyLock::new(|| {
        let mut rules: Vec<&'static dyn Rule> = Vec::new();
        rules.extend_from_slice(accounts::RULES);
        rules.extend_from_slice(network::RULES);
        rules.extend_from_slice(secrets::RULES);
        rules.extend_from_slice(containers::RULES);
        rules.extend_from_slice(kubernetes::RULES);
        rules.extend_from_slice(dockerfile::RULES);
        rules.extend_from_slice(registry::RULES);
        rules.extend_from_slice(iam::RULES);
        rules.extend_from_slice(encryption::RULES);
        rules.sort_by_key(|r| r.meta().code);
        rules
    });
    &ALL
}

/// Metadata of every rule, including the suppression meta-rules that the scan raises itself.
pub fn all_meta() -> Vec<&'static RuleMeta> {
    let mut metas: Vec<&'static RuleMeta> = all().iter().map(|r| r.meta()).collect();
    metas.extend(suppression::META);
    metas.sort_by_key(|m| m.code);
    metas
}

pub fn find(code_or_name: &str) -> Option<&'static RuleMeta> {
    all_meta()
        .into_iter()
        .find(|m| m.code.eq_ignore_ascii_case(code_or_name) || m.name == code_or_name)
}
