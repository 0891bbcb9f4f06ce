//! `airlock deploy`: the lane's trigger and follower wired to the command line, the
//! `[lane]` configuration, the AWS transports and the process's signals.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use airlock_lane::config::{LaneConfig, config_path};
use airlock_lane::exit;
use airlock_lane::follow::{Cancel, CancelTrigger, FollowOptions, FollowOutcome};
use airlock_lane::trigger::{DeployOptions, DeploySpec};

use crate::args::DeployArgs;

/// Reads the lane configuration: `AIRLOCK_CONFIG` (which must exist) or `./airlock.toml` (if
/// it exists), then the `AIRLOCK_LANE_*` environment overrides.
pub(crate) fn load_config(env: impl Fn(&str) -> Option<String>) -> Result<LaneConfig, String> {
    let explicit = env("AIRLOCK_CONFIG").is_some_and(|p| !p.is_empty());
    let path = config_path(&env);
    let mut config = if explicit || path.is_file() {
        LaneConfig::load(&path).map_err(|e| e.to_string())?
    } else {
        LaneConfig::parse("", "(defaults)", Path::new(".")).map_err(|e| e.to_string())?
    };
    config.apply_env_overrides(&env);
    Ok(config)
}

#[cfg_attr(not(feature = "aws"), allow(dead_code))]
pub(crate) fn required(value: &Option<String>, key: &str, env: &str) -> Result<String, String> {
    value.clone().ok_or_else(|| {
        format!("the lane has no {key}: set `{key}` under [lane] in airlock.toml, or {env}")
    })
}

/// `90`, `90s`, `30m`, `1h30m`, `500ms`: a bare number is seconds.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let invalid = || format!("{text:?} is not a duration (examples: 90, 90s, 30m, 1h30m)");
    let text = text.trim();
    if text.is_empty() {
        return Err(invalid());
    }
    if let Ok(seconds) = text.parse::<u64>() {
        return Ok(Duration::from_secs(seconds));
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(invalid());
        }
        let (number, tail) = rest.split_at(digits);
        let number: u64 = number.parse().map_err(|_| invalid())?;
        let unit_len = tail.bytes().take_while(|b| b.is_ascii_alphabetic()).count();
        let (unit, tail) = tail.split_at(unit_len);
        let part = match unit {
            "h" => Duration::from_secs(number.checked_mul(3600).ok_or_else(invalid)?),
            "m" => Duration::from_secs(number.checked_mul(60).ok_or_else(invalid)?),
            "s" => Duration::from_secs(number),
            "ms" => Duration::from_millis(number),
            _ => return Err(invalid()),
        };
        total = total.checked_add(part).ok_or_else(invalid)?;
        rest = tail;
    }
    Ok(total)
}

fn usage(message: impl std::fmt::Display) -> ExitCode {
    tracing::error!("{message}");
    code(exit::USAGE)
}

fn code(code: i32) -> ExitCode {
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

pub fn run(args: DeployArgs) -> ExitCode {
    let timeout = match args.timeout.as_deref().map(parse_duration).transpose() {
        Ok(timeout) => timeout,
        Err(e) => return usage(format!("--timeout: {e}")),
    };
    let spec = match DeploySpec::from_args(&args.job, &args.params, args.image.as_deref(), timeout)
    {
        Ok(spec) => spec,
        Err(e) => return usage(e),
    };
    let config = match load_config(|name| std::env::var(name).ok()) {
        Ok(config) => config,
        Err(e) => return usage(e),
    };
    let watchdog = match args.watchdog.as_deref().map(parse_duration).transpose() {
        Ok(Some(watchdog)) => watchdog,
        Ok(None) => Duration::from_secs(config.watchdog_secs),
        Err(e) => return usage(format!("--watchdog: {e}")),
    };
    if watchdog.is_zero() {
        return usage("--watchdog: must be longer than zero");
    }
    let cancel_grace = Duration::from_secs(config.cancel_grace_secs);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return usage(format!("starting the async runtime: {e}")),
    };
    let (trigger, cancel) = Cancel::new();
    let options = DeployOptions {
        follow: FollowOptions {
            watchdog,
            timestamps: args.timestamps,
            cancel,
            ..FollowOptions::default()
        },
        cancel_grace,
    };
    runtime.block_on(async move {
        tokio::spawn(forward_signals(trigger));
        if args.local {
            deploy_locally(config, &spec, options).await
        } else {
            deploy_over_aws(&args, &config, &spec, options).await
        }
    })
}

