//! ECS task definitions: ECS001..ECS006, over [`EcsTaskDefinition`] facts from raw task
//! definition JSON, CloudFormation and Terraform alike.
//!
//! Also home of [`looks_like_secret_name`], the variable-name test shared with the
//! Kubernetes `env` rule: both ask "is this environment variable a credential?".

use crate::finding::{Finding, Severity};
use crate::model::{EcsContainer, EcsTaskDefinition, EnvVar, Fact, Known};
use crate::rules::{Example, Format, Rule, RuleMeta, Unit};

pub static RULES: &[&dyn Rule] = &[
    &EcsPrivileged,
    &EcsWritableRootFilesystem,
    &EcsRunsAsRoot,
    &EcsNoLogConfiguration,
    &EcsFargateNotAwsvpc,
    &EcsSecretInEnvironment,
];

const ECS_FORMATS: &[Format] = &[
    Format::EcsTaskDefinition,
    Format::CloudFormation,
    Format::Terraform,
];

fn task_definitions(unit: &Unit) -> impl Iterator<Item = &EcsTaskDefinition> {
    unit.facts.iter().filter_map(|fact| match fact {
        Fact::EcsTaskDefinition(task) => Some(task),
        _ => None,
    })
}

fn containers(unit: &Unit) -> impl Iterator<Item = &EcsContainer> {
    task_definitions(unit).flat_map(|task| task.containers.iter())
}

// ---------------------------------------------------------------------------------------
// Secret-looking variable names

/// Whether an environment variable's name says it holds a credential: `DB_PASSWORD`,
/// `GITHUB_TOKEN`, `API_KEY`, `STRIPE_SECRET_KEY`, `dbPassword`. The one test of secret names
/// ([`crate::secrets::is_secret_name`]), except that `PWD` alone is the shell's working
/// directory, not a password.
pub(crate) fn looks_like_secret_name(name: &str) -> bool {
    name != "PWD" && crate::secrets::is_secret_name(name)
}

/// Whether a literal value could be a credential at all: not empty, not a flag, not a
/// reference to another variable that the runtime expands (`$(DB_PASS)`, `${DB_PASS}`), not
/// a template placeholder, and not an ARN (which names where a secret is kept).
pub(crate) fn could_be_secret_value(value: &str) -> bool {
    let trimmed = value.trim();
    const FLAGS: [&str; 10] = [
        "true", "false", "yes", "no", "on", "off", "0", "1", "none", "null",
    ];
    !(trimmed.is_empty()
        || FLAGS.iter().any(|f| trimmed.eq_ignore_ascii_case(f))
        || trimmed.contains("$(")
        || trimmed.contains("${")
        || trimmed.contains("{{")
        || trimmed.starts_with("arn:"))
}

/// A literal environment variable that looks like a credential.
pub(crate) fn is_literal_secret(var: &EnvVar) -> bool {
    matches!(&var.value, Known::Value(v) if could_be_secret_value(v))
        && looks_like_secret_name(&var.name)
}

// ---------------------------------------------------------------------------------------
// ECS001

pub struct EcsPrivileged;

static ECS001: RuleMeta = RuleMeta {
    code: "ECS001",
    name: "ecs-privileged",
    severity: Severity::Critical,
    practice: "ECS containers run without privileged mode.",
    formats: ECS_FORMATS,
    what: "A container definition of an ECS task definition with `privileged: true`.",
    why: "A privileged container gets every Linux capability and access to the host's \
          devices, so code running in it (an attacker who exploited the application, a \
          compromised dependency) can take over the EC2 container instance and every other \
          task on it, and use the instance role's credentials.",
    fix: "Remove `privileged` (or set it to false) from the container definition. If the \
          container needs one specific kernel feature, grant just that capability with \
          `linuxParameters.capabilities.add`, or move the work to the host or to a managed \
          service.",
    examples: &[
        Example {
            file: "taskdef.json",
            failing: r#"{
  "family": "agent",
  "networkMode": "bridge",
  "requiresCompatibilities": ["EC2"],
  "containerDefinitions": [
    {
      "name": "agent",
      "image": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/agent:2.3.1",
      "memory": 256,
      "essential": true,
      "privileged": true
    }
  ]
}
"#,
            passing: r#"{
  "family": "agent",
  "networkMode": "bridge",
  "requiresCompatibilities": ["EC2"],
  "containerDefinitions": [
    {
      "name": "agent",
      "image": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/agent:2.3.1",
      "memory": 256,
      "essential": true,
      "privileged": false
    }
  ]
}
"#,
        },
        Example {
            file: "template.yaml",
            failing: r#"AWSTemplateFormatVersion: "2010-09-09"
Resources:
  AgentTask:
    Type: AWS::ECS::TaskDefinition
    Properties:
      Family: agent
      NetworkMode: bridge
      RequiresCompatibilities: [EC2]
      ContainerDefinitions:
        - Name: agent
          Image: 123456789012.dkr.ecr.eu-west-1.amazonaws.com/agent:2.3.1
          Memory: 256
          Essential: true
          Privileged: true
"#,
            passing: r#"AWSTemplateFormatVersion: "2010-09-09"
Resources:
  AgentTask:
    Type: AWS::ECS::TaskDefinition
    Properties:
      Family: agent
      NetworkMode: bridge
      RequiresCompatibilities: [EC2]
      ContainerDefinitions:
        - Name: agent
          Image: 123456789012.dkr.ecr.eu-west-1.amazonaws.com/agent:2.3.1
          Memory: 256
          Essential: true
"#,
        },
        Example {
            file: "main.tf",
            failing: r#"resource "aws_ecs_task_definition" "agent" {
  family                   = "agent"
  network_mode             = "bridge"
  requires_compatibilities = ["EC2"]
  container_definitions = jsonencode([
    {
      name       = "agent"
      image      = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/agent:2.3.1"
      memory     = 256
      essential  = true
      privileged = true
    }
  ])
}
"#,
            passing: r#"resource "aws_ecs_task_definition" "agent" {
  family                   = "agent"
  network_mode             = "bridge"
  requires_compatibilities = ["EC2"]
  container_definitions = jsonencode([
    {
      name      = "agent"
      image     = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/agent:2.3.1"
      memory    = 256
      essential = true
    }
  ])
}
"#,
        },
    ],
    checkov: &["CKV_AWS_334"],
};

