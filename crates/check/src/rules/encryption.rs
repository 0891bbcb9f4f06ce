//! Encryption at rest with KMS for secrets, topics and queues, and the logging that makes an
//! incident investigable: log retention, VPC flow logs, and CloudTrail coverage and
//! integrity.

use crate::finding::{Finding, Severity};
use crate::model::{EncryptedKind, Fact, FlowLog, Known, Vpc};
use crate::rules::{Example, Format, Rule, RuleMeta, Unit};

pub static RULES: &[&dyn Rule] = &[
    &NoKmsEncryption,
    &LogGroupNoRetention,
    &VpcNoFlowLog,
    &CloudTrailNotMultiRegion,
    &CloudTrailNoLogValidation,
];

// ---------------------------------------------------------------------------------------

pub struct NoKmsEncryption;

static ENC001: RuleMeta = RuleMeta {
    code: "ENC001",
    name: "no-kms-encryption",
    severity: Severity::Medium,
    practice: "Secrets, SNS topics and SQS queues are encrypted at rest with a KMS key (SQS may use SQS-managed encryption).",
    formats: &[Format::Terraform, Format::CloudFormation],
    what: "A Secrets Manager secret or SNS topic with no KMS key set (kms_key_id, kms_master_key_id, KmsKeyId, KmsMasterKeyId), or an SQS queue with neither a KMS key nor SQS-managed encryption: sqs_managed_sse_enabled / SqsManagedSseEnabled set to false. A queue that leaves SqsManagedSseEnabled unset passes, because SQS enables SSE-SQS on new queues by default.",
    why: "SNS topics are not encrypted at rest unless a key is given, and a queue without SSE stores messages in the clear. A secret without its own key uses the account's default aws/secretsmanager key, which every principal with secretsmanager:GetSecretValue can use: a customer managed key adds a key policy that limits who can decrypt, and cross-account sharing requires one.",
    fix: "Set a KMS key: kms_key_id on the secret, kms_master_key_id on the topic or queue (KmsKeyId / KmsMasterKeyId in CloudFormation), preferably a customer managed key. For queues, sqs_managed_sse_enabled = true is an acceptable alternative.",
    examples: &[
        Example {
            file: "main.tf",
            failing: r#"resource "aws_sns_topic" "alerts" {
  name = "alerts"
}
"#,
            passing: r#"resource "aws_sns_topic" "alerts" {
  name              = "alerts"
  kms_master_key_id = "alias/alerts"
}
"#,
        },
        Example {
            file: "template.yaml",
            failing: r#"AWSTemplateFormatVersion: "2010-09-09"
Resources:
  JobsQueue:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: jobs
      SqsManagedSseEnabled: false
"#,
            passing: r#"AWSTemplateFormatVersion: "2010-09-09"
Resources:
  JobsQueue:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: jobs
      SqsManagedSseEnabled: true
"#,
        },
    ],
    checkov: &["CKV_AWS_149", "CKV_AWS_26", "CKV_AWS_27", "CKV2_AWS_73"],
};

impl Rule for NoKmsEncryption {
    fn meta(&self) -> &'static RuleMeta {
        &ENC001
    }

    fn check(&self, unit: &Unit, out: &mut Vec<Finding>) {
        for fact in &unit.facts {
            let Fact::Encryption(encryption) = fact else {
                continue;
            };
            let has_key = match &encryption.kms_key {
                // An empty string is how Terraform modules switch an optional key off.
                Known::Value(key) => !key.trim().is_empty(),
                Known::Unknown(_) => continue,
                Known::Absent => false,
            };
            if has_key {
                continue;
            }
            let what = match encryption.what {
                EncryptedKind::Secret => "Secrets Manager secret",
                EncryptedKind::Topic => "SNS topic",
                // Since October 2022 SQS encrypts new queues with SQS-owned keys (SSE-SQS)
                // unless told otherwise: only an explicit `false` leaves a queue in the clear.
                EncryptedKind::Queue => match encryption.managed_sse {
                    Known::Value(false) => "SQS queue",
                    Known::Value(true) | Known::Unknown(_) | Known::Absent => continue,
                },
            };
            let missing = if encryption.what == EncryptedKind::Queue {
                "no KMS key and no SQS-managed encryption"
            } else {
                "no KMS key"
            };
            out.push(Finding::new(
                &ENC001,
                &encryption.at,
                "kms_key",
                format!("{what} {} has {missing}", encryption.at.resource),
            ));
        }
    }
}

