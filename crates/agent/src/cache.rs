//! The credential cache and its refresher.
//!
//! One task, the refresher, is the only caller of the credential source. That makes
//! single-flight hold by construction: however many requests arrive while the cache is cold,
//! they all wait for the one AssumeRole in flight, never start their own. The refresher:
//! - fetches at once on start;
//! - after a success, sleeps until a jittered point between 40% and 60% of the credentials'
//!   lifetime, so a fleet of agents started together spreads its calls, and served credentials
//!   always keep at least 40% of their lifetime (24 minutes of an hour) while STS answers;
//! - after a failure, retries with exponential backoff and jitter, and meanwhile the
//!   still-valid credentials keep being served;
//! - never lets expired credentials out: [`CredentialCache::valid`] checks expiry on every read.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::sync::watch;

use crate::clock::Clock;
use crate::credentials::{Issued, rfc3339_seconds};
use crate::metrics::{Gauges, Metrics};
use crate::source::{CredentialSource, FetchError};

/// When to refresh and how to retry.
#[derive(Debug, Clone)]
pub struct RefreshPolicy {
    /// Refresh once a fraction of the lifetime drawn uniformly from this range has passed.
    pub refresh_after: (f64, f64),
    /// The first retry waits about this long; each failure doubles it, up to `backoff_max`.
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// Seed for the jitter; `None` draws one from the OS. Tests fix it to replay a run.
    pub seed: Option<u64>,
}

impl Default for RefreshPolicy {
    fn default() -> Self {
        RefreshPolicy {
            refresh_after: (0.4, 0.6),
            backoff_base: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
            seed: None,
        }
    }
}

impl RefreshPolicy {
    /// When credentials should be replaced: `obtained_at + fraction × lifetime`.
    pub fn refresh_time(&self, issued: &Issued, rng: &mut impl Rng) -> SystemTime {
        let (low, high) = self.refresh_after;
        let fraction = if high > low {
            rng.random_range(low..high)
        } else {
            low
        };
        issued.obtained_at + issued.lifetime().mul_f64(fraction)
    }

    /// "Equal jitter": half the exponential step, plus a random part of the other half, so
    /// retries from many agents spread out but never collapse to zero delay.
    pub fn backoff(&self, consecutive_failures: u32, rng: &mut impl Rng) -> Duration {
        let exponent = consecutive_failures.saturating_sub(1).min(16);
        let step = self
            .backoff_base
            .saturating_mul(1 << exponent)
            .min(self.backoff_max);
        step / 2 + step.mul_f64(rng.random_range(0.0..0.5))
    }
}

/// What the refresher last did.
#[derive(Debug, Clone, Default)]
pub struct Status {
    pub current: Option<Arc<Issued>>,
    pub last_error: Option<FetchError>,
    pub consecutive_failures: u32,
    /// When the refresher will next call the source.
    pub next_attempt: Option<SystemTime>,
    /// Source calls so far, successful or not.
    pub attempts: u64,
}

pub struct CredentialCache {
    clock: Arc<dyn Clock>,
    status: watch::Sender<Status>,
    metrics: Metrics,
}