impl Rule for EcsPrivileged {
    fn meta(&self) -> &'static RuleMeta {
        &ECS001
    }

    fn check(&self, unit: &Unit, out: &mut Vec<Finding>) {
        for container in containers(unit) {
            if container.privileged == Known::Value(true) {
                out.push(Finding::new(
                    &ECS001,
                    &container.at,
                    &container.name,
                    format!(
                        "ECS container {} runs privileged (privileged: true)",
                        container.at.resource
                    ),
                ));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// ECS002

pub struct EcsWritableRootFilesystem;

static ECS002: RuleMeta = RuleMeta {
    code: "ECS002",
    name: "ecs-writable-root-filesystem",
    severity: Severity::Medium,
    practice: "ECS containers mount their root filesystem read-only.",
    formats: ECS_FORMATS,
    what: "A container definition whose `readonlyRootFilesystem` is false or not set (ECS \
           mounts the root filesystem writable unless told otherwise).",
    why: "With a writable root filesystem, an attacker who gets code execution in the \
          container can drop tools, replace binaries or configuration of the running \
          application and persist until the task is replaced. A read-only root makes the \
          image the only code the container runs.",
    fix: "Set `readonlyRootFilesystem: true` on the container definition. Give the \
          application writable scratch space where it needs it with a task volume mounted \
          through `mountPoints` (for example at /tmp).",
    examples: &[
        Example {
            file: "taskdef.json",
            failing: r#"{
  "family": "web",
  "networkMode": "awsvpc",
  "requiresCompatibilities": ["FARGATE"],
  "cpu": "256",
  "memory": "512",
  "containerDefinitions": [
    {
      "name": "web",
      "image": "public.ecr.aws/nginx/nginx:1.27",
      "essential": true
    }
  ]
}
"#,
            passing: r#"{
  "family": "web",
  "networkMode": "awsvpc",
  "requiresCompatibilities": ["FARGATE"],
  "cpu": "256",
  "memory": "512",
  "volumes": [{ "name": "tmp" }],
  "containerDefinitions": [
    {
      "name": "web",
      "image": "public.ecr.aws/nginx/nginx:1.27",
      "essential": true,
      "readonlyRootFilesystem": true,
      "mountPoints": [{ "sourceVolume": "tmp", "containerPath": "/tmp" }]
    }
  ]
}
"#,
        },
        Example {
            file: "template.yaml",
            failing: r#"AWSTemplateFormatVersion: "2010-09-09"
Resources:
  WebTask:
    Type: AWS::ECS::TaskDefinition
    Properties:
      Family: web
      NetworkMode: awsvpc
      RequiresCompatibilities: [FARGATE]
      Cpu: "256"
      Memory: "512"
      ContainerDefinitions:
        - Name: web
          Image: public.ecr.aws/nginx/nginx:1.27
          Essential: true
          ReadonlyRootFilesystem: false
"#,
            passing: r#"AWSTemplateFormatVersion: "2010-09-09"
Resources:
  WebTask:
    Type: AWS::ECS::TaskDefinition
    Properties:
      Family: web
      NetworkMode: awsvpc
      RequiresCompatibilities: [FARGATE]
      Cpu: "256"
      Memory: "512"
      ContainerDefinitions:
        - Name: web
          Image: public.ecr.aws/nginx/nginx:1.27
          Essential: true
          ReadonlyRootFilesystem: true
"#,
        },
        Example {
            file: "main.tf",
            failing: r#"resource "aws_ecs_task_definition" "web" {
  family                   = "web"
  network_mode             = "awsvpc"
  requires_compatibilities = ["FARGATE"]
  cpu                      = 256
  memory                   = 512
  container_definitions = jsonencode([
    {
      name      = "web"
      image     = "public.ecr.aws/nginx/nginx:1.27"
      essential = true
    }
  ])
}
"#,
            passing: r#"resource "aws_ecs_task_definition" "web" {
  family                   = "web"
  network_mode             = "awsvpc"
  requires_compatibilities = ["FARGATE"]
  cpu                      = 256
  memory                   = 512
  container_definitions = jsonencode([
    {
      name                   = "web"
      image                  = "public.ecr.aws/nginx/nginx:1.27"
      essential              = true
      readonlyRootFilesystem = true
    }
  ])
}
"#,
        },
    ],
    checkov: &["CKV_AWS_336"],
};

