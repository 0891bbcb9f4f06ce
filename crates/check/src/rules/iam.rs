//! IAM: over-broad permissions in identity policies, roles that anyone (or another account,
//! unconditionally) may assume, long-lived access keys, and Allow statements written with
//! NotAction/NotResource.
//!
//! Permission rules (IAM001-IAM003, IAM008) read identity policies only: a resource policy's
//! `Action: kms:*` on `Resource: *` (the default KMS key policy) grants the named principal
//! access to that one resource, not to every key in the account.

use crate::finding::{Finding, Severity};
use crate::model::{Condition, Fact, Known, Policy, PolicyKind, Principal, Statement};
use crate::rules::{Example, Format, Rule, RuleMeta, Unit};

pub static RULES: &[&dyn Rule] = &[
    &AdminWildcard,
    &SensitiveServiceWildcard,
    &PassRoleWildcard,
    &TrustAnyone,
    &CrossAccountTrustUnconditioned,
    &UserAccessKey,
    &NotActionAllow,
    &PermissionsManagementOnEveryResource,
    &ResourcePolicyPublic,
];

// ---------------------------------------------------------------------------------------
// Shared reading of policy statements (also used by ECR003).

/// Whether a statement is a known `Allow`. IAM spells it `Allow`; case is not trusted.
pub(crate) fn is_allow(statement: &Statement) -> bool {
    matches!(&statement.effect, Known::Value(e) if e.eq_ignore_ascii_case("Allow"))
}

/// A stable discriminator for a statement, and how to name it in a message. The
/// discriminator is the statement's content (Sid, effect, actions, resources, principals),
/// not its position: it survives lines moving and statements being reordered, and tells
/// apart statements of several inline policies reported under one role.
pub(crate) fn statement_label(index: usize, statement: &Statement) -> (String, String) {
    fn list(values: &[Known<String>]) -> String {
        values
            .iter()
            .map(|v| v.value().map_or("?", |s| s.trim()))
            .collect::<Vec<_>>()
            .join(",")
    }
    let principals = |ps: &[Principal]| {
        ps.iter()
            .map(|p| format!("{}={}", p.kind, p.value.value().map_or("?", |s| s.trim())))
            .collect::<Vec<_>>()
            .join(",")
    };
    let discriminator = format!(
        "sid={};effect={};action={};notaction={};resource={};notresource={};principal={};notprincipal={}",
        statement.sid.as_deref().unwrap_or(""),
        statement.effect.value().map_or("?", |s| s.trim()),
        list(&statement.actions),
        list(&statement.not_actions),
        list(&statement.resources),
        list(&statement.not_resources),
        principals(&statement.principals),
        principals(&statement.not_principals),
    );
    let label = match &statement.sid {
        Some(sid) if !sid.is_empty() => format!("statement \"{sid}\""),
        _ => format!("statement {}", index + 1),
    };
    (discriminator, label)
}

/// IAM's wildcard match: `*` any run of characters, `?` one character, case-insensitive
/// (action names are case-insensitive in IAM).
pub(crate) fn glob_match(pattern: &str, text: &str) -> bool {
    let pattern: Vec<char> = pattern.to_lowercase().chars().collect();
    let text: Vec<char> = text.to_lowercase().chars().collect();
    let (mut p, mut t) = (0usize, 0usize);
    // Where the last `*` was, and the text position it has been matched up to.
    let mut backtrack: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some('*') => {
                backtrack = Some((p, t));
                p += 1;
            }
            Some(c) if *c == '?' || Some(c) == text.get(t) => {
                p += 1;
                t += 1;
            }
            _ => match backtrack {
                Some((star, matched)) => {
                    p = star + 1;
                    t = matched + 1;
                    backtrack = Some((star, matched + 1));
                }
                None => return false,
            },
        }
    }
    pattern
        .get(p..)
        .is_some_and(|rest| rest.iter().all(|c| *c == '*'))
}

fn has_wildcard(s: &str) -> bool {
    s.contains('*') || s.contains('?')
}

/// `"Principal": "*"` or `{"AWS": "*"}`: anybody, in any account, or anonymous.
pub(crate) fn is_wildcard_principal(principal: &Principal) -> bool {
    (principal.kind == "*" || principal.kind.eq_ignore_ascii_case("AWS"))
        && matches!(&principal.value, Known::Value(v) if v.trim() == "*")
}

/// Whether a condition narrows who matches by requiring `key` to equal something: a positive
/// string or ARN comparison (not a negation, not `…IfExists`, which passes when the key is
/// missing) whose values are not all the bare wildcard. An unknown value counts as a real
/// restriction: it cannot be shown not to be one.
pub(crate) fn restricts_key(condition: &Condition, keys: &[&str]) -> bool {
    if !keys.iter().any(|k| condition.key.eq_ignore_ascii_case(k)) {
        return false;
    }
    let operator = condition.operator.to_ascii_lowercase();
    let operator = operator.strip_prefix("foranyvalue:").unwrap_or(&operator);
    let positive = (operator.starts_with("string") || operator.starts_with("arn"))
        && !operator.contains("not")
        && !operator.ends_with("ifexists");
    let meaningful = condition
        .values
        .iter()
        .any(|v| !matches!(v, Known::Value(s) if s.trim() == "*"));
    positive && meaningful
}

/// Condition keys that pin a wildcard principal down to an organisation, an account, a
/// principal, the calling service's source, or an external id.
const PRINCIPAL_RESTRICTING_KEYS: [&str; 6] = [
    "aws:PrincipalOrgID",
    "aws:PrincipalAccount",
    "aws:PrincipalArn",
    "aws:SourceAccount",
    "aws:SourceArn",
    "sts:ExternalId",
];

fn policies(unit: &Unit) -> impl Iterator<Item = &Policy> {
    unit.facts.iter().filter_map(|fact| match fact {
        Fact::Policy(policy) => Some(policy),
        _ => None,
    })
}

fn known_strings(values: &[Known<String>]) -> impl Iterator<Item = &str> {
    values.iter().filter_map(Known::value).map(|s| s.trim())
}

fn is_star_action(action: &str) -> bool {
    action == "*" || action == "*:*"
}

/// IAM001's condition, shared so that IAM002 can stay quiet when it holds.
fn grants_admin(statement: &Statement) -> bool {
    is_allow(statement)
        && known_strings(&statement.actions).any(is_star_action)
        && known_strings(&statement.resources).any(|r| r == "*")
}

fn describe_policy(policy: &Policy) -> &'static str {
    match policy.kind {
        PolicyKind::Identity => "policy",
        PolicyKind::Trust => "trust policy of",
        PolicyKind::Resource => "resource policy",
    }
}

// ---------------------------------------------------------------------------------------

pub struct AdminWildcard;

