//! `airlock lane doctor`: checks, with CI's own credentials and configuration, every link CI
//! relies on, and says for each broken one what to change.
//!
//! 1. The key signs (`kms:Sign`, `ECDSA_SHA_256`, the payload's SHA-256 as a DIGEST message,
//!    through the same signer `airlock deploy` uses), and its public key
//!    (`kms:GetPublicKey`, when CI may read it) verifies that signature here.
//! 2. The feedback queue answers a `ReceiveMessage`. The caller's source must not hide what it
//!    receives (SQS: `VisibilityTimeout=0`), so a follower that is running meanwhile loses
//!    nothing.
//! 3. The whole loop: a signed deploy request whose validity window ended an hour ago goes to
//!    the topic. Every dispatcher checks the envelope, the key and the signature before the
//!    window, and refuses an expired request with `Rejected{expired}` addressed to its request
//!    id, on the queue of the job it names (`crate::checks`, the dispatcher's `refuse`). So
//!    that answer proves the publish, the subscription, the dispatcher's trust in this key and
//!    the queue it answers on; `unknown_key` or `bad_signature` means it does not trust this
//!    key. The probe cannot start anything: it is expired by an hour (SigV4 already refuses
//!    clocks 5 minutes off), and should a dispatcher's clock be that wrong, its parameter
//!    `AIRLOCK_DOCTOR_PROBE` is refused by every job's schema (no job may declare an
//!    `AIRLOCK_` parameter) before the lane lock or RunTask. The window is checked before the
//!    nonce, so the probe leaves no nonce record either.
//!
//! The AWS dispatcher answers refusals only for jobs in its allowlist (the job names the
//! queue), so the probe names a job CI really deploys.

use std::collections::BTreeMap;
use std::time::Duration;

use airlock_protocol::{DeployRequest, Feedback, FeedbackBody, PROTOCOL_VERSION, SignedRequest};
use p256::ecdsa::VerifyingKey;
use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;
use tokio::time::Instant;

use crate::transport::{FeedbackSource, RequestSigner, RequestSink, TransportError};
use airlock_admission::codes;

/// The probe's parameter: no job can accept it, so the probe can never run.
pub const PROBE_PARAM: &str = "AIRLOCK_DOCTOR_PROBE";
/// How long ago the probe's validity window ended.
pub const PROBE_EXPIRED_FOR: Duration = Duration::from_secs(3600);
/// The default wait for the dispatcher's answer (`--wait`).
pub const DEFAULT_WAIT: Duration = Duration::from_secs(20);

/// How one check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Ok,
    /// Broken: CI cannot deploy until the fix is applied.
    Problem,
    /// Not checked (what it needs failed earlier, or CI may not ask).
    Skipped,
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// What was checked: `kms:Sign`, `sqs:ReceiveMessage`, `dispatcher`, …
    pub what: &'static str,
    pub verdict: Verdict,
    pub detail: String,
    /// What to change, for problems.
    pub fix: Option<String>,
}