impl Rule for EcsWritableRootFilesystem {
    fn meta(&self) -> &'static RuleMeta {
        &ECS002
    }

    fn check(&self, unit: &Unit, out: &mut Vec<Finding>) {
        for container in containers(unit) {
            let state = match &container.readonly_root_filesystem {
                Known::Value(true) | Known::Unknown(_) => continue,
                Known::Value(false) => "readonlyRootFilesystem: false",
                Known::Absent => "readonlyRootFilesystem not set",
            };
            out.push(Finding::new(
                &ECS002,
                &container.at,
                &container.name,
                format!(
                    "ECS container {} has a writable root filesystem ({state})",
                    container.at.resource
                ),
            ));
        }
    }
}

// ---------------------------------------------------------------------------------------
// ECS003

pub struct EcsRunsAsRoot;

static ECS003: RuleMeta = RuleMeta {
    code: "ECS003",
    name: "ecs-runs-as-root",
    severity: Severity::High,
    practice: "ECS containers run as a non-root user.",
    formats: ECS_FORMATS,
    what: "A container definition whose `user` is not set (the image's user applies, which \
           is root for most images) or names root: `root`, `0`, `0:0`, `root:root`, or root \
           with any group.",
    why: "A process running as root inside the container owns every file of the image and \
          is root on the host's kernel: any container escape, mounted volume or host path \
          it reaches is reached with full privileges.",
    fix: "Set `user` on the container definition to an unprivileged UID (and GID), such as \
          `\"1000:1000\"`. Make sure the image's files the application writes are owned by \
          that user, or build the image with a matching `USER` instruction.",
    examples: &[
        Example {
            file: "taskdef.json",
            failing: r#"{
  "family": "api",
  "networkMode": "awsvpc",
  "requiresCompatibilities": ["FARGATE"],
  "cpu": "256",
  "memory": "512",
  "containerDefinitions": [
    {
      "name": "api",
      "image": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/api:5.0.0",
      "essential": true,
      "user": "root"
    }
  ]
}
"#,
            passing: r#"{
  "family": "api",
  "networkMode": "awsvpc",
  "requiresCompatibilities": ["FARGATE"],
  "cpu": "256",
  "memory": "512",
  "containerDefinitions": [
    {
      "name": "api",
      "image": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/api:5.0.0",
      "essential": true,
      "user": "1000:1000"
    }
  ]
}
"#,
        },
        Example {
            file: "template.yaml",
            failing: r#"AWSTemplateFormatVersion: "2010-09-09"
Resources:
  ApiTask:
    Type: AWS::ECS::TaskDefinition
    Properties:
      Family: api
      NetworkMode: awsvpc
      RequiresCompatibilities: [FARGATE]
      Cpu: "256"
      Memory: "512"
      ContainerDefinitions:
        - Name: api
          Image: 123456789012.dkr.ecr.eu-west-1.amazonaws.com/api:5.0.0
          Essential: true
"#,
            passing: r#"AWSTemplateFormatVersion: "2010-09-09"
Resources:
  ApiTask:
    Type: AWS::ECS::TaskDefinition
    Properties:
      Family: api
      NetworkMode: awsvpc
      RequiresCompatibilities: [FARGATE]
      Cpu: "256"
      Memory: "512"
      ContainerDefinitions:
        - Name: api
          Image: 123456789012.dkr.ecr.eu-west-1.amazonaws.com/api:5.0.0
          Essential: true
          User: "1000:1000"
"#,
        },
        Example {
            file: "main.tf",
            failing: r#"resource "aws_ecs_task_definition" "api" {
  family                   = "api"
  network_mode             = "awsvpc"
  requires_compatibilities = ["FARGATE"]
  cpu                      = 256
  memory                   = 512
  container_definitions = jsonencode([
    {
      name      = "api"
      image     = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/api:5.0.0"
      essential = true
      user      = "0:0"
    }
  ])
}
"#,
            passing: r#"resource "aws_ecs_task_definition" "api" {
  family                   = "api"
  network_mode             = "awsvpc"
  requires_compatibilities = ["FARGATE"]
  cpu                      = 256
  memory                   = 512
  container_definitions = jsonencode([
    {
      name      = "api"
      image     = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/api:5.0.0"
      essential = true
      user      = "1000:1000"
    }
  ])
}
"#,
        },
    ],
    checkov: &[],
};

/// Whether an ECS `user` (`user`, `uid`, `user:group`, `uid:gid`, …) is the root user.
fn is_root_user(user: &str) -> bool {
    let name = user.split(':').next().unwrap_or(user).trim();
    name == "root" || name == "0"
}

impl Rule for EcsRunsAsRoot {
    fn meta(&self) -> &'static RuleMeta {
        &ECS003
    }

    fn check(&self, unit: &Unit, out: &mut Vec<Finding>) {
        for container in containers(unit) {
            let why = match &container.user {
                Known::Unknown(_) => continue,
                Known::Value(user) if user.trim().is_empty() => {
                    "user is empty, so the image's user (root by default) applies".to_string()
                }
                Known::Value(user) if is_root_user(user) => format!("user \"{user}\" is root"),
                Known::Value(_) => continue,
                Known::Absent => {
                    "no user is set, so the image's user (root by default) applies".to_string()
                }
            };
            out.push(Finding::new(
                &ECS003,
                &container.at,
                &container.name,
                format!(
                    "ECS container {} runs as root: {why}",
                    container.at.resource
                ),
            ));
        }
    }
}

