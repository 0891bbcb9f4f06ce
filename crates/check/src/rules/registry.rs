//! ECR repositories: image scanning, tag immutability, who may pull and push, and
//! encryption with a customer-chosen KMS key.

use crate::finding::{Finding, Severity};
use crate::model::{EcrRepository, Fact, Known, Policy, PolicyKind};
use crate::rules::iam::{is_allow, is_wildcard_principal, restricts_key, statement_label};
use crate::rules::{Example, Format, Rule, RuleMeta, Unit};

pub static RULES: &[&dyn Rule] = &[
    &EcrScanOnPushDisabled,
    &EcrMutableTags,
    &EcrPolicyOpen,
    &EcrNoKms,
];

fn repositories(unit: &Unit) -> impl Iterator<Item = &EcrRepository> {
    unit.facts.iter().filter_map(|fact| match fact {
        Fact::EcrRepository(repository) => Some(repository),
        _ => None,
    })
}

// ---------------------------------------------------------------------------------------

pub struct EcrScanOnPushDisabled;

static ECR001: RuleMeta = RuleMeta {
    code: "ECR001",
    name: "ecr-scan-on-push-disabled",
    severity: Severity::Medium,
    practice: "Every image pushed to ECR is scanned for known vulnerabilities.",
    formats: &[Format::Terraform, Format::CloudFormation],
    what: "An ECR repository whose scan_on_push / ScanOnPush is false or not set (AWS's default is off).",
    why: "Without scanning, images with known critical CVEs in their OS packages or language dependencies are deployed without anyone being told; the scan result on push is the cheapest point to catch them.",
    fix: "Set scan_on_push = true in image_scanning_configuration (ScanOnPush: true in CloudFormation). Alternatively enable Amazon Inspector enhanced scanning for the registry and suppress this finding with that reason.",
    examples: &[
        Example {
            file: "main.tf",
            failing: r#"resource "aws_ecr_repository" "api" {
  name                 = "api"
  image_tag_mutability = "IMMUTABLE"

  encryption_configuration {
    encryption_type = "KMS"
  }
}
"#,
            passing: r#"resource "aws_ecr_repository" "api" {
  name                 = "api"
  image_tag_mutability = "IMMUTABLE"

  image_scanning_configuration {
    scan_on_push = true
  }

  encryption_configuration {
    encryption_type = "KMS"
  }
}
"#,
        },
        Example {
            file: "template.yaml",
            failing: r#"AWSTemplateFormatVersion: "2010-09-09"
Resources:
  ApiRepository:
    Type: AWS::ECR::Repository
    Properties:
      RepositoryName: api
      ImageTagMutability: IMMUTABLE
      ImageScanningConfiguration:
        ScanOnPush: false
      EncryptionConfiguration:
        EncryptionType: KMS
"#,
            passing: r#"AWSTemplateFormatVersion: "2010-09-09"
Resources:
  ApiRepository:
    Type: AWS::ECR::Repository
    Properties:
      RepositoryName: api
      ImageTagMutability: IMMUTABLE
      ImageScanningConfiguration:
        ScanOnPush: true
      EncryptionConfiguration:
        EncryptionType: KMS
"#,
        },
    ],
    checkov: &["CKV_AWS_163"],
};

impl Rule for EcrScanOnPushDisabled {
    fn meta(&self) -> &'static RuleMeta {
        &ECR001
    }

    fn check(&self, unit: &Unit, out: &mut Vec<Finding>) {
        for repository in repositories(unit) {
            let state = match repository.scan_on_push {
                Known::Value(false) => "disabled",
                Known::Absent => "not enabled (it is off by default)",
                Known::Value(true) | Known::Unknown(_) => continue,
            };
            out.push(Finding::new(
                &ECR001,
                &repository.at,
                "scan_on_push",
                format!(
                    "ECR repository {} has scan on push {state}",
                    repository.at.resource
                ),
            ));
        }
    }
}

// ---------------------------------------------------------------------------------------

pub struct EcrMutableTags;

