//! The refresher over simulated time: a manual clock, and a fake credential source that can
//! be switched into an outage. The HTTP endpoint in the outage test is the real one, on a
//! real loopback socket.

// A test's panics are its failure reports; unwrapping setup steps says no less than expect.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use airlock_agent::credentials::Issued;
use airlock_agent::server::Limits;
use airlock_agent::source::{CredentialSource, FailureKind, FetchError};
use airlock_agent::{Agent, Clock, CredentialCache, ListenConfig, ManualClock, RefreshPolicy};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const HOUR: Duration = Duration::from_secs(3600);
const PROMISED_REMAINING: Duration = Duration::from_secs(15 * 60);

/// 2026-12-01T00:00:00Z
fn start_time() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_083_200)
}

/// Issues credentials valid for `lifetime` from the clock's "now", unless switched off.
#[derive(Clone)]
struct FakeSts {
    clock: ManualClock,
    lifetime: Duration,
    down: Arc<AtomicBool>,
    calls: Arc<AtomicU64>,
    call_times: Arc<Mutex<Vec<SystemTime>>>,
}

impl FakeSts {
    fn new(clock: &ManualClock, lifetime: Duration) -> Self {
        FakeSts {
            clock: clock.clone(),
            lifetime,
            down: Arc::default(),
            calls: Arc::default(),
            call_times: Arc::default(),
        }
    }
}

impl CredentialSource for FakeSts {
    async fn fetch(&self) -> Result<Issued, FetchError> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        let now = self.clock.now();
        self.call_times.lock().unwrap().push(now);
        if self.down.load(Ordering::SeqCst) {
            return Err(FetchError::new(
                FailureKind::Unavailable,
                "AssumeRole failed: dispatch failure: connection refused",
            ));
        }
        Ok(Issued::new(
            format!("ASIAFAKE{n:08}"),
            format!("fake-secret-{n}"),
            format!("fake-token-{n}"),
            now + self.lifetime,
            now,
            "arn:aws:sts::123456789012:assumed-role/orders/test".into(),
            "123456789012".into(),
        ))
    }
}

/// Lets the refresher react to the clock: waits until its next attempt is in the future.
///
/// The bound is wall-clock time, not a number of yields: on a loaded two-core CI machine the
/// refresher's worker thread can be descheduled for longer than thousands of yields take.
async fn settle(cache: &CredentialCache) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let mut spins = 0u32;
    while std::time::Instant::now() < deadline {
        let status = cache.status();
        if status.next_attempt.is_some_and(|t| t > cache.clock().now()) {
            return;
        }
        spins += 1;
        if spins.is_multiple_of(256) {
            tokio::time::sleep(Duration::from_millis(1)).await;
        } else {
            tokio::task::yield_now().await;
        }
    }
    panic!("the refresher did not settle within 30 s of real time");
}