/// SIGINT or SIGTERM cancels the deployment; a second one exits at once.
async fn forward_signals(trigger: CancelTrigger) {
    #[cfg(unix)]
    let mut terminate =
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(signal) => Some(signal),
            Err(e) => {
                tracing::warn!("cannot watch for SIGTERM: {e}");
                None
            }
        };
    for count in 0.. {
        #[cfg(unix)]
        let name = tokio::select! {
            _ = tokio::signal::ctrl_c() => "SIGINT",
            Some(()) = async {
                match terminate.as_mut() {
                    Some(signal) => signal.recv().await,
                    None => std::future::pending().await,
                }
            } => "SIGTERM",
        };
        #[cfg(not(unix))]
        let name = {
            let _ = tokio::signal::ctrl_c().await;
            "Ctrl-C"
        };
        if count == 0 {
            tracing::warn!("{name}: cancelling the deployment (send it again to exit at once)");
            trigger.fire();
        } else {
            tracing::error!("{name} again: exiting without waiting for the deployment to stop");
            std::process::exit(exit::CANCELLED);
        }
    }
}

#[cfg(feature = "aws")]
async fn deploy_over_aws(
    args: &DeployArgs,
    config: &LaneConfig,
    spec: &DeploySpec,
    options: DeployOptions,
) -> ExitCode {
    use airlock_lane::aws::{KmsSigner, SnsRequestSink, SqsFeedbackSource};

    let lane = (|| {
        Ok::<_, String>((
            required(&config.topic_arn, "topic_arn", "AIRLOCK_LANE_TOPIC_ARN")?,
            required(
                &config.feedback_queue_url,
                "feedback_queue_url",
                "AIRLOCK_LANE_FEEDBACK_QUEUE_URL",
            )?,
            required(
                &config.signing_key_id,
                "signing_key_id",
                "AIRLOCK_LANE_SIGNING_KEY_ID",
            )?,
        ))
    })();
    let (topic_arn, queue_url, key_id) = match lane {
        Ok(lane) => lane,
        Err(e) => return usage(e),
    };
    let sdk = airlock_aws::load(&airlock_aws::AwsOptions {
        profile: args.aws.profile.clone(),
        region: args.aws.region.clone().or_else(|| config.region.clone()),
        endpoint_url: args.aws.endpoint_url.clone(),
    })
    .await;
    let sink = SnsRequestSink::new(&sdk, topic_arn);
    let signer = KmsSigner::new(&sdk, key_id);
    let source = SqsFeedbackSource::new(&sdk, queue_url);
    deploy_through(&sink, &signer, &source, spec, options, "").await
}

/// Builds the request, then publishes, follows and reports it through one set of transports.
async fn deploy_through(
    sink: &impl airlock_lane::transport::RequestSink,
    signer: &impl airlock_lane::transport::RequestSigner,
    source: &impl airlock_lane::transport::FeedbackSource,
    spec: &DeploySpec,
    options: DeployOptions,
    how: &str,
) -> ExitCode {
    use std::io::{BufWriter, Write};

    let request = airlock_lane::trigger::deploy_request_now(
        spec,
        airlock_lane::trigger::requester_from_process_env(),
    );
    tracing::info!(
        request_id = %request.request_id,
        job = %request.job,
        "deploying{how} (request {})",
        request.request_id
    );
    let out = BufWriter::with_capacity(64 * 1024, std::io::stdout());
    let err = BufWriter::with_capacity(16 * 1024, std::io::stderr());
    let outcome =
        airlock_lane::trigger::deploy(sink, signer, source, &request, options, out, err).await;
    let _ = std::io::stdout().flush();
    finish(&request.request_id, outcome)
}