// ---------------------------------------------------------------------------------------
// ECS004

pub struct EcsNoLogConfiguration;

static ECS004: RuleMeta = RuleMeta {
    code: "ECS004",
    name: "ecs-no-log-configuration",
    severity: Severity::Medium,
    practice: "ECS containers send their logs somewhere durable.",
    formats: ECS_FORMATS,
    what: "A container definition with no `logConfiguration`.",
    why: "Without a log driver, a container's output stays on the instance (EC2) or is lost \
          (Fargate) when the task stops: the evidence needed to investigate an incident or \
          an outage is gone, and nothing can alert on it.",
    fix: "Add a `logConfiguration` to every container definition, for example the `awslogs` \
          driver with `awslogs-group`, `awslogs-region` and `awslogs-stream-prefix`. Give the \
          log group a retention period.",
    examples: &[
        Example {
            file: "taskdef.json",
            failing: r#"{
  "family": "worker",
  "networkMode": "awsvpc",
  "requiresCompatibilities": ["FARGATE"],
  "cpu": "256",
  "memory": "512",
  "containerDefinitions": [
    {
      "name": "worker",
      "image": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/worker:3.1.0",
      "essential": true
    }
  ]
}
"#,
            passing: r#"{
  "family": "worker",
  "networkMode": "awsvpc",
  "requiresCompatibilities": ["FARGATE"],
  "cpu": "256",
  "memory": "512",
  "containerDefinitions": [
    {
      "name": "worker",
      "image": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/worker:3.1.0",
      "essential": true,
      "logConfiguration": {
        "logDriver": "awslogs",
        "options": {
          "awslogs-group": "/ecs/worker",
          "awslogs-region": "eu-west-1",
          "awslogs-stream-prefix": "worker"
        }
      }
    }
  ]
}
"#,
        },
        Example {
            file: "template.yaml",
            failing: r#"AWSTemplateFormatVersion: "2010-09-09"
Resources:
  WorkerTask:
    Type: AWS::ECS::TaskDefinition
    Properties:
      Family: worker
      NetworkMode: awsvpc
      RequiresCompatibilities: [FARGATE]
      Cpu: "256"
      Memory: "512"
      ContainerDefinitions:
        - Name: worker
          Image: 123456789012.dkr.ecr.eu-west-1.amazonaws.com/worker:3.1.0
          Essential: true
"#,
            passing: r#"AWSTemplateFormatVersion: "2010-09-09"
Resources:
  WorkerLogs:
    Type: AWS::Logs::LogGroup
    Properties:
      LogGroupName: /ecs/worker
      RetentionInDays: 30
  WorkerTask:
    Type: AWS::ECS::TaskDefinition
    Properties:
      Family: worker
      NetworkMode: awsvpc
      RequiresCompatibilities: [FARGATE]
      Cpu: "256"
      Memory: "512"
      ContainerDefinitions:
        - Name: worker
          Image: 123456789012.dkr.ecr.eu-west-1.amazonaws.com/worker:3.1.0
          Essential: true
          LogConfiguration:
            LogDriver: awslogs
            Options:
              awslogs-group: !Ref WorkerLogs
              awslogs-region: !Ref AWS::Region
              awslogs-stream-prefix: worker
"#,
        },
        Example {
            file: "main.tf",
            failing: r#"resource "aws_ecs_task_definition" "worker" {
  family                   = "worker"
  network_mode             = "awsvpc"
  requires_compatibilities = ["FARGATE"]
  cpu                      = 256
  memory                   = 512
  container_definitions = jsonencode([
    {
      name      = "worker"
      image     = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/worker:3.1.0"
      essential = true
    }
  ])
}
"#,
            passing: r#"resource "aws_ecs_task_definition" "worker" {
  family                   = "worker"
  network_mode             = "awsvpc"
  requires_compatibilities = ["FARGATE"]
  cpu                      = 256
  memory                   = 512
  container_definitions = jsonencode([
    {
      name      = "worker"
      image     = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/worker:3.1.0"
      essential = true
      logConfiguration = {
        logDriver = "awslogs"
        options = {
          awslogs-group         = "/ecs/worker"
          awslogs-region        = "eu-west-1"
          awslogs-stream-prefix = "worker"
        }
      }
    }
  ])
}
"#,
        },
    ],
    checkov: &[],
};

