//! `airlock lane config` (the CI side's configuration from the lane stacks' outputs) and
//! `airlock lane doctor` (every link CI relies on, checked with CI's own credentials).

use std::io::Read as _;
use std::process::ExitCode;
use std::time::Duration;

use crate::args::{AwsArgs, ConfigArgs, DoctorArgs, FormatArg, LaneArgs, LaneCommand};
use airlock_lane::doctor::{self, Check, DoctorOptions, PublicKey};
use airlock_lane::setup::{CiSettings, ConfigFormat, Outputs};

/// `lane config`: the outputs are missing, malformed or disagree.
pub const EXIT_BAD_OUTPUTS: u8 = 3;
/// `lane config`: a stack or file could not be read (AWS refused, no such stack, I/O).
pub const EXIT_UNREADABLE: u8 = 4;
/// `lane doctor`: at least one check found a problem.
pub const EXIT_PROBLEMS: u8 = 1;
const EXIT_USAGE: u8 = 2;

pub fn run(args: LaneArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return fail(EXIT_USAGE, format!("starting the async runtime: {e}")),
    };
    match args.command {
        LaneCommand::Config(args) => runtime.block_on(config(args)),
        LaneCommand::Doctor(args) => runtime.block_on(run_doctor(args)),
    }
}

fn fail(code: u8, message: impl std::fmt::Display) -> ExitCode {
    tracing::error!("{message}");
    ExitCode::from(code)
}

async fn config(args: ConfigArgs) -> ExitCode {
    let format = match args.format {
        FormatArg::Toml => ConfigFormat::Toml,
        FormatArg::Env => ConfigFormat::Env,
        FormatArg::Github => ConfigFormat::Github,
    };
    if let Some(path) = &args.output
        && path.exists()
        && !args.force
    {
        return fail(
            EXIT_USAGE,
            format!(
                "--output {}: the file exists; give --force to replace it",
                path.display()
            ),
        );
    }
    let stdin_uses = args
        .outputs
        .iter()
        .chain(&args.terraform_output)
        .filter(|p| p.as_os_str() == "-")
        .count();
    if stdin_uses > 1 {
        return fail(EXIT_USAGE, "only one of the files can be `-` (stdin)");
    }
    let mut sources = Vec::new();
    for (stack, profile) in [
        (&args.stack, None),
        (&args.production_stack, args.production_profile.as_ref()),
        (&args.ci_stack, args.ci_profile.as_ref()),
    ] {
        if let Some(stack) = stack {
            match read_stack(stack, profile, &args.aws).await {
                Ok(outputs) => sources.push(outputs),
                Err(code) => return code,
            }
        }
    }
    for path in &args.outputs {
        let outputs = read_file(path)
            .map_err(|e| fail(EXIT_UNREADABLE, e))
            .and_then(|(text, name)| {
                Outputs::from_cloudformation_json(&text, &name)
                    .map_err(|e| fail(EXIT_BAD_OUTPUTS, e))
            });
        match outputs {
            Ok(outputs) => sources.push(outputs),
            Err(code) => return code,
        }
    }
    if let Some(path) = &args.terraform_output {
        let outputs = read_file(path)
            .map_err(|e| fail(EXIT_UNREADABLE, e))
            .and_then(|(text, name)| {
                Outputs::from_terraform_json(&text, &name).map_err(|e| fail(EXIT_BAD_OUTPUTS, e))
            });
        match outputs {
            Ok(outputs) => sources.push(outputs),
            Err(code) => return code,
        }
    }
    if sources.is_empty() {
        return fail(
            EXIT_USAGE,
            "no outputs to read: give --stack, --production-stack and --ci-stack, --outputs FILE \
             or --terraform-output FILE",
        );
    }
    let settings = match CiSettings::from_outputs(&sources) {
        Ok(settings) => settings,
        Err(e) => return fail(EXIT_BAD_OUTPUTS, e),
    };
    let text = settings.render(format);
    match &args.output {
        None => {
            use std::io::Write as _;
            let mut out = std::io::stdout().lock();
            if let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
                return fail(EXIT_UNREADABLE, format!("writing the configuration: {e}"));
            }
        }
        Some(path) => {
            if let Err(e) = std::fs::write(path, &text) {
                return fail(EXIT_UNREADABLE, format!("writing {}: {e}", path.display()));
            }
            tracing::info!("wrote the lane's CI configuration to {}", path.display());
        }
    }
    ExitCode::SUCCESS
}

/// A file's text and the name messages give it; `-` is stdin.
fn read_file(path: &std::path::Path) -> Result<(String, String), String> {
    if path.as_os_str() == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| format!("reading stdin: {e}"))?;
        return Ok((text, "(stdin)".to_string()));
    }
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok((text, path.display().to_string()))
}

#[cfg(feature = "aws")]
async fn read_stack(
    stack: &str,
    profile: Option<&String>,
    aws: &AwsArgs,
) -> Result<Outputs, ExitCode> {
    let mut options = aws.options();
    if let Some(profile) = profile {
        options.profile = Some(profile.clone());
    }
    let sdk = airlock_aws::load(&options).await;
    let values = airlock_lane::aws::stack_outputs(&sdk, stack)
        .await
        .map_err(|e| fail(EXIT_UNREADABLE, e))?;
    Ok(Outputs {
        source: format!("CloudFormation stack {stack:?}"),
        naming: airlock_lane::setup::Naming::CloudFormation,
        values,
    })
}