static IAM001: RuleMeta = RuleMeta {
    code: "IAM001",
    name: "iam-admin-wildcard",
    severity: Severity::Critical,
    practice: "No identity is granted every action on every resource; permissions are scoped to what the workload does.",
    formats: &[Format::Terraform, Format::CloudFormation, Format::IamPolicy],
    what: "An identity policy statement with Effect Allow, Action `*` (or `*:*`) and Resource `*`.",
    why: "This is full administrator access: whoever holds it (or steals the workload's credentials) can read every secret, delete every resource, and create new users and keys to persist in the account.",
    fix: "Replace the wildcard with the specific actions and resource ARNs the workload uses. IAM Access Analyzer can generate a least-privilege policy from CloudTrail activity; keep administrator access for break-glass roles assumed with MFA.",
    examples: &[
        Example {
            file: "main.tf",
            failing: r#"resource "aws_iam_policy" "deployer" {
  name = "deployer"
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect   = "Allow"
      Action   = "*"
      Resource = "*"
    }]
  })
}
"#,
            passing: r#"resource "aws_iam_policy" "deployer" {
  name = "deployer"
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect   = "Allow"
      Action   = ["s3:GetObject", "s3:PutObject"]
      Resource = "arn:aws:s3:::example-artifacts/*"
    }]
  })
}
"#,
        },
        Example {
            file: "template.yaml",
            failing: r#"AWSTemplateFormatVersion: "2010-09-09"
Resources:
  DeployerPolicy:
    Type: AWS::IAM::ManagedPolicy
    Properties:
      PolicyDocument:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Action: "*"
            Resource: "*"
"#,
            passing: r#"AWSTemplateFormatVersion: "2010-09-09"
Resources:
  DeployerPolicy:
    Type: AWS::IAM::ManagedPolicy
    Properties:
      PolicyDocument:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Action:
              - s3:GetObject
              - s3:PutObject
            Resource: arn:aws:s3:::example-artifacts/*
"#,
        },
        Example {
            file: "policy.json",
            failing: r#"{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Sid": "Everything",
      "Effect": "Allow",
      "Action": "*",
      "Resource": "*"
    }
  ]
}
"#,
            passing: r#"{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Sid": "ReadArtifacts",
      "Effect": "Allow",
      "Action": ["s3:GetObject", "s3:ListBucket"],
      "Resource": [
        "arn:aws:s3:::example-artifacts",
        "arn:aws:s3:::example-artifacts/*"
      ]
    }
  ]
}
"#,
        },
    ],
    checkov: &[
        "CKV_AWS_1",
        "CKV_AWS_62",
        "CKV_AWS_63",
        "CKV_AWS_49",
        "CKV_AWS_109",
        "CKV_AWS_110",
        "CKV_AWS_286",
        "CKV_AWS_289",
    ],
};

impl Rule for AdminWildcard {
    fn meta(&self) -> &'static RuleMeta {
        &IAM001
    }

    fn check(&self, unit: &Unit, out: &mut Vec<Finding>) {
        for policy in policies(unit).filter(|p| p.kind == PolicyKind::Identity) {
            for (index, statement) in policy.statements.iter().enumerate() {
                if !grants_admin(statement) {
                    continue;
                }
                let (discriminator, label) = statement_label(index, statement);
                out.push(Finding::new(
                    &IAM001,
                    &policy.at.at(statement.span),
                    &discriminator,
                    format!(
                        "policy {} {label} allows every action (*) on every resource (*)",
                        policy.at.resource
                    ),
                ));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------

pub struct SensitiveServiceWildcard;

/// Services whose wildcard grants amount to privilege escalation or access to every secret.
const SENSITIVE_SERVICES: [&str; 5] = ["iam", "sts", "kms", "secretsmanager", "organizations"];

/// The high-risk actions of each sensitive service: privilege escalation, credential
/// creation, reading secrets, destroying or re-permissioning keys, reshaping the
/// organisation. A partial wildcard is reported when it reaches one of these beyond the
/// action its own stem names. `iam:PassRole` is IAM003's.
const HIGH_RISK_ACTIONS: [(&str, &[&str]); 5] = [
    (
        "iam",
        &[
            "AddUserToGroup",
            "AttachGroupPolicy",
            "AttachRolePolicy",
            "AttachUserPolicy",
            "CreateAccessKey",
            "CreateLoginProfile",
            "CreatePolicyVersion",
            "CreateRole",
            "CreateUser",
            "DeletePolicy",
            "DeleteRole",
            "DeleteRolePermissionsBoundary",
            "DeleteUser",
            "DeleteUserPermissionsBoundary",
            "PutGroupPolicy",
            "PutRolePermissionsBoundary",
            "PutRolePolicy",
            "PutUserPermissionsBoundary",
            "PutUserPolicy",
            "SetDefaultPolicyVersion",
            "UpdateAssumeRolePolicy",
            "UpdateLoginProfile",
        ],
    ),
    ("sts", &["AssumeRole", "GetFederationToken"]),
    (
        "kms",
        &[
            "CreateGrant",
            "Decrypt",
            "DeleteAlias",
            "DeleteImportedKeyMaterial",
            "DisableKey",
            "DisableKeyRotation",
            "ImportKeyMaterial",
            "PutKeyPolicy",
            "ScheduleKeyDeletion",
            "UpdateAlias",
        ],
    ),
    (
        "secretsmanager",
        &[
            "BatchGetSecretValue",
            "DeleteResourcePolicy",
            "DeleteSecret",
            "GetSecretValue",
            "PutResourcePolicy",
            "PutSecretValue",
            "UpdateSecret",
        ],
    ),
    (
        "organizations",
        &[
            "AttachPolicy",
            "CloseAccount",
            "CreateAccount",
            "CreatePolicy",
            "DeleteOrganization",
            "DeletePolicy",
            "DetachPolicy",
            "DisablePolicyType",
            "InviteAccountToOrganization",
            "LeaveOrganization",
            "MoveAccount",
            "RemoveAccountFromOrganization",
            "UpdatePolicy",
        ],
    ),
];

static IAM002: RuleMeta = RuleMeta {
    code: "IAM002",
    name: "iam-sensitive-service-wildcard",
    severity: Severity::High,
    practice: "Actions of IAM, STS, KMS, Secrets Manager and Organizations are granted by name, never by wildcard.",
    formats: &[Format::Terraform, Format::CloudFormation, Format::IamPolicy],
    what: "An identity policy Allow statement with a wildcard over iam, sts, kms, secretsmanager or organizations: the whole service (`iam:*`, or a service wildcard such as `s*:*` that covers one) on any resource, or, on Resource `*`, a partial wildcard that reaches a high-risk action (privilege escalation, credential creation, secret reads, key destruction, organisation changes) beyond the one its stem names, such as `iam:Put*`, `iam:*Policy` or `secretsmanager:Get*`. Read-only and data-key wildcards (`iam:List*`, `kms:GenerateDataKey*`, `kms:Decrypt*`) are not reported, nor statements already reported by IAM001 (`*` on `*`).",
    why: "These services control identity and secrets: `iam:*` lets the holder attach AdministratorAccess to itself, `sts:*` assume other roles, `kms:*` decrypt or schedule deletion of keys, `secretsmanager:*` read every secret. A wildcard also silently grants actions AWS adds later.",
    fix: "List the exact actions needed (for example `kms:Decrypt` and `kms:GenerateDataKey`) and scope Resource to the specific keys, secrets or roles. Grant IAM administration only to dedicated, MFA-protected roles.",
    examples: &[
        Example {
            file: "main.tf",
            failing: r#"resource "aws_iam_role_policy" "app" {
  name = "app-secrets"
  role = aws_iam_role.app.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect   = "Allow"
      Action   = ["secretsmanager:*"]
      Resource = "*"
    }]
  })
}

resource "aws_iam_role" "app" {
  name = "app"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Action    = "sts:AssumeRole"
      Principal = { Service = "ecs-tasks.amazonaws.com" }
    }]
  })
}
"#,
            passing: r#"resource "aws_iam_role_policy" "app" {
  name = "app-secrets"
  role = aws_iam_role.app.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect   = "Allow"
      Action   = ["secretsmanager:GetSecretValue"]
      Resource = "arn:aws:secretsmanager:eu-west-1:111122223333:secret:app/db-*"
    }]
  })
}

resource "aws_iam_role" "app" {
  name = "app"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Action    = "sts:AssumeRole"
      Principal = { Service = "ecs-tasks.amazonaws.com" }
    }]
  })
}
"#,
        },
        Example {
            file: "template.yaml",
            failing: r#"AWSTemplateFormatVersion: "2010-09-09"
Resources:
  KeyUserPolicy:
    Type: AWS::IAM::ManagedPolicy
    Properties:
      PolicyDocument:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Action: kms:*
            Resource: "*"
"#,
            passing: r#"AWSTemplateFormatVersion: "2010-09-09"
Resources:
  KeyUserPolicy:
    Type: AWS::IAM::ManagedPolicy
    Properties:
      PolicyDocument:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Action:
              - kms:Decrypt
              - kms:GenerateDataKey
            Resource: arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab
"#,
        },
        Example {
            file: "policy.json",
            failing: r#"{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Sid": "ManageRoles",
      "Effect": "Allow",
      "Action": ["iam:Put*", "iam:Attach*"],
      "Resource": "*"
    }
  ]
}
"#,
            passing: r#"{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Sid": "ReadRoles",
      "Effect": "Allow",
      "Action": ["iam:GetRole", "iam:ListRolePolicies"],
      "Resource": "arn:aws:iam::111122223333:role/app-*"
    }
  ]
}
"#,
        },
    ],
    checkov: &[
        "CKV2_AWS_40",
        "CKV_AWS_109",
        "CKV_AWS_289",
        "CKV_AWS_110",
        "CKV_AWS_286",
    ],
};

impl SensitiveServiceWildcard {
    /// Why an action is a wildcard this rule reports, if it is one: the whole of a sensitive
    /// service (`iam:*`, `s*:*`) anywhere, or a partial wildcard (`iam:Put*`) that reaches a
    /// high-risk action on Resource `*`. A bare `*`/`*:*` is IAM001's; named actions and
    /// wildcards that reach only reads or the action their stem names
    /// (`kms:GenerateDataKey*`, `kms:Decrypt*`, `iam:List*`) are left alone.
    fn reaches(action: &str, on_every_resource: bool) -> Option<String> {
        let (service, name) = action.split_once(':')?;
        let (service, name) = (service.trim(), name.trim());
        if service == "*" || !(has_wildcard(service) || has_wildcard(name)) {
            return None;
        }
        let services: Vec<&str> = SENSITIVE_SERVICES
            .into_iter()
            .filter(|s| glob_match(service, s))
            .collect();
        if services.is_empty() {
            return None;
        }
        if name == "*" {
            return Some(format!("{action} (all of {})", services.join(", ")));
        }
        if !on_every_resource {
            return None;
        }
        let stem: String = name.chars().filter(|c| *c != '*' && *c != '?').collect();
        let reached: Vec<String> = HIGH_RISK_ACTIONS
            .iter()
            .filter(|(s, _)| services.contains(s))
            .flat_map(|(s, actions)| actions.iter().map(move |a| (*s, *a)))
            .filter(|(_, a)| glob_match(name, a) && !a.eq_ignore_ascii_case(&stem))
            .map(|(s, a)| format!("{s}:{a}"))
            .collect();
        match reached.as_slice() {
            [] => None,
            [one] => Some(format!("{action} (covers {one})")),
            [first, ..] => Some(format!(
                "{action} (covers {first} and {} more)",
                reached.len() - 1
            )),
        }
    }
}

impl Rule for SensitiveServiceWildcard {
    fn meta(&self) -> &'static RuleMeta {
        &IAM002
    }

    fn check(&self, unit: &Unit, out: &mut Vec<Finding>) {
        for policy in policies(unit).filter(|p| p.kind == PolicyKind::Identity) {
            for (index, statement) in policy.statements.iter().enumerate() {
                if !is_allow(statement) || grants_admin(statement) {
                    continue;
                }
                let on_every_resource = known_strings(&statement.resources).any(|r| r == "*");
                let wildcards: Vec<String> = known_strings(&statement.actions)
                    .filter_map(|a| Self::reaches(a, on_every_resource))
                    .collect();
                if wildcards.is_empty() {
                    continue;
                }
                let (discriminator, label) = statement_label(index, statement);
                out.push(Finding::new(
                    &IAM002,
                    &policy.at.at(statement.span),
                    &discriminator,
                    format!(
                        "policy {} {label} allows wildcard actions on a sensitive service: {}",
                        policy.at.resource,
                        wildcards.join(", ")
                    ),
                ));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------

pub struct PassRoleWildcard;

static IAM003: RuleMeta = RuleMeta {
    code: "IAM003",
    name: "iam-passrole-wildcard",
    severity: Severity::High,
    practice: "iam:PassRole is granted only for the specific roles a workload hands to AWS services.",
    formats: &[Format::Terraform, Format::CloudFormation, Format::IamPolicy],
    what: "An identity policy Allow statement with Resource `*` whose actions name `iam:PassRole` or a pattern that covers it (`iam:Pass*`). `iam:*` is reported by IAM002 and `*` by IAM001.",
    why: "Passing a role to a service (EC2, Lambda, ECS, CloudFormation) lets the caller run code with that role's permissions. With Resource `*` the caller can pass the most privileged role in the account and so escalate to it.",
    fix: "Set Resource to the ARNs of the roles that may be passed. Add an `iam:PassedToService` condition naming the service that receives them, so that a role meant for one service cannot be handed to another.",
    examples: &[
        Example {
            file: "main.tf",
            failing: r#"resource "aws_iam_policy" "launcher" {
  name = "launcher"
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect   = "Allow"
      Action   = ["ec2:RunInstances", "iam:PassRole"]
      Resource = "*"
    }]
  })
}
"#,
            passing: r#"resource "aws_iam_policy" "launcher" {
  name = "launcher"
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Effect   = "Allow"
        Action   = ["ec2:RunInstances"]
        Resource = "*"
      },
      {
        Effect   = "Allow"
        Action   = ["iam:PassRole"]
        Resource = "arn:aws:iam::111122223333:role/worker-instance"
        Condition = {
          StringEquals = { "iam:PassedToService" = "ec2.amazonaws.com" }
        }
      }
    ]
  })
}
"#,
        },
        Example {
            file: "template.yaml",
            failing: r#"AWSTemplateFormatVersion: "2010-09-09"
Resources:
  LambdaDeployerPolicy:
    Type: AWS::IAM::ManagedPolicy
    Properties:
      PolicyDocument:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Action:
              - lambda:CreateFunction
              - iam:PassRole
            Resource: "*"
"#,
            passing: r#"AWSTemplateFormatVersion: "2010-09-09"
Resources:
  LambdaDeployerPolicy:
    Type: AWS::IAM::ManagedPolicy
    Properties:
      PolicyDocument:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Action: lambda:CreateFunction
            Resource: "*"
          - Effect: Allow
            Action: iam:PassRole
            Resource: arn:aws:iam::111122223333:role/lambda-runtime
            Condition:
              StringEquals:
                iam:PassedToService: lambda.amazonaws.com
"#,
        },
        Example {
            file: "policy.json",
            failing: r#"{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Effect": "Allow",
      "Action": ["ecs:RunTask", "iam:Pass*"],
      "Resource": "*"
    }
  ]
}
"#,
            passing: r#"{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Effect": "Allow",
      "Action": "ecs:RunTask",
      "Resource": "*"
    },
    {
      "Effect": "Allow",
      "Action": "iam:PassRole",
      "Resource": "arn:aws:iam::111122223333:role/task-runtime"
    }
  ]
}
"#,
        },
    ],
    checkov: &["CKV_AWS_110", "CKV_AWS_286", "CKV_AWS_109", "CKV_AWS_289"],
};

impl PassRoleWildcard {
    fn covers_pass_role(action: &str) -> bool {
        match action.split_once(':') {
            Some((service, name)) => {
                service.trim().eq_ignore_ascii_case("iam")
                    && name.trim() != "*"
                    && glob_match(name.trim(), "PassRole")
            }
            None => false,
        }
    }
}

impl Rule for PassRoleWildcard {
    fn meta(&self) -> &'static RuleMeta {
        &IAM003
    }

    fn check(&self, unit: &Unit, out: &mut Vec<Finding>) {
        for policy in policies(unit).filter(|p| p.kind == PolicyKind::Identity) {
            for (index, statement) in policy.statements.iter().enumerate() {
                if !is_allow(statement) || !known_strings(&statement.resources).any(|r| r == "*") {
                    continue;
                }
                let Some(action) =
                    known_strings(&statement.actions).find(|a| Self::covers_pass_role(a))
                else {
                    continue;
                };
                let (discriminator, label) = statement_label(index, statement);
                out.push(Finding::new(
                    &IAM003,
                    &policy.at.at(statement.span),
                    &discriminator,
                    format!(
                        "policy {} {label} allows {action} on every role (Resource *)",
                        policy.at.resource
                    ),
                ));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------

pub struct PermissionsManagementOnEveryResource;

/// Action names that change who may use a resource: resource policies, ACLs, grants,
/// permissions, public-access blocks and sharing attributes. Matched with IAM's wildcards
/// against the action's name, in any service.
const PERMISSION_CHANGING_ACTIONS: [&str; 16] = [
    "Put*Policy",
    "Set*Policy",
    "Delete*Policy",
    "Attach*Policy",
    "Detach*Policy",
    "Create*PolicyVersion",
    "Add*Permission*",
    "Remove*Permission*",
    "Create*Permission*",
    "Delete*Permission*",
    "CreateGrant",
    "RevokeGrant",
    "Put*Acl",
    "*PublicAccessBlock",
    "Modify*SnapshotAttribute",
    "ModifyImageAttribute",
];

/// Policies that are not about access (scaling, retention, lifecycle, load balancing,
/// replication, storage tiers): `Put*Policy` on these changes behaviour, not who gets in.
const NOT_ACCESS_POLICIES: [&str; 8] = [
    "scaling",
    "retention",
    "lifecycle",
    "loadbalancer",
    "replication",
    "storage",
    "backup",
    "sampling",
];

/// Concrete permission-changing actions, so that a partial wildcard (`s3:Put*`) can be
/// tested for reaching one. Not exhaustive: a named action is matched by the patterns above.
const PERMISSION_CHANGING_EXAMPLES: [(&str, &str); 14] = [
    ("s3", "PutBucketPolicy"),
    ("s3", "PutBucketAcl"),
    ("s3", "PutObjectAcl"),
    ("s3", "PutBucketPublicAccessBlock"),
    ("ec2", "CreateNetworkInterfacePermission"),
    ("ec2", "ModifySnapshotAttribute"),
    ("ec2", "ModifyImageAttribute"),
    ("lambda", "AddPermission"),
    ("sns", "AddPermission"),
    ("sqs", "AddPermission"),
    ("ecr", "SetRepositoryPolicy"),
    ("logs", "PutResourcePolicy"),
    ("es", "UpdateDomainConfig"),
    ("rds", "ModifyDBSnapshotAttribute"),
];

static IAM008: RuleMeta = RuleMeta {
    code: "IAM008",
    name: "iam-permissions-management-on-every-resource",
    severity: Severity::Medium,
    practice: "Permission-changing actions, and whole services, are granted on named resources, never on Resource `*`.",
    formats: &[Format::Terraform, Format::CloudFormation, Format::IamPolicy],
    what: "An identity policy Allow statement with Resource `*` that grants a whole service (`ec2:*`, `s3:*`, `cloudformation:*`) other than the five IAM002 covers, or an action that changes who may use a resource: resource policies (`s3:PutBucketPolicy`, `kms:PutKeyPolicy`, `ecr:SetRepositoryPolicy`), permissions and grants (`lambda:AddPermission`, `ec2:CreateNetworkInterfacePermission`, `kms:CreateGrant`), ACLs, public-access blocks, snapshot and image sharing, and IAM's own attach and put actions named one by one. Statements already reported by IAM001, IAM002 or IAM003 for the same action are not reported again.",
    why: "On every resource these actions let the holder open any bucket, key, function or snapshot in the account to another account or to everyone (resource exposure), or grant itself more (permissions management). A whole-service wildcard includes those actions, and every action the service adds later.",
    fix: "Name the actions the workload uses and scope Resource to the ARNs it manages. Keep permission-changing actions for deployment roles, on resources named by prefix (`arn:aws:s3:::app-*`).",
    examples: &[
        Example {
            file: "main.tf",
            failing: r#"resource "aws_iam_role_policy" "app" {
  name = "app"
  role = "app"
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect   = "Allow"
      Action   = ["s3:*"]
      Resource = "*"
    }]
  })
}
"#,
            passing: r#"resource "aws_iam_role_policy" "app" {
  name = "app"
  role = "app"
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect   = "Allow"
      Action   = ["s3:GetObject", "s3:PutObject"]
      Resource = "arn:aws:s3:::example-app-data/*"
    }]
  })
}
"#,
        },
        Example {
            file: "template.yaml",
            failing: r#"AWSTemplateFormatVersion: "2010-09-09"
Resources:
  KeyAdminPolicy:
    Type: AWS::IAM::ManagedPolicy
    Properties:
      PolicyDocument:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Action:
              - kms:GetKeyPolicy
              - kms:PutKeyPolicy
            Resource: "*"
"#,
            passing: r#"AWSTemplateFormatVersion: "2010-09-09"
Resources:
  KeyAdminPolicy:
    Type: AWS::IAM::ManagedPolicy
    Properties:
      PolicyDocument:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Action:
              - kms:GetKeyPolicy
              - kms:PutKeyPolicy
            Resource: arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab
"#,
        },
        Example {
            file: "policy.json",
            failing: r#"{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Sid": "NetworkInterfaces",
      "Effect": "Allow",
      "Action": ["ec2:CreateNetworkInterface", "ec2:CreateNetworkInterfacePermission"],
      "Resource": "*"
    }
  ]
}
"#,
            passing: r#"{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Sid": "NetworkInterfaces",
      "Effect": "Allow",
      "Action": ["ec2:CreateNetworkInterface", "ec2:DescribeNetworkInterfaces"],
      "Resource": "*"
    }
  ]
}
"#,
        },
    ],
    checkov: &["CKV_AWS_109", "CKV_AWS_289", "CKV_AWS_110", "CKV_AWS_286"],
};

impl PermissionsManagementOnEveryResource {
    /// Whether an action name (no service) is a permission-changing one by the patterns.
    fn changes_permissions(name: &str) -> bool {
        let lower = name.to_ascii_lowercase();
        PERMISSION_CHANGING_ACTIONS
            .iter()
            .any(|pattern| glob_match(pattern, name))
            && !NOT_ACCESS_POLICIES.iter().any(|word| lower.contains(word))
    }

    /// Why an action on Resource `*` is reported, if it is: a whole non-sensitive service,
    /// a named permission-changing action, or a partial wildcard that reaches one. What
    /// IAM001 (`*`), IAM002 (wildcards over the sensitive services) and IAM003 (PassRole)
    /// report is left to them.
    fn reaches(action: &str) -> Option<String> {
        let (service, name) = action.split_once(':')?;
        let (service, name) = (service.trim(), name.trim());
        if has_wildcard(service) || service.is_empty() {
            return None; // `*` or `*:*` is IAM001's; `s*:*` is IAM002's when it matters
        }
        let sensitive = SENSITIVE_SERVICES
            .iter()
            .any(|s| s.eq_ignore_ascii_case(service));
        if name == "*" {
            return (!sensitive).then(|| format!("{action} (all of {service})"));
        }
        if PassRoleWildcard::covers_pass_role(action) {
            return None;
        }
        if !has_wildcard(name) {
            return Self::changes_permissions(name).then(|| action.to_owned());
        }
        if sensitive {
            return None; // IAM002 judges partial wildcards over the sensitive services
        }
        PERMISSION_CHANGING_EXAMPLES
            .iter()
            .find(|(s, a)| s.eq_ignore_ascii_case(service) && glob_match(name, a))
            .map(|(s, a)| format!("{action} (covers {s}:{a})"))
    }
}

impl Rule for PermissionsManagementOnEveryResource {
    fn meta(&self) -> &'static RuleMeta {
        &IAM008
    }

    fn check(&self, unit: &Unit, out: &mut Vec<Finding>) {
        for policy in policies(unit).filter(|p| p.kind == PolicyKind::Identity) {
            for (index, statement) in policy.statements.iter().enumerate() {
                if !is_allow(statement)
                    || grants_admin(statement)
                    || !known_strings(&statement.resources).any(|r| r == "*")
                {
                    continue;
                }
                let reached: Vec<String> = known_strings(&statement.actions)
                    .filter_map(Self::reaches)
                    .collect();
                if reached.is_empty() {
                    continue;
                }
                let (discriminator, label) = statement_label(index, statement);
                out.push(Finding::new(
                    &IAM008,
                    &policy.at.at(statement.span),
                    &discriminator,
                    format!(
                        "policy {} {label} grants on every resource (Resource *): {}",
                        policy.at.resource,
                        reached.join(", ")
                    ),
                ));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------

pub struct ResourcePolicyPublic;

/// Condition keys that limit who may use a resource through a wildcard principal, besides
/// ECR003's caller keys: a source network, the source organisation, and KMS's calling
/// account.
const RESOURCE_RESTRICTING_KEYS: [&str; 3] =
    ["aws:SourceIp", "aws:SourceOrgID", "kms:CallerAccount"];

static IAM009: RuleMeta = RuleMeta {
    code: "IAM009",
    name: "resource-policy-public",
    severity: Severity::High,
    practice: "Resource policies name the accounts, organisations or services they let in; none lets in everyone.",
    formats: &[Format::Terraform, Format::CloudFormation, Format::IamPolicy],
    what: "A resource policy (S3 bucket, SQS queue, SNS topic, KMS key, OpenSearch/Elasticsearch domain, or a policy document used as one) with an Allow statement for Principal `*` or `{\"AWS\": \"*\"}` and no condition that restricts the caller (aws:PrincipalOrgID, aws:PrincipalAccount, aws:PrincipalArn, aws:SourceAccount, aws:SourceArn, aws:SourceVpc, aws:SourceVpce, aws:SourceIp, kms:CallerAccount, with a value other than `*`). ECR repository policies are ECR003's.",
    why: "Such a statement lets anyone on the internet, signed in to any AWS account or not, use the resource: read every object of a bucket, send to or read a queue, decrypt with a key, query a search domain. It is the mistake behind most public data leaks from AWS.",
    fix: "Replace the wildcard with the accounts, roles or services that need access, or add a condition that pins the caller down (aws:PrincipalOrgID for your organisation, aws:SourceArn for a service). For a public website, serve the bucket through CloudFront with origin access control instead.",
    examples: &[
        Example {
            file: "main.tf",
            failing: r#"resource "aws_sqs_queue_policy" "orders" {
  queue_url = "https://sqs.eu-west-1.amazonaws.com/111122223333/orders"
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = "*"
      Action    = "sqs:SendMessage"
      Resource  = "arn:aws:sqs:eu-west-1:111122223333:orders"
    }]
  })
}
"#,
            passing: r#"resource "aws_sqs_queue_policy" "orders" {
  queue_url = "https://sqs.eu-west-1.amazonaws.com/111122223333/orders"
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "sns.amazonaws.com" }
      Action    = "sqs:SendMessage"
      Resource  = "arn:aws:sqs:eu-west-1:111122223333:orders"
      Condition = { ArnEquals = { "aws:SourceArn" = "arn:aws:sns:eu-west-1:111122223333:orders" } }
    }]
  })
}
"#,
        },
        Example {
            file: "template.yaml",
            failing: r#"AWSTemplateFormatVersion: "2010-09-09"
Resources:
  ReportsBucketPolicy:
    Type: AWS::S3::BucketPolicy
    Properties:
      Bucket: example-reports
      PolicyDocument:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Principal: "*"
            Action: s3:GetObject
            Resource: arn:aws:s3:::example-reports/*
"#,
            passing: r#"AWSTemplateFormatVersion: "2010-09-09"
Resources:
  ReportsBucketPolicy:
    Type: AWS::S3::BucketPolicy
    Properties:
      Bucket: example-reports
      PolicyDocument:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Principal: "*"
            Action: s3:GetObject
            Resource: arn:aws:s3:::example-reports/*
            Condition:
              StringEquals:
                aws:PrincipalOrgID: o-a1b2c3d4e5
"#,
        },
        Example {
            file: "policy.json",
            failing: r#"{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Sid": "Anyone",
      "Effect": "Allow",
      "Principal": {"AWS": "*"},
      "Action": "kms:Decrypt",
      "Resource": "*"
    }
  ]
}
"#,
            passing: r#"{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Sid": "SameAccountOnly",
      "Effect": "Allow",
      "Principal": {"AWS": "*"},
      "Action": "kms:Decrypt",
      "Resource": "*",
      "Condition": {"StringEquals": {"kms:CallerAccount": "111122223333"}}
    }
  ]
}
"#,
        },
    ],
    checkov: &[
        "CKV_AWS_70",
        "CKV_AWS_33",
        "CKV_AWS_167",
        "CKV_AWS_168",
        "CKV_AWS_169",
        "CKV_AWS_283",
    ],
};

impl Rule for ResourcePolicyPublic {
    fn meta(&self) -> &'static RuleMeta {
        &IAM009
    }

    fn check(&self, unit: &Unit, out: &mut Vec<Finding>) {
        use crate::rules::registry::{CALLER_RESTRICTING_KEYS, EcrPolicyOpen};
        for policy in policies(unit)
            .filter(|p| p.kind == PolicyKind::Resource && !EcrPolicyOpen::governs_ecr_repository(p))
        {
            for (index, statement) in policy.statements.iter().enumerate() {
                if !is_allow(statement)
                    || !statement.principals.iter().any(is_wildcard_principal)
                    || statement.conditions.iter().any(|c| {
                        restricts_key(c, &CALLER_RESTRICTING_KEYS)
                            || restricts_key(c, &RESOURCE_RESTRICTING_KEYS)
                    })
                {
                    continue;
                }
                let actions: Vec<&str> = known_strings(&statement.actions).collect();
                let (discriminator, label) = statement_label(index, statement);
                out.push(Finding::new(
                    &IAM009,
                    &policy.at.at(statement.span),
                    &discriminator,
                    format!(
                        "resource policy {} {label} allows any principal (*) to {} without a restricting condition",
                        policy.at.resource,
                        match actions.as_slice() {
                            [] => "act".to_string(),
                            _ => actions.join(", "),
                        }
                    ),
                ));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------

pub struct TrustAnyone;

static IAM004: RuleMeta = RuleMeta {
    code: "IAM004",
    name: "iam-trust-anyone",
    severity: Severity::Critical,
    practice: "A role's trust policy names who may assume it; it never trusts every AWS principal.",
    formats: &[Format::Terraform, Format::CloudFormation, Format::IamPolicy],
    what: "A role trust policy Allow statement with Principal `*` or `{\"AWS\": \"*\"}` and no condition that pins the caller down (a positive match on aws:PrincipalOrgID, aws:PrincipalAccount, aws:PrincipalArn, aws:SourceAccount, aws:SourceArn or sts:ExternalId).",
    why: "Any IAM user or role in any AWS account, including an attacker's, can call sts:AssumeRole on the role and receive its permissions; the role's name is all they need.",
    fix: "Name the trusted principal: a specific role ARN, account, or service. If many accounts of your organisation must assume the role, keep the wildcard but add a StringEquals condition on aws:PrincipalOrgID.",
    examples: &[
        Example {
            file: "main.tf",
            failing: r#"resource "aws_iam_role" "shared" {
  name = "shared-reader"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Action    = "sts:AssumeRole"
      Principal = { AWS = "*" }
    }]
  })
}
"#,
            passing: r#"resource "aws_iam_role" "shared" {
  name = "shared-reader"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Action    = "sts:AssumeRole"
      Principal = { AWS = "*" }
      Condition = {
        StringEquals = { "aws:PrincipalOrgID" = "o-a1b2c3d4e5" }
      }
    }]
  })
}
"#,
        },
        Example {
            file: "template.yaml",
            failing: r#"AWSTemplateFormatVersion: "2010-09-09"
Resources:
  SharedReaderRole:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Principal: "*"
            Action: sts:AssumeRole
"#,
            passing: r#"AWSTemplateFormatVersion: "2010-09-09"
Resources:
  SharedReaderRole:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Principal:
              AWS: arn:aws:iam::111122223333:role/reporting
            Action: sts:AssumeRole
"#,
        },
        Example {
            file: "policy.json",
            failing: r#"{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Effect": "Allow",
      "Principal": {"AWS": "*"},
      "Action": "sts:AssumeRole"
    }
  ]
}
"#,
            passing: r#"{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Effect": "Allow",
      "Principal": {"AWS": "*"},
      "Action": "sts:AssumeRole",
      "Condition": {
        "StringEquals": {"aws:PrincipalOrgID": "o-a1b2c3d4e5"}
      }
    }
  ]
}
"#,
        },
    ],
    checkov: &["CKV_AWS_60"],
};

impl Rule for TrustAnyone {
    fn meta(&self) -> &'static RuleMeta {
        &IAM004
    }

    fn check(&self, unit: &Unit, out: &mut Vec<Finding>) {
        for policy in policies(unit).filter(|p| p.kind == PolicyKind::Trust) {
            for (index, statement) in policy.statements.iter().enumerate() {
                if !is_allow(statement) || !statement.principals.iter().any(is_wildcard_principal) {
                    continue;
                }
                let restricted = statement
                    .conditions
                    .iter()
                    .any(|c| restricts_key(c, &PRINCIPAL_RESTRICTING_KEYS));
                if restricted {
                    continue;
                }
                let (discriminator, label) = statement_label(index, statement);
                out.push(Finding::new(
                    &IAM004,
                    &policy.at.at(statement.span),
                    &discriminator,
                    format!(
                        "{} role {} {label} lets any AWS principal (*) assume the role without a restricting condition",
                        describe_policy(policy),
                        policy.at.resource
                    ),
                ));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------

pub struct CrossAccountTrustUnconditioned;

static IAM005: RuleMeta = RuleMeta {
    code: "IAM005",
    name: "iam-cross-account-trust-unconditioned",
    severity: Severity::High,
    practice: "A role that trusts a whole AWS account requires an external id, organisation membership or MFA.",
    formats: &[Format::Terraform, Format::CloudFormation, Format::IamPolicy],
    what: "A role trust policy Allow statement whose AWS principal is a whole account (`arn:aws:iam::123456789012:root` or the bare id `123456789012`) with no sts:ExternalId or aws:PrincipalOrgID condition, and no MFA condition (Bool aws:MultiFactorAuthPresent true, or a numeric aws:MultiFactorAuthAge). Principals built from expressions (the stack's own account, a variable) are not reported.",
    why: "Trusting an account's root lets every user and role in that account that has sts:AssumeRole permission become this role. For a third party this is the confused-deputy problem that the external id exists to prevent; for humans, MFA keeps stolen access keys from being enough.",
    fix: "Add a condition: StringEquals on sts:ExternalId for a vendor, aws:PrincipalOrgID for accounts of your organisation, or Bool aws:MultiFactorAuthPresent true for people. Better still, trust the specific role ARN in the other account instead of its root.",
    examples: &[
        Example {
            file: "main.tf",
            failing: r#"resource "aws_iam_role" "vendor" {
  name = "vendor-audit"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Action    = "sts:AssumeRole"
      Principal = { AWS = "arn:aws:iam::444455556666:root" }
    }]
  })
}
"#,
            passing: r#"resource "aws_iam_role" "vendor" {
  name = "vendor-audit"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Action    = "sts:AssumeRole"
      Principal = { AWS = "arn:aws:iam::444455556666:root" }
      Condition = {
        StringEquals = { "sts:ExternalId" = "7f3c2b9e-vendor-audit" }
      }
    }]
  })
}
"#,
        },
        Example {
            file: "template.yaml",
            failing: r#"AWSTemplateFormatVersion: "2010-09-09"
Resources:
  OperatorRole:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Principal:
              AWS: "444455556666"
            Action: sts:AssumeRole
"#,
            passing: r#"AWSTemplateFormatVersion: "2010-09-09"
Resources:
  OperatorRole:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Principal:
              AWS: "444455556666"
            Action: sts:AssumeRole
            Condition:
              Bool:
                aws:MultiFactorAuthPresent: "true"
"#,
        },
        Example {
            file: "policy.json",
            failing: r#"{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Effect": "Allow",
      "Principal": {"AWS": "arn:aws:iam::444455556666:root"},
      "Action": "sts:AssumeRole"
    }
  ]
}
"#,
            passing: r#"{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Effect": "Allow",
      "Principal": {"AWS": "arn:aws:iam::444455556666:root"},
      "Action": "sts:AssumeRole",
      "Condition": {
        "StringEquals": {"aws:PrincipalOrgID": "o-a1b2c3d4e5"}
      }
    }
  ]
}
"#,
        },
    ],
    checkov: &[],
};

impl CrossAccountTrustUnconditioned {
    /// The account id if the principal is a whole account: its root ARN (any partition) or a
    /// bare 12-digit id.
    fn trusted_account(principal: &Principal) -> Option<&str> {
        if !principal.kind.eq_ignore_ascii_case("AWS") {
            return None;
        }
        let value = principal.value.value()?.trim();
        let is_account_id = |s: &str| s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit());
        if is_account_id(value) {
            return Some(value);
        }
        let mut parts = value.split(':');
        let shape = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        );
        match shape {
            (
                Some("arn"),
                Some(partition),
                Some("iam"),
                Some(""),
                Some(account),
                Some("root"),
                None,
            ) if partition.starts_with("aws") && is_account_id(account) => Some(account),
            _ => None,
        }
    }

    /// Whether the condition requires MFA: `Bool aws:MultiFactorAuthPresent true` (not the
    /// IfExists form, which long-term access keys pass), or any numeric test of
    /// aws:MultiFactorAuthAge (absent without MFA, so the test fails).
    fn requires_mfa(condition: &Condition) -> bool {
        let operator = condition.operator.to_ascii_lowercase();
        if operator.ends_with("ifexists") {
            return false;
        }
        if condition
            .key
            .eq_ignore_ascii_case("aws:MultiFactorAuthPresent")
        {
            return operator == "bool"
                && condition.values.iter().any(|v| match v {
                    Known::Value(s) => s.trim().eq_ignore_ascii_case("true"),
                    Known::Unknown(_) => true,
                    Known::Absent => false,
                });
        }
        condition.key.eq_ignore_ascii_case("aws:MultiFactorAuthAge")
            && operator.starts_with("numeric")
    }
}

impl Rule for CrossAccountTrustUnconditioned {
    fn meta(&self) -> &'static RuleMeta {
        &IAM005
    }

    fn check(&self, unit: &Unit, out: &mut Vec<Finding>) {
        for policy in policies(unit).filter(|p| p.kind == PolicyKind::Trust) {
            for (index, statement) in policy.statements.iter().enumerate() {
                if !is_allow(statement) {
                    continue;
                }
                let accounts: Vec<&str> = statement
                    .principals
                    .iter()
                    .filter_map(Self::trusted_account)
                    .collect();
                if accounts.is_empty() {
                    continue;
                }
                let conditioned = statement.conditions.iter().any(|c| {
                    restricts_key(c, &["sts:ExternalId", "aws:PrincipalOrgID"])
                        || Self::requires_mfa(c)
                });
                if conditioned {
                    continue;
                }
                let (discriminator, label) = statement_label(index, statement);
                out.push(Finding::new(
                    &IAM005,
                    &policy.at.at(statement.span),
                    &discriminator,
                    format!(
                        "{} role {} {label} trusts all of account {} without an external id, organisation or MFA condition",
                        describe_policy(policy),
                        policy.at.resource,
                        accounts.join(", ")
                    ),
                ));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------

pub struct UserAccessKey;

static IAM006: RuleMeta = RuleMeta {
    code: "IAM006",
    name: "iam-user-access-key",
    severity: Severity::Medium,
    practice: "Workloads and people use short-lived role credentials, not IAM user access keys.",
    formats: &[Format::Terraform, Format::CloudFormation],
    what: "An IAM access key created in code (aws_iam_access_key, AWS::IAM::AccessKey).",
    why: "Access keys are long-lived secrets: they leak through state files, outputs, CI logs and laptops, and stay valid until someone rotates them. The secret also lands in Terraform state or stack outputs in plain text.",
    fix: "Use an IAM role instead: instance profiles, ECS task roles, IRSA/EKS Pod Identity, or OIDC federation for CI. People sign in through IAM Identity Center.",
    examples: &[
        Example {
            file: "main.tf",
            failing: r#"resource "aws_iam_user" "ci" {
  name = "ci-deployer"
}

resource "aws_iam_access_key" "ci" {
  user = aws_iam_user.ci.name
}
"#,
            passing: r#"resource "aws_iam_role" "ci" {
  name = "ci-deployer"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Action    = "sts:AssumeRoleWithWebIdentity"
      Principal = { Federated = "arn:aws:iam::111122223333:oidc-provider/token.actions.githubusercontent.com" }
      Condition = {
        StringEquals = {
          "token.actions.githubusercontent.com:aud" = "sts.amazonaws.com"
          "token.actions.githubusercontent.com:sub" = "repo:example/app:ref:refs/heads/main"
        }
      }
    }]
  })
}
"#,
        },
        Example {
            file: "template.yaml",
            failing: r#"AWSTemplateFormatVersion: "2010-09-09"
Resources:
  DeployUser:
    Type: AWS::IAM::User
  DeployUserKey:
    Type: AWS::IAM::AccessKey
    Properties:
      UserName: !Ref DeployUser
"#,
            passing: r#"AWSTemplateFormatVersion: "2010-09-09"
Resources:
  DeployRole:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Principal:
              Service: codebuild.amazonaws.com
            Action: sts:AssumeRole
"#,
        },
    ],
    checkov: &[],
};

impl Rule for UserAccessKey {
    fn meta(&self) -> &'static RuleMeta {
        &IAM006
    }

    fn check(&self, unit: &Unit, out: &mut Vec<Finding>) {
        for fact in &unit.facts {
            if let Fact::IamAccessKey(site) = fact {
                out.push(Finding::new(
                    &IAM006,
                    site,
                    "access-key",
                    format!("{} creates a long-lived IAM user access key", site.resource),
                ));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------

pub struct NotActionAllow;

static IAM007: RuleMeta = RuleMeta {
    code: "IAM007",
    name: "iam-not-action-allow",
    severity: Severity::High,
    practice: "Allow statements list what they grant; NotAction and NotResource are used only with Deny.",
    formats: &[Format::Terraform, Format::CloudFormation, Format::IamPolicy],
    what: "A policy statement (identity, trust or resource policy) with Effect Allow and a NotAction or NotResource element.",
    why: "Allow with NotAction grants every action except the listed ones, including actions of services you never meant to touch and every action AWS adds in future; Allow with NotResource grants the actions on everything but a few resources. Both are usually far broader than the author intended.",
    fix: "Rewrite the statement as an Allow with an explicit Action and Resource list. To carve out exceptions, add a separate Deny statement (Deny with NotAction is the safe pattern).",
    examples: &[
        Example {
            file: "main.tf",
            failing: r#"resource "aws_iam_policy" "power_user" {
  name = "power-user"
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      NotAction = ["iam:*", "organizations:*"]
      Resource  = "*"
    }]
  })
}
"#,
            passing: r#"resource "aws_iam_policy" "power_user" {
  name = "power-user"
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect   = "Allow"
      Action   = ["ec2:Describe*", "cloudwatch:GetMetricData"]
      Resource = "*"
    }]
  })
}
"#,
        },
        Example {
            file: "template.yaml",
            failing: r#"AWSTemplateFormatVersion: "2010-09-09"
Resources:
  OpsPolicy:
    Type: AWS::IAM::ManagedPolicy
    Properties:
      PolicyDocument:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Action: s3:*
            NotResource: arn:aws:s3:::audit-logs/*
"#,
            passing: r#"AWSTemplateFormatVersion: "2010-09-09"
Resources:
  OpsPolicy:
    Type: AWS::IAM::ManagedPolicy
    Properties:
      PolicyDocument:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Action:
              - s3:GetObject
              - s3:PutObject
            Resource: arn:aws:s3:::ops-data/*
"#,
        },
        Example {
            file: "policy.json",
            failing: r#"{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Effect": "Allow",
      "NotAction": "iam:*",
      "Resource": "*"
    }
  ]
}
"#,
            passing: r#"{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Effect": "Allow",
      "Action": ["ec2:DescribeInstances", "ec2:StartInstances", "ec2:StopInstances"],
      "Resource": "*"
    }
  ]
}
"#,
        },
    ],
    checkov: &[],
};

impl Rule for NotActionAllow {
    fn meta(&self) -> &'static RuleMeta {
        &IAM007
    }

    fn check(&self, unit: &Unit, out: &mut Vec<Finding>) {
        for policy in policies(unit) {
            for (index, statement) in policy.statements.iter().enumerate() {
                if !is_allow(statement) {
                    continue;
                }
                let mut elements = Vec::new();
                if !statement.not_actions.is_empty() {
                    elements.push("NotAction");
                }
                if !statement.not_resources.is_empty() {
                    elements.push("NotResource");
                }
                if elements.is_empty() {
                    continue;
                }
                let (discriminator, label) = statement_label(index, statement);
                let owner = match policy.kind {
                    PolicyKind::Trust => format!("trust policy of role {}", policy.at.resource),
                    _ => format!("{} {}", describe_policy(policy), policy.at.resource),
                };
                out.push(Finding::new(
                    &IAM007,
                    &policy.at.at(statement.span),
                    &discriminator,
                    format!("{owner} {label} uses {} with Allow", elements.join(" and ")),
                ));
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::model::{Site, Span};

    pub(crate) fn site(resource: &str) -> Site {
        let file: Arc<str> = Arc::from("main.tf");
        Site::new(&file, resource, Span::new(1, 20))
    }

    fn known(values: &[&str]) -> Vec<Known<String>> {
        values.iter().map(|v| Known::Value(v.to_string())).collect()
    }

    /// A statement with the effect, actions and resources given; the rest empty.
    pub(crate) fn statement(effect: &str, actions: &[&str], resources: &[&str]) -> Statement {
        Statement {
            span: Span::new(3, 8),
            sid: None,
            effect: Known::Value(effect.into()),
            actions: known(actions),
            not_actions: Vec::new(),
            resources: known(resources),
            not_resources: Vec::new(),
            principals: Vec::new(),
            not_principals: Vec::new(),
            conditions: Vec::new(),
        }
    }

    pub(crate) fn principal(kind: &str, value: &str) -> Principal {
        Principal {
            kind: kind.into(),
            value: Known::Value(value.into()),
        }
    }

    pub(crate) fn condition(operator: &str, key: &str, values: &[&str]) -> Condition {
        Condition {
            operator: operator.into(),
            key: key.into(),
            values: known(values),
        }
    }

    pub(crate) fn policy(kind: PolicyKind, statements: Vec<Statement>) -> Fact {
        Fact::Policy(Policy {
            at: site("aws_iam_policy.app"),
            kind,
            statements,
            attached_to: None,
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

    fn trust(principals: Vec<Principal>, conditions: Vec<Condition>) -> Fact {
        let mut s = statement("Allow", &["sts:AssumeRole"], &[]);
        s.principals = principals;
        s.conditions = conditions;
        policy(PolicyKind::Trust, vec![s])
    }

    #[test]
    fn iam_rules_are_documented() {
        crate::rules::network::meta_checks::assert_complete(RULES, &["IAM"]);
        assert_eq!(RULES.len(), 9);
    }

    /// Reads a standalone policy example through the IAM front end, which judges its kind
    /// (trust, resource or identity) from its content.
    fn example_policy(text: &str) -> Fact {
        let json: serde_json::Value = serde_json::from_str(text).unwrap_or_default();
        let doc = crate::formats::json::from_serde(&json, Span::line(1));
        let file = crate::source::SourceFile::new("policy.json", text);
        let mut parsed = crate::formats::iam::extract(&file, &doc);
        parsed.facts.remove(0)
    }

    #[test]
    fn policy_json_examples_fail_and_pass_as_documented() {
        let mut checked = Vec::new();
        for rule in RULES {
            let meta = rule.meta();
            for example in meta.examples.iter().filter(|e| e.file == "policy.json") {
                let failing = run(*rule, vec![example_policy(example.failing)]);
                assert!(
                    failing.iter().any(|f| f.rule == meta.code),
                    "{}: failing example not reported",
                    meta.code
                );
                let passing = run(*rule, vec![example_policy(example.passing)]);
                assert!(
                    passing.is_empty(),
                    "{}: passing example reported: {passing:?}",
                    meta.code
                );
                checked.push(meta.code);
            }
        }
        assert_eq!(
            checked,
            [
                "IAM001", "IAM002", "IAM003", "IAM004", "IAM005", "IAM007", "IAM008", "IAM009"
            ]
        );
    }

    #[test]
    fn cloudformation_policy_examples_fail_and_pass_as_documented() {
        use crate::rules::network::meta_checks::cloudformation_policies;
        let mut checked = Vec::new();
        for rule in RULES {
            let meta = rule.meta();
            for example in meta.examples.iter().filter(|e| e.file == "template.yaml") {
                let failing = cloudformation_policies(example.failing);
                if failing.is_empty() {
                    continue; // IAM006: an access key, not a policy.
                }
                let found = run(*rule, failing);
                assert!(
                    found.iter().any(|f| f.rule == meta.code),
                    "{}: failing example not reported",
                    meta.code
                );
                let passing = run(*rule, cloudformation_policies(example.passing));
                assert!(
                    passing.is_empty(),
                    "{}: passing example reported: {passing:?}",
                    meta.code
                );
                checked.push(meta.code);
            }
        }
        assert_eq!(
            checked,
            [
                "IAM001", "IAM002", "IAM003", "IAM004", "IAM005", "IAM007", "IAM008", "IAM009"
            ]
        );
    }

    #[test]
    fn glob_matches_like_iam() {
        assert!(glob_match("*", "PassRole"));
        assert!(glob_match("Pass*", "passrole"));
        assert!(glob_match("*Role", "PassRole"));
        assert!(glob_match("P?ss*le", "PassRole"));
        assert!(glob_match("s*", "secretsmanager"));
        assert!(glob_match("*a*e*", "passrole"));
        assert!(!glob_match("Get*", "PassRole"));
        assert!(!glob_match("Pass", "PassRole"));
        assert!(!glob_match("s*s", "sts3"));
        assert!(glob_match("", ""));
        assert!(!glob_match("?", ""));
    }

    #[test]
    fn iam001_reports_star_on_star_in_identity_policies_only() {
        let admin = || statement("Allow", &["*"], &["*"]);
        let found = run(
            &AdminWildcard,
            vec![
                policy(PolicyKind::Identity, vec![admin()]),
                policy(
                    PolicyKind::Identity,
                    vec![statement("Allow", &["*:*"], &["*"])],
                ),
                policy(PolicyKind::Resource, vec![admin()]),
            ],
        );
        assert_eq!(found.len(), 2);
        assert_eq!(
            found[0].message,
            "policy aws_iam_policy.app statement 1 allows every action (*) on every resource (*)"
        );
        assert_eq!(found[0].line, 3, "points at the statement");
    }

    #[test]
    fn iam001_ignores_deny_scoped_and_unknown() {
        let mut unknown = statement("Allow", &[], &["*"]);
        unknown.actions = vec![Known::Unknown("var.actions".into())];
        let found = run(
            &AdminWildcard,
            vec![policy(
                PolicyKind::Identity,
                vec![
                    statement("Deny", &["*"], &["*"]),
                    statement("Allow", &["*"], &["arn:aws:s3:::bucket/*"]),
                    statement("Allow", &["s3:*"], &["*"]),
                    unknown,
                ],
            )],
        );
        assert!(found.is_empty(), "{found:?}");
    }

    #[test]
    fn iam002_reports_service_and_partial_wildcards() {
        let mut named = statement(
            "Allow",
            &["IAM:Put*", "iam:*Policy", "s3:GetObject"],
            &["*"],
        );
        named.sid = Some("Manage".into());
        let found = run(
            &SensitiveServiceWildcard,
            vec![policy(
                PolicyKind::Identity,
                vec![
                    named,
                    statement("Allow", &["kms:*"], &["arn:aws:kms:eu-west-1:1:key/x"]),
                    statement("Allow", &["s*:*"], &["*"]),
                    statement("Allow", &["secretsmanager:Get*"], &["*"]),
                ],
            )],
        );
        let messages: Vec<&str> = found.iter().map(|f| f.message.as_str()).collect();
        assert_eq!(
            messages,
            [
                "policy aws_iam_policy.app statement \"Manage\" allows wildcard actions on a sensitive service: IAM:Put* (covers iam:PutGroupPolicy and 4 more), iam:*Policy (covers iam:AttachGroupPolicy and 7 more)",
                "policy aws_iam_policy.app statement 2 allows wildcard actions on a sensitive service: kms:* (all of kms)",
                "policy aws_iam_policy.app statement 3 allows wildcard actions on a sensitive service: s*:* (all of sts, secretsmanager)",
                "policy aws_iam_policy.app statement 4 allows wildcard actions on a sensitive service: secretsmanager:Get* (covers secretsmanager:GetSecretValue)",
            ]
        );
    }

    #[test]
    fn iam002_stays_quiet_on_named_actions_other_services_admin_and_resource_policies() {
        let found = run(
            &SensitiveServiceWildcard,
            vec![
                policy(
                    PolicyKind::Identity,
                    vec![
                        statement("Allow", &["kms:Decrypt", "iam:PassRole"], &["*"]),
                        statement("Allow", &["s3:*", "ec2:Describe*"], &["*"]),
                        // IAM001's statement: one finding is enough.
                        statement("Allow", &["*", "iam:*"], &["*"]),
                        statement("Allow", &["*:Get*"], &["*"]),
                        statement("Deny", &["iam:*"], &["*"]),
                        // Data-key, read-only and same-action wildcards.
                        statement(
                            "Allow",
                            &[
                                "kms:GenerateDataKey*",
                                "kms:Decrypt*",
                                "kms:Describe*",
                                "iam:ListAccount*",
                                "iam:GetAccount*",
                                "sts:AssumeRole*",
                                "organizations:Describe?",
                            ],
                            &["*"],
                        ),
                        // AWS's self-service pattern: partial wildcards on the caller's own user.
                        statement(
                            "Allow",
                            &["iam:*LoginProfile", "iam:*AccessKey*"],
                            &["arn:aws:iam::111122223333:user/${aws:username}"],
                        ),
                    ],
                ),
                // The default KMS key policy.
                policy(
                    PolicyKind::Resource,
                    vec![statement("Allow", &["kms:*"], &["*"])],
                ),
            ],
        );
        assert!(found.is_empty(), "{found:?}");
    }

    #[test]
    fn iam003_reports_passrole_and_pass_wildcard_on_star() {
        let found = run(
            &PassRoleWildcard,
            vec![policy(
                PolicyKind::Identity,
                vec![
                    statement("Allow", &["ec2:RunInstances", "iam:PassRole"], &["*"]),
                    statement("Allow", &["iam:Pass*"], &["*"]),
                ],
            )],
        );
        assert_eq!(found.len(), 2);
        assert_eq!(
            found[1].message,
            "policy aws_iam_policy.app statement 2 allows iam:Pass* on every role (Resource *)"
        );
    }

    #[test]
    fn iam003_ignores_scoped_roles_and_broader_wildcards() {
        let found = run(
            &PassRoleWildcard,
            vec![policy(
                PolicyKind::Identity,
                vec![
                    statement("Allow", &["iam:PassRole"], &["arn:aws:iam::1:role/app"]),
                    statement("Allow", &["iam:*"], &["*"]),
                    statement("Allow", &["*"], &["*"]),
                    statement("Allow", &["iam:GetRole"], &["*"]),
                    statement("Deny", &["iam:PassRole"], &["*"]),
                ],
            )],
        );
        assert!(found.is_empty(), "{found:?}");
    }

    #[test]
    fn iam008_reports_whole_services_and_permission_changing_actions_on_star() {
        let found = run(
            &PermissionsManagementOnEveryResource,
            vec![policy(
                PolicyKind::Identity,
                vec![
                    statement("Allow", &["ec2:*", "s3:GetObject", "logs:*"], &["*"]),
                    statement("Allow", &["kms:GetKeyPolicy", "kms:PutKeyPolicy"], &["*"]),
                    statement("Allow", &["ec2:CreateNetworkInterfacePermission"], &["*"]),
                    statement("Allow", &["s3:Put*"], &["*"]),
                    statement("Allow", &["lambda:AddPermission"], &["*"]),
                    statement("Allow", &["iam:AttachRolePolicy"], &["*"]),
                ],
            )],
        );
        let messages: Vec<&str> = found.iter().map(|f| f.message.as_str()).collect();
        assert_eq!(
            messages,
            [
                "policy aws_iam_policy.app statement 1 grants on every resource (Resource *): ec2:* (all of ec2), logs:* (all of logs)",
                "policy aws_iam_policy.app statement 2 grants on every resource (Resource *): kms:PutKeyPolicy",
                "policy aws_iam_policy.app statement 3 grants on every resource (Resource *): ec2:CreateNetworkInterfacePermission",
                "policy aws_iam_policy.app statement 4 grants on every resource (Resource *): s3:Put* (covers s3:PutBucketPolicy)",
                "policy aws_iam_policy.app statement 5 grants on every resource (Resource *): lambda:AddPermission",
                "policy aws_iam_policy.app statement 6 grants on every resource (Resource *): iam:AttachRolePolicy",
            ]
        );
    }

    #[test]
    fn iam008_leaves_scoped_resources_other_rules_and_non_access_policies_alone() {
        let found = run(
            &PermissionsManagementOnEveryResource,
            vec![
                policy(
                    PolicyKind::Identity,
                    vec![
                        statement("Allow", &["s3:*"], &["arn:aws:s3:::app-data/*"]),
                        statement(
                            "Allow",
                            &["kms:PutKeyPolicy"],
                            &["arn:aws:kms:eu-west-1:1:key/x"],
                        ),
                        // IAM001, IAM002 and IAM003 report these.
                        statement("Allow", &["*"], &["*"]),
                        statement("Allow", &["iam:*", "kms:*", "iam:Put*"], &["*"]),
                        statement("Allow", &["iam:PassRole"], &["*"]),
                        // Policies that are not about access, reads, and a Deny.
                        statement(
                            "Allow",
                            &[
                                "autoscaling:PutScalingPolicy",
                                "logs:PutRetentionPolicy",
                                "ecr:PutLifecyclePolicy",
                                "ec2:Describe*",
                                "s3:Get*",
                                "kms:GetKeyPolicy",
                            ],
                            &["*"],
                        ),
                        statement("Deny", &["s3:*"], &["*"]),
                    ],
                ),
                // A resource policy's Resource `*` is the resource itself.
                policy(
                    PolicyKind::Resource,
                    vec![statement("Allow", &["sqs:*"], &["*"])],
                ),
            ],
        );
        assert!(found.is_empty(), "{found:?}");
    }

    fn resource_policy(attached_to: &str, statement: Statement) -> Fact {
        Fact::Policy(Policy {
            at: site("aws_s3_bucket_policy.reports"),
            kind: PolicyKind::Resource,
            statements: vec![statement],
            attached_to: Some(attached_to.into()),
        })
    }

    fn public(actions: &[&str]) -> Statement {
        let mut s = statement("Allow", actions, &["*"]);
        s.principals = vec![principal("AWS", "*")];
        s
    }

    #[test]
    fn iam009_reports_wildcard_principals_in_resource_policies() {
        let mut anyone = statement("Allow", &["es:*"], &["*"]);
        anyone.principals = vec![principal("*", "*")];
        let found = run(
            &ResourcePolicyPublic,
            vec![
                resource_policy("aws_s3_bucket_policy", public(&["s3:GetObject"])),
                resource_policy("aws_elasticsearch_domain_policy", anyone),
            ],
        );
        let messages: Vec<&str> = found.iter().map(|f| f.message.as_str()).collect();
        assert_eq!(
            messages,
            [
                "resource policy aws_s3_bucket_policy.reports statement 1 allows any principal (*) to s3:GetObject without a restricting condition",
                "resource policy aws_s3_bucket_policy.reports statement 1 allows any principal (*) to es:* without a restricting condition",
            ]
        );
    }

    #[test]
    fn iam009_leaves_restricted_named_denied_ecr_and_identity_policies_alone() {
        let with = |key: &str, value: &str| {
            let mut s = public(&["kms:Decrypt"]);
            s.conditions = vec![condition("StringEquals", key, &[value])];
            s
        };
        let mut named = public(&["s3:GetObject"]);
        named.principals = vec![principal("AWS", "arn:aws:iam::111122223333:root")];
        let mut denied = public(&["s3:*"]);
        denied.effect = Known::Value("Deny".into());
        let found = run(
            &ResourcePolicyPublic,
            vec![
                resource_policy("AWS::KMS::Key", with("kms:CallerAccount", "111122223333")),
                resource_policy(
                    "aws_s3_bucket_policy",
                    with("aws:PrincipalOrgID", "o-a1b2c3d4e5"),
                ),
                resource_policy(
                    "aws_sqs_queue_policy",
                    with("aws:SourceArn", "arn:aws:sns:eu-west-1:1:t"),
                ),
                resource_policy("aws_s3_bucket_policy", named),
                resource_policy("aws_s3_bucket_policy", denied),
                // ECR003 reports repository policies.
                resource_policy("aws_ecr_repository_policy", public(&["ecr:BatchGetImage"])),
                policy(PolicyKind::Identity, vec![public(&["s3:GetObject"])]),
            ],
        );
        assert!(found.is_empty(), "{found:?}");
        // A condition on `*` restricts nobody.
        let found = run(
            &ResourcePolicyPublic,
            vec![resource_policy(
                "AWS::KMS::Key",
                with("aws:PrincipalOrgID", "*"),
            )],
        );
        assert_eq!(found.len(), 1);
    }

    #[test]
    fn iam004_reports_wildcard_principals_in_trust_policies() {
        let found = run(
            &TrustAnyone,
            vec![
                trust(vec![principal("*", "*")], vec![]),
                trust(vec![principal("AWS", "*")], vec![]),
            ],
        );
        assert_eq!(found.len(), 2);
        assert!(found[0].message.contains("lets any AWS principal (*)"));
    }

    #[test]
    fn iam004_each_restricting_condition_exempts() {
        for key in PRINCIPAL_RESTRICTING_KEYS {
            let found = run(
                &TrustAnyone,
                vec![trust(
                    vec![principal("AWS", "*")],
                    vec![condition("StringEquals", key, &["o-abc123"])],
                )],
            );
            assert!(found.is_empty(), "{key} should exempt: {found:?}");
        }
        // An unknown value is still a restriction.
        let unknown = Condition {
            operator: "StringEquals".into(),
            key: "aws:PrincipalOrgID".into(),
            values: vec![Known::Unknown("var.org_id".into())],
        };
        assert!(
            run(
                &TrustAnyone,
                vec![trust(vec![principal("AWS", "*")], vec![unknown])]
            )
            .is_empty()
        );
    }

    #[test]
    fn iam004_conditions_that_do_not_restrict_do_not_exempt() {
        let useless = [
            condition("StringNotEquals", "aws:PrincipalAccount", &["111122223333"]),
            condition("StringEqualsIfExists", "aws:PrincipalOrgID", &["o-abc123"]),
            condition("StringLike", "aws:PrincipalOrgID", &["*"]),
            condition("Bool", "aws:SecureTransport", &["true"]),
        ];
        for c in useless {
            let found = run(
                &TrustAnyone,
                vec![trust(vec![principal("AWS", "*")], vec![c.clone()])],
            );
            assert_eq!(found.len(), 1, "{c:?} must not exempt");
        }
    }

    #[test]
    fn iam004_ignores_named_principals_identity_policies_and_deny() {
        let mut deny = statement("Deny", &["sts:AssumeRole"], &[]);
        deny.principals = vec![principal("AWS", "*")];
        let mut identity = statement("Allow", &["sts:AssumeRole"], &["*"]);
        identity.principals = vec![principal("AWS", "*")];
        let found = run(
            &TrustAnyone,
            vec![
                trust(
                    vec![principal("Service", "ecs-tasks.amazonaws.com")],
                    vec![],
                ),
                trust(
                    vec![principal("AWS", "arn:aws:iam::111122223333:role/x")],
                    vec![],
                ),
                trust(
                    vec![Principal {
                        kind: "AWS".into(),
                        value: Known::Unknown("var.principal".into()),
                    }],
                    vec![],
                ),
                policy(PolicyKind::Trust, vec![deny]),
                policy(PolicyKind::Resource, vec![identity]),
            ],
        );
        assert!(found.is_empty(), "{found:?}");
    }

    #[test]
    fn iam005_reports_root_arns_and_bare_account_ids() {
        let found = run(
            &CrossAccountTrustUnconditioned,
            vec![
                trust(
                    vec![principal("AWS", "arn:aws:iam::444455556666:root")],
                    vec![],
                ),
                trust(vec![principal("AWS", "444455556666")], vec![]),
                trust(
                    vec![principal("AWS", "arn:aws-us-gov:iam::444455556666:root")],
                    vec![],
                ),
            ],
        );
        assert_eq!(found.len(), 3);
        assert!(
            found[0]
                .message
                .ends_with("trusts all of account 444455556666 without an external id, organisation or MFA condition"),
            "{}",
            found[0].message
        );
    }

    #[test]
    fn iam005_each_condition_exempts() {
        let exempting = [
            condition("StringEquals", "sts:ExternalId", &["abc-123"]),
            condition("StringEquals", "aws:PrincipalOrgID", &["o-abc123"]),
            condition("Bool", "aws:MultiFactorAuthPresent", &["true"]),
            condition("NumericLessThan", "aws:MultiFactorAuthAge", &["3600"]),
        ];
        for c in exempting {
            let found = run(
                &CrossAccountTrustUnconditioned,
                vec![trust(
                    vec![principal("AWS", "arn:aws:iam::444455556666:root")],
                    vec![c.clone()],
                )],
            );
            assert!(found.is_empty(), "{c:?} should exempt: {found:?}");
        }
    }

    #[test]
    fn iam005_weak_conditions_do_not_exempt() {
        let weak = [
            condition("BoolIfExists", "aws:MultiFactorAuthPresent", &["true"]),
            condition("Bool", "aws:MultiFactorAuthPresent", &["false"]),
            condition("StringNotEquals", "sts:ExternalId", &["abc"]),
            condition("StringEquals", "aws:SourceIp", &["203.0.113.0/24"]),
        ];
        for c in weak {
            let found = run(
                &CrossAccountTrustUnconditioned,
                vec![trust(
                    vec![principal("AWS", "444455556666")],
                    vec![c.clone()],
                )],
            );
            assert_eq!(found.len(), 1, "{c:?} must not exempt");
        }
    }

    #[test]
    fn iam005_ignores_roles_services_unknowns_and_malformed_ids() {
        let found = run(
            &CrossAccountTrustUnconditioned,
            vec![
                trust(
                    vec![principal("AWS", "arn:aws:iam::444455556666:role/deployer")],
                    vec![],
                ),
                trust(vec![principal("Service", "lambda.amazonaws.com")], vec![]),
                trust(vec![principal("AWS", "44445555666")], vec![]),
                trust(
                    vec![principal("AWS", "arn:aws:iam::4444555566667:root")],
                    vec![],
                ),
                trust(
                    vec![Principal {
                        kind: "AWS".into(),
                        value: Known::Unknown("!Sub arn:aws:iam::${AWS::AccountId}:root".into()),
                    }],
                    vec![],
                ),
            ],
        );
        assert!(found.is_empty(), "{found:?}");
    }

    #[test]
    fn iam006_reports_every_access_key() {
        let found = run(
            &UserAccessKey,
            vec![Fact::IamAccessKey(site("aws_iam_access_key.ci"))],
        );
        assert_eq!(found.len(), 1);
        assert_eq!(
            found[0].message,
            "aws_iam_access_key.ci creates a long-lived IAM user access key"
        );
        assert!(run(&UserAccessKey, vec![policy(PolicyKind::Identity, vec![])]).is_empty());
    }

    #[test]
    fn iam007_reports_not_action_and_not_resource_with_allow_only() {
        let mut not_action = statement("Allow", &[], &["*"]);
        not_action.not_actions = known(&["iam:*"]);
        let mut not_resource = statement("Allow", &["s3:*"], &[]);
        not_resource.not_resources = known(&["arn:aws:s3:::audit/*"]);
        let mut deny = statement("Deny", &[], &["*"]);
        deny.not_actions = known(&["iam:*"]);
        let found = run(
            &NotActionAllow,
            vec![policy(
                PolicyKind::Identity,
                vec![
                    not_action,
                    not_resource,
                    deny,
                    statement("Allow", &["s3:*"], &["*"]),
                ],
            )],
        );
        let messages: Vec<&str> = found.iter().map(|f| f.message.as_str()).collect();
        assert_eq!(
            messages,
            [
                "policy aws_iam_policy.app statement 1 uses NotAction with Allow",
                "policy aws_iam_policy.app statement 2 uses NotResource with Allow",
            ]
        );
    }

    #[test]
    fn statement_discriminator_follows_content_not_position() {
        let admin = statement("Allow", &["*"], &["*"]);
        let pass = statement("Allow", &["iam:PassRole"], &["*"]);
        let (first, _) = statement_label(0, &admin);
        let (moved, label) = statement_label(3, &admin);
        assert_eq!(first, moved);
        assert_eq!(label, "statement 4");
        assert_ne!(statement_label(0, &pass).0, first);
        let mut with_sid = admin.clone();
        with_sid.sid = Some("Admin".into());
        assert_ne!(statement_label(0, &with_sid).0, first);
    }

    #[test]
    fn statement_discriminator_prefers_sid_and_survives_line_moves() {
        let mut a = statement("Allow", &["*"], &["*"]);
        a.sid = Some("Admin".into());
        let mut b = a.clone();
        b.span = Span::new(30, 35);
        let fa = run(&AdminWildcard, vec![policy(PolicyKind::Identity, vec![a])]);
        let fb = run(&AdminWildcard, vec![policy(PolicyKind::Identity, vec![b])]);
        assert_eq!(fa[0].fingerprint, fb[0].fingerprint);
        assert_ne!(fa[0].line, fb[0].line);
    }
}
