//! Command-line arguments. Help texts are the user's first documentation: say what a flag
//! does and what it defaults to.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

const ABOUT: &str = "Secure-by-construction path from code to AWS production";

const LONG_ABOUT: &str = "\
airlock makes the path from code to AWS production secure by construction.

  check      scan Terraform, CloudFormation, Kubernetes, Dockerfiles, ECS task definitions,
             IAM policies and AWS config files for production-security mistakes
  deploy     (CI side) send a signed deployment request and stream its output back
  run        (production side) run a deployment and stream every line back to CI
  lane       (CI side) write CI's lane configuration from the stacks' outputs; check the lane
  agent      serve per-service IAM role credentials to any AWS SDK
  accounts   check account aliases and profiles against your naming convention
  whoami     show which account and environment your credentials point at
  guard      refuse to run a command against the wrong environment

AWS settings come from the standard chain: AWS_PROFILE, AWS_REGION, AWS_ENDPOINT_URL and
AWS_ENDPOINT_URL_<SERVICE>, shared config files, SSO and instance or container roles.";

const AFTER_HELP: &str = "\
Exit codes: 0 success, 1 findings at or above the threshold (check), 2 usage, configuration
or input error. The full table: docs/usage.md#exit-codes.";

#[derive(Debug, Parser)]
#[command(
    name = "airlock",
    version,
    long_version = long_version(),
    about = ABOUT,
    long_about = long_about(),
    after_help = AFTER_HELP,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    /// Diagnostics format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Human, env = "AIRLOCK_LOG_FORMAT")]
    pub log_format: LogFormat,

    /// More diagnostics (-v debug, -vv trace). AIRLOCK_LOG=<filter> overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,

    /// Only errors on stderr.
    #[arg(short, long, global = true)]
    pub quiet: bool,

    /// When to colour output. NO_COLOR in the environment turns `auto` off.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,

    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    pub fn verbosity(&self) -> tracing::Level {
        match (self.quiet, self.verbose) {
            (true, _) => tracing::Level::ERROR,
            (false, 0) => tracing::Level::INFO,
            (false, 1) => tracing::Level::DEBUG,
            (false, _) => tracing::Level::TRACE,
        }
    }
}

/// A build without some features says which commands it lacks, since `--help` hides them.
fn long_about() -> String {
    let missing = if cfg!(not(feature = "lane")) {
        "deploy, run, lane, agent, whoami, guard and accounts alias"
    } else if cfg!(not(feature = "aws")) {
        "agent, whoami, guard and accounts alias (deploy and lane doctor work with --local only; lane config reads outputs files only)"
    } else {
        return LONG_ABOUT.to_owned();
    };
    format!(
        "{LONG_ABOUT}\n\nThis airlock was built without the AWS SDK: {missing} are not in it \
         and exit 6."
    )
}