#[cfg(not(feature = "aws"))]
async fn read_stack(
    stack: &str,
    _profile: Option<&String>,
    _aws: &AwsArgs,
) -> Result<Outputs, ExitCode> {
    Err(fail(
        EXIT_USAGE,
        format!(
            "--stack {stack}: this airlock was built without AWS support (cargo feature `aws`); \
             give the outputs as a file with --outputs"
        ),
    ))
}

async fn run_doctor(args: DoctorArgs) -> ExitCode {
    let wait = match crate::deploy::parse_duration(&args.wait) {
        Ok(wait) => wait,
        Err(e) => return fail(EXIT_USAGE, format!("--wait: {e}")),
    };
    let config = match crate::deploy::load_config(|name| std::env::var(name).ok()) {
        Ok(config) => config,
        Err(e) => return fail(EXIT_USAGE, e),
    };
    let report = if args.local {
        doctor_locally(config, args.job, wait).await
    } else {
        doctor_over_aws(&args, &config, wait).await
    };
    let report = match report {
        Ok(report) => report,
        Err(e) => return fail(EXIT_USAGE, e),
    };
    print_report(&report)
}

fn print_report(report: &[Check]) -> ExitCode {
    use std::io::Write as _;
    let problems = report
        .iter()
        .filter(|c| c.verdict == doctor::Verdict::Problem)
        .count();
    let mut text: String = report.iter().map(|c| c.line() + "\n").collect();
    text.push_str(&if problems == 0 {
        "lane doctor: every check passed\n".to_string()
    } else {
        format!("lane doctor: {problems} problem(s)\n")
    });
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
    if doctor::has_problems(report) {
        ExitCode::from(EXIT_PROBLEMS)
    } else {
        ExitCode::SUCCESS
    }
}

fn options(
    job: String,
    wait: Duration,
    trusted_keys_at: &str,
    dispatcher_log: &str,
) -> DoctorOptions {
    DoctorOptions {
        job,
        wait,
        poll_pause: Duration::from_millis(500),
        trusted_keys_at: trusted_keys_at.to_string(),
        dispatcher_log: dispatcher_log.to_string(),
    }
}

#[cfg(feature = "aws")]
async fn doctor_over_aws(
    args: &DoctorArgs,
    config: &airlock_lane::config::LaneConfig,
    wait: Duration,
) -> Result<Vec<Check>, String> {
    use airlock_lane::aws::{KmsSigner, SnsRequestSink, SqsFeedbackSource};
    use airlock_lane::config::{ENV_FEEDBACK_QUEUE_URL, ENV_SIGNING_KEY_ID, ENV_TOPIC_ARN};

    let job = args.job.clone().ok_or(
        "--job: name a job of the dispatcher's allowlist (the one CI deploys); the dispatcher \
         answers the probe on that job's feedback queue",
    )?;
    let topic_arn = crate::deploy::required(&config.topic_arn, "topic_arn", ENV_TOPIC_ARN)?;
    let queue_url = crate::deploy::required(
        &config.feedback_queue_url,
        "feedback_queue_url",
        ENV_FEEDBACK_QUEUE_URL,
    )?;
    let key_id =
        crate::deploy::required(&config.signing_key_id, "signing_key_id", ENV_SIGNING_KEY_ID)?;
    let mut options_aws = args.aws.options();
    options_aws.region = options_aws.region.or_else(|| config.region.clone());
    let sdk = airlock_aws::load(&options_aws).await;
    let sink = SnsRequestSink::new(&sdk, topic_arn);
    let signer = KmsSigner::new(&sdk, key_id);
    // Nothing received is hidden from a follower that is running meanwhile.
    let source = SqsFeedbackSource::new(&sdk, queue_url).with_visibility_timeout(Duration::ZERO);
    let public_key = PublicKey::Fetched(signer.public_key_der().await);
    let options = options(
        job,
        wait,
        "[dispatch.keys] of the dispatcher's configuration, which the production stack fills \
         from its signing public key parameter",
        "the dispatcher's log group in the production account (/aws/lambda/<DispatcherFunctionName>)",
    );
    Ok(doctor::examine(&sink, &signer, &source, public_key, &options).await)
}

#[cfg(not(feature = "aws"))]
async fn doctor_over_aws(
    _args: &DoctorArgs,
    _config: &airlock_lane::config::LaneConfig,
    _wait: Duration,
) -> Result<Vec<Check>, String> {
    Err("this airlock was built without AWS support (cargo feature `aws`); use --local".into())
}

/// The local lane: its key, its file and a dispatcher in this process, as `deploy --local`.
async fn doctor_locally(
    config: airlock_lane::config::LaneConfig,
    job: Option<String>,
    wait: Duration,
) -> Result<Vec<Check>, String> {
    let local = crate::deploy::LocalSession::start(config).await?;
    let source = local.feedback().with_visibility_timeout(Duration::ZERO);
    let public_key = PublicKey::Known(*local.signer.verifying_key());
    let options = options(
        job.unwrap_or_else(|| "airlock-doctor".to_string()),
        wait,
        "the local lane trusts only its own key ([lane.local] key)",
        "this command's own log (-v)",
    );
    let report = doctor::examine(
        &local.lane.requests(),
        &local.signer,
        &source,
        public_key,
        &options,
    )
    .await;
    local.stop().await;
    Ok(report)
}
