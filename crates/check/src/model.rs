//! The normalised model: what the rules look at.
//!
//! Every front end (Terraform, CloudFormation, Kubernetes, Dockerfile, ECS JSON, IAM JSON,
//! AWS config) turns its syntax into these facts, so that a rule about, say, a security group
//! is written once and holds for a group in Terraform, in CloudFormation or anywhere else.
//! Property names here are AWS's concepts, not any one format's spelling.
//!
//! Values that matter to a rule are [`Known`]: a rule reports only on a known value, or on a
//! value that is absent where its absence is the problem. An unknown value is never reported.

use std::sync::Arc;

pub use crate::node::{Known, Node, Span};

/// Where a fact comes from: the file, the resource it belongs to, and its lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    /// The path as the user gave it (relative paths stay relative), with `/` separators.
    pub file: Arc<str>,
    /// The resource's address: `aws_security_group.web`, `WebSecurityGroup`,
    /// `Deployment/default/nginx`, `stage 1 (builder)`, a profile name, …
    pub resource: String,
    /// The lines the finding points at (an attribute, a container, an instruction).
    pub span: Span,
    /// The whole resource's lines: a suppression comment anywhere in them covers the finding.
    pub resource_span: Span,
}

impl Site {
    pub fn new(file: &Arc<str>, resource: impl Into<String>, span: Span) -> Self {
        Site {
            file: file.clone(),
            resource: resource.into(),
            span,
            resource_span: span,
        }
    }

    /// The same resource, narrowed to the lines of one of its parts.
    pub fn at(&self, span: Span) -> Site {
        Site {
            file: self.file.clone(),
            resource: self.resource.clone(),
            span,
            resource_span: self.resource_span,
        }
    }
}

/// One fact about the code under scan.
#[derive(Debug, Clone, PartialEq)]
pub enum Fact {
    Ingress(Ingress),
    NetworkAclEntry(NetworkAclEntry),
    PublicIp(PublicIp),
    EcsTaskDefinition(EcsTaskDefinition),
    Workload(Workload),
    Dockerfile(Dockerfile),
    EcrRepository(EcrRepository),
    Policy(Policy),
    IamAccessKey(Site),
    Encryption(Encryption),
    LogGroup(LogGroup),
    Vpc(Vpc),
    FlowLog(FlowLog),
    CloudTrail(CloudTrail),
    Literal(Literal),
    CredentialFile(CredentialFile),
    Parameter(Parameter),
    AwsProfile(AwsProfile),
}

// ---------------------------------------------------------------------------------------
// Network

/// A protocol as AWS spells it in security groups and NACLs: `tcp`, `udp`, `icmp`, `icmpv6`,
/// or `all` for `-1`/`all`/`ALL`. Numbers other than 6/17/1/58/-1 stay as given.
pub fn normalise_protocol(raw: &str) -> String {
    match raw.trim().to_ascii_lowercase().as_str() {
        "-1" | "all" => "all".into(),
        "6" | "tcp" => "tcp".into(),
        "17" | "udp" => "udp".into(),
        "1" | "icmp" => "icmp".into(),
        "58" | "icmpv6" => "icmpv6".into(),
        other => other.to_string(),
    }
}

/// The ports a rule opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ports {
    /// Every port of every protocol (`-1`), or 0-65535.
    All,
    Range(u16, u16),
}

impl Ports {
    pub fn contains(&self, port: u16) -> bool {
        match *self {
            Ports::All => true,
            Ports::Range(from, to) => from <= port && port <= to,
        }
    }

    /// From a protocol and optional from/to ports, as security groups interpret them:
    /// protocol `all` opens everything whatever the ports say; for tcp/udp, `-1`/absent ports
    /// or 0-65535 mean every port.
    pub fn from_rule(protocol: &Known<String>, from: &Known<i64>, to: &Known<i64>) -> Known<Ports> {
        match protocol {
            Known::Value(p) if p == "all" => return Known::Value(Ports::All),
            Known::Value(p) if p == "icmp" || p == "icmpv6" => {
                return Known::Unknown("ICMP has no ports".into());
            }
            Known::Unknown(o) => return Known::Unknown(o.clone()),
            _ => {}
        }
        let port = |k: &Known<i64>| match k {
            Known::Value(v) => Known::Value(*v),
            Known::Unknown(o) => Known::Unknown(o.clone()),
            Known::Absent => Known::Value(-1),
        };
        match (port(from), port(to)) {
            (Known::Value(f), Known::Value(t)) => {
                if (f <= 0 && t <= 0 && (f == -1 || t == -1)) || (f <= 0 && t >= 65535) {
                    Known::Value(Ports::All)
                } else {
                    let clamp = |v: i64| v.clamp(0, 65535) as u16;
                    Known::Value(Ports::Range(clamp(f), clamp(t.max(f))))
                }
            }
            (Known::Unknown(o), _) | (_, Known::Unknown(o)) => Known::Unknown(o),
            _ => Known::Absent,
        }
    }
}

