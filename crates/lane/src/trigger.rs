//! The trigger: builds a deploy request from the command line and the CI environment, signs
//! it, publishes it, and follows the deployment to its end, cancelling it on SIGINT/SIGTERM.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Duration;

use airlock_protocol::signing::RequestKind;
use airlock_protocol::{
    CancelRequest, DeployRequest, ImageRef, PROTOCOL_VERSION, ProtocolError, Requester,
    SignedRequest,
};
use time::OffsetDateTime;

use crate::follow::{FollowOptions, FollowOutcome, Follower};
use crate::transport::{FeedbackSource, RequestSigner, RequestSink, TransportError};

/// How long a request stays valid: long enough for SNS, the dispatcher's cold start and clock
/// skew, short enough that a captured request is soon useless.
pub const REQUEST_LIFETIME: Duration = Duration::from_secs(5 * 60);
/// The default cancel grace (`[lane] cancel_grace_secs`).
pub const DEFAULT_CANCEL_GRACE: Duration = Duration::from_secs(60);

/// Why a request could not be built, signed or published.
#[derive(Debug, thiserror::Error)]
pub enum TriggerError {
    #[error("--param {given:?}: {reason}")]
    Param { given: String, reason: String },
    #[error("--job: {0}")]
    Job(String),
    #[error("--image: {0}")]
    Image(ProtocolError),
    #[error("signing request {request_id} with key {key_id}: {source}")]
    Sign {
        request_id: String,
        key_id: String,
        source: TransportError,
    },
    #[error("publishing request {request_id}: {source}")]
    Publish {
        request_id: String,
        source: TransportError,
    },
}

/// What the user asked for on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploySpec {
    pub job: String,
    pub params: BTreeMap<String, String>,
    pub image: Option<ImageRef>,
    /// The job's deadline, in whole seconds (the job's configured timeout caps it).
    pub timeout_secs: Option<u64>,
}

impl DeploySpec {
    /// Checks `--job`, `--param NAME=VALUE`s and `--image` as given.
    pub fn from_args(
        job: &str,
        params: &[String],
        image: Option<&str>,
        timeout: Option<Duration>,
    ) -> Result<DeploySpec, TriggerError> {
        if job.trim().is_empty() {
            return Err(TriggerError::Job("the job name is empty".into()));
        }
        Ok(DeploySpec {
            job: job.to_string(),
            params: parse_params(params)?,
            image: image
                .map(ImageRef::parse)
                .transpose()
                .map_err(TriggerError::Image)?,
            // A deadline under a second would round to "no deadline"; round up instead.
            timeout_secs: timeout.map(|t| t.as_secs() + u64::from(t.subsec_nanos() > 0)),
        })
    }
}

/// Parses `NAME=VALUE` pairs. Names become the job's environment variables, so they must be
/// `[A-Z_][A-Z0-9_]*`; a value may contain `=` but not NUL (no environment can hold it).
pub fn parse_params(params: &[String]) -> Result<BTreeMap<String, String>, TriggerError> {
    let mut parsed = BTreeMap::new();
    for given in params {
        let fail = |reason: &str| TriggerError::Param {
            given: given.clone(),
            reason: reason.to_string(),
        };
        let (name, value) = given
            .split_once('=')
            .ok_or_else(|| fail("expected NAME=VALUE"))?;
        let mut bytes = name.bytes();
        let name_ok = bytes
            .next()
            .is_some_and(|b| b.is_ascii_uppercase() || b == b'_')
            && bytes.all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
        if !name_ok {
            return Err(fail(
                "the name must be upper-case letters, digits and _, not starting with a digit (it becomes an environment variable)",
            ));
        }
        if value.contains('\0') {
            return Err(fail("the value contains a NUL byte"));
        }
        if parsed.insert(name.to_string(), value.to_string()).is_some() {
            return Err(fail("the parameter is given twice"));
        }
    }
    Ok(parsed)
}