static ECR002: RuleMeta = RuleMeta {
    code: "ECR002",
    name: "ecr-mutable-tags",
    severity: Severity::Medium,
    practice: "Image tags in ECR are immutable, so a tag always names the image that was tested.",
    formats: &[Format::Terraform, Format::CloudFormation],
    what: "An ECR repository whose image_tag_mutability / ImageTagMutability is MUTABLE or not set (AWS's default is MUTABLE).",
    why: "With mutable tags anyone who can push can replace the image behind `v1.4.2` or `prod`; running services pick up the new image on their next restart, so a compromised CI job or credential silently replaces production code, and rollbacks are no longer reproducible.",
    fix: "Set image_tag_mutability = \"IMMUTABLE\" (ImageTagMutability: IMMUTABLE) and give every build a unique tag such as the commit SHA. Deploy by digest where the platform supports it.",
    examples: &[
        Example {
            file: "main.tf",
            failing: r#"resource "aws_ecr_repository" "api" {
  name                 = "api"
  image_tag_mutability = "MUTABLE"

  image_scanning_configuration {
    scan_on_push = true
  }

  encryption_configuration {
    encryption_type = "KMS"
  }
}
"#,
            passing: r#"resource "aws_ecr_repository" "api" {
  name                 = "api"
  image_tag_mutability = "IMMUTABLE"

  image_scanning_configuration {
    scan_on_push = true
  }

  encryption_configuration {
    encryption_type = "KMS"
  }
}
"#,
        },
        Example {
            file: "template.yaml",
            failing: r#"AWSTemplateFormatVersion: "2010-09-09"
Resources:
  ApiRepository:
    Type: AWS::ECR::Repository
    Properties:
      RepositoryName: api
      ImageScanningConfiguration:
        ScanOnPush: true
      EncryptionConfiguration:
        EncryptionType: KMS
"#,
            passing: r#"AWSTemplateFormatVersion: "2010-09-09"
Resources:
  ApiRepository:
    Type: AWS::ECR::Repository
    Properties:
      RepositoryName: api
      ImageTagMutability: IMMUTABLE
      ImageScanningConfiguration:
        ScanOnPush: true
      EncryptionConfiguration:
        EncryptionType: KMS
"#,
        },
    ],
    checkov: &["CKV_AWS_51"],
};

impl Rule for EcrMutableTags {
    fn meta(&self) -> &'static RuleMeta {
        &ECR002
    }

    fn check(&self, unit: &Unit, out: &mut Vec<Finding>) {
        for repository in repositories(unit) {
            let state = match &repository.tag_mutability {
                // IMMUTABLE_WITH_EXCLUSION keeps release tags immutable: it passes.
                Known::Value(v) if v.trim().to_ascii_uppercase().starts_with("IMMUTABLE") => {
                    continue;
                }
                Known::Value(v) => format!("tag mutability {}", v.trim()),
                Known::Absent => "mutable tags (the default)".to_string(),
                Known::Unknown(_) => continue,
            };
            out.push(Finding::new(
                &ECR002,
                &repository.at,
                "image_tag_mutability",
                format!("ECR repository {} has {state}", repository.at.resource),
            ));
        }
    }
}

// ---------------------------------------------------------------------------------------

pub struct EcrPolicyOpen;

static ECR003: RuleMeta = RuleMeta {
    code: "ECR003",
    name: "ecr-policy-open",
    severity: Severity::Critical,
    practice: "An ECR repository policy names the accounts, roles or services that may use the repository.",
    formats: &[Format::Terraform, Format::CloudFormation],
    what: "An ECR repository policy (aws_ecr_repository_policy, or RepositoryPolicyText of AWS::ECR::Repository) with an Allow statement for Principal `*` or `{\"AWS\": \"*\"}` and no condition that restricts the caller (a positive match on aws:PrincipalOrgID, aws:PrincipalOrgPaths, aws:PrincipalAccount, aws:PrincipalArn, aws:SourceAccount, aws:SourceArn, aws:SourceVpc or aws:SourceVpce).",
    why: "Every AWS account in the world can then use the repository: pull images (and the credentials, internal code and configuration baked into them) or, if push actions are allowed, replace images that production runs.",
    fix: "Replace the wildcard with the account or role ARNs that need access. To share with your whole organisation, keep the wildcard and add a StringEquals condition on aws:PrincipalOrgID.",
    examples: &[
        Example {
            file: "main.tf",
            failing: r#"resource "aws_ecr_repository_policy" "api" {
  repository = "api"
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "Pull"
      Effect    = "Allow"
      Principal = "*"
      Action    = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
    }]
  })
}
"#,
            passing: r#"resource "aws_ecr_repository_policy" "api" {
  repository = "api"
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "Pull"
      Effect    = "Allow"
      Principal = { AWS = "arn:aws:iam::444455556666:root" }
      Action    = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
    }]
  })
}
"#,
        },
        Example {
            file: "template.yaml",
            failing: r#"AWSTemplateFormatVersion: "2010-09-09"
Resources:
  ApiRepository:
    Type: AWS::ECR::Repository
    Properties:
      RepositoryName: api
      ImageTagMutability: IMMUTABLE
      ImageScanningConfiguration:
        ScanOnPush: true
      RepositoryPolicyText:
        Version: "2012-10-17"
        Statement:
          - Sid: Pull
            Effect: Allow
            Principal:
              AWS: "*"
            Action:
              - ecr:BatchGetImage
              - ecr:GetDownloadUrlForLayer
"#,
            passing: r#"AWSTemplateFormatVersion: "2010-09-09"
Resources:
  ApiRepository:
    Type: AWS::ECR::Repository
    Properties:
      RepositoryName: api
      ImageTagMutability: IMMUTABLE
      ImageScanningConfiguration:
        ScanOnPush: true
      RepositoryPolicyText:
        Version: "2012-10-17"
        Statement:
          - Sid: Pull
            Effect: Allow
            Principal:
              AWS: "*"
            Action:
              - ecr:BatchGetImage
              - ecr:GetDownloadUrlForLayer
            Condition:
              StringEquals:
                aws:PrincipalOrgID: o-a1b2c3d4e5
"#,
        },
    ],
    checkov: &["CKV_AWS_32"],
};