impl Rule for EcsNoLogConfiguration {
    fn meta(&self) -> &'static RuleMeta {
        &ECS004
    }

    fn check(&self, unit: &Unit, out: &mut Vec<Finding>) {
        for container in containers(unit) {
            if container.log_configuration == Known::Value(false) {
                out.push(Finding::new(
                    &ECS004,
                    &container.at,
                    &container.name,
                    format!(
                        "ECS container {} has no logConfiguration: its logs are not kept",
                        container.at.resource
                    ),
                ));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// ECS005

pub struct EcsFargateNotAwsvpc;

static ECS005: RuleMeta = RuleMeta {
    code: "ECS005",
    name: "ecs-fargate-not-awsvpc",
    severity: Severity::Medium,
    practice: "Fargate task definitions use the awsvpc network mode.",
    formats: ECS_FORMATS,
    what: "A task definition that requires FARGATE compatibility but sets `networkMode` to \
           something other than `awsvpc` (`bridge`, `host`, `none`).",
    why: "Fargate supports only `awsvpc`, where each task gets its own network interface and \
          security groups. A different mode is rejected at registration, so the task \
          definition cannot be deployed as written — and whoever fixes it in a hurry tends to \
          drop the Fargate requirement and land on shared host networking instead.",
    fix: "Set `networkMode` to `awsvpc` and give the service a subnet and security group in \
          its `networkConfiguration`.",
    examples: &[
        Example {
            file: "taskdef.json",
            failing: r#"{
  "family": "web",
  "networkMode": "bridge",
  "requiresCompatibilities": ["FARGATE"],
  "cpu": "256",
  "memory": "512",
  "containerDefinitions": [
    {
      "name": "web",
      "image": "public.ecr.aws/nginx/nginx:1.27",
      "essential": true
    }
  ]
}
"#,
            passing: r#"{
  "family": "web",
  "networkMode": "awsvpc",
  "requiresCompatibilities": ["FARGATE"],
  "cpu": "256",
  "memory": "512",
  "containerDefinitions": [
    {
      "name": "web",
      "image": "public.ecr.aws/nginx/nginx:1.27",
      "essential": true
    }
  ]
}
"#,
        },
        Example {
            file: "template.yaml",
            failing: r#"AWSTemplateFormatVersion: "2010-09-09"
Resources:
  WebTask:
    Type: AWS::ECS::TaskDefinition
    Properties:
      Family: web
      NetworkMode: host
      RequiresCompatibilities: [FARGATE]
      Cpu: "256"
      Memory: "512"
      ContainerDefinitions:
        - Name: web
          Image: public.ecr.aws/nginx/nginx:1.27
          Essential: true
"#,
            passing: r#"AWSTemplateFormatVersion: "2010-09-09"
Resources:
  WebTask:
    Type: AWS::ECS::TaskDefinition
    Properties:
      Family: web
      NetworkMode: awsvpc
      RequiresCompatibilities: [FARGATE]
      Cpu: "256"
      Memory: "512"
      ContainerDefinitions:
        - Name: web
          Image: public.ecr.aws/nginx/nginx:1.27
          Essential: true
"#,
        },
        Example {
            file: "main.tf",
            failing: r#"resource "aws_ecs_task_definition" "web" {
  family                   = "web"
  network_mode             = "bridge"
  requires_compatibilities = ["FARGATE"]
  cpu                      = 256
  memory                   = 512
  container_definitions = jsonencode([
    {
      name      = "web"
      image     = "public.ecr.aws/nginx/nginx:1.27"
      essential = true
    }
  ])
}
"#,
            passing: r#"resource "aws_ecs_task_definition" "web" {
  family                   = "web"
  network_mode             = "awsvpc"
  requires_compatibilities = ["FARGATE"]
  cpu                      = 256
  memory                   = 512
  container_definitions = jsonencode([
    {
      name      = "web"
      image     = "public.ecr.aws/nginx/nginx:1.27"
      essential = true
    }
  ])
}
"#,
        },
    ],
    checkov: &[],
};

