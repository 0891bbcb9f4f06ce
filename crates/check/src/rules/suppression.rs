//! Meta-rules about suppressions themselves; the scan raises them, not a rule's `check`.

use crate::finding::Severity;
use crate::rules::{Example, Format, RuleMeta};

const ALL_FORMATS: &[Format] = &[
    Format::Terraform,
    Format::CloudFormation,
    Format::Kubernetes,
    Format::Dockerfile,
    Format::AwsConfig,
];

pub static SUPPRESSION_WITHOUT_REASON: RuleMeta = RuleMeta {
    code: "SUP001",
    name: "suppression-without-reason",
    severity: Severity::Medium,
    practice: "Every accepted risk is written down with the reason it is acceptable.",
    formats: ALL_FORMATS,
    what: "An `airlock:ignore` comment or metadata entry that gives no reason. It is not honoured: the findings it names are still reported.",
    why: "A suppression is a decision to accept a risk. Without a reason, the next reviewer cannot tell a considered exception from a silenced alarm, and security teams cannot audit them.",
    fix: "Add the reason after the rule code. For example `# airlock:ignore NET001 bastion host, reachable only through the VPN`.",
    examples: &[Example {
        file: "Dockerfile",
        failing: "FROM alpine:3.20\n# airlock:ignore DKR001\nRUN apk add --no-cache curl\n",
        passing: "FROM alpine:3.20\nRUN apk add --no-cache curl\nUSER 10001\n",
    }],
    checkov: &[],
};

pub static UNUSED_SUPPRESSION: RuleMeta = RuleMeta {
    code: "SUP002",
    name: "unused-suppression",
    severity: Severity::Low,
    practice: "Suppressions are removed when the risk they accepted is gone.",
    formats: ALL_FORMATS,
    what: "An `airlock:ignore` suppression that matches no finding.",
    why: "A stale suppression silently pre-approves the next mistake of the same kind at that place.",
    fix: "Remove the suppression. If the rule code is misspelt, correct it.",
    examples: &[Example {
        file: "Dockerfile",
        failing: "FROM alpine:3.20\n# airlock:ignore DKR003 pinned by the build system\nUSER 10001\n",
        passing: "FROM alpine:3.20\nUSER 10001\n",
    }],
    checkov: &[],
};

pub static META: [&RuleMeta; 2] = [&SUPPRESSION_WITHOUT_REASON, &UNUSED_SUPPRESSION];