fn finish(request_id: &str, outcome: Result<FollowOutcome, impl std::fmt::Display>) -> ExitCode {
    match outcome {
        Ok(outcome) => {
            report(request_id, &outcome);
            code(outcome.exit_code())
        }
        Err(e) => usage(e),
    }
}

/// The whole lane on this machine: the request is signed with the local key and goes into the
/// lane's SQLite file, a dispatcher in this process checks it against `[lane.jobs]` exactly as
/// it would any request and starts `airlock run` as a subprocess, and the follower reads the
/// feedback from the same file.
async fn deploy_locally(config: LaneConfig, spec: &DeploySpec, options: DeployOptions) -> ExitCode {
    if config.jobs.is_empty() {
        return usage(
            "the local lane has no jobs: add [lane.jobs.<name>] to airlock.toml \
             (see examples/lane/airlock.toml) or point AIRLOCK_CONFIG at one",
        );
    }
    let local = match LocalSession::start(config).await {
        Ok(local) => local,
        Err(e) => return usage(e),
    };
    let source = local.feedback();
    let code = deploy_through(
        &local.lane.requests(),
        &local.signer,
        &source,
        spec,
        options,
        " locally",
    )
    .await;
    local.stop().await;
    code
}

/// The local lane's file and key with its dispatcher running in this process.
pub(crate) struct LocalSession {
    pub lane: airlock_lane::local::LocalLane,
    pub signer: airlock_lane::local::signer::LocalSigner,
    dispatcher: std::sync::Arc<airlock_lane::local::dispatch::LocalDispatcher>,
    stop_dispatch: tokio::sync::oneshot::Sender<()>,
    dispatching: tokio::task::JoinHandle<()>,
}

impl LocalSession {
    /// The local lane's one feedback queue (the lane lock keeps requests apart).
    const FEEDBACK_QUEUE: &str = "feedback";
    /// How often the in-process dispatcher looks for a request.
    const DISPATCH_POLL: Duration = Duration::from_millis(20);

    pub async fn start(config: LaneConfig) -> Result<LocalSession, String> {
        use std::sync::Arc;

        use airlock_lane::local::LocalLane;
        use airlock_lane::local::dispatch::{DispatcherSettings, LocalDispatcher};
        use airlock_lane::local::signer::LocalSigner;
        use airlock_lane::transport::RequestSigner;

        let airlock_binary = std::env::current_exe()
            .map_err(|e| format!("cannot find the airlock binary to run jobs with: {e}"))?;
        let signer = LocalSigner::load_or_create(&config.local.key).map_err(|e| e.to_string())?;
        let lane = LocalLane::open(config.local.db.clone())
            .await
            .map_err(|e| e.to_string())?;
        let dispatcher = Arc::new(LocalDispatcher::new(
            lane.clone(),
            DispatcherSettings {
                verifying_key: *signer.verifying_key(),
                key_id: signer.key_id().to_string(),
                config: Arc::new(config),
                airlock_binary,
                feedback_queue: Self::FEEDBACK_QUEUE.to_string(),
            },
        ));
        let (stop_dispatch, stopped) = tokio::sync::oneshot::channel::<()>();
        let dispatching = {
            let dispatcher = Arc::clone(&dispatcher);
            tokio::spawn(async move {
                let shutdown = async {
                    let _ = stopped.await;
                };
                if let Err(e) = dispatcher.run(Self::DISPATCH_POLL, shutdown).await {
                    tracing::error!("local dispatcher: {e}");
                }
            })
        };
        Ok(LocalSession {
            lane,
            signer,
            dispatcher,
            stop_dispatch,
            dispatching,
        })
    }

    pub fn feedback(&self) -> airlock_lane::local::LocalQueue {
        self.lane.queue(Self::FEEDBACK_QUEUE)
    }

    /// Stops the dispatcher and waits for the runners it started.
    pub async fn stop(self) {
        let _ = self.stop_dispatch.send(());
        let _ = self.dispatching.await;
        // The runner has sent Finished; let it exit (and the lane lock go) before we do.
        self.dispatcher.wait_for_jobs().await;
    }
}