impl Rule for EcsFargateNotAwsvpc {
    fn meta(&self) -> &'static RuleMeta {
        &ECS005
    }

    fn check(&self, unit: &Unit, out: &mut Vec<Finding>) {
        for task in task_definitions(unit) {
            if task.fargate != Known::Value(true) {
                continue;
            }
            if let Known::Value(mode) = &task.network_mode
                && !mode.trim().eq_ignore_ascii_case("awsvpc")
            {
                out.push(Finding::new(
                    &ECS005,
                    &task.at,
                    "",
                    format!(
                        "ECS task definition {} requires FARGATE but uses network mode \"{mode}\" \
                         (Fargate supports only awsvpc)",
                        task.at.resource
                    ),
                ));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// ECS006

pub struct EcsSecretInEnvironment;

static ECS006: RuleMeta = RuleMeta {
    code: "ECS006",
    name: "ecs-secret-in-environment",
    severity: Severity::High,
    practice: "ECS containers receive credentials from Secrets Manager or SSM, never as \
               literal environment values.",
    formats: ECS_FORMATS,
    what: "An entry of a container definition's `environment` whose name says it holds a \
           credential (`DB_PASSWORD`, `API_TOKEN`, `STRIPE_SECRET_KEY`, …) and whose value \
           is a literal. Names that describe a secret rather than hold it (`PASSWORD_FILE`, \
           `AWS_ACCESS_KEY_ID`, `SECRET_ARN`) and flag values (`true`, `no`) are not reported.",
    why: "Literal environment values are stored in plain text in the task definition: \
          anyone with `ecs:DescribeTaskDefinition` can read them, they are copied into every \
          revision, and they sit in the repository and its history. Rotating the credential \
          means a new task definition and a code change.",
    fix: "Move the variable from `environment` to `secrets`, with `valueFrom` naming a \
          Secrets Manager secret or an SSM SecureString parameter. Grant the task execution \
          role `secretsmanager:GetSecretValue` (or `ssm:GetParameters`) on that secret, and \
          rotate the credential that was committed.",
    examples: &[
        Example {
            file: "taskdef.json",
            failing: r#"{
  "family": "api",
  "networkMode": "awsvpc",
  "requiresCompatibilities": ["FARGATE"],
  "cpu": "256",
  "memory": "512",
  "executionRoleArn": "arn:aws:iam::123456789012:role/api-execution",
  "containerDefinitions": [
    {
      "name": "api",
      "image": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/api:5.0.0",
      "essential": true,
      "environment": [
        { "name": "DB_HOST", "value": "db.internal" },
        { "name": "DB_PASSWORD", "value": "Tr0ub4dor-and-3" }
      ]
    }
  ]
}
"#,
            passing: r#"{
  "family": "api",
  "networkMode": "awsvpc",
  "requiresCompatibilities": ["FARGATE"],
  "cpu": "256",
  "memory": "512",
  "executionRoleArn": "arn:aws:iam::123456789012:role/api-execution",
  "containerDefinitions": [
    {
      "name": "api",
      "image": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/api:5.0.0",
      "essential": true,
      "environment": [
        { "name": "DB_HOST", "value": "db.internal" }
      ],
      "secrets": [
        {
          "name": "DB_PASSWORD",
          "valueFrom": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:api/db-password"
        }
      ]
    }
  ]
}
"#,
        },
        Example {
            file: "template.yaml",
            failing: r#"AWSTemplateFormatVersion: "2010-09-09"
Resources:
  ApiTask:
    Type: AWS::ECS::TaskDefinition
    Properties:
      Family: api
      NetworkMode: awsvpc
      RequiresCompatibilities: [FARGATE]
      Cpu: "256"
      Memory: "512"
      ContainerDefinitions:
        - Name: api
          Image: 123456789012.dkr.ecr.eu-west-1.amazonaws.com/api:5.0.0
          Essential: true
          Environment:
            - Name: DB_HOST
              Value: db.internal
            - Name: DB_PASSWORD
              Value: Tr0ub4dor-and-3
"#,
            passing: r#"AWSTemplateFormatVersion: "2010-09-09"
Resources:
  ApiTask:
    Type: AWS::ECS::TaskDefinition
    Properties:
      Family: api
      NetworkMode: awsvpc
      RequiresCompatibilities: [FARGATE]
      Cpu: "256"
      Memory: "512"
      ExecutionRoleArn: arn:aws:iam::123456789012:role/api-execution
      ContainerDefinitions:
        - Name: api
          Image: 123456789012.dkr.ecr.eu-west-1.amazonaws.com/api:5.0.0
          Essential: true
          Environment:
            - Name: DB_HOST
              Value: db.internal
          Secrets:
            - Name: DB_PASSWORD
              ValueFrom: arn:aws:secretsmanager:eu-west-1:123456789012:secret:api/db-password
"#,
        },
        Example {
            file: "main.tf",
            failing: r#"resource "aws_ecs_task_definition" "api" {
  family                   = "api"
  network_mode             = "awsvpc"
  requires_compatibilities = ["FARGATE"]
  cpu                      = 256
  memory                   = 512
  container_definitions = jsonencode([
    {
      name      = "api"
      image     = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/api:5.0.0"
      essential = true
      environment = [
        { name = "DB_HOST", value = "db.internal" },
        { name = "DB_PASSWORD", value = "Tr0ub4dor-and-3" }
      ]
    }
  ])
}
"#,
            passing: r#"resource "aws_ecs_task_definition" "api" {
  family                   = "api"
  network_mode             = "awsvpc"
  requires_compatibilities = ["FARGATE"]
  cpu                      = 256
  memory                   = 512
  execution_role_arn       = "arn:aws:iam::123456789012:role/api-execution"
  container_definitions = jsonencode([
    {
      name      = "api"
      image     = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/api:5.0.0"
      essential = true
      environment = [
        { name = "DB_HOST", value = "db.internal" }
      ]
      secrets = [
        {
          name      = "DB_PASSWORD"
          valueFrom = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:api/db-password"
        }
      ]
    }
  ])
}
"#,
        },
    ],
    checkov: &[],
};