impl CredentialCache {
    pub fn new(clock: Arc<dyn Clock>) -> Arc<Self> {
        Arc::new(CredentialCache {
            clock,
            status: watch::Sender::new(Status::default()),
            metrics: Metrics::default(),
        })
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    pub fn status(&self) -> Status {
        self.status.borrow().clone()
    }

    /// Held credentials that have not expired.
    pub fn valid(&self) -> Option<Arc<Issued>> {
        let now = self.clock.now();
        self.status
            .borrow()
            .current
            .as_ref()
            .filter(|c| c.valid_at(now))
            .cloned()
    }

    pub fn ready(&self) -> bool {
        self.valid().is_some()
    }

    /// Valid credentials, waiting up to `max_wait` (real time) for the refresher when there
    /// are none yet: the cold-start path, on which requests queue behind the one fetch.
    pub async fn wait_valid(&self, max_wait: Duration) -> Option<Arc<Issued>> {
        if let Some(valid) = self.valid() {
            return Some(valid);
        }
        let mut rx = self.status.subscribe();
        let clock = &self.clock;
        let waited = tokio::time::timeout(
            max_wait,
            rx.wait_for(|s| s.current.as_ref().is_some_and(|c| c.valid_at(clock.now()))),
        )
        .await;
        match waited {
            Ok(Ok(status)) => status.current.clone(),
            _ => None,
        }
    }

    /// Waits (real time) until the refresher has made `attempts` source calls.
    pub async fn wait_attempts(&self, attempts: u64) {
        let mut rx = self.status.subscribe();
        let _ = rx
            .wait_for(|s| s.attempts >= attempts && s.next_attempt.is_some())
            .await;
    }

    pub fn gauges(&self) -> Gauges {
        let now = self.clock.now();
        let valid = self.valid();
        Gauges {
            seconds_to_expiry: valid.as_ref().map(|c| c.remaining_at(now).as_secs_f64()),
            ready: valid.is_some(),
        }
    }

    /// Runs the refresher until the task is dropped or aborted. It is the only caller of
    /// `source`.
    pub async fn run_refresher<S: CredentialSource>(
        self: Arc<Self>,
        source: S,
        policy: RefreshPolicy,
    ) {
        let mut rng = match policy.seed {
            Some(seed) => StdRng::seed_from_u64(seed),
            None => StdRng::from_os_rng(),
        };
        let mut expiry_reported = false;
        loop {
            let result = source.fetch().await;
            let now = self.clock.now();
            let next = match result {
                Ok(issued) if issued.valid_at(now) => {
                    self.metrics.refreshed();
                    expiry_reported = false;
                    let next = policy.refresh_time(&issued, &mut rng).max(now);
                    tracing::info!(
                        role = %issued.assumed_role_arn,
                        expires = %rfc3339_seconds(issued.expiration),
                        next_refresh = %rfc3339_seconds(next),
                        "credentials refreshed"
                    );
                    let issued = Arc::new(issued);
                    self.status.send_modify(|s| {
                        s.current = Some(issued);
                        s.last_error = None;
                        s.consecutive_failures = 0;
                        s.next_attempt = Some(next);
                        s.attempts += 1;
                    });
                    next
                }
                outcome => {
                    let error = match outcome {
                        Err(error) => error,
                        Ok(issued) => FetchError::new(
                            crate::source::FailureKind::Other,
                            format!(
                                "STS returned credentials that expire at {}, not after this host's clock ({}); check the clock",
                                rfc3339_seconds(issued.expiration),
                                rfc3339_seconds(now)
                            ),
                        ),
                    };
                    self.metrics.refresh_failed();
                    let failures = self.status.borrow().consecutive_failures + 1;
                    let delay = policy.backoff(failures, &mut rng);
                    let next = now + delay;
                    let held = self.status.borrow().current.clone();
                    let remaining = held.as_ref().map(|c| c.remaining_at(now));
                    tracing::warn!(
                        error = %error.message,
                        kind = ?error.kind,
                        attempt = failures,
                        retry_in_secs = delay.as_secs_f64(),
                        serving_secs_left = remaining.map(|r| r.as_secs()),
                        "credential refresh failed"
                    );
                    if held.is_some() && remaining == Some(Duration::ZERO) && !expiry_reported {
                        expiry_reported = true;
                        tracing::error!(
                            "credentials expired with no replacement; answering 503 until STS answers"
                        );
                    }
                    self.status.send_modify(|s| {
                        s.last_error = Some(error);
                        s.consecutive_failures = failures;
                        s.next_attempt = Some(next);
                        s.attempts += 1;
                    });
                    next
                }
            };
            self.clock.sleep_until(next).await;
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test's panic is its failure report
mod tests {
    use super::*;

    fn issued(obtained: SystemTime, lifetime: Duration) -> Issued {
        Issued::new(
            "ASIAFAKE".into(),
            "fake".into(),
            "fake".into(),
            obtained + lifetime,
            obtained,
            "arn:aws:sts::123456789012:assumed-role/r/s".into(),
            "123456789012".into(),
        )
    }

    #[test]
    fn refresh_falls_between_40_and_60_percent_of_the_lifetime() {
        let policy = RefreshPolicy::default();
        let mut rng = StdRng::seed_from_u64(7);
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let c = issued(t0, Duration::from_secs(3600));
        let mut seen = (u64::MAX, 0);
        for _ in 0..10_000 {
            let at = policy
                .refresh_time(&c, &mut rng)
                .duration_since(t0)
                .unwrap()
                .as_secs();
            assert!((1440..=2160).contains(&at), "{at}");
            seen = (seen.0.min(at), seen.1.max(at));
        }
        // The jitter really spreads: close to both ends of the range.
        assert!(seen.0 < 1460 && seen.1 > 2140, "{seen:?}");
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_and_never_reaches_zero() {
        let policy = RefreshPolicy::default();
        let mut rng = StdRng::seed_from_u64(1);
        for _ in 0..1000 {
            let first = policy.backoff(1, &mut rng);
            assert!(first >= Duration::from_millis(500) && first < Duration::from_secs(1));
            let fourth = policy.backoff(4, &mut rng);
            assert!(fourth >= Duration::from_secs(4) && fourth < Duration::from_secs(8));
            let late = policy.backoff(40, &mut rng);
            assert!(late >= Duration::from_secs(30) && late < Duration::from_secs(60));
        }
    }
}