fn long_version() -> &'static str {
    if cfg!(feature = "aws") {
        concat!(env!("CARGO_PKG_VERSION"), "\nfeatures: aws")
    } else {
        concat!(
            env!("CARGO_PKG_VERSION"),
            "\nfeatures: scanner only (built without the AWS SDK)"
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Human,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Scan infrastructure code for production-security mistakes.
    Check(CheckArgs),
    /// Send a signed deployment request to the production lane and follow its output (CI side).
    #[cfg_attr(not(feature = "lane"), command(hide = true))]
    Deploy(DeployArgs),
    /// Run a deployment command and stream its output and exit code back (production side).
    #[cfg_attr(not(feature = "lane"), command(hide = true))]
    Run(RunArgs),
    /// Set up and check the CI side of the deploy lane (`lane config`, `lane doctor`).
    #[cfg_attr(not(feature = "lane"), command(hide = true))]
    Lane(LaneArgs),
    /// Serve an assumed role's credentials over the container-credentials protocol.
    #[cfg_attr(not(feature = "aws"), command(hide = true))]
    Agent(Box<AgentArgs>),
    /// Check AWS config files and account aliases against the naming convention.
    Accounts(AccountsArgs),
    /// Show the account, alias and environment the current credentials belong to.
    #[cfg_attr(not(feature = "aws"), command(hide = true))]
    Whoami(WhoamiArgs),
    /// Run a command only if the current credentials belong to the expected environment.
    #[cfg_attr(not(feature = "aws"), command(hide = true))]
    Guard(GuardArgs),
    /// Print a shell completion script.
    #[command(after_help = "Example: airlock completions bash > /etc/bash_completion.d/airlock")]
    Completions(CompletionsArgs),
}

/// AWS settings a user may give on the command line; everything else comes from the
/// standard chain.
#[derive(Debug, Args)]
pub struct AwsArgs {
    /// Named profile from ~/.aws/config (default: AWS_PROFILE).
    #[arg(long)]
    pub profile: Option<String>,
    /// Region (default: AWS_REGION or the profile's region).
    #[arg(long)]
    pub region: Option<String>,
    /// Endpoint URL for every AWS service, e.g. a LocalStack or moto server
    /// (default: AWS_ENDPOINT_URL).
    #[arg(long)]
    pub endpoint_url: Option<String>,
}

#[cfg(feature = "aws")]
impl AwsArgs {
    pub fn options(&self) -> airlock_aws::AwsOptions {
        airlock_aws::AwsOptions {
            profile: self.profile.clone(),
            region: self.region.clone(),
            endpoint_url: self.endpoint_url.clone(),
        }
    }
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Files or directories to scan.
    #[arg(default_value = ".")]
    pub paths: Vec<PathBuf>,
    /// Report format.
    #[arg(long, short = 'f', value_enum, default_value_t = ReportFormat::Human)]
    pub format: ReportFormat,
    /// Write the report to this file instead of stdout.
    #[arg(long, short = 'o')]
    pub output: Option<PathBuf>,
    /// Lowest severity that counts towards exit code 1 (the report lists every finding).
    #[arg(long, value_enum, default_value_t = SeverityArg::Low)]
    pub severity: SeverityArg,
    /// Configuration file (default: airlock.toml in the current directory, if there is one).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Do not run this rule, by code or name (repeatable; adds to the configuration's
    /// `disable` list).
    #[arg(long, value_name = "CODE")]
    pub disable: Vec<String>,
    /// A CloudFormation parameter's value, NAME=VALUE (repeatable); it wins over the
    /// template's default in every template that declares NAME.
    #[arg(long, value_name = "NAME=VALUE")]
    pub cfn_param: Vec<String>,
    /// A CloudFormation parameter file (repeatable): the AWS CLI's
    /// `[{"ParameterKey": ..., "ParameterValue": ...}]`, CodePipeline's
    /// `{"Parameters": {...}}`, or a plain map. `--cfn-param` wins over it.
    #[arg(long, value_name = "FILE")]
    pub cfn_params: Vec<PathBuf>,
    /// A Terraform variable's value, NAME=VALUE (repeatable; an HCL literal such as
    /// `["10.0.0.0/8"]` or a plain string). It wins over defaults, tfvars files and
    /// `--var-file`, in every module that declares NAME.
    #[arg(long = "var", value_name = "NAME=VALUE")]
    pub tf_var: Vec<String>,
    /// A Terraform variables file (repeatable, applied in order after the modules'
    /// terraform.tfvars and *.auto.tfvars).
    #[arg(long = "var-file", value_name = "FILE")]
    pub tf_var_file: Vec<PathBuf>,
    /// Ignore `airlock:ignore` comments and metadata in the scanned code.
    #[arg(long)]
    pub no_inline_suppressions: bool,
    /// Also list where a rule could not decide because a value is unknown (a module output,
    /// an unset variable, `!GetAtt`): each place a rule would report if the unknowns took
    /// their least safe values. They count towards exit code 1 like findings
    #[arg(long)]
    pub strict_unknowns: bool,
    /// Report only findings whose fingerprints are not in this baseline file.
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,
    /// Write the fingerprints of all current unsuppressed findings to FILE instead of a
    /// report, and exit 0 (2 if some files could not be parsed).
    #[arg(long, value_name = "FILE")]
    pub write_baseline: Option<PathBuf>,
    /// List the rules instead of scanning (`--format json` for machine-readable output).
    #[arg(long)]
    pub list_rules: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    Human,
    Json,
    Sarif,
    Junit,
    Github,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SeverityArg {
    Low,
    Medium,
    High,
    Critical,
}

#[derive(Debug, Args)]
pub struct DeployArgs {
    /// The allowlisted job to run.
    #[arg(long)]
    pub job: String,
    /// A job parameter, NAME=VALUE (repeatable).
    #[arg(long = "param", value_name = "NAME=VALUE")]
    pub params: Vec<String>,
    /// The deployment image, pinned by digest: REPO@sha256:<64 hex>.
    #[arg(long)]
    pub image: Option<String>,
    /// The job's deadline, e.g. 30m or 1h30m: the runner stops the job after it (the job's
    /// configured timeout caps it).
    #[arg(long, value_name = "DURATION")]
    pub timeout: Option<String>,
    /// Prefix each line of the job's output with the time the runner read it (UTC).
    #[arg(long)]
    pub timestamps: bool,
    /// Fail (exit 252) when nothing has been heard from the deployment for this long
    /// (default: [lane] watchdog_secs, 120 s).
    #[arg(long, value_name = "DURATION")]
    pub watchdog: Option<String>,
    /// Use the local lane (one SQLite file, no AWS) instead of SNS/SQS.
    #[arg(long)]
    pub local: bool,
    #[command(flatten)]
    pub aws: AwsArgs,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The request this run belongs to (every feedback message carries it).
    #[arg(long, env = "AIRLOCK_REQUEST_ID")]
    pub request_id: Option<String>,
    /// Where feedback goes: an https:// (or http://) SQS queue URL, or sqlite:<path>[?queue=NAME].
    /// Without it the runner only echoes the output (no feedback).
    #[arg(long, env = "AIRLOCK_FEEDBACK", value_name = "DEST")]
    pub feedback: Option<String>,
    /// Stop the job after this many seconds (SIGTERM, then SIGKILL after --grace).
    #[arg(long, env = "AIRLOCK_DEADLINE", value_name = "SECS")]
    pub deadline: Option<u64>,
    /// Seconds between SIGTERM and SIGKILL when stopping the job.
    #[arg(long, env = "AIRLOCK_GRACE", value_name = "SECS", default_value_t = 10)]
    pub grace: u64,
    /// Seconds between heartbeats.
    #[arg(long, env = "AIRLOCK_HEARTBEAT", value_name = "SECS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub heartbeat: u64,
    /// Output waits at most this many milliseconds before it is sent.
    #[arg(long, env = "AIRLOCK_BATCH_WINDOW_MS", value_name = "MS", default_value_t = 100,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub batch_window_ms: u64,
    /// Largest feedback message in bytes (SQS: at most 1048576).
    #[arg(long, env = "AIRLOCK_MESSAGE_LIMIT", value_name = "BYTES", default_value_t = 262144,
          value_parser = clap::value_parser!(u64).range(1024..=1048576))]
    pub message_limit: u64,
    /// After the job ended, seconds to keep trying to deliver its output.
    #[arg(
        long,
        env = "AIRLOCK_DELIVERY_TIMEOUT",
        value_name = "SECS",
        default_value_t = 60
    )]
    pub delivery_timeout: u64,
    /// The runner's own copy of the output, for the task's log (CloudWatch Logs): `tagged`
    /// puts both streams on stdout, each line starting `[out] ` or `[err] `, between lines
    /// `[airlock] request <id>: …` saying which request and how it ended; `streams` keeps
    /// each stream on its own, bytes unchanged, and the runner's lines on stderr.
    #[arg(long, env = "AIRLOCK_ECHO", value_enum, default_value_t = EchoMode::Tagged)]
    pub echo: EchoMode,
    /// The deployment command and its arguments.
    #[arg(last = true, required = true, value_name = "CMD")]
    pub command: Vec<std::ffi::OsString>,
    #[command(flatten)]
    pub aws: AwsArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EchoMode {
    Tagged,
    Streams,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct AgentArgs {
    #[command(subcommand)]
    pub exec: Option<AgentCommand>,
    #[command(flatten)]
    pub assume: AssumeArgs,
    #[command(flatten)]
    pub serve: AgentServeArgs,
}

#[derive(Debug, Subcommand)]
pub enum AgentCommand {
    /// Run one command with the agent: it listens on a free loopback port, and CMD gets
    /// AWS_CONTAINER_CREDENTIALS_FULL_URI and AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE, loses
    /// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_PROFILE and web
    /// identity settings, and sees an empty shared credentials file. Exits with CMD's code.
    Exec(AgentExecArgs),
    /// Check a running agent's health, for Docker's HEALTHCHECK and ECS container health
    /// checks in images without a shell: exit 0 when the URL answers 200, 1 otherwise.
    Probe(AgentProbeArgs),
}

#[derive(Debug, Args)]
pub struct AgentProbeArgs {
    /// The route to ask: /healthz by default (liveness, never depends on STS).
    #[arg(long, default_value = "http://127.0.0.1:9912/healthz")]
    pub url: String,
    /// Ask /readyz on the URL's listener instead: healthy only while credentials are held.
    #[arg(long)]
    pub ready: bool,
    /// Seconds to wait for the answer.
    #[arg(long, value_name = "SECS", default_value_t = 2)]
    pub timeout: u64,
}

#[derive(Debug, Args)]
pub struct AgentExecArgs {
    #[command(flatten)]
    pub assume: AssumeArgs,
    /// Seconds to wait for the first credentials before giving up (exit 125).
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    pub ready_timeout: u64,
    /// The command and its arguments.
    #[arg(last = true, required = true, value_name = "CMD")]
    pub command: Vec<std::ffi::OsString>,
}

/// What the agent assumes. The agent's own credentials come from the standard AWS chain.
#[derive(Debug, Args)]
pub struct AssumeArgs {
    /// The service role to assume.
    #[arg(long, env = "AIRLOCK_ROLE_ARN", value_name = "ARN")]
    pub role_arn: Option<String>,
    /// A file holding the role ARN, e.g. a mounted Kubernetes secret.
    #[arg(long, env = "AIRLOCK_ROLE_ARN_FILE", value_name = "PATH")]
    pub role_arn_file: Option<PathBuf>,
    /// The session name CloudTrail shows (default: <POD_NAMESPACE>.<POD_NAME> from the
    /// downward API, else the host name). Characters STS refuses become `-`.
    #[arg(long, env = "AIRLOCK_SESSION_NAME", value_name = "NAME")]
    pub session_name: Option<String>,
    /// Lifetime of each set of credentials, 900 to 3600 seconds (STS caps a session assumed
    /// from another role session at one hour).
    #[arg(long, value_name = "SECS", default_value_t = 3600)]
    pub duration: u64,
    /// A session tag, KEY=VALUE (repeatable; the role's trust policy must allow sts:TagSession).
    #[arg(long = "session-tag", value_name = "KEY=VALUE")]
    pub session_tags: Vec<String>,
    /// A source identity (the role's trust policy must allow sts:SetSourceIdentity).
    #[arg(long, value_name = "ID")]
    pub source_identity: Option<String>,
    #[command(flatten)]
    pub aws: AwsArgs,
}

#[derive(Debug, Args)]
pub struct AgentServeArgs {
    /// Port of the credentials endpoint (0 picks a free one; the log says which).
    #[arg(long, env = "AIRLOCK_AGENT_PORT", default_value_t = 9911)]
    pub port: u16,
    /// Address of the credentials endpoint. Only loopback addresses, unless forced.
    #[arg(long, default_value = "127.0.0.1", value_name = "IP")]
    pub bind: std::net::IpAddr,
    /// Serve credentials on a non-loopback --bind address. Anyone who reaches it with the
    /// token gets the role's credentials.
    #[arg(long)]
    pub allow_non_loopback: bool,
    /// An extra listener with only /healthz, /readyz and /metrics, for kubelet probes
    /// (e.g. 0.0.0.0:9912).
    #[arg(long, env = "AIRLOCK_AGENT_HEALTH_LISTEN", value_name = "ADDR:PORT")]
    pub health_listen: Option<std::net::SocketAddr>,
    /// The authorization token file: read if it exists, otherwise generated and written
    /// (mode 0600, no trailing newline). Default: a new private temporary directory.
    #[arg(long, env = "AIRLOCK_TOKEN_FILE", value_name = "PATH")]
    pub token_file: Option<PathBuf>,
    /// Write a generated token file with mode 0640, for an application that runs as another
    /// user in the same group (Kubernetes: fsGroup).
    #[arg(long)]
    pub token_group_readable: bool,
}

#[derive(Debug, Args)]
pub struct AccountsArgs {
    #[command(subcommand)]
    pub command: AccountsCommand,
}

#[derive(Debug, Subcommand)]
pub enum AccountsCommand {
    /// Check AWS config and credentials files against the [accounts] convention and the
    /// rules of the credential chain (the ACC rules of `airlock check`).
    #[command(after_help = "Default files: $AWS_CONFIG_FILE or ~/.aws/config, and \
        $AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials. A FILE whose name contains \
        `credentials` is read as a credentials file, any other as a config file.\n\n\
        Exit codes: 0 nothing at or above --severity, 1 findings, 2 unreadable or malformed \
        input or configuration.")]
    Lint(AccountsLintArgs),
    /// Set or check the account alias.
    #[command(subcommand)]
    #[cfg_attr(not(feature = "aws"), command(hide = true))]
    Alias(AliasCommand),
}

#[derive(Debug, Args)]
pub struct AccountsLintArgs {
    /// AWS config or credentials files (default: the CLI's own two).
    pub files: Vec<PathBuf>,
    /// Report format.
    #[arg(long, short = 'f', value_enum, default_value_t = ReportFormat::Human)]
    pub format: ReportFormat,
    /// Lowest severity that counts towards exit code 1.
    #[arg(long, value_enum, default_value_t = SeverityArg::Low)]
    pub severity: SeverityArg,
    #[command(flatten)]
    pub config: ConfigArg,
}

#[derive(Debug, Subcommand)]
pub enum AliasCommand {
    /// Validate NAME against the convention, then set it as the account's alias
    /// (iam:CreateAccountAlias).
    #[command(
        after_help = "Exit codes: 0 set (or already set), 2 NAME breaks the convention \
        or bad configuration, 3 [accounts.ids] gives NAME to another account or this account \
        another name, 5 the identity could not be resolved or the call failed."
    )]
    Set(AliasSetArgs),
    /// Compare the account's alias with [accounts.ids] and the convention.
    #[command(
        after_help = "Exit codes: 0 the alias agrees, 3 it does not (or the account is \
        not in [accounts.ids]), 2 bad configuration, 5 the identity could not be resolved."
    )]
    Check(AliasCheckArgs),
}