impl Rule for EcsSecretInEnvironment {
    fn meta(&self) -> &'static RuleMeta {
        &ECS006
    }

    fn check(&self, unit: &Unit, out: &mut Vec<Finding>) {
        for container in containers(unit) {
            for var in container
                .environment
                .iter()
                .filter(|v| is_literal_secret(v))
            {
                out.push(Finding::new(
                    &ECS006,
                    &container.at.at(var.span),
                    &format!("{}/{}", container.name, var.name),
                    format!(
                        "ECS container {} sets {} as a literal environment value",
                        container.at.resource, var.name
                    ),
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::model::{Site, Span};

    fn site(resource: &str, line: u32) -> Site {
        let file: Arc<str> = Arc::from("taskdef.json");
        Site::new(&file, resource, Span::new(line, line + 5))
    }

    fn container(name: &str) -> EcsContainer {
        EcsContainer {
            at: site(&format!("web/{name}"), 5),
            name: name.into(),
            image: Known::Value("nginx:1.27".into()),
            privileged: Known::Absent,
            readonly_root_filesystem: Known::Value(true),
            user: Known::Value("1000".into()),
            log_configuration: Known::Value(true),
            environment: Vec::new(),
            secrets: Vec::new(),
        }
    }

    fn unit(
        network_mode: Known<String>,
        fargate: Known<bool>,
        containers: Vec<EcsContainer>,
    ) -> Unit {
        Unit {
            facts: vec![Fact::EcsTaskDefinition(EcsTaskDefinition {
                at: site("web", 1),
                network_mode,
                fargate,
                containers,
            })],
            ..Unit::default()
        }
    }

    fn run(rule: &dyn Rule, unit: &Unit) -> Vec<Finding> {
        let mut out = Vec::new();
        rule.check(unit, &mut out);
        out
    }

    fn with(edit: impl FnOnce(&mut EcsContainer)) -> Unit {
        let mut c = container("app");
        edit(&mut c);
        unit(Known::Value("awsvpc".into()), Known::Value(true), vec![c])
    }

    #[test]
    fn a_hardened_container_raises_nothing() {
        let hardened = with(|_| {});
        for rule in RULES {
            assert!(run(*rule, &hardened).is_empty(), "{}", rule.meta().code);
        }
    }

    #[test]
    fn privileged_only_when_known_true() {
        let found = run(&EcsPrivileged, &with(|c| c.privileged = Known::Value(true)));
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].resource, "web/app");
        assert!(found[0].message.contains("privileged: true"));
        assert!(
            run(
                &EcsPrivileged,
                &with(|c| c.privileged = Known::Value(false))
            )
            .is_empty()
        );
        assert!(
            run(
                &EcsPrivileged,
                &with(|c| c.privileged = Known::Unknown("var.p".into()))
            )
            .is_empty()
        );
    }

    #[test]
    fn root_filesystem_is_writable_unless_set_read_only() {
        let absent = run(
            &EcsWritableRootFilesystem,
            &with(|c| c.readonly_root_filesystem = Known::Absent),
        );
        assert_eq!(absent.len(), 1);
        assert!(absent[0].message.contains("not set"));
        let off = run(
            &EcsWritableRootFilesystem,
            &with(|c| c.readonly_root_filesystem = Known::Value(false)),
        );
        assert!(off[0].message.contains("readonlyRootFilesystem: false"));
        let unknown = with(|c| c.readonly_root_filesystem = Known::Unknown("var.ro".into()));
        assert!(run(&EcsWritableRootFilesystem, &unknown).is_empty());
    }

    #[test]
    fn root_users_are_recognised_and_others_pass() {
        for user in ["root", "0", "0:0", "root:root", "0:1000", " root "] {
            let found = run(
                &EcsRunsAsRoot,
                &with(|c| c.user = Known::Value(user.into())),
            );
            assert_eq!(found.len(), 1, "{user}");
        }
        for user in ["1000", "1000:0", "nginx", "app:root", "10001:10001"] {
            assert!(
                run(
                    &EcsRunsAsRoot,
                    &with(|c| c.user = Known::Value(user.into()))
                )
                .is_empty(),
                "{user}"
            );
        }
        let unset = run(&EcsRunsAsRoot, &with(|c| c.user = Known::Absent));
        assert!(unset[0].message.contains("no user is set"));
        assert!(
            run(
                &EcsRunsAsRoot,
                &with(|c| c.user = Known::Unknown("var.user".into()))
            )
            .is_empty()
        );
    }

    #[test]
    fn missing_log_configuration_is_reported_per_container() {
        let mut quiet = container("sidecar");
        quiet.log_configuration = Known::Value(false);
        let mut unknown = container("other");
        unknown.log_configuration = Known::Unknown("local.logs".into());
        let u = unit(
            Known::Absent,
            Known::Absent,
            vec![container("app"), quiet, unknown],
        );
        let found = run(&EcsNoLogConfiguration, &u);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].resource, "web/sidecar");
    }

    #[test]
    fn fargate_needs_awsvpc_when_the_mode_is_known() {
        let bridge = unit(Known::Value("bridge".into()), Known::Value(true), vec![]);
        let found = run(&EcsFargateNotAwsvpc, &bridge);
        assert_eq!(found.len(), 1);
        assert!(found[0].message.contains("\"bridge\""));
        assert_eq!(found[0].resource, "web");
        let cases = [
            (Known::Value("AWSVPC".to_string()), Known::Value(true)),
            (Known::Absent, Known::Value(true)),
            (Known::Unknown("var.mode".into()), Known::Value(true)),
            (Known::Value("bridge".into()), Known::Value(false)),
            (
                Known::Value("bridge".into()),
                Known::Unknown("var.compat".into()),
            ),
        ];
        for (mode, fargate) in cases {
            assert!(
                run(
                    &EcsFargateNotAwsvpc,
                    &unit(mode.clone(), fargate.clone(), vec![])
                )
                .is_empty(),
                "{mode:?} {fargate:?}"
            );
        }
    }

    #[test]
    fn secret_environment_values_are_named_but_never_printed() {
        let env = |name: &str, value: Known<String>| EnvVar {
            name: name.into(),
            value,
            span: Span::line(9),
        };
        let u = with(|c| {
            c.environment = vec![
                env("DB_PASSWORD", Known::Value("Tr0ub4dor-and-3".into())),
                env("DB_HOST", Known::Value("db.internal".into())),
                env("API_TOKEN", Known::Unknown("var.token".into())),
                env(
                    "AWS_ACCESS_KEY_ID",
                    Known::Value("AKIAIOSFODNN7EXAMPLE".into()),
                ),
                env("ALLOW_EMPTY_PASSWORD", Known::Value("yes".into())),
                env("SECRET_KEY", Known::Value("${SECRET_KEY}".into())),
            ]
        });
        let found = run(&EcsSecretInEnvironment, &u);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].message.contains("DB_PASSWORD"));
        assert!(!found[0].message.contains("Tr0ub4dor"));
        assert_eq!(found[0].line, 9);
    }

    #[test]
    fn secret_names_are_told_from_names_about_secrets() {
        for name in [
            "DB_PASSWORD",
            "MYSQL_ROOT_PASSWORD",
            "POSTGRES_PASSWD",
            "GITHUB_TOKEN",
            "HF_TOKEN",
            "authToken",
            "dbPassword",
            "API_KEY",
            "apiKey",
            "STRIPE_SECRET_KEY",
            "AWS_SECRET_ACCESS_KEY",
            "SECRET_KEY_BASE",
            "CLIENT_SECRET",
            "REDIS_PASS",
            "DB_PWD",
            "SSH_PRIVATE_KEY",
            "ENCRYPTION_KEY",
            "LICENSE_KEY",
            "GPG_PASSPHRASE",
        ] {
            assert!(looks_like_secret_name(name), "{name}");
        }
        for name in [
            "PWD",
            "PASSWORD_FILE",
            "DB_PASSWORD_PATH",
            "AWS_ACCESS_KEY_ID",
            "PUBLIC_KEY",
            "JWT_PUBLIC_KEY",
            "PRIMARY_KEY",
            "TOKEN_URL",
            "SECRET_NAME",
            "SECRET_ARN",
            "PASSWORD_MIN_LENGTH",
            "TOKENIZERS_PARALLELISM",
            "DB_HOST",
            "KEY",
            "MONKEY",
            "PASSTHROUGH",
            "PASS_THROUGH",
            "KMS_KEY",
            "TOKEN_LIFETIME",
            "",
        ] {
            assert!(!looks_like_secret_name(name), "{name}");
        }
    }

    #[test]
    fn flags_and_references_are_not_secret_values() {
        for value in [
            "",
            "  ",
            "true",
            "No",
            "0",
            "$(DB_PASSWORD)",
            "${TOKEN}",
            "{{ .Values.pw }}",
            "arn:aws:secretsmanager:eu-west-1:123456789012:secret:db",
        ] {
            assert!(!could_be_secret_value(value), "{value:?}");
        }
        for value in ["hunter2", "changeme", "s3cr3t"] {
            assert!(could_be_secret_value(value), "{value:?}");
        }
    }

    // -----------------------------------------------------------------------------------
    // The raw JSON and CloudFormation examples through the shared task-definition reader
    // (the Terraform ones need the Terraform front end, which the pipeline tests cover).

    fn example_tasks(file: &str, text: &str) -> Vec<EcsTaskDefinition> {
        let at = site("example", 1);
        match file {
            "taskdef.json" => {
                let json: serde_json::Value = serde_json::from_str(text).unwrap_or_default();
                let doc = crate::formats::json::from_serde(&json, Span::line(1));
                vec![crate::formats::ecs::task_definition_from_node(
                    at, &doc, None,
                )]
            }
            "template.yaml" => crate::rules::kubernetes::tests::load_yaml(text)
                .iter()
                .flat_map(|doc| {
                    doc.get("Resources")
                        .map(|r| r.entries().to_vec())
                        .unwrap_or_default()
                })
                .filter(|e| {
                    e.value.get("Type").and_then(|t| t.as_str()) == Some("AWS::ECS::TaskDefinition")
                })
                .filter_map(|e| e.value.get("Properties").cloned())
                .map(|props| {
                    crate::formats::ecs::task_definition_from_node(at.clone(), &props, None)
                })
                .collect(),
            _ => Vec::new(),
        }
    }

    #[test]
    fn json_and_cloudformation_examples_fail_and_pass_as_documented() {
        for rule in RULES {
            let code = rule.meta().code;
            let formats: Vec<&str> = rule.meta().examples.iter().map(|e| e.file).collect();
            assert_eq!(
                formats,
                ["taskdef.json", "template.yaml", "main.tf"],
                "{code}"
            );
            for example in rule.meta().examples.iter().filter(|e| e.file != "main.tf") {
                let facts = |text: &str| Unit {
                    facts: example_tasks(example.file, text)
                        .into_iter()
                        .map(Fact::EcsTaskDefinition)
                        .collect(),
                    ..Unit::default()
                };
                let failing = facts(example.failing);
                assert_eq!(failing.facts.len(), 1, "{code} {}", example.file);
                assert!(
                    !run(*rule, &failing).is_empty(),
                    "{code} {} failing example passes",
                    example.file
                );
                let passing = facts(example.passing);
                assert_eq!(passing.facts.len(), 1, "{code} {}", example.file);
                assert!(
                    run(*rule, &passing).is_empty(),
                    "{code} {} passing example fails",
                    example.file
                );
            }
        }
    }

    #[test]
    fn terraform_examples_are_valid_hcl() {
        for rule in RULES {
            for example in rule.meta().examples.iter().filter(|e| e.file == "main.tf") {
                for text in [example.failing, example.passing] {
                    let body = hcl_edit::parser::parse_body(text);
                    assert!(body.is_ok(), "{}: {body:?}", rule.meta().code);
                }
            }
        }
    }
}