/// Who is asking, from the CI system's environment: GitHub Actions, GitLab CI, Jenkins, or
/// else a person at a terminal (`local`, `$USER`).
pub fn requester_from_env(env: impl Fn(&str) -> Option<String>) -> Requester {
    let get = |name: &str| env(name).filter(|value| !value.is_empty());
    if get("GITHUB_ACTIONS").is_some() {
        let run_url = match (
            get("GITHUB_SERVER_URL"),
            get("GITHUB_REPOSITORY"),
            get("GITHUB_RUN_ID"),
        ) {
            (Some(server), Some(repository), Some(run)) => Some(format!(
                "{}/{repository}/actions/runs/{run}",
                server.trim_end_matches('/')
            )),
            _ => None,
        };
        return Requester {
            ci: "github-actions".into(),
            repository: get("GITHUB_REPOSITORY"),
            commit: get("GITHUB_SHA"),
            run_url,
            actor: get("GITHUB_ACTOR"),
        };
    }
    if get("GITLAB_CI").is_some() {
        return Requester {
            ci: "gitlab-ci".into(),
            repository: get("CI_PROJECT_PATH"),
            commit: get("CI_COMMIT_SHA"),
            // The job's page, where its log (and so the deployment's output) is.
            run_url: get("CI_JOB_URL"),
            actor: get("GITLAB_USER_LOGIN"),
        };
    }
    if get("JENKINS_URL").is_some() {
        return Requester {
            ci: "jenkins".into(),
            repository: get("JOB_NAME"),
            commit: get("GIT_COMMIT"),
            run_url: get("BUILD_URL"),
            // BUILD_USER comes from the build-user-vars plugin; timer-started builds have none.
            actor: get("BUILD_USER"),
        };
    }
    Requester {
        ci: "local".into(),
        actor: get("USER"),
        ..Requester::default()
    }
}

/// [`requester_from_env`] over this process's environment.
pub fn requester_from_process_env() -> Requester {
    requester_from_env(|name| std::env::var(name).ok())
}

/// A fresh request id (UUID v4).
pub fn new_request_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// 128 random bits as 32 lower-case hex digits, from the thread's CSPRNG (seeded by the OS).
pub fn new_nonce() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// A new deploy request, issued `now` and valid for [`REQUEST_LIFETIME`].
pub fn deploy_request(
    spec: &DeploySpec,
    requester: Requester,
    now: OffsetDateTime,
) -> DeployRequest {
    DeployRequest {
        v: PROTOCOL_VERSION,
        request_id: new_request_id(),
        job: spec.job.clone(),
        params: spec.params.clone(),
        image: spec.image.clone(),
        requester,
        issued_at: now,
        expires_at: now + REQUEST_LIFETIME,
        nonce: new_nonce(),
        timeout_secs: spec.timeout_secs,
    }
}

/// [`deploy_request`] issued now.
pub fn deploy_request_now(spec: &DeploySpec, requester: Requester) -> DeployRequest {
    deploy_request(spec, requester, OffsetDateTime::now_utc())
}

/// A request to cancel `deploy`, by the same requester.
pub fn cancel_request(deploy: &DeployRequest, reason: &str, now: OffsetDateTime) -> CancelRequest {
    CancelRequest {
        v: PROTOCOL_VERSION,
        request_id: deploy.request_id.clone(),
        job: deploy.job.clone(),
        requester: deploy.requester.clone(),
        issued_at: now,
        expires_at: now + REQUEST_LIFETIME,
        nonce: new_nonce(),
        reason: reason.to_string(),
    }
}

/// Signs `payload` and wraps it in the envelope.
pub async fn sign<G: RequestSigner>(
    signer: &G,
    kind: RequestKind,
    payload: &[u8],
) -> Result<SignedRequest, TransportError> {
    let signature = signer.sign(payload).await?;
    Ok(SignedRequest::new(
        kind,
        payload,
        signer.key_id(),
        &signature,
    ))
}

/// Signs and publishes a deploy request; returns the transport's message id.
pub async fn publish_deploy<K: RequestSink, G: RequestSigner>(
    sink: &K,
    signer: &G,
    request: &DeployRequest,
) -> Result<String, TriggerError> {
    let payload = SignedRequest::deploy_payload(request);
    publish(
        sink,
        signer,
        RequestKind::Deploy,
        &payload,
        &request.request_id,
    )
    .await
}

/// Signs and publishes a cancel request; returns the transport's message id.
pub async fn publish_cancel<K: RequestSink, G: RequestSigner>(
    sink: &K,
    signer: &G,
    request: &CancelRequest,
) -> Result<String, TriggerError> {
    let payload = SignedRequest::cancel_payload(request);
    publish(
        sink,
        signer,
        RequestKind::Cancel,
        &payload,
        &request.request_id,
    )
    .await
}