/// Condition keys that limit a wildcard principal to known callers (IAM009 reads them too).
pub(crate) const CALLER_RESTRICTING_KEYS: [&str; 8] = [
    "aws:PrincipalOrgID",
    "aws:PrincipalOrgPaths",
    "aws:PrincipalAccount",
    "aws:PrincipalArn",
    "aws:SourceAccount",
    "aws:SourceArn",
    "aws:SourceVpc",
    "aws:SourceVpce",
];

impl EcrPolicyOpen {
    /// Whether the policy governs an ECR repository: the front end says so through
    /// `attached_to`, or (Terraform) the resource address is an ECR repository policy.
    pub(crate) fn governs_ecr_repository(policy: &Policy) -> bool {
        const ECR_TYPES: [&str; 3] = [
            "aws_ecr_repository_policy",
            "aws_ecr_repository",
            "AWS::ECR::Repository",
        ];
        let declared = policy
            .attached_to
            .as_deref()
            .is_some_and(|t| ECR_TYPES.iter().any(|e| t.trim().eq_ignore_ascii_case(e)));
        declared || policy.at.resource.starts_with("aws_ecr_repository_policy.")
    }
}

impl Rule for EcrPolicyOpen {
    fn meta(&self) -> &'static RuleMeta {
        &ECR003
    }

    fn check(&self, unit: &Unit, out: &mut Vec<Finding>) {
        for fact in &unit.facts {
            let Fact::Policy(policy) = fact else {
                continue;
            };
            if policy.kind != PolicyKind::Resource || !Self::governs_ecr_repository(policy) {
                continue;
            }
            for (index, statement) in policy.statements.iter().enumerate() {
                if !is_allow(statement) || !statement.principals.iter().any(is_wildcard_principal) {
                    continue;
                }
                if statement
                    .conditions
                    .iter()
                    .any(|c| restricts_key(c, &CALLER_RESTRICTING_KEYS))
                {
                    continue;
                }
                let (discriminator, label) = statement_label(index, statement);
                out.push(Finding::new(
                    &ECR003,
                    &policy.at.at(statement.span),
                    &discriminator,
                    format!(
                        "ECR repository policy {} {label} allows any AWS principal (*) without a restricting condition",
                        policy.at.resource
                    ),
                ));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------

pub struct EcrNoKms;

static ECR004: RuleMeta = RuleMeta {
    code: "ECR004",
    name: "ecr-no-kms",
    severity: Severity::Low,
    practice: "ECR repositories are encrypted with a KMS key whose use you control and audit.",
    formats: &[Format::Terraform, Format::CloudFormation],
    what: "An ECR repository whose encryption_type / EncryptionType is AES256 or not set (the default, AES256 with an AWS-owned key).",
    why: "Images are always encrypted at rest, but with AES256 access to the data is governed only by ECR permissions. A KMS key adds a second, independently managed permission (the key policy), and every decryption appears in CloudTrail.",
    fix: "Set encryption_type = \"KMS\" in encryption_configuration (EncryptionType: KMS), optionally with kms_key (KmsKey) naming a customer managed key. Encryption can only be chosen when the repository is created, so this replaces the repository.",
    examples: &[
        Example {
            file: "main.tf",
            failing: r#"resource "aws_ecr_repository" "api" {
  name                 = "api"
  image_tag_mutability = "IMMUTABLE"

  image_scanning_configuration {
    scan_on_push = true
  }

  encryption_configuration {
    encryption_type = "AES256"
  }
}
"#,
            passing: r#"resource "aws_ecr_repository" "api" {
  name                 = "api"
  image_tag_mutability = "IMMUTABLE"

  image_scanning_configuration {
    scan_on_push = true
  }

  encryption_configuration {
    encryption_type = "KMS"
    kms_key         = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
  }
}
"#,
        },
        Example {
            file: "template.yaml",
            failing: r#"AWSTemplateFormatVersion: "2010-09-09"
Resources:
  ApiRepository:
    Type: AWS::ECR::Repository
    Properties:
      RepositoryName: api
      ImageTagMutability: IMMUTABLE
      ImageScanningConfiguration:
        ScanOnPush: true
"#,
            passing: r#"AWSTemplateFormatVersion: "2010-09-09"
Resources:
  ApiRepository:
    Type: AWS::ECR::Repository
    Properties:
      RepositoryName: api
      ImageTagMutability: IMMUTABLE
      ImageScanningConfiguration:
        ScanOnPush: true
      EncryptionConfiguration:
        EncryptionType: KMS
"#,
        },
    ],
    checkov: &["CKV_AWS_136"],
};

impl Rule for EcrNoKms {
    fn meta(&self) -> &'static RuleMeta {
        &ECR004
    }

    fn check(&self, unit: &Unit, out: &mut Vec<Finding>) {
        for repository in repositories(unit) {
            let state = match &repository.encryption_type {
                // KMS and KMS_DSSE both use a KMS key.
                Known::Value(v) if v.trim().to_ascii_uppercase().starts_with("KMS") => continue,
                Known::Value(v) => format!("encryption type {}", v.trim()),
                Known::Absent => "the default AES256 encryption".to_string(),
                Known::Unknown(_) => continue,
            };
            out.push(Finding::new(
                &ECR004,
                &repository.at,
                "encryption_type",
                format!(
                    "ECR repository {} uses {state}, not a KMS key",
                    repository.at.resource
                ),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::iam::tests::{condition, principal, site, statement};

    fn repository(
        scan_on_push: Known<bool>,
        tag_mutability: Known<&str>,
        encryption_type: Known<&str>,
    ) -> Fact {
        Fact::EcrRepository(EcrRepository {
            at: site("aws_ecr_repository.api"),
            scan_on_push,
            tag_mutability: tag_mutability.map(str::to_string),
            encryption_type: encryption_type.map(str::to_string),
        })
    }

    fn run(rule: &dyn Rule, facts: Vec<Fact>) -> Vec<Finding> {
        let mut out = Vec::new();
        rule.check(
            &Unit {
                facts,
                ..Unit::default()
            },
            &mut out,
        );
        out
    }

    fn unknown<T>() -> Known<T> {
        Known::Unknown("var.x".into())
    }

    #[test]
    fn registry_rules_are_documented() {
        crate::rules::network::meta_checks::assert_complete(RULES, &["ECR"]);
        assert_eq!(RULES.len(), 4);
    }

    #[test]
    fn ecr003_cloudformation_example_fails_and_passes_as_documented() {
        use crate::rules::network::meta_checks::cloudformation_policies;
        let example = ECR003.examples.iter().find(|e| e.file == "template.yaml");
        let Some(example) = example else {
            panic!("ECR003 has no CloudFormation example");
        };
        let failing = run(&EcrPolicyOpen, cloudformation_policies(example.failing));
        assert_eq!(failing.len(), 1, "{failing:?}");
        assert_eq!(failing[0].resource, "ApiRepository");
        assert!(run(&EcrPolicyOpen, cloudformation_policies(example.passing)).is_empty());
    }

    #[test]
    fn ecr001_reports_false_and_absent_not_true_or_unknown() {
        let facts = vec![
            repository(Known::Value(false), Known::Absent, Known::Absent),
            repository(Known::Absent, Known::Absent, Known::Absent),
            repository(Known::Value(true), Known::Absent, Known::Absent),
            repository(unknown(), Known::Absent, Known::Absent),
        ];
        let found = run(&EcrScanOnPushDisabled, facts);
        let messages: Vec<&str> = found.iter().map(|f| f.message.as_str()).collect();
        assert_eq!(
            messages,
            [
                "ECR repository aws_ecr_repository.api has scan on push disabled",
                "ECR repository aws_ecr_repository.api has scan on push not enabled (it is off by default)",
            ]
        );
    }

    #[test]
    fn ecr002_reports_mutable_and_absent() {
        let facts = vec![
            repository(Known::Absent, Known::Value("MUTABLE"), Known::Absent),
            repository(Known::Absent, Known::Absent, Known::Absent),
            repository(Known::Absent, Known::Value("IMMUTABLE"), Known::Absent),
            repository(
                Known::Absent,
                Known::Value("IMMUTABLE_WITH_EXCLUSION"),
                Known::Absent,
            ),
            repository(Known::Absent, unknown(), Known::Absent),
        ];
        let found = run(&EcrMutableTags, facts);
        let messages: Vec<&str> = found.iter().map(|f| f.message.as_str()).collect();
        assert_eq!(
            messages,
            [
                "ECR repository aws_ecr_repository.api has tag mutability MUTABLE",
                "ECR repository aws_ecr_repository.api has mutable tags (the default)",
            ]
        );
    }

    #[test]
    fn ecr004_reports_aes256_and_absent() {
        let facts = vec![
            repository(Known::Absent, Known::Absent, Known::Value("AES256")),
            repository(Known::Absent, Known::Absent, Known::Absent),
            repository(Known::Absent, Known::Absent, Known::Value("KMS")),
            repository(Known::Absent, Known::Absent, Known::Value("KMS_DSSE")),
            repository(Known::Absent, Known::Absent, unknown()),
        ];
        let found = run(&EcrNoKms, facts);
        assert_eq!(found.len(), 2);
        assert_eq!(
            found[0].message,
            "ECR repository aws_ecr_repository.api uses encryption type AES256, not a KMS key"
        );
    }

    fn repo_policy(
        resource: &str,
        attached_to: Option<&str>,
        statements: Vec<crate::model::Statement>,
    ) -> Fact {
        Fact::Policy(Policy {
            at: site(resource),
            kind: PolicyKind::Resource,
            statements,
            attached_to: attached_to.map(str::to_string),
        })
    }

    fn open_statement() -> crate::model::Statement {
        let mut s = statement("Allow", &["ecr:BatchGetImage"], &[]);
        s.principals = vec![principal("*", "*")];
        s
    }

    #[test]
    fn ecr003_reports_wildcard_principal_on_ecr_policies() {
        let mut aws_star = open_statement();
        aws_star.principals = vec![principal("AWS", "*")];
        let found = run(
            &EcrPolicyOpen,
            vec![
                repo_policy(
                    "aws_ecr_repository_policy.api",
                    None,
                    vec![open_statement()],
                ),
                repo_policy(
                    "ApiRepository",
                    Some("AWS::ECR::Repository"),
                    vec![aws_star],
                ),
            ],
        );
        assert_eq!(found.len(), 2);
        assert_eq!(
            found[1].message,
            "ECR repository policy ApiRepository statement 1 allows any AWS principal (*) without a restricting condition"
        );
    }

    #[test]
    fn ecr003_ignores_other_resources_named_principals_and_restricted_wildcards() {
        let mut named = open_statement();
        named.principals = vec![principal("AWS", "arn:aws:iam::444455556666:root")];
        let mut org = open_statement();
        org.conditions = vec![condition("StringEquals", "aws:PrincipalOrgID", &["o-abc"])];
        let mut deny = open_statement();
        deny.effect = Known::Value("Deny".into());
        let found = run(
            &EcrPolicyOpen,
            vec![
                // An SQS queue policy is not ECR003's business.
                repo_policy(
                    "QueuePolicy",
                    Some("AWS::SQS::QueuePolicy"),
                    vec![open_statement()],
                ),
                repo_policy("Bucket", None, vec![open_statement()]),
                repo_policy(
                    "aws_ecr_repository_policy.api",
                    None,
                    vec![named, org, deny],
                ),
            ],
        );
        assert!(found.is_empty(), "{found:?}");
    }

    #[test]
    fn ecr003_weak_conditions_do_not_exempt() {
        let mut weak = open_statement();
        weak.conditions = vec![condition("StringLike", "aws:PrincipalOrgID", &["*"])];
        let found = run(
            &EcrPolicyOpen,
            vec![repo_policy(
                "aws_ecr_repository_policy.api",
                None,
                vec![weak],
            )],
        );
        assert_eq!(found.len(), 1);
    }
}
