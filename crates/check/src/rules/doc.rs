//! Rule documentation pages, generated from the registry (docs/rules/ in the repository).
//! `AIRLOCK_UPDATE_DOCS=1 cargo test -p airlock-check --test rules` rewrites them; the same
//! test fails when a page is out of date.

use std::fmt::Write;

use crate::rules::{Format, RuleMeta};

fn fence(format: Format, file: &str) -> &'static str {
    match format {
        Format::Terraform if file.ends_with(".json") => "json",
        Format::Terraform => "hcl",
        Format::Dockerfile => "dockerfile",
        Format::AwsConfig => "ini",
        _ if file.ends_with(".json") => "json",
        _ if file.ends_with(".yaml") || file.ends_with(".yml") => "yaml",
        _ => "text",
    }
}

/// The format an example file name stands for, by the same rules discovery uses.
pub fn example_format(file: &str, meta: &RuleMeta) -> Format {
    let lower = file.to_ascii_lowercase();
    if lower.ends_with(".tf") || lower.ends_with(".tf.json") {
        Format::Terraform
    } else if crate::formats::candidate(file) == crate::formats::Candidate::Dockerfile {
        Format::Dockerfile
    } else if lower.ends_with("config") || lower.ends_with("credentials") {
        Format::AwsConfig
    } else {
        // YAML/JSON samples: the first of the rule's formats that a YAML/JSON file can be.
        meta.formats
            .iter()
            .copied()
            .find(|f| {
                matches!(
                    f,
                    Format::CloudFormation
                        | Format::Kubernetes
                        | Format::EcsTaskDefinition
                        | Format::IamPolicy
                )
            })
            .unwrap_or(Format::AnyFile)
    }
}

/// One rule's page, in Markdown.
pub fn render(meta: &RuleMeta) -> String {
    let mut page = String::new();
    let formats: Vec<&str> = meta.formats.iter().map(|f| f.as_str()).collect();
    let _ = writeln!(page, "# {} {}\n", meta.code, meta.name);
    let _ = writeln!(
        page,
        "<!-- Generated from crates/check/src/rules; do not edit by hand. -->\n"
    );
    let _ = writeln!(page, "| | |\n|---|---|");
    let _ = writeln!(page, "| severity | {} |", meta.severity);
    let _ = writeln!(page, "| formats | {} |", formats.join(", "));
    if !meta.checkov.is_empty() {
        let _ = writeln!(page, "| checkov | {} |", meta.checkov.join(", "));
    }
    let _ = writeln!(page, "\n**Practice:** {}\n", meta.practice);
    let _ = writeln!(page, "## What it finds\n\n{}\n", meta.what);
    let _ = writeln!(page, "## Why it matters\n\n{}\n", meta.why);
    let _ = writeln!(page, "## How to fix\n\n{}\n", meta.fix);
    let _ = writeln!(
        page,
        "To accept the risk in one place, say why: `# airlock:ignore {} <reason>`.\n",
        meta.code
    );
    let _ = writeln!(page, "## Examples");
    if crate::rules::accounts::needs_convention(meta.code) {
        let _ = writeln!(
            page,
            "\nThe examples are read with this convention in `airlock.toml`; without an \
             `[accounts]` section the rule does not run.\n\n```toml\n{}```",
            crate::rules::accounts::EXAMPLE_CONVENTION
        );
    }
    for example in meta.examples {
        let format = example_format(example.file, meta);
        let lang = fence(format, example.file);
        let _ = writeln!(page, "\n### {} (`{}`)\n", format.as_str(), example.file);
        let _ = writeln!(
            page,
            "Failing:\n\n```{lang}\n{}\n```\n",
            example.failing.trim_end()
        );
        let _ = writeln!(
            page,
            "Passing:\n\n```{lang}\n{}\n```",
            example.passing.trim_end()
        );
    }
    page
}

/// The index page listing every rule.
pub fn render_index(metas: &[&RuleMeta]) -> String {
    let mut page = String::from(
        "# airlock check rules\n\n<!-- Generated from crates/check/src/rules; do not edit by hand. -->\n\n\
         | code | name | severity | formats | practice |\n|---|---|---|---|---|\n",
    );
    for meta in metas {
        let formats: Vec<&str> = meta.formats.iter().map(|f| f.as_str()).collect();
        let _ = writeln!(
            page,
            "| [{code}]({code}.md) | {} | {} | {} | {} |",
            meta.name,
            meta.severity,
            formats.join(", "),
            meta.practice,
            code = meta.code
        );
    }
    page
}