async fn publish<K: RequestSink, G: RequestSigner>(
    sink: &K,
    signer: &G,
    kind: RequestKind,
    payload: &[u8],
    request_id: &str,
) -> Result<String, TriggerError> {
    let envelope = sign(signer, kind, payload)
        .await
        .map_err(|source| TriggerError::Sign {
            request_id: request_id.to_string(),
            key_id: signer.key_id().to_string(),
            source,
        })?;
    sink.publish(&envelope.to_json())
        .await
        .map_err(|source| TriggerError::Publish {
            request_id: request_id.to_string(),
            source,
        })
}

/// How to deploy: how to follow, and how long to keep following after a cancel.
#[derive(Debug, Clone)]
pub struct DeployOptions {
    pub follow: FollowOptions,
    pub cancel_grace: Duration,
}

/// Publishes `request`, then follows it to its end. When `options.follow.cancel` fires, it
/// publishes a signed [`CancelRequest`] and keeps following (printing whatever still comes)
/// until the deployment ends or `cancel_grace` passes, and returns
/// [`FollowOutcome::Cancelled`] either way. An error means the request was never published.
pub async fn deploy<K, G, S, O, E>(
    sink: &K,
    signer: &G,
    source: &S,
    request: &DeployRequest,
    options: DeployOptions,
    out: O,
    err: E,
) -> Result<FollowOutcome, TriggerError>
where
    K: RequestSink,
    G: RequestSigner,
    S: FeedbackSource,
    O: Write,
    E: Write,
{
    let mut cancel = options.follow.cancel.clone();
    if cancel.is_fired() {
        // Interrupted before anything was sent: there is nothing to cancel.
        return Ok(FollowOutcome::Cancelled { settled: None });
    }
    let message_id = publish_deploy(sink, signer, request).await?;
    tracing::info!(
        request_id = %request.request_id,
        job = %request.job,
        %message_id,
        "deploy request published"
    );
    let request_id = request.request_id.clone();
    let mut follower = Follower::new(source, &request_id, options.follow, out, err);
    if let Some(outcome) = follower.run_until(cancel.fired()).await {
        return Ok(outcome);
    }

    let grace = options.cancel_grace;
    follower.note(&format!(
        "interrupted: cancelling deployment {request_id}; following for up to {} s more",
        grace.as_secs()
    ));
    let cancel = cancel_request(
        request,
        "airlock deploy got SIGINT or SIGTERM",
        OffsetDateTime::now_utc(),
    );
    match publish_cancel(sink, signer, &cancel).await {
        Ok(message_id) => {
            tracing::info!(%request_id, %message_id, "cancel request published");
        }
        Err(error) => {
            follower.note(&format!(
                "could not send the cancel request, the deployment may run on: {error}"
            ));
        }
    }
    let settled = follower
        .run_until(tokio::time::sleep(grace))
        .await
        .map(Box::new);
    if settled.is_none() {
        follower.note(&format!(
            "deployment {request_id} did not confirm the cancel within {} s; it may still be running",
            grace.as_secs()
        ));
    }
    follower.flush();
    Ok(FollowOutcome::Cancelled { settled })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn params_are_name_value_pairs_with_environment_names() {
        let parsed =
            parse_params(&strings(&["STAGE=prod", "URL=https://x/?a=b", "EMPTY="])).expect("ok");
        assert_eq!(parsed.get("STAGE").map(String::as_str), Some("prod"));
        assert_eq!(
            parsed.get("URL").map(String::as_str),
            Some("https://x/?a=b")
        );
        assert_eq!(parsed.get("EMPTY").map(String::as_str), Some(""));
        for bad in [
            "STAGE",
            "=prod",
            "stage=prod",
            "1STAGE=x",
            "ST-AGE=x",
            "A=\0",
        ] {
            let err = parse_params(&strings(&[bad])).expect_err(bad);
            assert!(err.to_string().contains(&format!("{bad:?}")), "{err}");
        }
        let twice = parse_params(&strings(&["A=1", "A=2"])).expect_err("duplicate");
        assert!(twice.to_string().contains("twice"), "{twice}");
    }

    /// A CI system's environment of `pairs`, as `requester_from_env` reads one.
    fn env_of(pairs: &'static [(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        |name| {
            pairs
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| value.to_string())
        }
    }

    #[test]
    fn requester_comes_from_the_ci_environment() {
        let github = env_of(&[
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_REPOSITORY", "acme/web"),
            ("GITHUB_SHA", "abc123"),
            ("GITHUB_SERVER_URL", "https://github.com/"),
            ("GITHUB_RUN_ID", "77"),
            ("GITHUB_ACTOR", "octocat"),
            ("USER", "runner"),
        ]);
        let requester = requester_from_env(github);
        assert_eq!(requester.ci, "github-actions");
        assert_eq!(requester.repository.as_deref(), Some("acme/web"));
        assert_eq!(requester.commit.as_deref(), Some("abc123"));
        assert_eq!(
            requester.run_url.as_deref(),
            Some("https://github.com/acme/web/actions/runs/77")
        );
        assert_eq!(requester.actor.as_deref(), Some("octocat"));

        let jenkins = env_of(&[
            ("JENKINS_URL", "https://ci.example/"),
            ("JOB_NAME", "web/deploy"),
            ("GIT_COMMIT", "def456"),
            ("BUILD_URL", "https://ci.example/job/web/9/"),
            ("BUILD_USER", "Jane"),
        ]);
        let requester = requester_from_env(jenkins);
        assert_eq!(requester.ci, "jenkins");
        assert_eq!(requester.repository.as_deref(), Some("web/deploy"));
        assert_eq!(requester.commit.as_deref(), Some("def456"));
        assert_eq!(
            requester.run_url.as_deref(),
            Some("https://ci.example/job/web/9/")
        );
        assert_eq!(requester.actor.as_deref(), Some("Jane"));

        let gitlab = env_of(&[
            ("GITLAB_CI", "true"),
            ("CI", "true"),
            ("CI_PROJECT_PATH", "acme/platform/web"),
            ("CI_COMMIT_SHA", "0123abc"),
            (
                "CI_JOB_URL",
                "https://gitlab.example/acme/platform/web/-/jobs/4711",
            ),
            ("GITLAB_USER_LOGIN", "jdoe"),
            ("USER", "gitlab-runner"),
        ]);
        let requester = requester_from_env(gitlab);
        assert_eq!(requester.ci, "gitlab-ci");
        assert_eq!(requester.repository.as_deref(), Some("acme/platform/web"));
        assert_eq!(requester.commit.as_deref(), Some("0123abc"));
        assert_eq!(
            requester.run_url.as_deref(),
            Some("https://gitlab.example/acme/platform/web/-/jobs/4711")
        );
        assert_eq!(requester.actor.as_deref(), Some("jdoe"));

        let local = |name: &str| (name == "USER").then(|| "alice".to_string());
        assert_eq!(
            requester_from_env(local),
            Requester {
                ci: "local".into(),
                actor: Some("alice".into()),
                ..Requester::default()
            }
        );
    }

    #[test]
    fn requests_are_fresh_and_short_lived() {
        let spec = DeploySpec::from_args(
            "deploy-web",
            &strings(&["STAGE=prod"]),
            Some(&format!("registry.example/web@sha256:{}", "a".repeat(64))),
            Some(Duration::from_millis(1500)),
        )
        .expect("spec");
        assert_eq!(spec.timeout_secs, Some(2));
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).expect("time");
        let first = deploy_request(&spec, Requester::default(), now);
        let second = deploy_request(&spec, Requester::default(), now);
        assert_ne!(first.request_id, second.request_id);
        assert_ne!(first.nonce, second.nonce);
        let id = uuid::Uuid::parse_str(&first.request_id).expect("a UUID");
        assert_eq!(id.get_version_num(), 4);
        assert_eq!(first.nonce.len(), 32);
        assert!(first.nonce.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(first.expires_at - first.issued_at, REQUEST_LIFETIME);
        assert_eq!(first.issued_at, now);
        assert_eq!(first.job, "deploy-web");
        assert_eq!(first.image, spec.image);

        let cancel = cancel_request(&first, "SIGINT", now);
        assert_eq!(cancel.request_id, first.request_id);
        assert_ne!(cancel.nonce, first.nonce);
        assert_eq!(cancel.expires_at - cancel.issued_at, REQUEST_LIFETIME);
    }

    #[test]
    fn a_tagged_image_and_an_empty_job_are_refused() {
        let err = DeploySpec::from_args("j", &[], Some("web:latest"), None).expect_err("tag");
        assert!(err.to_string().starts_with("--image"), "{err}");
        let err = DeploySpec::from_args(" ", &[], None, None).expect_err("empty job");
        assert!(err.to_string().starts_with("--job"), "{err}");
    }
}