#[tokio::test]
async fn over_48_simulated_hours_served_credentials_keep_15_minutes_and_sts_is_called_once_per_window()
 {
    let clock = ManualClock::new(start_time());
    let sts = FakeSts::new(&clock, HOUR);
    let cache = CredentialCache::new(Arc::new(clock.clone()));
    let policy = RefreshPolicy {
        seed: Some(20261201),
        ..RefreshPolicy::default()
    };
    let refresher = tokio::spawn(cache.clone().run_refresher(sts.clone(), policy));
    cache.wait_attempts(1).await;

    let step = Duration::from_secs(10);
    let simulated = 48 * HOUR;
    let mut least_remaining = Duration::MAX;
    let mut elapsed = Duration::ZERO;
    while elapsed < simulated {
        clock.advance(step);
        elapsed += step;
        settle(&cache).await;
        let served = cache
            .valid()
            .expect("credentials are always held while STS answers");
        let remaining = served.remaining_at(clock.now());
        least_remaining = least_remaining.min(remaining);
        assert!(
            remaining >= PROMISED_REMAINING,
            "at +{}s the served credentials had only {}s left",
            elapsed.as_secs(),
            remaining.as_secs()
        );
    }
    refresher.abort();

    let times = sts.call_times.lock().unwrap().clone();
    let gaps: Vec<u64> = times
        .windows(2)
        .map(|w| w[1].duration_since(w[0]).unwrap().as_secs())
        .collect();
    // One call per refresh window: each 40% to 60% of the lifetime after the one before (the
    // clock moves in 10 s steps, so a call can land up to one step late).
    for gap in &gaps {
        assert!(
            (1440..=2170).contains(gap),
            "a gap of {gap}s between AssumeRole calls"
        );
    }
    let calls = times.len() as u64;
    assert!((80..=121).contains(&calls), "{calls} calls in 48 h");
    // The jitter spreads the calls rather than fixing them at one point.
    let (min, max) = (gaps.iter().min().unwrap(), gaps.iter().max().unwrap());
    assert!(max - min > 300, "gaps from {min}s to {max}s");
    // 40% of an hour: the least any served credential had left.
    assert!(
        least_remaining >= Duration::from_secs(1430),
        "{least_remaining:?}"
    );
    assert_eq!(cache.metrics().refreshes(), calls);
    assert_eq!(cache.metrics().refresh_failures(), 0);
}

/// A loopback listener on a free port, with a short cold wait so a 503 comes quickly.
fn loopback(cold_wait: Duration, health: bool) -> ListenConfig {
    let free = SocketAddr::from(([127, 0, 0, 1], 0));
    ListenConfig {
        addr: free,
        allow_non_loopback: false,
        health_addr: health.then_some(free),
        limits: Limits {
            cold_wait,
            ..Limits::default()
        },
    }
}

async fn start_agent(
    sts: &FakeSts,
    listen: &ListenConfig,
    token: Option<&std::path::Path>,
    policy: RefreshPolicy,
) -> Result<Agent, airlock_agent::AgentError> {
    Agent::start(
        sts.clone(),
        Arc::new(sts.clock.clone()),
        listen,
        token,
        false,
        policy,
    )
    .await
}

/// One GET over a fresh connection; returns the status and the body.
async fn get(addr: SocketAddr, path: &str, token: Option<&str>) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let auth = token
        .map(|t| format!("Authorization: {t}\r\n"))
        .unwrap_or_default();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Connection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {response:?}"));
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