#[cfg(not(feature = "aws"))]
async fn deploy_over_aws(
    _args: &DeployArgs,
    _config: &LaneConfig,
    _spec: &DeploySpec,
    _options: DeployOptions,
) -> ExitCode {
    usage("this airlock was built without AWS support (cargo feature `aws`); use --local")
}

/// One closing line on stderr saying how it ended and which exit code follows.
#[cfg_attr(not(feature = "aws"), allow(dead_code))]
fn report(request_id: &str, outcome: &FollowOutcome) {
    let code = outcome.exit_code();
    match outcome {
        FollowOutcome::Finished {
            timed_out: false, ..
        } if code == 0 => tracing::info!("deployment {request_id} succeeded"),
        FollowOutcome::Finished { exit, .. } => {
            let how = match exit {
                airlock_protocol::ExitStatus::Code(n) => format!("the job exited with {n}"),
                airlock_protocol::ExitStatus::Signal(n) => {
                    format!("the job was killed by signal {n}")
                }
            };
            tracing::error!("deployment {request_id} failed: {how} (exit code {code})")
        }
        FollowOutcome::Rejected { code: reason, .. } => {
            tracing::error!("deployment {request_id} was rejected ({reason}); exit code {code}")
        }
        FollowOutcome::TaskStopped { stop_code, .. } => tracing::error!(
            "deployment {request_id}: the task stopped ({stop_code}); exit code {code}"
        ),
        FollowOutcome::LostContact { .. } => {
            tracing::error!("deployment {request_id}: lost contact; exit code {code}")
        }
        FollowOutcome::Cancelled { .. } => {
            tracing::warn!("deployment {request_id} cancelled; exit code {code}")
        }
        FollowOutcome::TransportFailed { message } => {
            tracing::error!("deployment {request_id}: {message}; exit code {code}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_units_and_bare_seconds() {
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("1500ms"), Ok(Duration::from_millis(1500)));
        for bad in ["", "m", "10x", "1.5h", "-3", "h1"] {
            assert!(parse_duration(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn the_environment_overrides_the_file() {
        let dir = std::env::temp_dir().join(format!("airlock-deploy-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("airlock.toml");
        std::fs::write(
            &path,
            r#"
[check]
severity = "high"

[lane]
topic_arn = "arn:aws:sns:eu-west-1:111122223333:from-file"
feedback_queue_url = "https://sqs.eu-west-1.amazonaws.com/111122223333/from-file"
watchdog_secs = 300

[lane.jobs.web]
command = ["deploy.sh"]
"#,
        )
        .expect("write");
        let path_text = path.display().to_string();
        let env = |name: &str| match name {
            "AIRLOCK_CONFIG" => Some(path_text.clone()),
            "AIRLOCK_LANE_TOPIC_ARN" => Some("arn:aws:sns:eu-west-1:111122223333:from-env".into()),
            "AIRLOCK_LANE_SIGNING_KEY_ID" => Some("alias/from-env".into()),
            _ => None,
        };
        let config = load_config(env).expect("config");
        assert_eq!(
            config.topic_arn.as_deref(),
            Some("arn:aws:sns:eu-west-1:111122223333:from-env")
        );
        assert_eq!(
            config.feedback_queue_url.as_deref(),
            Some("https://sqs.eu-west-1.amazonaws.com/111122223333/from-file")
        );
        assert_eq!(config.signing_key_id.as_deref(), Some("alias/from-env"));
        assert_eq!(config.watchdog_secs, 300);
        let _ = std::fs::remove_dir_all(&dir);

        let missing = |name: &str| {
            (name == "AIRLOCK_CONFIG").then(|| "/nonexistent/airlock.toml".to_string())
        };
        let error = load_config(missing).expect_err("missing file");
        assert!(error.contains("/nonexistent/airlock.toml"), "{error}");
        let error = required(&None, "topic_arn", "AIRLOCK_LANE_TOPIC_ARN").expect_err("missing");
        assert!(error.contains("AIRLOCK_LANE_TOPIC_ARN"), "{error}");
    }
}