// ---------------------------------------------------------------------------------------

pub struct LogGroupNoRetention;

static LOG001: RuleMeta = RuleMeta {
    code: "LOG001",
    name: "log-group-no-retention",
    severity: Severity::Low,
    practice: "Every CloudWatch log group has a retention period chosen on purpose.",
    formats: &[Format::Terraform, Format::CloudFormation],
    what: "A CloudWatch Logs log group without retention_in_days / RetentionInDays, or with 0 (both mean the logs never expire).",
    why: "Logs kept forever accumulate personal data and secrets that leak into logs well past any legal or business need, and their storage cost grows without bound; a deliberate retention makes both a decision rather than an accident.",
    fix: "Set retention_in_days (RetentionInDays) to the period your policy requires, for example 90 or 365. Export to S3 with lifecycle rules if logs must be archived longer.",
    examples: &[
        Example {
            file: "main.tf",
            failing: r#"resource "aws_cloudwatch_log_group" "api" {
  name = "/ecs/api"
}
"#,
            passing: r#"resource "aws_cloudwatch_log_group" "api" {
  name              = "/ecs/api"
  retention_in_days = 90
}
"#,
        },
        Example {
            file: "template.yaml",
            failing: r#"AWSTemplateFormatVersion: "2010-09-09"
Resources:
  ApiLogs:
    Type: AWS::Logs::LogGroup
    Properties:
      LogGroupName: /ecs/api
"#,
            passing: r#"AWSTemplateFormatVersion: "2010-09-09"
Resources:
  ApiLogs:
    Type: AWS::Logs::LogGroup
    Properties:
      LogGroupName: /ecs/api
      RetentionInDays: 90
"#,
        },
    ],
    checkov: &["CKV_AWS_66"],
};

impl Rule for LogGroupNoRetention {
    fn meta(&self) -> &'static RuleMeta {
        &LOG001
    }

    fn check(&self, unit: &Unit, out: &mut Vec<Finding>) {
        for fact in &unit.facts {
            let Fact::LogGroup(group) = fact else {
                continue;
            };
            let state = match group.retention_days {
                Known::Absent => "no retention period, so its logs never expire",
                // Terraform's retention_in_days = 0 means "never expire".
                Known::Value(0) => "retention 0, so its logs never expire",
                Known::Value(_) | Known::Unknown(_) => continue,
            };
            out.push(Finding::new(
                &LOG001,
                &group.at,
                "retention",
                format!("log group {} has {state}", group.at.resource),
            ));
        }
    }
}

// ---------------------------------------------------------------------------------------

pub struct VpcNoFlowLog;

static LOG002: RuleMeta = RuleMeta {
    code: "LOG002",
    name: "vpc-no-flow-log",
    severity: Severity::Medium,
    practice: "Every VPC records flow logs.",
    formats: &[Format::Terraform, Format::CloudFormation],
    what: "A VPC defined in a CloudFormation template or Terraform module with no flow log in the same template or module that refers to it. When any flow log's target is unknown or an expression that names none of the unit's VPCs (a variable, a local, a module output), no VPC of the unit is reported: that flow log may be theirs.",
    why: "Flow logs are the only record of which addresses talked to which hosts and ports. Without them you cannot tell, after a compromise, what was reached or where data went, and anomaly detection such as GuardDuty has less to work from.",
    fix: "Add a flow log for the VPC (aws_flow_log with vpc_id, or AWS::EC2::FlowLog with ResourceType VPC) delivering to CloudWatch Logs or S3. Capture ALL traffic, or at least REJECT.",
    examples: &[
        Example {
            file: "main.tf",
            failing: r#"resource "aws_vpc" "main" {
  cidr_block = "10.0.0.0/16"
}
"#,
            passing: r#"resource "aws_vpc" "main" {
  cidr_block = "10.0.0.0/16"
}

resource "aws_flow_log" "main" {
  vpc_id               = aws_vpc.main.id
  traffic_type         = "ALL"
  log_destination_type = "s3"
  log_destination      = "arn:aws:s3:::example-flow-logs"
}
"#,
        },
        Example {
            file: "template.yaml",
            failing: r#"AWSTemplateFormatVersion: "2010-09-09"
Resources:
  VPC:
    Type: AWS::EC2::VPC
    Properties:
      CidrBlock: 10.0.0.0/16
"#,
            passing: r#"AWSTemplateFormatVersion: "2010-09-09"
Resources:
  VPC:
    Type: AWS::EC2::VPC
    Properties:
      CidrBlock: 10.0.0.0/16
  VPCFlowLog:
    Type: AWS::EC2::FlowLog
    Properties:
      ResourceId: !Ref VPC
      ResourceType: VPC
      TrafficType: ALL
      LogDestinationType: s3
      LogDestination: arn:aws:s3:::example-flow-logs
"#,
        },
    ],
    checkov: &["CKV2_AWS_11"],
};

