//! Diagnostics go to stderr through `tracing`: human-readable by default, one JSON object per
//! line with `--log-format json` (for CloudWatch Logs and log shippers). stdout is reserved
//! for each command's real output (reports, a deployment's stream, completions).

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::args::{ColorChoice, LogFormat};

/// `AIRLOCK_LOG` takes a full filter (`airlock_lane=debug,info`) and overrides `-v`/`-q`.
pub const FILTER_ENV: &str = "AIRLOCK_LOG";

/// The SDK's wire-level targets, which log whole requests and responses at trace level.
/// The agent handles credentials, so for it they never go beyond debug.
const WIRE_TARGETS: &[&str] = &[
    "aws_smithy_runtime",
    "aws_smithy_runtime_api",
    "aws_smithy_http_client",
    "aws_sigv4",
    "hyper",
    "hyper_util",
];

/// The SDK's own crates log at info how they resolved credentials ("loaded assume role
/// credentials" and the like): plumbing, not news, in the middle of `whoami` or a deployment's
/// output. At the default level they say only warnings; `-v` or `AIRLOCK_LOG` shows them.
const SDK_TARGETS: &[&str] = &["aws_config", "aws_runtime", "aws_smithy_runtime"];

pub fn init(
    format: LogFormat,
    level: tracing::Level,
    color: ColorChoice,
    handles_credentials: bool,
) -> Result<(), String> {
    let (mut filter, tracing_asked) = match std::env::var(FILTER_ENV) {
        Ok(spec) if !spec.trim().is_empty() => (
            EnvFilter::try_new(&spec).map_err(|e| format!("invalid {FILTER_ENV}={spec:?}: {e}"))?,
            spec.contains("trace"),
        ),
        _ => {
            let mut filter = EnvFilter::new(level.as_str().to_ascii_lowercase());
            if level == tracing::Level::INFO {
                for target in SDK_TARGETS {
                    if let Ok(directive) = format!("{target}=warn").parse() {
                        filter = filter.add_directive(directive);
                    }
                }
            }
            (filter, level == tracing::Level::TRACE)
        }
    };
    if handles_credentials && tracing_asked {
        for target in WIRE_TARGETS {
            if let Ok(directive) = format!("{target}=debug").parse() {
                filter = filter.add_directive(directive);
            }
        }
    }
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let result = match format {
        LogFormat::Human => builder
            .with_ansi(use_color(color))
            .with_target(false)
            .without_time()
            .try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
    };
    result.map_err(|e| format!("cannot initialise logging: {e}"))
}

/// Colour on a terminal, never when NO_COLOR is set (https://no-color.org), unless forced.
pub fn use_color(choice: ColorChoice) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                && std::io::stderr().is_terminal()
        }
    }
}