#[derive(Debug, Args)]
pub struct AliasSetArgs {
    /// The alias, e.g. bboq-prod-website.
    pub name: String,
    #[command(flatten)]
    pub config: ConfigArg,
    #[command(flatten)]
    pub aws: AwsArgs,
}

#[derive(Debug, Args)]
pub struct AliasCheckArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    #[command(flatten)]
    pub aws: AwsArgs,
}

/// Where the [accounts] convention comes from.
#[derive(Debug, Args)]
pub struct ConfigArg {
    /// Configuration file (default: AIRLOCK_CONFIG, else airlock.toml in the current
    /// directory, else ~/.config/airlock/airlock.toml).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Exit codes: 0 shown, 2 bad configuration, 5 the identity could not be \
    resolved (no credentials, STS or IAM failed).\n\n\
    For a shell prompt: PS1='$(airlock whoami --format prompt 2>/dev/null) \\$ '. The prompt \
    form is cached for 5 minutes per set of credentials."
)]
pub struct WhoamiArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = WhoamiFormat::Text)]
    pub format: WhoamiFormat,
    #[command(flatten)]
    pub config: ConfigArg,
    #[command(flatten)]
    pub aws: AwsArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum WhoamiFormat {
    Text,
    Json,
    Prompt,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Exit codes: CMD's own code once it runs; 2 bad usage or configuration \
    (an --env the convention does not list); 3 the account is not in ENV, or its env cannot \
    be told; 4 a protected env was not confirmed; 5 the identity could not be resolved; \
    126/127 CMD could not be run."
)]
pub struct GuardArgs {
    /// The environment the credentials must belong to (e.g. prod).
    #[arg(long)]
    pub env: String,
    /// The account alias, typed out, that confirms a protected environment (needed when
    /// there is no terminal to ask on).
    #[arg(long, value_name = "ALIAS")]
    pub confirm: Option<String>,
    /// The command to run once the account is confirmed.
    #[arg(last = true, required = true, value_name = "CMD")]
    pub command: Vec<String>,
    #[command(flatten)]
    pub config: ConfigArg,
    #[command(flatten)]
    pub aws: AwsArgs,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to generate completions for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct LaneArgs {
    #[command(subcommand)]
    pub command: LaneCommand,
}

#[derive(Debug, Subcommand)]
pub enum LaneCommand {
    /// Write the CI side's configuration from the lane stacks' outputs (CloudFormation or
    /// Terraform), so nobody copies ARNs by hand.
    #[command(after_help = "Examples:\n  \
        airlock lane config --production-stack airlock-prod --production-profile prod \\\n      \
        --ci-stack airlock-ci --ci-profile ci -o airlock.toml\n  \
        terraform output -json | airlock lane config --terraform-output - --format github >> \"$GITHUB_ENV\"\n\n\
        Exit codes: 0 written, 2 usage, 3 an output is missing, malformed or differs between \
        sources, 4 a stack or file could not be read.")]
    Config(ConfigArgs),
    /// Check, with CI's credentials and configuration, that the key signs, the queue answers,
    /// and the dispatcher trusts the key and answers on the queue; each problem on one line
    /// with its fix.
    #[command(
        after_help = "The loop check publishes a signed deploy request for --job whose \
        validity window ended an hour ago. The dispatcher verifies the key and the signature \
        before the window and refuses it as expired, which proves the whole loop; nothing runs \
        and no nonce or lock is taken.\n\n\
        Exit codes: 0 every check passed, 1 a problem was found, 2 usage or configuration."
    )]
    Doctor(DoctorArgs),
}

