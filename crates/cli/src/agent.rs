//! `airlock agent` and `airlock agent exec`: wiring of `airlock-agent` to the command line.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use airlock_agent::config::{AssumeConfig, AssumeSettings, RoleSource};
use airlock_agent::exec::ExecOutcome;
use airlock_agent::server::Limits;
use airlock_agent::sts::StsSource;
use airlock_agent::{Agent, Clock, ListenConfig, RefreshPolicy, SystemClock};

use crate::args::{
    AgentArgs, AgentCommand, AgentExecArgs, AgentProbeArgs, AgentServeArgs, AssumeArgs,
};
use crate::exit::Exit;

/// `airlock agent`: the agent could not run (a listener could not bind).
const EXIT_AGENT_FAILED: u8 = 3;
/// `airlock agent exec`: the agent failed before CMD started (no credentials in time), as
/// `env` and `docker run` use 125. 126 and 127 keep their shell meanings.
const EXIT_EXEC_AGENT_FAILED: u8 = 125;

pub fn run(args: Box<AgentArgs>) -> ExitCode {
    let AgentArgs {
        exec: command,
        assume,
        serve: serve_args,
    } = *args;
    match command {
        Some(AgentCommand::Probe(probe_args)) => probe(&probe_args),
        Some(AgentCommand::Exec(exec_args)) => block_on(exec(exec_args)),
        None => block_on(serve(assume, serve_args)),
    }
}

fn block_on(task: impl std::future::Future<Output = ExitCode>) -> ExitCode {
    // Several workers: the endpoint must answer while the refresher waits on STS.
    match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(task),
        Err(e) => usage(format!("starting the async runtime: {e}")),
    }
}

/// Docker's HEALTHCHECK reads 0 as healthy and 1 as unhealthy.
fn probe(args: &AgentProbeArgs) -> ExitCode {
    let url = if args.ready {
        match airlock_agent::probe::readiness_url(&args.url) {
            Ok(url) => url,
            Err(e) => return usage(format!("--url {e}")),
        }
    } else {
        args.url.clone()
    };
    match airlock_agent::probe::probe(&url, Duration::from_secs(args.timeout.max(1))) {
        Ok(()) => Exit::Ok.into(),
        Err(reason) => {
            tracing::error!("unhealthy: {reason}");
            ExitCode::from(1)
        }
    }
}

fn usage(message: impl std::fmt::Display) -> ExitCode {
    tracing::error!("{message}");
    Exit::Usage.into()
}

fn assume_config(args: &AssumeArgs) -> Result<AssumeConfig, String> {
    let role = match (&args.role_arn, &args.role_arn_file) {
        (Some(_), Some(_)) => {
            return Err(
                "both a role ARN (--role-arn or AIRLOCK_ROLE_ARN) and --role-arn-file are given; keep one"
                    .into(),
            );
        }
        (Some(arn), None) => Some(RoleSource::Value(arn.clone())),
        (None, Some(path)) => Some(RoleSource::File(path.clone())),
        (None, None) => None,
    };
    let var = |name: &str| std::env::var(name).ok();
    AssumeSettings {
        role,
        session_name: args.session_name.clone(),
        pod_namespace: var("POD_NAMESPACE"),
        pod_name: var("POD_NAME"),
        hostname: var("HOSTNAME"),
        duration_secs: Some(args.duration),
        session_tags: args.session_tags.clone(),
        source_identity: args.source_identity.clone(),
    }
    .validate()
    .map_err(|e| e.to_string())
}

async fn sts_source(
    args: &AssumeArgs,
    assume: AssumeConfig,
    clock: Arc<dyn Clock>,
) -> Result<StsSource, String> {
    let sdk = airlock_aws::load(&airlock_aws::AwsOptions {
        profile: args.aws.profile.clone(),
        region: args.aws.region.clone(),
        endpoint_url: args.aws.endpoint_url.clone(),
    })
    .await;
    if sdk.region().is_none() {
        return Err(
            "no AWS region: set AWS_REGION, --region or a profile's region (the agent calls its regional STS endpoint)"
                .into(),
        );
    }
    Ok(StsSource::new(&sdk, assume, clock))
}

async fn serve(assume_args: AssumeArgs, args: AgentServeArgs) -> ExitCode {
    let assume = match assume_config(&assume_args) {
        Ok(assume) => assume,
        Err(e) => return usage(e),
    };
    let listen = ListenConfig {
        addr: SocketAddr::new(args.bind, args.port),
        allow_non_loopback: args.allow_non_loopback,
        health_addr: args.health_listen,
        limits: Limits::default(),
    };
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let role = assume.role.to_string();
    let session = assume.session_name.clone();
    let source = match sts_source(&assume_args, assume, clock.clone()).await {
        Ok(source) => source,
        Err(e) => return usage(e),
    };
    let agent = match Agent::start(
        source,
        clock,
        &listen,
        args.token_file.as_deref(),
        args.token_group_readable,
        RefreshPolicy::default(),
    )
    .await
    {
        Ok(agent) => agent,
        Err(e @ airlock_agent::AgentError::Bind { .. }) => {
            tracing::error!("{e}");
            return ExitCode::from(EXIT_AGENT_FAILED);
        }
        Err(e) => return usage(e),
    };
    tracing::info!(
        addr = %agent.addr(),
        url = %agent.credentials_url(),
        health = %agent.health_addr().map(|a| a.to_string()).unwrap_or_default(),
        token_file = %agent.token_path().display(),
        token_generated = agent.token_created(),
        role = %role,
        session = %session,
        "agent listening"
    );
    wait_for_stop_signal().await;
    tracing::info!("stopping");
    agent.shutdown().await;
    Exit::Ok.into()
}

async fn wait_for_stop_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) {
        (Ok(mut int), Ok(mut term)) => {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
        }
        _ => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

async fn exec(args: AgentExecArgs) -> ExitCode {
    let assume = match assume_config(&args.assume) {
        Ok(assume) => assume,
        Err(e) => return usage(e),
    };
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let source = match sts_source(&args.assume, assume, clock.clone()).await {
        Ok(source) => source,
        Err(e) => return usage(e),
    };
    let listen = ListenConfig::ephemeral_loopback();
    let agent = match Agent::start(
        source,
        clock,
        &listen,
        None,
        false,
        RefreshPolicy::default(),
    )
    .await
    {
        Ok(agent) => agent,
        Err(e) => {
            tracing::error!("{e}");
            return ExitCode::from(EXIT_EXEC_AGENT_FAILED);
        }
    };
    let ready_timeout = Duration::from_secs(args.ready_timeout.max(1));
    match airlock_agent::exec::run(agent, &args.command, ready_timeout).await {
        ExecOutcome::Exited(code) => ExitCode::from(code),
        ExecOutcome::AgentFailed(reason) => {
            tracing::error!("the command was not started: {reason}");
            ExitCode::from(EXIT_EXEC_AGENT_FAILED)
        }
        ExecOutcome::NotStarted { code, error } => {
            let program = args.command.first().cloned().unwrap_or_else(OsString::new);
            tracing::error!("cannot run {}: {error}", program.to_string_lossy());
            ExitCode::from(code)
        }
    }
}
