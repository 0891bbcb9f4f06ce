use std::path::{Path, PathBuf};

use super::extract::secret_like_name;
use super::{parse, parse_json};
use crate::formats::Parsed;
use crate::model::{
    EncryptedKind, Fact, Known, LiteralContext, PolicyKind, Ports, Principal, Span,
};
use crate::source::SourceFile;

fn tf(text: &str) -> Parsed {
    let parsed = parse(&SourceFile::new("main.tf", text));
    assert!(
        parsed.errors.is_empty(),
        "unexpected errors: {:?}",
        parsed.errors
    );
    parsed
}

fn ingresses(parsed: &Parsed) -> Vec<&crate::model::Ingress> {
    parsed
        .facts
        .iter()
        .filter_map(|f| match f {
            Fact::Ingress(i) => Some(i),
            _ => None,
        })
        .collect()
}

fn policies(parsed: &Parsed) -> Vec<&crate::model::Policy> {
    parsed
        .facts
        .iter()
        .filter_map(|f| match f {
            Fact::Policy(p) => Some(p),
            _ => None,
        })
        .collect()
}

fn literals(parsed: &Parsed) -> Vec<&crate::model::Literal> {
    parsed
        .facts
        .iter()
        .filter_map(|f| match f {
            Fact::Literal(l) => Some(l),
            _ => None,
        })
        .collect()
}

fn s(v: &str) -> Known<String> {
    Known::Value(v.to_string())
}