#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// One CloudFormation stack holding every output (both halves in one account).
    #[arg(long, value_name = "NAME")]
    pub stack: Option<String>,
    /// The production stack (TopicArn, FeedbackQueueUrl, Region, TaskLogGroup, …).
    #[arg(long, value_name = "NAME")]
    pub production_stack: Option<String>,
    /// The profile to read the production stack with (default: --profile).
    #[arg(long, value_name = "PROFILE", requires = "production_stack")]
    pub production_profile: Option<String>,
    /// The CI stack (SigningKeyArn, CiRoleArn).
    #[arg(long, value_name = "NAME")]
    pub ci_stack: Option<String>,
    /// The profile to read the CI stack with (default: --profile).
    #[arg(long, value_name = "PROFILE", requires = "ci_stack")]
    pub ci_profile: Option<String>,
    /// A file of CloudFormation outputs (repeatable; `-` for stdin): what `aws cloudformation
    /// describe-stacks --stack-name NAME` prints, its Outputs list, or a {"Key": "value"} map.
    #[arg(long = "outputs", value_name = "FILE")]
    pub outputs: Vec<PathBuf>,
    /// The JSON of `terraform output -json` of the root that uses both modules (`-` for stdin).
    #[arg(long, value_name = "FILE")]
    pub terraform_output: Option<PathBuf>,
    /// What to write: the [lane] table of airlock.toml, AIRLOCK_LANE_* lines, or the lines
    /// for $GITHUB_ENV / `gh variable set -f` (with AIRLOCK_CI_ROLE_ARN).
    #[arg(long, value_enum, default_value_t = FormatArg::Toml)]
    pub format: FormatArg,
    /// Write to FILE instead of stdout (refuses to replace a file unless --force).
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Replace the --output file if it exists.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub aws: AwsArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    Toml,
    Env,
    Github,
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// A job of the dispatcher's allowlist (the one CI deploys): the dispatcher answers a
    /// refusal on that job's queue. Required except with --local.
    #[arg(long)]
    pub job: Option<String>,
    /// How long to wait for the dispatcher's answer, e.g. 20s or 1m.
    #[arg(long, value_name = "DURATION", default_value = "20s")]
    pub wait: String,
    /// Check the local lane (its key, file and in-process dispatcher) instead of AWS.
    #[arg(long)]
    pub local: bool,
    #[command(flatten)]
    pub aws: AwsArgs,
}
