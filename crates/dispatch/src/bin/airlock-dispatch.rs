//! The dispatcher Lambda's bootstrap: reads the configuration once at cold start, then serves
//! invocations through the Lambda runtime API (`lambda_runtime`).
//!
//! Environment:
//! - `AIRLOCK_DISPATCH_CONFIG`: path of the TOML configuration (in the deployment package), or
//! - `AIRLOCK_DISPATCH_CONFIG_SSM`: name of an SSM parameter holding it.
//! - The standard AWS settings (region, credentials, `AWS_ENDPOINT_URL`, …).
//!
//! Exit codes before the runtime starts: 2 for a configuration error (it is printed, naming the
//! file or parameter), 1 when the runtime fails.
#![forbid(unsafe_code)]

use std::process::ExitCode;
use std::sync::Arc;

use airlock_dispatch::aws::{AwsPorts, config_from_ssm};
use airlock_dispatch::event::{self, Item};
use airlock_dispatch::{Decision, DispatchConfig, Dispatcher};
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::{Value, json};

const ENV_CONFIG: &str = "AIRLOCK_DISPATCH_CONFIG";
const ENV_CONFIG_SSM: &str = "AIRLOCK_DISPATCH_CONFIG_SSM";
/// The variables `lambda_runtime` requires (it panics without them).
const RUNTIME_ENV: [&str; 4] = [
    "AWS_LAMBDA_RUNTIME_API",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION",
];

fn main() -> ExitCode {
    // Logs go to stderr as JSON; stdout carries only the audit lines.
    tracing_subscriber::fmt()
        .json()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("AIRLOCK_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("airlock-dispatch: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    runtime.block_on(serve())
}

async fn serve() -> ExitCode {
    if let Some(missing) = RUNTIME_ENV.iter().find(|v| std::env::var_os(v).is_none()) {
        eprintln!(
            "airlock-dispatch: {missing} is not set; this binary runs inside AWS Lambda (or under a runtime API emulator)"
        );
        return ExitCode::from(2);
    }
    let sdk = airlock_aws::load(&airlock_aws::AwsOptions::default()).await;
    let (text, source) = match (std::env::var(ENV_CONFIG), std::env::var(ENV_CONFIG_SSM)) {
        (Ok(path), _) if !path.is_empty() => match std::fs::read_to_string(&path) {
            Ok(text) => (text, path),
            Err(e) => {
                eprintln!("airlock-dispatch: {path}: cannot read the configuration: {e}");
                return ExitCode::from(2);
            }
        },
        (_, Ok(name)) if !name.is_empty() => match config_from_ssm(&sdk, &name).await {
            Ok(text) => (text, format!("ssm:{name}")),
            Err(e) => {
                eprintln!("airlock-dispatch: ssm:{name}: {e}");
                return ExitCode::from(2);
            }
        },
        _ => {
            eprintln!(
                "airlock-dispatch: set {ENV_CONFIG} (a file) or {ENV_CONFIG_SSM} (an SSM parameter)"
            );
            return ExitCode::from(2);
        }
    };
    let config = match DispatchConfig::parse(&text, &source) {
        Ok(config) => Arc::new(config),
        Err(e) => {
            eprintln!("airlock-dispatch: {e}");
            return ExitCode::from(2);
        }
    };
    let ports = AwsPorts::new(&sdk, &config.table);
    let dispatcher = Arc::new(Dispatcher::new(config, ports));
    tracing::info!(config = %source, "airlock-dispatch ready");
    let result = lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let dispatcher = Arc::clone(&dispatcher);
        async move { handle(&dispatcher, &event.payload).await }
    }))
    .await;
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("airlock-dispatch: the Lambda runtime failed: {e}");
            ExitCode::from(1)
        }
    }
}

/// Handles every item of one event. A dependency failure fails the invocation, so that Lambda
/// retries it; every step already taken is idempotent.
async fn handle(
    dispatcher: &Dispatcher<AwsPorts>,
    payload: &Value,
) -> Result<Value, lambda_runtime::Error> {
    let mut decisions: Vec<Decision> = Vec::new();
    for item in event::items(payload) {
        let decision = match item {
            Item::Envelope { body, .. } => dispatcher.handle_envelope(&body).await,
            Item::Stopped(task) => dispatcher.handle_stopped(&task).await,
            Item::Other { reason } => Ok(Decision::Ignored { reason }),
        };
        match decision {
            Ok(decision) => decisions.push(decision),
            Err(e) => {
                tracing::error!(error = %e, "a dependency failed; the invocation will be retried");
                return Err(e.to_string().into());
            }
        }
    }
    Ok(json!({ "decisions": decisions }))
}