impl VpcNoFlowLog {
    /// Whether `text` mentions `name` as a whole reference: `aws_vpc.main` matches
    /// `aws_vpc.main.id` and `${aws_vpc.main.id}` but not `aws_vpc.main2.id`; `VPC` matches
    /// `!Ref VPC` but not `VPCId` or `OtherVPC`.
    fn mentions(text: &str, name: &str) -> bool {
        if name.is_empty() {
            return false;
        }
        let is_name_char = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
        text.match_indices(name).any(|(start, _)| {
            let before = text.get(..start).and_then(|s| s.chars().next_back());
            let after = text
                .get(start + name.len()..)
                .and_then(|s| s.chars().next());
            !before.is_some_and(is_name_char) && !after.is_some_and(is_name_char)
        })
    }

    fn targets(flow_log: &FlowLog, vpc: &Vpc) -> bool {
        match &flow_log.target {
            Known::Value(target) => vpc.names.iter().any(|name| Self::mentions(target, name)),
            Known::Unknown(_) | Known::Absent => false,
        }
    }

    /// Whether we cannot tell which VPC a flow log belongs to: its target is unknown, or it
    /// is an expression that names none of the unit's VPCs (`local.vpc_id`, `try(…)`, a
    /// parameter), which may still evaluate to any of them.
    fn unresolved(flow_log: &FlowLog, vpcs: &[&Vpc]) -> bool {
        match &flow_log.target {
            Known::Unknown(_) => true,
            Known::Value(_) => !vpcs.iter().any(|vpc| Self::targets(flow_log, vpc)),
            Known::Absent => false,
        }
    }
}

impl Rule for VpcNoFlowLog {
    fn meta(&self) -> &'static RuleMeta {
        &LOG002
    }

    fn check(&self, unit: &Unit, out: &mut Vec<Finding>) {
        let mut flow_logs: Vec<&FlowLog> = Vec::new();
        let mut vpcs: Vec<&Vpc> = Vec::new();
        for fact in &unit.facts {
            match fact {
                Fact::FlowLog(flow_log) => flow_logs.push(flow_log),
                Fact::Vpc(vpc) => vpcs.push(vpc),
                _ => {}
            }
        }
        // A flow log whose target we cannot resolve might be for any VPC here.
        if flow_logs.iter().any(|f| Self::unresolved(f, &vpcs)) {
            return;
        }
        for vpc in vpcs {
            if flow_logs.iter().any(|f| Self::targets(f, vpc)) {
                continue;
            }
            out.push(Finding::new(
                &LOG002,
                &vpc.at,
                "flow-log",
                format!("VPC {} has no flow log", vpc.at.resource),
            ));
        }
    }
}

// ---------------------------------------------------------------------------------------

pub struct CloudTrailNotMultiRegion;

static LOG003: RuleMeta = RuleMeta {
    code: "LOG003",
    name: "cloudtrail-not-multi-region",
    severity: Severity::Medium,
    practice: "CloudTrail records API activity in every region, not only the one the trail lives in.",
    formats: &[Format::Terraform, Format::CloudFormation],
    what: "A CloudTrail trail whose is_multi_region_trail / IsMultiRegionTrail is false or not set (the default is a single-region trail).",
    why: "Attackers favour regions nobody watches: crypto-mining fleets, new IAM-backed resources or data copies started in another region leave no record in a single-region trail.",
    fix: "Set is_multi_region_trail = true (IsMultiRegionTrail: true). An organisation trail in the management account covers every account as well.",
    examples: &[
        Example {
            file: "main.tf",
            failing: r#"resource "aws_cloudtrail" "main" {
  name                       = "main"
  s3_bucket_name             = "example-cloudtrail-logs"
  enable_log_file_validation = true
}
"#,
            passing: r#"resource "aws_cloudtrail" "main" {
  name                       = "main"
  s3_bucket_name             = "example-cloudtrail-logs"
  enable_log_file_validation = true
  is_multi_region_trail      = true
}
"#,
        },
        Example {
            file: "template.yaml",
            failing: r#"AWSTemplateFormatVersion: "2010-09-09"
Resources:
  Trail:
    Type: AWS::CloudTrail::Trail
    Properties:
      IsLogging: true
      S3BucketName: example-cloudtrail-logs
      EnableLogFileValidation: true
      IsMultiRegionTrail: false
"#,
            passing: r#"AWSTemplateFormatVersion: "2010-09-09"
Resources:
  Trail:
    Type: AWS::CloudTrail::Trail
    Properties:
      IsLogging: true
      S3BucketName: example-cloudtrail-logs
      EnableLogFileValidation: true
      IsMultiRegionTrail: true
"#,
        },
    ],
    checkov: &["CKV_AWS_67"],
};