impl Check {
    fn ok(what: &'static str, detail: impl Into<String>) -> Check {
        Check {
            what,
            verdict: Verdict::Ok,
            detail: detail.into(),
            fix: None,
        }
    }
    fn problem(what: &'static str, detail: impl Into<String>, fix: impl Into<String>) -> Check {
        Check {
            what,
            verdict: Verdict::Problem,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }
    fn skipped(what: &'static str, detail: impl Into<String>) -> Check {
        Check {
            what,
            verdict: Verdict::Skipped,
            detail: detail.into(),
            fix: None,
        }
    }

    /// `ok       kms:Sign  key … signed` / `PROBLEM  … fix: …`, one line.
    pub fn line(&self) -> String {
        let label = match self.verdict {
            Verdict::Ok => "ok",
            Verdict::Problem => "PROBLEM",
            Verdict::Skipped => "skipped",
        };
        let mut line = format!("{label:<8} {:<18} {}", self.what, self.detail);
        if let Some(fix) = &self.fix {
            line.push_str(" -- fix: ");
            line.push_str(fix);
        }
        line
    }
}

/// The signing key's public half, as the caller could get it.
#[derive(Debug, Clone)]
pub enum PublicKey {
    /// `kms:GetPublicKey`'s answer (SubjectPublicKeyInfo DER), or why there is none.
    Fetched(Result<Vec<u8>, TransportError>),
    /// The local lane's key.
    Known(VerifyingKey),
}

/// What the lane is, for the messages' fixes.
#[derive(Debug, Clone)]
pub struct DoctorOptions {
    /// The job the probe names: one in the dispatcher's allowlist.
    pub job: String,
    /// How long to wait for the dispatcher's answer.
    pub wait: Duration,
    /// Between receives that brought only other requests' messages.
    pub poll_pause: Duration,
    /// Where the dispatcher trusts keys (the fix for `unknown_key`).
    pub trusted_keys_at: String,
    /// Where the dispatcher logs (the fix for no answer).
    pub dispatcher_log: String,
}

/// A deploy request for `job` whose window ended [`PROBE_EXPIRED_FOR`] before `now`.
pub fn probe_request(job: &str, now: OffsetDateTime) -> DeployRequest {
    let expires_at = now - PROBE_EXPIRED_FOR;
    DeployRequest {
        v: PROTOCOL_VERSION,
        request_id: format!("airlock-doctor-{}", crate::trigger::new_request_id()),
        job: job.to_string(),
        params: BTreeMap::from([(PROBE_PARAM.to_string(), "1".to_string())]),
        image: None,
        requester: crate::trigger::requester_from_process_env(),
        issued_at: expires_at - crate::trigger::REQUEST_LIFETIME,
        expires_at,
        nonce: crate::trigger::new_nonce(),
        timeout_secs: Some(1),
    }
}

/// Runs every check; the report lists them in order.
pub async fn examine<K, G, S>(
    sink: &K,
    signer: &G,
    source: &S,
    public_key: PublicKey,
    options: &DoctorOptions,
) -> Vec<Check>
where
    K: RequestSink,
    G: RequestSigner,
    S: FeedbackSource,
{
    let mut report = Vec::new();
    let key_id = signer.key_id().to_string();
    let request = probe_request(&options.job, OffsetDateTime::now_utc());
    let payload = SignedRequest::deploy_payload(&request);

    let envelope = match signer.sign(&payload).await {
        Ok(signature) => {
            report.push(Check::ok(
                "kms:Sign",
                format!("key {key_id} signed the probe request (ECDSA_SHA_256, DIGEST)"),
            ));
            Some(SignedRequest::new(
                airlock_protocol::RequestKind::Deploy,
                &payload,
                &key_id,
                &signature,
            ))
        }
        Err(error) => {
            report.push(Check::problem(
                "kms:Sign",
                format!("key {key_id} did not sign: {error}"),
                "CI's role needs kms:Sign on this key (kms:SigningAlgorithm ECDSA_SHA_256, \
                 kms:MessageType DIGEST), and AIRLOCK_LANE_SIGNING_KEY_ID / [lane] signing_key_id \
                 must be the CI stack's SigningKeyArn (`airlock lane config` writes it)",
            ));
            None
        }
    };
    report.push(check_public_key(public_key, envelope.as_ref(), &key_id));

    let queue_ok = match source.receive(1, Duration::ZERO).await {
        Ok(_) => {
            report.push(Check::ok(
                "sqs:ReceiveMessage",
                "the feedback queue answers (nothing was hidden from a running follower)",
            ));
            true
        }
        Err(error) => {
            report.push(Check::problem(
                "sqs:ReceiveMessage",
                format!("the feedback queue refused: {error}"),
                "CI's role needs sqs:ReceiveMessage and sqs:DeleteMessage on the queue, the \
                 queue's policy must allow CI's role, and AIRLOCK_LANE_FEEDBACK_QUEUE_URL must \
                 be the production stack's FeedbackQueueUrl",
            ));
            false
        }
    };

    let Some(envelope) = envelope else {
        report.push(Check::skipped(
            "sns:Publish",
            "nothing to publish without a signature",
        ));
        report.push(Check::skipped("dispatcher", "needs a signed probe"));
        return report;
    };
    match sink.publish(&envelope.to_json()).await {
        Ok(message_id) => report.push(Check::ok(
            "sns:Publish",
            format!(
                "probe {} (job {}, expired {} s ago) published, message id {message_id}",
                request.request_id,
                request.job,
                PROBE_EXPIRED_FOR.as_secs()
            ),
        )),
        Err(error) => {
            report.push(Check::problem(
                "sns:Publish",
                format!("the topic refused: {error}"),
                "CI's role needs sns:Publish on the topic, the topic's policy must allow CI's \
                 role (and kms:GenerateDataKey/Decrypt on the topic's key), and \
                 AIRLOCK_LANE_TOPIC_ARN must be the production stack's TopicArn",
            ));
            report.push(Check::skipped("dispatcher", "the probe was not published"));
            return report;
        }
    }
    if !queue_ok {
        report.push(Check::skipped(
            "dispatcher",
            "its answer cannot be read from the queue",
        ));
        return report;
    }
    report.push(await_answer(source, &request, &key_id, options).await);
    report
}

fn check_public_key(
    public_key: PublicKey,
    envelope: Option<&SignedRequest>,
    key_id: &str,
) -> Check {
    const WHAT: &str = "kms:GetPublicKey";
    let key = match public_key {
        PublicKey::Known(key) => key,
        PublicKey::Fetched(Ok(der)) => {
            match airlock_protocol::signing::public_key_from_der_or_pem(&der) {
                Ok(key) => key,
                Err(error) => {
                    return Check::problem(
                        WHAT,
                        format!("key {key_id}: {error}"),
                        "the lane's key must be an asymmetric KMS key of spec ECC_NIST_P256 \
                         with usage SIGN_VERIFY (the CI stack creates one)",
                    );
                }
            }
        }
        PublicKey::Fetched(Err(error)) if is_access_denied(&error) => {
            return Check::skipped(
                WHAT,
                format!(
                    "CI may not read key {key_id}'s public key ({}); the dispatcher's answer \
                     below checks the signature instead",
                    error.operation
                ),
            );
        }
        PublicKey::Fetched(Err(error)) => {
            return Check::problem(
                WHAT,
                format!("key {key_id}: {error}"),
                "AIRLOCK_LANE_SIGNING_KEY_ID must name an existing key in CI's account and region",
            );
        }
    };
    let fingerprint = fingerprint(&key);
    let Some(envelope) = envelope else {
        return Check::skipped(
            WHAT,
            format!("public key sha256:{fingerprint}; no signature to verify"),
        );
    };
    match envelope.verify(&key) {
        Ok(_) => Check::ok(
            WHAT,
            format!("the public key (sha256:{fingerprint}) verifies that signature here"),
        ),
        Err(error) => Check::problem(
            WHAT,
            format!(
                "the public key (sha256:{fingerprint}) does not verify the key's own signature: {error}"
            ),
            "the lane's key must be ECC_NIST_P256 and sign with ECDSA_SHA_256",
        ),
    }
}

/// SHA-256 of the key's SEC1 point, in hex: short enough to compare by eye with the key the
/// dispatcher is configured with.
pub fn fingerprint(key: &VerifyingKey) -> String {
    let digest = Sha256::digest(key.to_encoded_point(false).as_bytes());
    digest.iter().take(12).map(|b| format!("{b:02x}")).collect()
}

fn is_access_denied(error: &TransportError) -> bool {
    ["AccessDenied", "not authorized", "UnauthorizedOperation"]
        .iter()
        .any(|needle| error.message.contains(needle))
}

async fn await_answer<S: FeedbackSource>(
    source: &S,
    request: &DeployRequest,
    key_id: &str,
    options: &DoctorOptions,
) -> Check {
    const WHAT: &str = "dispatcher";
    let started = Instant::now();
    let deadline = started + options.wait;
    loop {
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        let wait = (deadline - now).min(Duration::from_secs(5));
        let messages = match source.receive(10, wait).await {
            Ok(messages) => messages,
            Err(error) if error.retryable => {
                tokio::time::sleep(options.poll_pause).await;
                continue;
            }
            Err(error) => {
                return Check::problem(
                    WHAT,
                    format!("reading the answer failed: {error}"),
                    "see sqs:ReceiveMessage above",
                );
            }
        };
        let mut answer = None;
        let mut ours = Vec::new();
        for message in &messages {
            let Ok(feedback) = Feedback::from_json(&message.body) else {
                continue;
            };
            if feedback.request_id != request.request_id {
                continue;
            }
            ours.push(message.handle.clone());
            answer.get_or_insert(feedback);
        }
        if !ours.is_empty() {
            // The answer was for us only; a failed delete leaves it to the queue's retention.
            if let Err(error) = source.delete(&ours).await {
                tracing::warn!(request_id = %request.request_id, %error, "deleting the dispatcher's answer failed");
            }
        }
        if let Some(answer) = answer {
            return judge(answer, started.elapsed(), request, key_id, options);
        }
        if !messages.is_empty() {
            // Only other requests' messages, still visible: do not spin on them.
            tokio::time::sleep(options.poll_pause).await;
        }
    }
    Check::problem(
        WHAT,
        format!(
            "no answer to probe {} within {} s",
            request.request_id,
            options.wait.as_secs()
        ),
        format!(
            "the dispatcher is not subscribed to the topic, is failing, answers on another \
             queue than this one, or has no job {:?} in its allowlist and a queue per job (then a \
             refusal for an unknown job has no queue to go to); look at {}",
            request.job, options.dispatcher_log
        ),
    )
}

fn judge(
    answer: Feedback,
    took: Duration,
    request: &DeployRequest,
    key_id: &str,
    options: &DoctorOptions,
) -> Check {
    const WHAT: &str = "dispatcher";
    let took = format!("{:.1} s", took.as_secs_f64());
    match answer.body {
        FeedbackBody::Rejected { code, .. } if code == codes::EXPIRED => Check::ok(
            WHAT,
            format!(
                "answered Rejected{{expired}} in {took}: it trusts key {key_id}, verified the \
                 signature and answers job {} on this queue",
                request.job
            ),
        ),
        FeedbackBody::Rejected { code, reason }
            if code == codes::UNKNOWN_KEY || code == codes::BAD_SIGNATURE =>
        {
            Check::problem(
                WHAT,
                format!(
                    "answered Rejected{{{code}}} in {took}: it does not trust key {key_id} ({reason})"
                ),
                format!(
                    "give the dispatcher this key's ARN and public key ({}; \
                     `aws kms get-public-key --key-id {key_id}` prints it)",
                    options.trusted_keys_at
                ),
            )
        }
        FeedbackBody::Rejected { code, reason } => Check::problem(
            WHAT,
            format!(
                "answered Rejected{{{code}}} in {took} instead of expired: it verified the \
                 signature, but its clock or version is not what CI's is ({reason})"
            ),
            "check the dispatcher's version and the clocks of CI and the dispatcher",
        ),
        other => Check::problem(
            WHAT,
            format!("answered {other:?} to an expired probe"),
            "the dispatcher must refuse expired requests: update it",
        ),
    }
}

/// Whether the report has a problem (exit code).
pub fn has_problems(report: &[Check]) -> bool {
    report.iter().any(|c| c.verdict == Verdict::Problem)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_probe_is_expired_long_ago_and_carries_a_parameter_no_job_accepts() {
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).expect("time");
        let probe = probe_request("web", now);
        assert_eq!(probe.job, "web");
        assert!(probe.request_id.starts_with("airlock-doctor-"));
        assert!(airlock_admission::checks::valid_request_id(
            &probe.request_id
        ));
        let refusal =
            airlock_admission::checks::check_window(probe.issued_at, probe.expires_at, now)
                .expect_err("expired");
        assert_eq!(refusal.code, codes::EXPIRED);
        // Even a clock 59 minutes behind sees it expired.
        let behind = now - time::Duration::minutes(59);
        assert_eq!(
            airlock_admission::checks::check_window(probe.issued_at, probe.expires_at, behind)
                .expect_err("expired")
                .code,
            codes::EXPIRED
        );
        airlock_admission::checks::check_nonce_format(&probe.nonce).expect("a valid nonce");
        assert!(probe.params.contains_key(PROBE_PARAM));
        // No job's schema can hold it: the configuration refuses AIRLOCK_ parameters.
        let config = crate::config::LaneConfig::parse(
            "[lane.jobs.web]\ncommand = [\"true\"]\n[lane.jobs.web.params.AIRLOCK_DOCTOR_PROBE]\n",
            "airlock.toml",
            std::path::Path::new("."),
        );
        assert!(config.is_err(), "a job declared the probe's parameter");
    }

    #[test]
    fn report_lines_say_what_and_how_to_fix() {
        let line =
            Check::problem("sns:Publish", "the topic refused: AccessDenied", "allow it").line();
        assert_eq!(
            line,
            "PROBLEM  sns:Publish        the topic refused: AccessDenied -- fix: allow it"
        );
        assert!(has_problems(&[
            Check::ok("a", "b"),
            Check::problem("c", "d", "e")
        ]));
        assert!(!has_problems(&[
            Check::ok("a", "b"),
            Check::skipped("c", "d")
        ]));
    }
}