fn access_key(body: &str) -> String {
    let json: serde_json::Value = serde_json::from_str(body).unwrap();
    json["AccessKeyId"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn during_an_sts_outage_valid_credentials_are_served_until_expiry_then_503_and_liveness_stays_200()
 {
    let clock = ManualClock::new(start_time());
    let sts = FakeSts::new(&clock, HOUR);
    let dir = tempfile::tempdir().unwrap();
    let token_path = dir.path().join("token");
    let policy = RefreshPolicy {
        seed: Some(7),
        ..RefreshPolicy::default()
    };
    let listen = loopback(Duration::from_millis(200), false);
    let agent = start_agent(&sts, &listen, Some(&token_path), policy)
        .await
        .unwrap();
    agent.wait_ready(Duration::from_secs(5)).await.unwrap();
    let token = std::fs::read_to_string(&token_path).unwrap();
    let addr = agent.addr();
    let (status, body) = get(addr, "/v1/credentials", Some(&token)).await;
    assert_eq!(status, 200);
    let first_key = access_key(&body);

    // STS goes away for good, right after the first credentials were issued: the outage
    // spans the whole refresh window and the expiry.
    sts.down.store(true, Ordering::SeqCst);
    let step = Duration::from_secs(30);
    let mut elapsed = Duration::ZERO;
    while elapsed + step < HOUR {
        clock.advance(step);
        elapsed += step;
        settle(agent.cache()).await;
        let (status, body) = get(addr, "/v1/credentials", Some(&token)).await;
        assert_eq!(status, 200, "at +{}s: {body}", elapsed.as_secs());
        assert_eq!(
            access_key(&body),
            first_key,
            "the still-valid credentials are served"
        );
        assert_eq!(
            get(addr, "/readyz", None).await.0,
            200,
            "ready until expiry (+{}s)",
            elapsed.as_secs()
        );
        assert_eq!(get(addr, "/healthz", None).await.0, 200);
    }
    let failures_before_expiry = agent.cache().metrics().refresh_failures();
    // Retried with backoff all along, capped at a minute: not once, not in a storm.
    assert!(
        (20..=150).contains(&failures_before_expiry),
        "{failures_before_expiry} failed attempts in the hour"
    );

    // Past the expiry: never an expired credential, 503 instead; liveness unchanged.
    clock.advance(step);
    settle(agent.cache()).await;
    let (status, body) = get(addr, "/v1/credentials", Some(&token)).await;
    assert_eq!(status, 503, "{body}");
    assert!(
        body.contains("CredentialsUnavailable") && body.contains("connection refused"),
        "{body}"
    );
    let (status, body) = get(addr, "/readyz", None).await;
    assert_eq!(status, 503);
    assert!(body.contains("not ready"), "{body}");
    assert_eq!(get(addr, "/healthz", None).await.0, 200);
    let (_, metrics) = get(addr, "/metrics", None).await;
    assert!(metrics.contains("airlock_agent_ready 0"), "{metrics}");
    // The credentials request and the readiness probe just above.
    assert!(
        metrics.contains("airlock_agent_requests_total{status=\"503\"} 2"),
        "{metrics}"
    );

    // STS comes back: the next retry (at most a minute later) restores service.
    sts.down.store(false, Ordering::SeqCst);
    clock.advance(Duration::from_secs(61));
    settle(agent.cache()).await;
    agent
        .cache()
        .wait_valid(Duration::from_secs(5))
        .await
        .expect("new credentials");
    let (status, body) = get(addr, "/v1/credentials", Some(&token)).await;
    assert_eq!(status, 200);
    assert_ne!(access_key(&body), first_key);
    assert_eq!(get(addr, "/readyz", None).await.0, 200);
    agent.shutdown().await;
    assert!(
        !token_path.exists(),
        "the generated token is removed at shutdown"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cold_start_that_cannot_reach_sts_answers_503_after_the_cold_wait_and_is_not_ready() {
    let clock = ManualClock::new(start_time());
    let sts = FakeSts::new(&clock, HOUR);
    sts.down.store(true, Ordering::SeqCst);
    let listen = loopback(Duration::from_millis(100), true);
    let agent = start_agent(&sts, &listen, None, RefreshPolicy::default())
        .await
        .unwrap();
    let token = std::fs::read_to_string(agent.token_path()).unwrap();
    agent.cache().wait_attempts(1).await;
    let (status, _) = get(agent.addr(), "/v1/credentials", Some(&token)).await;
    assert_eq!(status, 503);
    let health = agent.health_addr().unwrap();
    assert_eq!(get(health, "/readyz", None).await.0, 503);
    assert_eq!(get(health, "/healthz", None).await.0, 200);
    // The health listener never serves credentials, even with the right token.
    assert_eq!(get(health, "/v1/credentials", Some(&token)).await.0, 404);
    // Requests do not trigger fetches: only the refresher's schedule does.
    let calls = sts.calls.load(Ordering::SeqCst);
    for _ in 0..20 {
        get(agent.addr(), "/v1/credentials", Some(&token)).await;
    }
    assert_eq!(sts.calls.load(Ordering::SeqCst), calls);
    agent.shutdown().await;
}

#[tokio::test]
async fn a_non_loopback_address_is_refused_unless_forced() {
    let clock = ManualClock::new(start_time());
    let listen = ListenConfig {
        addr: "192.0.2.10:9911".parse().unwrap(),
        ..loopback(Duration::from_secs(5), false)
    };
    let err = start_agent(
        &FakeSts::new(&clock, HOUR),
        &listen,
        None,
        RefreshPolicy::default(),
    )
    .await
    .err()
    .expect("refused");
    assert!(err.to_string().contains("not a loopback address"), "{err}");
}