/// A finding message for a CloudTrail setting that must be true, or None if it is (or may
/// be) true.
fn trail_setting_off(value: &Known<bool>, setting: &str) -> Option<String> {
    match value {
        Known::Value(false) => Some(format!("has {setting} disabled")),
        Known::Absent => Some(format!("does not enable {setting} (off by default)")),
        Known::Value(true) | Known::Unknown(_) => None,
    }
}

impl Rule for CloudTrailNotMultiRegion {
    fn meta(&self) -> &'static RuleMeta {
        &LOG003
    }

    fn check(&self, unit: &Unit, out: &mut Vec<Finding>) {
        for fact in &unit.facts {
            let Fact::CloudTrail(trail) = fact else {
                continue;
            };
            if let Some(state) = trail_setting_off(&trail.multi_region, "multi-region logging") {
                out.push(Finding::new(
                    &LOG003,
                    &trail.at,
                    "multi_region",
                    format!("CloudTrail trail {} {state}", trail.at.resource),
                ));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------

pub struct CloudTrailNoLogValidation;

static LOG004: RuleMeta = RuleMeta {
    code: "LOG004",
    name: "cloudtrail-no-log-validation",
    severity: Severity::Medium,
    practice: "CloudTrail log files carry digests, so tampering with the audit trail can be detected.",
    formats: &[Format::Terraform, Format::CloudFormation],
    what: "A CloudTrail trail whose enable_log_file_validation / EnableLogFileValidation is false or not set (off by default).",
    why: "Without digest files nobody can prove that log files in the bucket are the ones CloudTrail delivered; an intruder with write access to the bucket can delete or edit the records of what they did.",
    fix: "Set enable_log_file_validation = true (EnableLogFileValidation: true). During an investigation, check the digests with `aws cloudtrail validate-logs` before trusting the logs.",
    examples: &[
        Example {
            file: "main.tf",
            failing: r#"resource "aws_cloudtrail" "main" {
  name                  = "main"
  s3_bucket_name        = "example-cloudtrail-logs"
  is_multi_region_trail = true
}
"#,
            passing: r#"resource "aws_cloudtrail" "main" {
  name                       = "main"
  s3_bucket_name             = "example-cloudtrail-logs"
  is_multi_region_trail      = true
  enable_log_file_validation = true
}
"#,
        },
        Example {
            file: "template.yaml",
            failing: r#"AWSTemplateFormatVersion: "2010-09-09"
Resources:
  Trail:
    Type: AWS::CloudTrail::Trail
    Properties:
      IsLogging: true
      S3BucketName: example-cloudtrail-logs
      IsMultiRegionTrail: true
"#,
            passing: r#"AWSTemplateFormatVersion: "2010-09-09"
Resources:
  Trail:
    Type: AWS::CloudTrail::Trail
    Properties:
      IsLogging: true
      S3BucketName: example-cloudtrail-logs
      IsMultiRegionTrail: true
      EnableLogFileValidation: true
"#,
        },
    ],
    checkov: &["CKV_AWS_36"],
};

impl Rule for CloudTrailNoLogValidation {
    fn meta(&self) -> &'static RuleMeta {
        &LOG004
    }

    fn check(&self, unit: &Unit, out: &mut Vec<Finding>) {
        for fact in &unit.facts {
            let Fact::CloudTrail(trail) = fact else {
                continue;
            };
            if let Some(state) =
                trail_setting_off(&trail.log_file_validation, "log file validation")
            {
                out.push(Finding::new(
                    &LOG004,
                    &trail.at,
                    "log_file_validation",
                    format!("CloudTrail trail {} {state}", trail.at.resource),
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::model::{CloudTrail, Encryption, LogGroup, Site, Span};

    fn site(resource: &str) -> Site {
        let file: Arc<str> = Arc::from("main.tf");
        Site::new(&file, resource, Span::new(1, 4))
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

    fn encryption(what: EncryptedKind, kms_key: Known<&str>, managed_sse: Known<bool>) -> Fact {
        Fact::Encryption(Encryption {
            at: site("resource.x"),
            what,
            kms_key: kms_key.map(str::to_string),
            managed_sse,
        })
    }

    #[test]
    fn encryption_and_logging_rules_are_documented() {
        crate::rules::network::meta_checks::assert_complete(RULES, &["ENC", "LOG"]);
        assert_eq!(RULES.len(), 5);
    }

    #[test]
    fn enc001_reports_missing_keys() {
        let found = run(
            &NoKmsEncryption,
            vec![
                encryption(EncryptedKind::Secret, Known::Absent, Known::Absent),
                encryption(EncryptedKind::Topic, Known::Value(" "), Known::Absent),
                encryption(EncryptedKind::Queue, Known::Absent, Known::Value(false)),
                encryption(EncryptedKind::Queue, Known::Value(""), Known::Value(false)),
            ],
        );
        let messages: Vec<&str> = found.iter().map(|f| f.message.as_str()).collect();
        assert_eq!(
            messages,
            [
                "Secrets Manager secret resource.x has no KMS key",
                "SNS topic resource.x has no KMS key",
                "SQS queue resource.x has no KMS key and no SQS-managed encryption",
                "SQS queue resource.x has no KMS key and no SQS-managed encryption",
            ]
        );
    }

    #[test]
    fn enc001_passes_keys_managed_sse_and_unknowns() {
        let found = run(
            &NoKmsEncryption,
            vec![
                encryption(
                    EncryptedKind::Secret,
                    Known::Value("alias/app"),
                    Known::Absent,
                ),
                encryption(EncryptedKind::Topic, unknown(), Known::Absent),
                encryption(EncryptedKind::Queue, Known::Absent, Known::Value(true)),
                encryption(EncryptedKind::Queue, Known::Absent, unknown()),
                // SSE-SQS is the default for new queues.
                encryption(EncryptedKind::Queue, Known::Absent, Known::Absent),
                encryption(
                    EncryptedKind::Queue,
                    Known::Value("alias/aws/sqs"),
                    Known::Absent,
                ),
            ],
        );
        assert!(found.is_empty(), "{found:?}");
    }

    #[test]
    fn log001_reports_absent_and_zero_retention() {
        let group = |retention_days: Known<i64>| {
            Fact::LogGroup(LogGroup {
                at: site("aws_cloudwatch_log_group.api"),
                retention_days,
            })
        };
        let found = run(
            &LogGroupNoRetention,
            vec![
                group(Known::Absent),
                group(Known::Value(0)),
                group(Known::Value(90)),
                group(unknown()),
            ],
        );
        let messages: Vec<&str> = found.iter().map(|f| f.message.as_str()).collect();
        assert_eq!(
            messages,
            [
                "log group aws_cloudwatch_log_group.api has no retention period, so its logs never expire",
                "log group aws_cloudwatch_log_group.api has retention 0, so its logs never expire",
            ]
        );
    }

    fn vpc(resource: &str, names: &[&str]) -> Fact {
        Fact::Vpc(Vpc {
            at: site(resource),
            names: names.iter().map(|n| n.to_string()).collect(),
        })
    }

    fn flow_log(target: Known<&str>) -> Fact {
        Fact::FlowLog(FlowLog {
            at: site("aws_flow_log.x"),
            target: target.map(str::to_string),
        })
    }

    #[test]
    fn log002_matches_flow_logs_to_vpcs_by_reference() {
        let found = run(
            &VpcNoFlowLog,
            vec![
                vpc("aws_vpc.main", &["aws_vpc.main"]),
                vpc("aws_vpc.main2", &["aws_vpc.main2"]),
                vpc("VPC", &["VPC"]),
                vpc("OtherVPC", &["OtherVPC"]),
                flow_log(Known::Value("${aws_vpc.main2.id}")),
                flow_log(Known::Value("!Ref VPC")),
            ],
        );
        let resources: Vec<&str> = found.iter().map(|f| f.resource.as_str()).collect();
        assert_eq!(resources, ["aws_vpc.main", "OtherVPC"]);
        assert_eq!(found[0].message, "VPC aws_vpc.main has no flow log");
    }

    #[test]
    fn log002_reports_without_flow_logs_and_absent_targets() {
        assert_eq!(
            run(&VpcNoFlowLog, vec![vpc("aws_vpc.main", &["aws_vpc.main"])]).len(),
            1
        );
        let found = run(
            &VpcNoFlowLog,
            vec![
                vpc("aws_vpc.main", &["aws_vpc.main"]),
                flow_log(Known::Absent),
            ],
        );
        assert_eq!(found.len(), 1);
    }

    #[test]
    fn log002_stays_quiet_when_a_flow_log_target_names_no_vpc_of_the_unit() {
        // terraform-aws-vpc: `vpc_id = local.vpc_id`, and local.vpc_id is aws_vpc.this[0].id.
        let found = run(
            &VpcNoFlowLog,
            vec![
                vpc("aws_vpc.this", &["aws_vpc.this"]),
                flow_log(Known::Value("local.vpc_id")),
            ],
        );
        assert!(found.is_empty(), "{found:?}");
    }

    #[test]
    fn log002_stays_quiet_when_a_flow_log_target_is_unknown() {
        let found = run(
            &VpcNoFlowLog,
            vec![
                vpc("aws_vpc.main", &["aws_vpc.main"]),
                vpc("aws_vpc.other", &["aws_vpc.other"]),
                flow_log(Known::Value("aws_vpc.other.id")),
                flow_log(unknown()),
            ],
        );
        assert!(found.is_empty(), "{found:?}");
        // Without the unknown one, aws_vpc.main is reported.
        let found = run(
            &VpcNoFlowLog,
            vec![
                vpc("aws_vpc.main", &["aws_vpc.main"]),
                vpc("aws_vpc.other", &["aws_vpc.other"]),
                flow_log(Known::Value("aws_vpc.other.id")),
            ],
        );
        assert_eq!(found.len(), 1);
    }

    #[test]
    fn mentions_respects_name_boundaries() {
        assert!(VpcNoFlowLog::mentions("aws_vpc.main.id", "aws_vpc.main"));
        assert!(VpcNoFlowLog::mentions("aws_vpc.main[0].id", "aws_vpc.main"));
        assert!(!VpcNoFlowLog::mentions(
            "aws_vpc.main_v2.id",
            "aws_vpc.main"
        ));
        assert!(!VpcNoFlowLog::mentions("aws_vpc.main-b.id", "aws_vpc.main"));
        assert!(VpcNoFlowLog::mentions("VPC", "VPC"));
        assert!(!VpcNoFlowLog::mentions("VPCId", "VPC"));
        assert!(!VpcNoFlowLog::mentions("x", ""));
    }

    fn trail(multi_region: Known<bool>, log_file_validation: Known<bool>) -> Fact {
        Fact::CloudTrail(CloudTrail {
            at: site("aws_cloudtrail.main"),
            multi_region,
            log_file_validation,
        })
    }

    #[test]
    fn log003_reports_false_and_absent_multi_region() {
        let found = run(
            &CloudTrailNotMultiRegion,
            vec![
                trail(Known::Value(false), Known::Value(true)),
                trail(Known::Absent, Known::Value(true)),
                trail(Known::Value(true), Known::Absent),
                trail(unknown(), Known::Absent),
            ],
        );
        let messages: Vec<&str> = found.iter().map(|f| f.message.as_str()).collect();
        assert_eq!(
            messages,
            [
                "CloudTrail trail aws_cloudtrail.main has multi-region logging disabled",
                "CloudTrail trail aws_cloudtrail.main does not enable multi-region logging (off by default)",
            ]
        );
    }

    #[test]
    fn log004_reports_false_and_absent_validation() {
        let found = run(
            &CloudTrailNoLogValidation,
            vec![
                trail(Known::Value(true), Known::Value(false)),
                trail(Known::Value(true), Known::Absent),
                trail(Known::Absent, Known::Value(true)),
                trail(Known::Absent, unknown()),
            ],
        );
        assert_eq!(found.len(), 2);
        assert_eq!(
            found[0].message,
            "CloudTrail trail aws_cloudtrail.main has log file validation disabled"
        );
    }
}