#[test]
fn inline_ingress_blocks_are_facts_with_lines() {
    let parsed = tf(r#"
resource "aws_security_group" "web" {
  name = "web"

  ingress {
    from_port   = 22
    to_port     = 22
    protocol    = "tcp"
    cidr_blocks = ["0.0.0.0/0"]
  }

  ingress {
    from_port        = 0
    to_port          = 0
    protocol         = "-1"
    ipv6_cidr_blocks = ["::/0"]
  }
}
"#);
    let rules = ingresses(&parsed);
    assert_eq!(rules.len(), 2);
    let ssh = rules[0];
    assert_eq!(ssh.at.resource, "aws_security_group.web");
    assert_eq!(ssh.at.resource_span, Span::new(2, 18));
    assert_eq!(ssh.at.span, Span::new(5, 10));
    assert_eq!(ssh.protocol, s("tcp"));
    assert_eq!(ssh.ports, Known::Value(Ports::Range(22, 22)));
    assert_eq!(ssh.cidrs, vec![s("0.0.0.0/0")]);
    let all = rules[1];
    assert_eq!(all.at.span, Span::new(12, 17));
    assert_eq!(all.protocol, s("all"));
    assert_eq!(all.ports, Known::Value(Ports::All));
    assert_eq!(all.cidrs, vec![s("::/0")]);
}

#[test]
fn variable_cidrs_stay_unknown() {
    let parsed = tf(r#"
resource "aws_security_group" "a" {
  ingress {
    from_port   = 22
    to_port     = 22
    protocol    = "tcp"
    cidr_blocks = [var.allowed_cidr]
  }
  ingress {
    from_port   = var.port
    to_port     = var.port
    protocol    = "tcp"
    cidr_blocks = var.cidrs
  }
}
resource "aws_security_group" "b" {
  ingress = var.rules
}
"#);
    let rules = ingresses(&parsed);
    assert_eq!(rules.len(), 2, "ingress = var.rules is not a rule");
    assert_eq!(
        rules[0].cidrs,
        vec![Known::Unknown("var.allowed_cidr".into())]
    );
    assert_eq!(rules[1].cidrs, vec![Known::Unknown("var.cidrs".into())]);
    assert_eq!(rules[1].ports, Known::Unknown("var.port".into()));
}

#[test]
fn standalone_ingress_rules() {
    let parsed = tf(r#"
resource "aws_security_group_rule" "ssh" {
  type              = "ingress"
  from_port         = 22
  to_port           = 22
  protocol          = "6"
  cidr_blocks       = ["0.0.0.0/0"]
  security_group_id = aws_security_group.web.id
}

resource "aws_security_group_rule" "out" {
  type        = "egress"
  from_port   = 0
  to_port     = 0
  protocol    = "-1"
  cidr_blocks = ["0.0.0.0/0"]
}

resource "aws_vpc_security_group_ingress_rule" "rdp" {
  security_group_id = aws_security_group.web.id
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = 3389
  to_port           = 3389
}
"#);
    let rules = ingresses(&parsed);
    assert_eq!(rules.len(), 2, "egress rules are not ingress");
    assert_eq!(rules[0].at.resource, "aws_security_group_rule.ssh");
    assert_eq!(rules[0].protocol, s("tcp"));
    assert_eq!(rules[0].at.span, Span::new(2, 9));
    assert_eq!(
        rules[1].at.resource,
        "aws_vpc_security_group_ingress_rule.rdp"
    );
    assert_eq!(rules[1].ports, Known::Value(Ports::Range(3389, 3389)));
    assert_eq!(rules[1].cidrs, vec![s("0.0.0.0/0")]);
}

#[test]
fn nacl_entries_and_public_ip() {
    let parsed = tf(r#"
resource "aws_network_acl_rule" "ssh" {
  network_acl_id = aws_network_acl.main.id
  rule_number    = 100
  protocol       = "tcp"
  rule_action    = "ALLOW"
  cidr_block     = "0.0.0.0/0"
  from_port      = 22
  to_port        = 22
}

resource "aws_network_acl" "main" {
  vpc_id = aws_vpc.main.id
  egress {
    protocol   = "-1"
    rule_no    = 200
    action     = "allow"
    cidr_block = "10.3.0.0/18"
    from_port  = 0
    to_port    = 0
  }
}

resource "aws_ecs_service" "app" {
  name = "app"
  network_configuration {
    subnets          = var.subnets
    assign_public_ip = true
  }
}
"#);
    let entries: Vec<_> = parsed
        .facts
        .iter()
        .filter_map(|f| match f {
            Fact::NetworkAclEntry(e) => Some(e),
            _ => None,
        })
        .collect();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0].egress, Known::Value(false));
    assert_eq!(entries[0].action, s("allow"));
    assert_eq!(entries[0].cidr, s("0.0.0.0/0"));
    assert_eq!(entries[0].ports, Known::Value(Ports::Range(22, 22)));
    assert_eq!(entries[1].egress, Known::Value(true));
    assert_eq!(entries[1].at.span, Span::new(14, 21));
    let public: Vec<_> = parsed
        .facts
        .iter()
        .filter_map(|f| match f {
            Fact::PublicIp(p) => Some(p),
            _ => None,
        })
        .collect();
    assert_eq!(public.len(), 1);
    assert_eq!(public[0].assign_public_ip, Known::Value(true));
    assert_eq!(public[0].at.span, Span::line(28));
}

#[test]
fn task_definition_from_jsonencode_and_heredoc() {
    let parsed = tf(r#"
resource "aws_ecs_task_definition" "app" {
  family                   = "app"
  network_mode             = "bridge"
  requires_compatibilities = ["FARGATE"]
  container_definitions = jsonencode([
    {
      name       = "web"
      image      = "nginx:latest"
      privileged = true
      environment = [
        { name = "DB_PASSWORD", value = "hunter2" },
        { name = "REGION", value = var.region },
      ]
    }
  ])
}

resource "aws_ecs_task_definition" "legacy" {
  family                = "legacy"
  container_definitions = <<-EOF
    [
      {"name": "api", "image": "api:1", "user": "root"}
    ]
  EOF
}

resource "aws_ecs_task_definition" "from_file" {
  family                = "f"
  container_definitions = file("containers.json")
}

resource "aws_ecs_task_definition" "mixed" {
  family                = "m"
  container_definitions = jsonencode([local.sidecar, { name = "main", image = "app:1" }])
}
"#);
    let tasks: Vec<_> = parsed
        .facts
        .iter()
        .filter_map(|f| match f {
            Fact::EcsTaskDefinition(t) => Some(t),
            _ => None,
        })
        .collect();
    assert_eq!(tasks.len(), 4);
    let app = tasks[0];
    assert_eq!(app.network_mode, s("bridge"));
    assert_eq!(app.fargate, Known::Value(true));
    assert_eq!(app.containers.len(), 1);
    let web = &app.containers[0];
    assert_eq!(web.at.resource, "aws_ecs_task_definition.app/web");
    assert_eq!(web.privileged, Known::Value(true));
    assert_eq!(web.image, s("nginx:latest"));
    assert_eq!(web.environment[0].value, s("hunter2"));
    assert_eq!(
        web.environment[1].value,
        Known::Unknown("var.region".into())
    );
    assert_eq!(web.at.span, Span::new(7, 15));
    let legacy = tasks[1];
    assert_eq!(legacy.network_mode, Known::Absent);
    assert_eq!(legacy.containers[0].user, s("root"));
    assert!(
        tasks[2].containers.is_empty(),
        "unreadable containers are not invented"
    );
    let names: Vec<_> = tasks[3]
        .containers
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(names, ["main"]);
}

#[test]
fn ecr_repository_defaults_and_values() {
    let parsed = tf(r#"
resource "aws_ecr_repository" "default" {
  name = "d"
}

resource "aws_ecr_repository" "hardened" {
  name                 = "h"
  image_tag_mutability = "IMMUTABLE"
  image_scanning_configuration {
    scan_on_push = true
  }
  encryption_configuration {
    encryption_type = "kms"
  }
}
"#);
    let repos: Vec<_> = parsed
        .facts
        .iter()
        .filter_map(|f| match f {
            Fact::EcrRepository(r) => Some(r),
            _ => None,
        })
        .collect();
    assert_eq!(repos[0].tag_mutability, s("MUTABLE"));
    assert_eq!(repos[0].scan_on_push, Known::Absent);
    assert_eq!(repos[0].encryption_type, Known::Absent);
    assert_eq!(repos[1].tag_mutability, s("IMMUTABLE"));
    assert_eq!(repos[1].scan_on_push, Known::Value(true));
    assert_eq!(repos[1].encryption_type, s("KMS"));
}

#[test]
fn jsonencode_policy_keeps_known_parts_and_unknown_leaves() {
    let parsed = tf(r#"
resource "aws_iam_policy" "admin" {
  name = "admin"
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect   = "Allow"
      Action   = "*"
      Resource = "*"
    }, {
      Effect   = "Allow"
      Action   = ["s3:GetObject"]
      Resource = aws_s3_bucket.b.arn
    }]
  })
}
"#);
    let policy = policies(&parsed)[0];
    assert_eq!(policy.kind, PolicyKind::Identity);
    assert_eq!(policy.at.resource, "aws_iam_policy.admin");
    assert_eq!(policy.at.span, Span::new(4, 15));
    assert_eq!(policy.statements.len(), 2);
    assert_eq!(policy.statements[0].actions, vec![s("*")]);
    assert_eq!(policy.statements[0].span, Span::new(6, 10));
    assert_eq!(
        policy.statements[1].resources,
        vec![Known::Unknown("aws_s3_bucket.b.arn".into())]
    );
}

#[test]
fn heredoc_policies_literal_and_interpolated() {
    let parsed = tf(r#"
resource "aws_iam_role" "r" {
  name               = "r"
  assume_role_policy = <<EOF
{
  "Version": "2012-10-17",
  "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}]
}
EOF
}

resource "aws_s3_bucket_policy" "b" {
  bucket = aws_s3_bucket.b.id
  policy = <<-POLICY
    {
      "Statement": [{
        "Effect": "Allow",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": "${aws_s3_bucket.b.arn}/*"
      }]
    }
  POLICY
}

resource "aws_kms_key" "k" {
  policy = "{\"Statement\": [{\"Effect\": \"Deny\", \"Action\": \"kms:*\", \"Resource\": \"*\"}]}"
}
"#);
    let found = policies(&parsed);
    assert_eq!(found.len(), 3);
    assert_eq!(found[0].kind, PolicyKind::Trust);
    assert_eq!(
        found[0].statements[0].principals,
        vec![Principal {
            kind: "AWS".into(),
            value: s("*")
        }]
    );
    assert_eq!(found[1].kind, PolicyKind::Resource);
    assert_eq!(found[1].statements[0].actions, vec![s("s3:*")]);
    assert_eq!(
        found[1].statements[0].resources,
        vec![Known::Unknown("${aws_s3_bucket.b.arn}/*".into())]
    );
    assert_eq!(found[2].statements[0].effect, s("Deny"));
}

#[test]
fn every_policy_attribute_has_its_kind() {
    let doc = r#"jsonencode({ Statement = [{ Effect = "Allow", Action = "*", Resource = "*" }] })"#;
    let cases = [
        ("aws_iam_policy", "policy", PolicyKind::Identity),
        ("aws_iam_role_policy", "policy", PolicyKind::Identity),
        ("aws_iam_user_policy", "policy", PolicyKind::Identity),
        ("aws_iam_group_policy", "policy", PolicyKind::Identity),
        ("aws_iam_role", "assume_role_policy", PolicyKind::Trust),
        ("aws_ecr_repository_policy", "policy", PolicyKind::Resource),
        ("aws_s3_bucket_policy", "policy", PolicyKind::Resource),
        ("aws_sqs_queue_policy", "policy", PolicyKind::Resource),
        ("aws_sns_topic_policy", "policy", PolicyKind::Resource),
        ("aws_kms_key", "policy", PolicyKind::Resource),
    ];
    for (resource, attribute, kind) in cases {
        let parsed = tf(&format!(
            "resource \"{resource}\" \"x\" {{\n  {attribute} = {doc}\n}}\n"
        ));
        let found = policies(&parsed);
        assert_eq!(found.len(), 1, "{resource}");
        assert_eq!(found[0].kind, kind, "{resource}");
        assert_eq!(found[0].at.resource, format!("{resource}.x"));
        assert_eq!(found[0].statements[0].actions, vec![s("*")], "{resource}");
    }
    let inline = tf(&format!(
        "resource \"aws_iam_role\" \"r\" {{\n  inline_policy {{\n    policy = {doc}\n  }}\n}}\n"
    ));
    assert_eq!(policies(&inline)[0].kind, PolicyKind::Identity);
    assert_eq!(policies(&inline)[0].at.span, Span::line(3));
}

#[test]
fn heredoc_json_gets_the_lines_of_the_file() {
    let parsed = tf(r#"
resource "aws_iam_policy" "p" {
  policy = <<-EOF
    {
      "Statement": [
        {"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
        {
          "Effect": "Allow",
          "Action": "*",
          "Resource": "${var.arn}"
        }
      ]
    }
  EOF
}
"#);
    let policy = policies(&parsed)[0];
    assert_eq!(policy.at.span, Span::new(3, 14));
    let spans: Vec<Span> = policy.statements.iter().map(|st| st.span).collect();
    // The line-aware JSON reader comes with the JSON front end; until it is there, the
    // attribute's lines are used.
    let line_aware = crate::formats::json::load(&SourceFile::new("x.json", "\n[1]"))
        .is_ok_and(|n| n.span.line == 2);
    if line_aware {
        assert_eq!(spans, vec![Span::line(6), Span::new(7, 11)]);
    } else {
        println!("JSON reader without lines: statements at the attribute's lines");
        assert_eq!(spans, vec![Span::new(3, 14), Span::new(3, 14)]);
    }
    assert_eq!(
        policy.statements[1].resources,
        vec![Known::Unknown("var.arn".into())]
    );
}

#[test]
fn policy_document_data_source_takes_the_kind_of_its_use() {
    let parsed = tf(r#"
data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "AWS"
      identifiers = ["arn:aws:iam::123456789012:root"]
    }
    condition {
      test     = "StringEquals"
      variable = "sts:ExternalId"
      values   = ["abc"]
    }
  }
}

data "aws_iam_policy_document" "admin" {
  statement {
    sid       = "All"
    effect    = "Allow"
    actions   = ["*"]
    resources = ["*"]
  }
  statement {
    effect      = "Allow"
    not_actions = ["iam:*"]
    resources   = [var.arn]
  }
}

resource "aws_iam_role" "r" {
  assume_role_policy = data.aws_iam_policy_document.assume.json
}
"#);
    let found = policies(&parsed);
    assert_eq!(found.len(), 2);
    let trust = found
        .iter()
        .find(|p| p.at.resource == "data.aws_iam_policy_document.assume")
        .expect("trust document");
    assert_eq!(trust.kind, PolicyKind::Trust);
    let st = &trust.statements[0];
    assert_eq!(st.effect, s("Allow"), "effect defaults to Allow");
    assert_eq!(st.actions, vec![s("sts:AssumeRole")]);
    assert_eq!(st.principals[0].kind, "AWS");
    assert_eq!(st.conditions[0].operator, "StringEquals");
    assert_eq!(st.conditions[0].key, "sts:ExternalId");
    assert_eq!(st.conditions[0].values, vec![s("abc")]);
    let admin = found
        .iter()
        .find(|p| p.at.resource == "data.aws_iam_policy_document.admin")
        .expect("identity document");
    assert_eq!(admin.kind, PolicyKind::Identity);
    assert_eq!(admin.statements.len(), 2);
    assert_eq!(admin.statements[0].sid.as_deref(), Some("All"));
    assert_eq!(admin.statements[0].span, Span::new(18, 23));
    assert_eq!(admin.statements[1].not_actions, vec![s("iam:*")]);
    assert_eq!(
        admin.statements[1].resources,
        vec![Known::Unknown("var.arn".into())]
    );
}

#[test]
fn access_keys_encryption_logs_vpcs_trails() {
    let parsed = tf(r#"
resource "aws_iam_access_key" "k" {
  user = aws_iam_user.u.name
}
resource "aws_secretsmanager_secret" "s" {
  name = "s"
}
resource "aws_sns_topic" "t" {
  kms_master_key_id = "alias/aws/sns"
}
resource "aws_sqs_queue" "q" {
  sqs_managed_sse_enabled = true
}
resource "aws_cloudwatch_log_group" "l" {
  name              = "l"
  retention_in_days = 30
}
resource "aws_vpc" "main" {
  cidr_block = "10.0.0.0/16"
}
resource "aws_flow_log" "f" {
  vpc_id = aws_vpc.main.id
}
resource "aws_flow_log" "g" {
  vpc_id = var.vpc_id
}
resource "aws_cloudtrail" "t" {
  is_multi_region_trail = false
}
"#);
    let mut kinds = Vec::new();
    for fact in &parsed.facts {
        match fact {
            Fact::IamAccessKey(site) => {
                assert_eq!(site.resource, "aws_iam_access_key.k");
                assert_eq!(site.span, Span::new(2, 4));
                kinds.push("key");
            }
            Fact::Encryption(e) => {
                match e.what {
                    EncryptedKind::Secret => assert_eq!(e.kms_key, Known::Absent),
                    EncryptedKind::Topic => assert_eq!(e.kms_key, s("alias/aws/sns")),
                    EncryptedKind::Queue => assert_eq!(e.managed_sse, Known::Value(true)),
                }
                kinds.push("enc");
            }
            Fact::LogGroup(l) => {
                assert_eq!(l.retention_days, Known::Value(30));
                kinds.push("log");
            }
            Fact::Vpc(v) => {
                assert_eq!(v.names, vec!["aws_vpc.main".to_string()]);
                kinds.push("vpc");
            }
            Fact::FlowLog(f) if f.at.resource == "aws_flow_log.f" => {
                assert_eq!(f.target, s("aws_vpc.main.id"));
                kinds.push("flow");
            }
            Fact::FlowLog(f) => {
                assert_eq!(f.target, Known::Unknown("var.vpc_id".into()));
                kinds.push("flow");
            }
            Fact::CloudTrail(t) => {
                assert_eq!(t.multi_region, Known::Value(false));
                assert_eq!(t.log_file_validation, Known::Absent);
                kinds.push("trail");
            }
            _ => {}
        }
    }
    assert_eq!(
        kinds,
        [
            "key", "enc", "enc", "enc", "log", "vpc", "flow", "flow", "trail"
        ]
    );
}

#[test]
fn literal_secrets_in_their_contexts() {
    let parsed = tf(r##"
provider "aws" {
  region     = "us-east-1"
  access_key = "AKIAIOSFODNN7EXAMPLE"
  secret_key = var.secret_key
}
resource "aws_lambda_function" "f" {
  environment {
    variables = {
      API_TOKEN = "tok-123"
      TABLE     = aws_dynamodb_table.t.name
    }
  }
}
resource "aws_instance" "i" {
  user_data = base64encode("#!/bin/bash\nexport PASS=x")
}
resource "aws_launch_template" "t" {
  user_data = filebase64("init.sh")
}
resource "aws_secretsmanager_secret_version" "v" {
  secret_id     = aws_secretsmanager_secret.s.id
  secret_string = jsonencode({ password = "p4ss" })
}
resource "aws_ssm_parameter" "p" {
  type  = "SecureString"
  value = "s3cr3t"
}
resource "aws_ssm_parameter" "plain" {
  type  = "String"
  value = "not-secret"
}
resource "aws_db_instance" "db" {
  username             = "admin"
  password             = "Sup3rS3cret"
  password_secret_arn  = "arn:aws:secretsmanager:x"
  tags                 = { secret = "no" }
}
"##);
    let found: Vec<_> = literals(&parsed)
        .iter()
        .map(|l| {
            (
                l.at.resource.as_str(),
                l.context,
                l.name.as_str(),
                l.value.as_str(),
                l.at.span.line,
            )
        })
        .collect();
    assert_eq!(
        found,
        vec![
            (
                "provider.aws",
                LiteralContext::Attribute,
                "access_key",
                "AKIAIOSFODNN7EXAMPLE",
                4
            ),
            (
                "aws_lambda_function.f",
                LiteralContext::LambdaEnvironment,
                "API_TOKEN",
                "tok-123",
                10
            ),
            (
                "aws_instance.i",
                LiteralContext::UserData,
                "user_data",
                "#!/bin/bash\nexport PASS=x",
                16
            ),
            (
                "aws_secretsmanager_secret_version.v",
                LiteralContext::SecretString,
                "secret_string",
                "{\"password\":\"p4ss\"}",
                23
            ),
            (
                "aws_ssm_parameter.p",
                LiteralContext::SsmSecureString,
                "value",
                "s3cr3t",
                27
            ),
            (
                "aws_db_instance.db",
                LiteralContext::Attribute,
                "password",
                "Sup3rS3cret",
                35
            ),
        ]
    );
}

#[test]
fn variables_become_parameters() {
    let parsed = tf(r#"
variable "db_password" {
  type    = string
  default = "changeme"
}
variable "api_token" {
  sensitive = true
  default   = "x"
}
variable "subnets" {
  type = list(string)
}
"#);
    let params: Vec<_> = parsed
        .facts
        .iter()
        .filter_map(|f| match f {
            Fact::Parameter(p) => Some(p),
            _ => None,
        })
        .collect();
    assert_eq!(params.len(), 3);
    assert_eq!(params[0].name, "db_password");
    assert_eq!(params[0].hidden, Known::Value(false));
    assert_eq!(params[0].default, s("changeme"));
    assert_eq!(params[0].at.span, Span::line(4));
    assert_eq!(params[1].hidden, Known::Value(true));
    assert_eq!(params[2].default, Known::Absent);
}

#[test]
fn modules_and_unknown_resources_give_no_facts() {
    let parsed = tf(r#"
module "vpc" {
  source   = "terraform-aws-modules/vpc/aws"
  password = "in-a-module"
}
resource "aws_s3_bucket" "b" {
  bucket = "b"
}
"#);
    assert!(parsed.facts.is_empty(), "{:?}", parsed.facts);
}

#[test]
fn templates_and_expressions_are_unknown_with_their_source() {
    let parsed = tf(r#"
resource "aws_security_group" "x" {
  ingress {
    protocol    = "tcp"
    from_port   = 443
    to_port     = 443
    cidr_blocks = ["${var.prefix}/16", local.cidr, var.on ? "0.0.0.0/0" : "10.0.0.0/8", "10.${var.n}.0.0/16"]
  }
}
"#);
    assert_eq!(
        ingresses(&parsed)[0].cidrs,
        vec![
            Known::Unknown("\"${var.prefix}/16\"".into()),
            Known::Unknown("local.cidr".into()),
            Known::Unknown("var.on ? \"0.0.0.0/0\" : \"10.0.0.0/8\"".into()),
            Known::Unknown("\"10.${var.n}.0.0/16\"".into()),
        ]
    );
}

#[test]
fn parse_errors_name_file_and_line() {
    let parsed = parse(&SourceFile::new(
        "bad.tf",
        "resource \"aws_vpc\" \"a\" {\n  cidr_block = \"10.0.0.0/16\"\n  tags = {\n}\n",
    ));
    assert_eq!(parsed.errors.len(), 1);
    let error = &parsed.errors[0];
    assert_eq!(error.file, "bad.tf");
    assert!(error.line >= 3, "line {}", error.line);
    assert!(error.message.contains("HCL parse error"));

    for empty in ["", "# only a comment\n", "\n\n/* block */\n"] {
        let parsed = parse(&SourceFile::new("empty.tf", empty));
        assert!(parsed.errors.is_empty() && parsed.facts.is_empty());
    }

    let json = parse_json(&SourceFile::new("bad.tf.json", "{\n  \"resource\": {\n}"));
    assert_eq!(json.errors.len(), 1);
    assert_eq!(json.errors[0].line, 3);
}

#[test]
fn invalid_json_in_a_heredoc_is_an_error_at_its_line() {
    let parsed = parse(&SourceFile::new(
        "main.tf",
        "resource \"aws_iam_policy\" \"p\" {\n  policy = <<EOF\n{\n  \"Statement\": [\n    oops\n  ]\n}\nEOF\n}\n",
    ));
    assert!(policies(&parsed).is_empty());
    assert_eq!(parsed.errors.len(), 1);
    assert_eq!(parsed.errors[0].line, 5);
}

#[test]
fn invalid_json_in_a_literal_policy_is_an_error() {
    let parsed = parse(&SourceFile::new(
        "main.tf",
        "resource \"aws_iam_policy\" \"p\" {\n  policy = \"{not json\"\n}\n",
    ));
    assert!(policies(&parsed).is_empty());
    assert_eq!(parsed.errors.len(), 1);
    assert_eq!(parsed.errors[0].line, 2);
}

#[test]
fn terraform_json_syntax() {
    let text = r#"{
  "variable": {
    "cidr": { "default": "10.0.0.0/8" }
  },
  "resource": {
    "aws_security_group": {
      "web": {
        "name": "web",
        "ingress": [
          {
            "from_port": 22,
            "to_port": 22,
            "protocol": "tcp",
            "cidr_blocks": ["0.0.0.0/0", "${var.cidr}"]
          }
        ]
      }
    },
    "aws_iam_access_key": {
      "k": { "user": "${aws_iam_user.u.name}" }
    },
    "aws_iam_policy": {
      "p": {
        "policy": "${jsonencode({Statement = [{Effect = \"Allow\", Action = \"*\", Resource = var.r}]})}"
      }
    }
  }
}
"#;
    let parsed = parse_json(&SourceFile::new("main.tf.json", text));
    assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
    let rules = ingresses(&parsed);
    assert_eq!(rules.len(), 1);
    assert_eq!(rules[0].at.resource, "aws_security_group.web");
    assert_eq!(rules[0].at.resource_span, Span::new(7, 17));
    assert_eq!(rules[0].at.span.line, 9);
    // `${var.cidr}` is the variable's default, in JSON syntax as in HCL.
    assert_eq!(rules[0].cidrs, vec![s("0.0.0.0/0"), s("10.0.0.0/8")]);
    let key = parsed.facts.iter().find_map(|f| match f {
        Fact::IamAccessKey(site) => Some(site),
        _ => None,
    });
    assert_eq!(key.map(|k| k.span), Some(Span::line(20)));
    assert!(
        parsed
            .facts
            .iter()
            .any(|f| matches!(f, Fact::Parameter(p) if p.name == "cidr"))
    );
    let policy = policies(&parsed)[0];
    assert_eq!(policy.at.span, Span::line(24));
    assert_eq!(policy.statements[0].actions, vec![s("*")]);
    assert_eq!(
        policy.statements[0].resources,
        vec![Known::Unknown("var.r".into())]
    );
}

#[test]
fn secret_names() {
    for name in [
        "password",
        "master_password",
        "client_secret",
        "api_key",
        "access_key",
        "auth_token",
        "primary_access_key",
        "db_pwd",
        "ssl_passphrase",
    ] {
        assert!(secret_like_name(name), "{name}");
    }
    for name in [
        "password_secret_arn",
        "secret_id",
        "kms_key_id",
        "token_ttl",
        "name",
        "secret_name",
        "key",
        "key_name",
    ] {
        assert!(!secret_like_name(name), "{name}");
    }
}

#[test]
fn counted_policy_documents_and_dynamic_blocks() {
    let parsed = tf(r#"
data "aws_iam_policy_document" "assume" {
  count = 1
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}
resource "aws_iam_role" "r" {
  count              = 1
  assume_role_policy = data.aws_iam_policy_document.assume[0].json
}
resource "aws_security_group" "dyn" {
  dynamic "ingress" {
    for_each = var.rules
    content {
      from_port   = ingress.value.port
      to_port     = ingress.value.port
      protocol    = "tcp"
      cidr_blocks = ["0.0.0.0/0"]
    }
  }
}
"#);
    assert_eq!(policies(&parsed)[0].kind, PolicyKind::Trust);
    assert!(
        ingresses(&parsed).is_empty(),
        "a dynamic block over an unknown collection makes no blocks"
    );
}

#[test]
fn default_groups_instances_locals_and_permissions() {
    let parsed = tf(r#"
resource "aws_default_security_group" "d" {
  ingress {
    protocol    = -1
    from_port   = 0
    to_port     = 0
    cidr_blocks = ["0.0.0.0/0"]
  }
}
resource "aws_instance" "i" {
  associate_public_ip_address = true
}
resource "aws_instance" "j" {
  ami = "ami-1"
}
locals {
  db_password = "literal-in-locals"
  db_name     = "app"
}
resource "azurerm_key_vault" "v" {
  access_policy {
    secret_permissions = ["Get", "Set"]
  }
}
"#);
    let rules = ingresses(&parsed);
    assert_eq!(rules.len(), 1);
    assert_eq!(rules[0].protocol, s("all"));
    assert_eq!(rules[0].ports, Known::Value(Ports::All));
    let public: Vec<_> = parsed
        .facts
        .iter()
        .filter_map(|f| match f {
            Fact::PublicIp(p) => Some((
                p.at.resource.as_str(),
                p.what.as_str(),
                p.assign_public_ip.clone(),
            )),
            _ => None,
        })
        .collect();
    assert_eq!(
        public,
        vec![("aws_instance.i", "EC2 instance", Known::Value(true))]
    );
    let found: Vec<_> = literals(&parsed)
        .iter()
        .map(|l| (l.at.resource.as_str(), l.name.as_str()))
        .collect();
    assert_eq!(found, vec![("locals", "db_password")]);
}

#[test]
fn backend_credentials_are_literals() {
    let parsed = tf(r#"
terraform {
  backend "s3" {
    bucket     = "state"
    access_key = "AKIAIOSFODNN7EXAMPLE"
  }
}
"#);
    let found: Vec<_> = literals(&parsed)
        .iter()
        .map(|l| (l.at.resource.as_str(), l.name.as_str(), l.at.span))
        .collect();
    assert_eq!(found, vec![("terraform", "access_key", Span::line(5))]);
}

#[test]
fn byte_order_mark_and_crlf_lines() {
    let text = "\u{feff}resource \"aws_iam_access_key\" \"k\" {\r\n  user = \"u\"\r\n}\r\n\r\nresource \"aws_vpc\" \"v\" {\r\n}\r\n";
    let parsed = tf(text);
    let spans: Vec<Span> = parsed
        .facts
        .iter()
        .filter_map(|f| match f {
            Fact::IamAccessKey(site) => Some(site.span),
            Fact::Vpc(v) => Some(v.at.span),
            _ => None,
        })
        .collect();
    assert_eq!(spans, vec![Span::new(1, 3), Span::new(5, 6)]);
}

#[test]
fn unreferenced_policy_documents_are_judged_by_content() {
    let parsed = tf(r#"
data "aws_iam_policy_document" "trust" {
  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]
    principals {
      type        = "Federated"
      identifiers = ["arn:aws:iam::123456789012:oidc-provider/x"]
    }
  }
}
data "aws_iam_policy_document" "bucket" {
  statement {
    actions   = ["s3:GetObject"]
    resources = ["arn:aws:s3:::b/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
  }
}
data "aws_iam_policy_document" "identity" {
  statement {
    actions   = ["s3:GetObject"]
    resources = ["*"]
  }
}
provider "aws" {
  alias      = "plain"
  access_key = "AKIAIOSFODNN7EXAMPLE"
}
"#);
    let kinds: Vec<_> = policies(&parsed).iter().map(|p| p.kind).collect();
    assert_eq!(
        kinds,
        [
            PolicyKind::Trust,
            PolicyKind::Resource,
            PolicyKind::Identity
        ]
    );
    assert_eq!(
        policies(&parsed)[1].statements[0].principals,
        vec![Principal {
            kind: "*".into(),
            value: s("*")
        }]
    );
    assert_eq!(literals(&parsed)[0].at.resource, "provider.aws.plain");
}

// ---------------------------------------------------------------------------------------
// Corpora

fn files_with_suffix(dir: &Path, suffix: &str, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            files_with_suffix(&path, suffix, out);
        } else if path.to_string_lossy().ends_with(suffix) {
            out.push(path);
        }
    }
}

fn parse_corpus(root: &Path) -> Vec<(PathBuf, Parsed)> {
    let mut files = Vec::new();
    files_with_suffix(root, ".tf", &mut files);
    files.sort();
    files
        .into_iter()
        .filter_map(|path| {
            let text = std::fs::read_to_string(&path).ok()?;
            let parsed = parse(&SourceFile::new(path.to_string_lossy().to_string(), text));
            Some((path, parsed))
        })
        .collect()
}

#[test]
fn corpora_parse_without_errors_and_give_expected_facts() {
    let Some(dir) =
        airlock_test_corpora::require("corpora_parse_without_errors_and_give_expected_facts")
    else {
        return;
    };
    for corpus in ["terragoat", "terraform-aws-vpc"] {
        let parsed = parse_corpus(&dir.join(corpus));
        let errors: Vec<_> = parsed.iter().flat_map(|(_, p)| &p.errors).collect();
        let facts: usize = parsed.iter().map(|(_, p)| p.facts.len()).sum();
        println!(
            "{corpus}: {} files, {facts} facts, {} errors",
            parsed.len(),
            errors.len()
        );
        assert!(!parsed.is_empty(), "{corpus} has .tf files");
        assert!(errors.is_empty(), "{corpus}: {errors:?}");
    }
    let terragoat = parse_corpus(&dir.join("terragoat"));
    let facts: Vec<&Fact> = terragoat.iter().flat_map(|(_, p)| &p.facts).collect();
    let world_open = facts
        .iter()
        .filter(|f| {
            matches!(f, Fact::Ingress(i) if i.cidrs.contains(&Known::Value("0.0.0.0/0".into())))
        })
        .count();
    let access_keys = facts
        .iter()
        .filter(|f| matches!(f, Fact::IamAccessKey(_)))
        .count();
    // terragoat has no secrets, topics or queues; its unencrypted resource of ours is the
    // ECR repository without KMS.
    let unencrypted = facts
        .iter()
        .filter(|f| match f {
            Fact::Encryption(e) => e.kms_key.is_absent(),
            Fact::EcrRepository(r) => r.encryption_type.value().map(String::as_str) != Some("KMS"),
            _ => false,
        })
        .count();
    let world_open_ssh = facts
        .iter()
        .filter(|f| {
            matches!(f, Fact::Ingress(i)
                if i.cidrs.contains(&Known::Value("0.0.0.0/0".into()))
                    && i.ports.value().is_some_and(|p| p.contains(22))
                    && i.at.resource == "aws_security_group.web-node")
        })
        .count();
    let policies = facts
        .iter()
        .filter(|f| matches!(f, Fact::Policy(_)))
        .count();
    let literals = facts
        .iter()
        .filter(|f| matches!(f, Fact::Literal(_)))
        .count();
    println!(
        "terragoat: {world_open} world-open ingress, {access_keys} access keys, \
         {unencrypted} unencrypted resources, {policies} policies, {literals} literals"
    );
    assert!(world_open >= 2);
    assert_eq!(world_open_ssh, 1);
    assert_eq!(access_keys, 1);
    assert!(unencrypted >= 1);
    assert!(policies >= 1);
    assert!(literals >= 1);
}

/// Every corpus file cut, doubled and spliced at many points must give a result (facts or
/// errors), never a panic.
#[test]
fn mangled_corpus_files_never_panic() {
    let Some(dir) = airlock_test_corpora::require("mangled_corpus_files_never_panic") else {
        return;
    };
    let mut files = Vec::new();
    files_with_suffix(&dir.join("terragoat"), ".tf", &mut files);
    files_with_suffix(&dir.join("terraform-aws-vpc"), ".tf", &mut files);
    files.sort();
    let mut runs = 0;
    for path in files.iter().take(40) {
        let Ok(text) = std::fs::read_to_string(path) else {
            continue;
        };
        let cuts: Vec<usize> = (1..8)
            .map(|i| text.len() * i / 8)
            .filter(|&i| text.is_char_boundary(i))
            .collect();
        for &cut in &cuts {
            let (head, tail) = text.split_at(cut);
            for mangled in [
                head.to_string(),
                format!("{tail}{head}"),
                format!("{head}\"{tail}"),
                format!("{head}<<EOF\n{tail}"),
                format!("{head}${{{tail}"),
            ] {
                for parsed in [
                    parse(&SourceFile::new("m.tf", mangled.as_str())),
                    parse_json(&SourceFile::new("m.tf.json", mangled.as_str())),
                ] {
                    let lines = mangled.lines().count() as u32 + 1;
                    for error in &parsed.errors {
                        assert!(error.file.starts_with("m.tf"));
                        assert!(error.line <= lines, "{error} beyond line {lines}");
                    }
                }
                runs += 1;
            }
        }
    }
    println!("mangled inputs parsed: {runs}");
    assert!(runs > 0);
}
/// Deep nesting must end in a parse error (hcl-edit bounds it), never a stack overflow, which
/// would abort the whole scan.
#[test]
fn deeply_nested_input_is_an_error_not_a_crash() {
    let depth = 20_000;
    let cases = [
        format!("{}{}", "a {\n".repeat(depth), "}\n".repeat(depth)),
        format!(
            "locals {{\n  x = {}1{}\n}}\n",
            "[".repeat(depth),
            "]".repeat(depth)
        ),
        format!("locals {{\n  x = {}1\n}}\n", "!".repeat(depth)),
        format!("locals {{\n  x = 1{}\n}}\n", " + 1".repeat(depth)),
        format!("locals {{\n  x = {}1\n}}\n", "a ? b : ".repeat(depth)),
        format!(
            "locals {{\n  x = {}1{}\n}}\n",
            "\"${".repeat(depth),
            "}\"".repeat(depth)
        ),
        format!(
            "locals {{\n  x = {}1{}\n}}\n",
            "f(".repeat(depth),
            ")".repeat(depth)
        ),
    ];
    for text in cases {
        let parsed = parse(&SourceFile::new("deep.tf", text));
        assert_eq!(parsed.errors.len(), 1);
        assert!(parsed.errors[0].line >= 1);
    }
    let json = format!(
        "{{\"locals\": {}1{}}}",
        "[".repeat(depth),
        "]".repeat(depth)
    );
    assert_eq!(
        parse_json(&SourceFile::new("deep.tf.json", json))
            .errors
            .len(),
        1
    );
}
