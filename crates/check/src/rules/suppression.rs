//! Meta-rules about suppressions themselves; the scan raises them, not a rule's `check`.

use crate::finding::Severity;
use crate::rules::{Example, Format, RuleMeta};

const ALL_FORMATS: &[Format] = &[
    Format::Terraform,
    Format::CloudFormation,
    Format::Kubernetes,
    Format::Dockerfile,
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
    examples: &[
        Example {
            file: "Dockerfile",
            failing: "FROM alpine:3.20\nHEALTHCHECK CMD [\"true\"]\n# airlock:ignore DKR001\nRUN apk add --no-cache curl\n",
            passing: "FROM alpine:3.20\nHEALTHCHECK CMD [\"true\"]\n# airlock:ignore DKR001 the image only runs as a one-shot CI tool\nRUN apk add --no-cache curl\n",
        },
        Example {
            file: "main.tf",
            failing: r#"resource "aws_cloudwatch_log_group" "app" {
  # airlock:ignore LOG001
  name = "/app/web"
}
"#,
            passing: r#"resource "aws_cloudwatch_log_group" "app" {
  # airlock:ignore LOG001 logs are exported nightly and expired by the archive
  name = "/app/web"
}
"#,
        },
        Example {
            file: "template.yaml",
            failing: "Resources:\n  AppLogs:\n    Type: AWS::Logs::LogGroup\n    Metadata:\n      airlock:\n        ignore:\n          - rule: LOG001\n    Properties:\n      LogGroupName: /app/web\n",
            passing: "Resources:\n  AppLogs:\n    Type: AWS::Logs::LogGroup\n    Metadata:\n      airlock:\n        ignore:\n          - rule: LOG001\n            reason: exported nightly and expired by the archive\n    Properties:\n      LogGroupName: /app/web\n",
        },
        Example {
            file: "deployment.yaml",
            failing: "apiVersion: v1\nkind: Pod\nmetadata:\n  name: batch\nspec:\n  securityContext:\n    runAsNonRoot: true\n  containers:\n    - name: main\n      # airlock:ignore K8S009\n      image: registry.example.com/batch@sha256:0f3c8d6b2a1e9f7c5d4b3a2918e7f6d5c4b3a29180f7e6d5c4b3a2918e7f6d5c\n      securityContext:\n        allowPrivilegeEscalation: false\n        readOnlyRootFilesystem: true\n        capabilities:\n          drop: [ALL]\n",
            passing: "apiVersion: v1\nkind: Pod\nmetadata:\n  name: batch\nspec:\n  securityContext:\n    runAsNonRoot: true\n  containers:\n    - name: main\n      # airlock:ignore K8S009 a batch pod receives no traffic\n      image: registry.example.com/batch@sha256:0f3c8d6b2a1e9f7c5d4b3a2918e7f6d5c4b3a29180f7e6d5c4b3a2918e7f6d5c\n      securityContext:\n        allowPrivilegeEscalation: false\n        readOnlyRootFilesystem: true\n        capabilities:\n          drop: [ALL]\n",
        },
    ],
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
    examples: &[
        Example {
            file: "Dockerfile",
            failing: "FROM alpine:3.20\nHEALTHCHECK CMD [\"true\"]\n# airlock:ignore DKR004 debugging access\nUSER 10001\n",
            passing: "FROM alpine:3.20\nHEALTHCHECK CMD [\"true\"]\nUSER 10001\n",
        },
        Example {
            file: "main.tf",
            failing: r#"resource "aws_cloudwatch_log_group" "app" {
  # airlock:ignore LOG001 kept forever for audit
  name              = "/app/web"
  retention_in_days = 30
}
"#,
            passing: r#"resource "aws_cloudwatch_log_group" "app" {
  name              = "/app/web"
  retention_in_days = 30
}
"#,
        },
        Example {
            file: "template.yaml",
            failing: "Resources:\n  AppLogs:\n    Type: AWS::Logs::LogGroup\n    # airlock:ignore LOG001 kept forever for audit\n    Properties:\n      LogGroupName: /app/web\n      RetentionInDays: 30\n",
            passing: "Resources:\n  AppLogs:\n    Type: AWS::Logs::LogGroup\n    Properties:\n      LogGroupName: /app/web\n      RetentionInDays: 30\n",
        },
        Example {
            file: "deployment.yaml",
            failing: "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec:\n  securityContext:\n    runAsNonRoot: true\n  containers:\n    - name: main\n      # airlock:ignore K8S001 needs raw sockets\n      image: registry.example.com/web@sha256:0f3c8d6b2a1e9f7c5d4b3a2918e7f6d5c4b3a29180f7e6d5c4b3a2918e7f6d5c\n      readinessProbe:\n        httpGet: {path: /healthz, port: 8080}\n      securityContext:\n        allowPrivilegeEscalation: false\n        readOnlyRootFilesystem: true\n        capabilities:\n          drop: [ALL]\n",
            passing: "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec:\n  securityContext:\n    runAsNonRoot: true\n  containers:\n    - name: main\n      image: registry.example.com/web@sha256:0f3c8d6b2a1e9f7c5d4b3a2918e7f6d5c4b3a29180f7e6d5c4b3a2918e7f6d5c\n      readinessProbe:\n        httpGet: {path: /healthz, port: 8080}\n      securityContext:\n        allowPrivilegeEscalation: false\n        readOnlyRootFilesystem: true\n        capabilities:\n          drop: [ALL]\n",
        },
    ],
    checkov: &[],
};

pub static META: [&RuleMeta; 2] = [&SUPPRESSION_WITHOUT_REASON, &UNUSED_SUPPRESSION];