/// One inbound rule of a security group (inline or standalone).
#[derive(Debug, Clone, PartialEq)]
pub struct Ingress {
    pub at: Site,
    /// Normalised with [`normalise_protocol`].
    pub protocol: Known<String>,
    pub ports: Known<Ports>,
    /// IPv4 and IPv6 CIDR sources. Rules from other security groups or prefix lists are not
    /// listed: they are not the open internet.
    pub cidrs: Vec<Known<String>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NetworkAclEntry {
    pub at: Site,
    pub egress: Known<bool>,
    /// `allow` or `deny`, lower case.
    pub action: Known<String>,
    pub protocol: Known<String>,
    pub ports: Known<Ports>,
    pub cidr: Known<String>,
}

/// Something that can put an ECS task (or an instance) on a public IP.
#[derive(Debug, Clone, PartialEq)]
pub struct PublicIp {
    pub at: Site,
    /// What it is, for messages: "ECS service", "ECS task set", "launch template", …
    pub what: String,
    pub assign_public_ip: Known<bool>,
}

// ---------------------------------------------------------------------------------------
// Containers

/// An environment variable given as a literal (or unknown) value.
#[derive(Debug, Clone, PartialEq)]
pub struct EnvVar {
    pub name: String,
    pub value: Known<String>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct EcsTaskDefinition {
    pub at: Site,
    /// `awsvpc`, `bridge`, `host`, `none`.
    pub network_mode: Known<String>,
    /// Whether `requiresCompatibilities` includes FARGATE.
    pub fargate: Known<bool>,
    pub containers: Vec<EcsContainer>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct EcsContainer {
    /// The container definition's lines; `resource` is `<task>/<container name>`.
    pub at: Site,
    pub name: String,
    pub image: Known<String>,
    pub privileged: Known<bool>,
    pub readonly_root_filesystem: Known<bool>,
    pub user: Known<String>,
    /// Whether a `logConfiguration` is present.
    pub log_configuration: Known<bool>,
    pub environment: Vec<EnvVar>,
    /// Names of variables passed through `secrets` with `valueFrom`.
    pub secrets: Vec<String>,
}

/// A Kubernetes workload's pod template.
#[derive(Debug, Clone, PartialEq)]
pub struct Workload {
    /// `resource` is `Kind/namespace/name` (namespace `default` when not given).
    pub at: Site,
    pub kind: String,
    pub host_network: Known<bool>,
    pub host_pid: Known<bool>,
    pub host_ipc: Known<bool>,
    /// The pod-level securityContext. Only `run_as_user`, `run_as_non_root` (and the
    /// group/fs fields rules do not read) exist at pod level; containers inherit them.
    pub pod_security: SecurityContext,
    pub containers: Vec<K8sContainer>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct K8sContainer {
    pub at: Site,
    pub name: String,
    /// `container`, `initContainer` or `ephemeralContainer`.
    pub role: &'static str,
    pub image: Known<String>,
    /// The container's own securityContext, before inheritance.
    pub security: SecurityContext,
    pub readiness_probe: bool,
    pub env: Vec<EnvVar>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct SecurityContext {
    pub privileged: Option<Known<bool>>,
    pub allow_privilege_escalation: Option<Known<bool>>,
    pub read_only_root_filesystem: Option<Known<bool>>,
    pub run_as_non_root: Option<Known<bool>>,
    pub run_as_user: Option<Known<i64>>,
    pub capabilities_add: Vec<Known<String>>,
    pub capabilities_drop: Vec<Known<String>>,
    pub span: Option<Span>,
}

/// A Dockerfile, parsed into stages and instructions.
#[derive(Debug, Clone, PartialEq)]
pub struct Dockerfile {
    /// `resource` is the file name.
    pub at: Site,
    /// Instructions before the first FROM (ARG, parser directives are not instructions).
    pub preamble: Vec<Instruction>,
    pub stages: Vec<Stage>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Stage {
    /// The FROM instruction's lines.
    pub span: Span,
    /// The image reference as written (`python:3.12-slim`, `${BASE}`, `scratch`, a stage).
    pub image: String,
    /// `AS name`, if any.
    pub name: Option<String>,
    /// The `--platform` flag, if any.
    pub platform: Option<String>,
    pub instructions: Vec<Instruction>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Instruction {
    /// Upper case: `RUN`, `COPY`, `USER`, …
    pub keyword: String,
    /// Flags such as `--from=builder` or `--chown=app`, as written.
    pub flags: Vec<String>,
    /// The arguments after the flags: for the exec (JSON) form, the decoded array; for the
    /// shell form, one element with continuation lines joined by a space.
    pub args: Vec<String>,
    /// Whether the arguments were written in the exec (JSON array) form.
    pub exec_form: bool,
    /// Bodies of here-documents (`RUN <<EOF … EOF`), in order.
    pub heredocs: Vec<String>,
    pub span: Span,
}

// ---------------------------------------------------------------------------------------
// Registry, IAM, encryption and logging

#[derive(Debug, Clone, PartialEq)]
pub struct EcrRepository {
    pub at: Site,
    pub scan_on_push: Known<bool>,
    /// `MUTABLE` or `IMMUTABLE` (upper case).
    pub tag_mutability: Known<String>,
    /// `AES256` or `KMS` (upper case); absent means AES256 with an AWS-owned key.
    pub encryption_type: Known<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyKind {
    /// Attached to a user, group or role: says what that identity may do.
    Identity,
    /// A role's assume-role policy: says who may become the role.
    Trust,
    /// Attached to a resource (bucket, queue, repository, key): says who may use it.
    Resource,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub at: Site,
    pub kind: PolicyKind,
    pub statements: Vec<Statement>,
    /// For a resource policy: the type of the resource it governs, as the format spells it
    /// (`aws_ecr_repository_policy`, `AWS::ECR::Repository`), so that rules about one
    /// service's policies (ECR003) can find them. `None` when the front end does not say.
    pub attached_to: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub span: Span,
    pub sid: Option<String>,
    /// `Allow` or `Deny` as written.
    pub effect: Known<String>,
    pub actions: Vec<Known<String>>,
    pub not_actions: Vec<Known<String>>,
    pub resources: Vec<Known<String>>,
    pub not_resources: Vec<Known<String>>,
    /// `Principal` entries; `"Principal": "*"` is one principal of kind `*` and value `*`.
    pub principals: Vec<Principal>,
    pub not_principals: Vec<Principal>,
    pub conditions: Vec<Condition>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Principal {
    /// `AWS`, `Service`, `Federated`, `CanonicalUser` or `*`.
    pub kind: String,
    pub value: Known<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    /// `StringEquals`, `Bool`, `ForAnyValue:StringLike`, …
    pub operator: String,
    /// `sts:ExternalId`, `aws:PrincipalOrgID`, `aws:MultiFactorAuthPresent`, … as written.
    pub key: String,
    pub values: Vec<Known<String>>,
}

/// Encryption at rest of a resource that holds sensitive data.
#[derive(Debug, Clone, PartialEq)]
pub struct Encryption {
    pub at: Site,
    pub what: EncryptedKind,
    /// The KMS key given (id, ARN or alias); absent means no customer-chosen KMS key.
    pub kms_key: Known<String>,
    /// SQS only: `SqsManagedSseEnabled`.
    pub managed_sse: Known<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncryptedKind {
    Secret,
    Topic,
    Queue,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LogGroup {
    pub at: Site,
    pub retention_days: Known<i64>,
}

/// A VPC. `names` are the ways other resources in the same template or module refer to it
/// (`aws_vpc.main`, the logical id `VPC`).
#[derive(Debug, Clone, PartialEq)]
pub struct Vpc {
    pub at: Site,
    pub names: Vec<String>,
}

/// A flow log, and the source text of what it is attached to (`aws_vpc.main.id`,
/// `!Ref VPC`), or unknown when it comes from a variable.
#[derive(Debug, Clone, PartialEq)]
pub struct FlowLog {
    pub at: Site,
    pub target: Known<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CloudTrail {
    pub at: Site,
    pub multi_region: Known<bool>,
    pub log_file_validation: Known<bool>,
}

// ---------------------------------------------------------------------------------------
// Secrets

/// A literal string in a place where a secret would be exposed.
#[derive(Debug, Clone, PartialEq)]
pub struct Literal {
    /// `span` is the value's own lines.
    pub at: Site,
    pub context: LiteralContext,
    /// The variable, argument or attribute name the value is assigned to (empty if none).
    pub name: String,
    pub value: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LiteralContext {
    /// Dockerfile `ENV`.
    DockerEnv,
    /// Dockerfile `ARG` default.
    DockerArg,
    /// ECS container `environment`.
    EcsEnvironment,
    /// Kubernetes container `env[].value`.
    KubernetesEnv,
    /// A value of a Kubernetes Secret manifest (`data`, decoded, or `stringData`).
    KubernetesSecret,
    /// Lambda function environment variables.
    LambdaEnvironment,
    /// EC2 instance or launch template user data.
    UserData,
    /// A Secrets Manager secret's literal `SecretString`.
    SecretString,
    /// An SSM `SecureString` parameter's literal value.
    SsmSecureString,
    /// A parameter or variable default.
    Default,
    /// Any other attribute of a resource.
    Attribute,
}

impl LiteralContext {
    /// Contexts where the value is a secret by definition, whatever its name or shape.
    pub fn is_secret_by_definition(self) -> bool {
        matches!(
            self,
            LiteralContext::SecretString | LiteralContext::SsmSecureString
        )
    }

    pub fn describe(self) -> &'static str {
        match self {
            LiteralContext::DockerEnv => "Dockerfile ENV",
            LiteralContext::DockerArg => "Dockerfile ARG",
            LiteralContext::EcsEnvironment => "ECS container environment",
            LiteralContext::KubernetesEnv => "Kubernetes env value",
            LiteralContext::KubernetesSecret => "Kubernetes Secret value",
            LiteralContext::LambdaEnvironment => "Lambda environment",
            LiteralContext::UserData => "EC2 user data",
            LiteralContext::SecretString => "Secrets Manager SecretString",
            LiteralContext::SsmSecureString => "SSM SecureString value",
            LiteralContext::Default => "default value",
            LiteralContext::Attribute => "attribute",
        }
    }
}

/// A file that holds credentials, committed to the repository (`copied_by` empty) or copied
/// into an image by a Dockerfile instruction.
#[derive(Debug, Clone, PartialEq)]
pub struct CredentialFile {
    pub at: Site,
    pub kind: CredentialKind,
    /// The path of the credential file as found or as named by COPY/ADD (resolved against the
    /// Dockerfile's directory), for messages.
    pub path: String,
    /// The same file named independently of where the checkout lives (the file's name for a
    /// committed file, the COPY/ADD source relative to the build context for a copy), so that
    /// fingerprints stay put when the repository is cloned elsewhere.
    pub name: String,
    /// The Dockerfile instruction that copies it into an image, if that is where it was seen.
    pub copied_by: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialKind {
    Htpasswd,
    PrivateKey,
    DotEnv,
    AwsCredentials,
}

impl CredentialKind {
    pub fn describe(self) -> &'static str {
        match self {
            CredentialKind::Htpasswd => "htpasswd password file",
            CredentialKind::PrivateKey => "private key",
            CredentialKind::DotEnv => ".env file",
            CredentialKind::AwsCredentials => "AWS credentials file",
        }
    }
}

/// A template parameter (CloudFormation) or input variable (Terraform).
#[derive(Debug, Clone, PartialEq)]
pub struct Parameter {
    pub at: Site,
    pub name: String,
    /// CloudFormation `NoEcho`; Terraform `sensitive`.
    pub hidden: Known<bool>,
    pub default: Known<String>,
}

/// A profile from an AWS CLI `config` or `credentials` file.
#[derive(Debug, Clone, PartialEq)]
pub struct AwsProfile {
    pub at: Site,
    pub name: String,
    /// `config` or `credentials`.
    pub source: &'static str,
    /// Keys and values in file order, with their lines. Secret values are kept only so rules
    /// can recognise them; reports never print them.
    pub settings: Vec<(String, String, Span)>,
}
