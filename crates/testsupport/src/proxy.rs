//! `FaultProxy`: an HTTP reverse proxy between the AWS SDK and moto that injects the faults
//! real AWS produces (dropped connections, 5xx, throttling, latency, duplicate delivery),
//! following a scripted plan or a seeded random one.
//!
//! Point an SDK at [`FaultProxy::endpoint`] instead of moto's. Each request is recorded with
//! its service, operation and the fault it got, so tests can also count calls (for example
//! "exactly one AssumeRole").

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::{Client, connect::HttpConnector};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rand::{Rng, SeedableRng, rngs::StdRng};
use tokio::sync::oneshot;

use crate::HarnessError;

/// What the proxy does to one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Forward it and return moto's answer.
    Pass,
    /// Close the connection before forwarding: the request never happened.
    DropConnection,
    /// Forward it, then close the connection without answering: the request happened, but
    /// the client cannot know. The classic source of duplicates after a retry.
    DropResponse,
    /// Answer 500 with the service's error shape (`InternalFailure`), without forwarding.
    ServerError,
    /// Answer 400 with the service's throttling error, without forwarding.
    Throttle,
    /// Answer 403 `AccessDenied`, without forwarding: what IAM says to a role whose policy
    /// lacks the action (moto does not enforce IAM).
    AccessDenied,
    /// Wait, then forward.
    Delay(Duration),
    /// Forward it twice and return the second answer: the side effect happens twice.
    Duplicate,
}

/// Chances, each from 0.0 to 1.0, that a request gets a fault in a [`FaultPlan::random`] plan.
/// They are tried in this order and the first hit wins.
#[derive(Debug, Clone, Default)]
pub struct FaultRates {
    pub drop_connection: f64,
    pub drop_response: f64,
    pub server_error: f64,
    pub throttle: f64,
    pub duplicate: f64,
    /// Chance of a delay, and the longest delay; the length is uniform up to it.
    pub delay: f64,
    pub max_delay: Duration,
}

/// Which faults the proxy injects, and into which requests.
#[derive(Debug, Clone)]
pub struct FaultPlan {
    kind: PlanKind,
    /// Only requests whose operation is in this list are subject to the plan; others pass.
    operations: Option<Vec<String>>,
}

#[derive(Debug, Clone)]
enum PlanKind {
    /// The next matching requests get these faults, in order; then everything passes.
    Scripted(VecDeque<Fault>),
    /// Each matching request draws from a seeded generator, so a failing run can be replayed.
    Random { rng: Box<StdRng>, rates: FaultRates },
}

impl FaultPlan {
    /// No faults at all.
    pub fn pass() -> Self {
        Self::scripted([])
    }

    pub fn scripted(faults: impl IntoIterator<Item = Fault>) -> Self {
        FaultPlan {
            kind: PlanKind::Scripted(faults.into_iter().collect()),
            operations: None,
        }
    }

    pub fn random(seed: u64, rates: FaultRates) -> Self {
        FaultPlan {
            kind: PlanKind::Random {
                rng: Box::new(StdRng::seed_from_u64(seed)),
                rates,
            },
            operations: None,
        }
    }

    /// Restricts the plan to these operations (`"SendMessageBatch"`, `"AssumeRole"`, …).
    pub fn only_for<S: Into<String>>(mut self, operations: impl IntoIterator<Item = S>) -> Self {
        self.operations = Some(operations.into_iter().map(Into::into).collect());
        self
    }

    fn next_fault(&mut self, operation: &str) -> Fault {
        if let Some(ops) = &self.operations
            && !ops.iter().any(|op| op == operation)
        {
            return Fault::Pass;
        }
        match &mut self.kind {
            PlanKind::Scripted(queue) => queue.pop_front().unwrap_or(Fault::Pass),
            PlanKind::Random { rng, rates } => {
                let candidates = [
                    (rates.drop_connection, Fault::DropConnection),
                    (rates.drop_response, Fault::DropResponse),
                    (rates.server_error, Fault::ServerError),
                    (rates.throttle, Fault::Throttle),
                    (rates.duplicate, Fault::Duplicate),
                ];
                for (chance, fault) in candidates {
                    if rng.random_bool(chance.clamp(0.0, 1.0)) {
                        return fault;
                    }
                }
                if rng.random_bool(rates.delay.clamp(0.0, 1.0)) {
                    let max = rates.max_delay.as_millis().max(1) as u64;
                    return Fault::Delay(Duration::from_millis(rng.random_range(0..=max)));
                }
                Fault::Pass
            }
        }
    }
}

/// One request as the proxy saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    /// The SigV4 signing name (`sqs`, `sns`, `sts`, …), or empty if unsigned.
    pub service: String,
    /// The API operation (`SendMessage`), or empty for non-AWS requests.
    pub operation: String,
    pub fault: Fault,
}

struct ProxyState {
    upstream: Uri,
    plan: Mutex<FaultPlan>,
    /// While set and in the future, the proxy answers nothing: see [`FaultProxy::freeze_for`].
    frozen_until: Mutex<Option<std::time::Instant>>,
    log: Mutex<Vec<RequestRecord>>,
    client: Client<HttpConnector, Full<Bytes>>,
}

/// A running fault-injecting proxy. It stops when dropped.
pub struct FaultProxy {
    addr: SocketAddr,
    state: Arc<ProxyState>,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FaultProxy {
    /// Starts a proxy on a free loopback port in front of `upstream` (moto's endpoint).
    /// It runs on its own thread and runtime, so it serves sync and async tests alike.
    pub fn start(upstream: &str, plan: FaultPlan) -> Result<Self, HarnessError> {
        let upstream: Uri = upstream
            .parse()
            .map_err(|e| HarnessError::Proxy(format!("upstream {upstream:?}: {e}")))?;
        let listener = std::net::TcpListener::bind("127.0.0.1:0")
            .map_err(|e| HarnessError::io("bind proxy", e))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| HarnessError::io("proxy socket", e))?;
        let addr = listener
            .local_addr()
            .map_err(|e| HarnessError::io("proxy address", e))?;
        let state = Arc::new(ProxyState {
            upstream,
            plan: Mutex::new(plan),
            frozen_until: Mutex::new(None),
            log: Mutex::new(Vec::new()),
            client: Client::builder(TokioExecutor::new()).build_http(),
        });
        let (shutdown, shutdown_rx) = oneshot::channel();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| HarnessError::io("proxy runtime", e))?;
        let thread_state = state.clone();
        let thread = std::thread::Builder::new()
            .name("fault-proxy".into())
            .spawn(move || runtime.block_on(serve(listener, thread_state, shutdown_rx)))
            .map_err(|e| HarnessError::io("proxy thread", e))?;
        Ok(FaultProxy {
            addr,
            state,
            shutdown: Some(shutdown),
            thread: Some(thread),
        })
    }

    /// `http://127.0.0.1:PORT`: use it as the SDK's endpoint URL.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Replaces the plan; requests already being handled keep the fault they drew.
    pub fn set_plan(&self, plan: FaultPlan) {
        *lock(&self.state.plan) = plan;
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<RequestRecord> {
        lock(&self.state.log).clone()
    }

    /// How many requests of `operation` arrived (every attempt counts, faulted or not).
    pub fn count(&self, operation: &str) -> usize {
        lock(&self.state.log)
            .iter()
            .filter(|r| r.operation == operation)
            .count()
    }

    pub fn clear_log(&self) {
        lock(&self.state.log).clear();
    }

    /// Freezes the endpoint for `duration` from now, as a paused server (SIGSTOP) does:
    /// requests that arrive wait before they are forwarded, and answers that are ready wait
    /// before they are sent; when the time is up everything goes on. Connections stay open,
    /// so a client sees only a slow answer unless its own timeout fires first.
    pub fn freeze_for(&self, duration: Duration) {
        *lock(&self.state.frozen_until) = Some(std::time::Instant::now() + duration);
    }
}

/// Waits out a freeze, if one is on.
async fn thaw(state: &ProxyState) {
    let until = *lock(&state.frozen_until);
    if let Some(until) = until {
        let now = std::time::Instant::now();
        if until > now {
            tokio::time::sleep(until - now).await;
        }
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A test that panicked while holding the lock must not hide the original failure.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

async fn serve(
    listener: std::net::TcpListener,
    state: Arc<ProxyState>,
    mut shutdown: oneshot::Receiver<()>,
) {
    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
        return;
    };
    loop {
        tokio::select! {
            _ = &mut shutdown => return,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let state = state.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| handle(req, state.clone()));
                    // An error here is how DropConnection/DropResponse close the socket.
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        }
    }
}

/// The error a handler returns to make hyper close the connection without an answer.
#[derive(Debug)]
struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by fault plan")
    }
}

impl std::error::Error for Dropped {}

async fn handle(
    req: Request<Incoming>,
    state: Arc<ProxyState>,
) -> Result<Response<Full<Bytes>>, Dropped> {
    let (parts, body) = req.into_parts();
    let body = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => return Err(Dropped),
    };
    thaw(&state).await;
    let call = AwsCall::identify(&parts.headers, &body);
    let fault = lock(&state.plan).next_fault(&call.operation);
    lock(&state.log).push(RequestRecord {
        service: call.service.clone(),
        operation: call.operation.clone(),
        fault: fault.clone(),
    });

    let answer = match fault {
        Fault::Pass => forward(&state, &parts, &body).await,
        Fault::DropConnection => Err(Dropped),
        Fault::DropResponse => {
            let _ = forward(&state, &parts, &body).await;
            Err(Dropped)
        }
        Fault::ServerError => Ok(call.error_response(ErrorKind::Internal)),
        Fault::Throttle => Ok(call.error_response(ErrorKind::Throttling)),
        Fault::AccessDenied => Ok(call.error_response(ErrorKind::AccessDenied)),
        Fault::Delay(delay) => {
            tokio::time::sleep(delay).await;
            forward(&state, &parts, &body).await
        }
        Fault::Duplicate => {
            let _ = forward(&state, &parts, &body).await;
            forward(&state, &parts, &body).await
        }
    };
    // An answer that became ready during a freeze waits for its end too.
    thaw(&state).await;
    answer
}

async fn forward(
    state: &ProxyState,
    parts: &http::request::Parts,
    body: &Bytes,
) -> Result<Response<Full<Bytes>>, Dropped> {
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let mut uri = http::uri::Builder::new().path_and_query(path);
    if let Some(scheme) = state.upstream.scheme() {
        uri = uri.scheme(scheme.clone());
    }
    if let Some(authority) = state.upstream.authority() {
        uri = uri.authority(authority.clone());
    }
    let uri = uri.build().map_err(|_| Dropped)?;
    let mut upstream_req = Request::builder().method(parts.method.clone()).uri(uri);
    for (name, value) in &parts.headers {
        upstream_req = upstream_req.header(name, value);
    }
    let upstream_req = upstream_req
        .body(Full::new(body.clone()))
        .map_err(|_| Dropped)?;
    let response = state
        .client
        .request(upstream_req)
        .await
        .map_err(|_| Dropped)?;
    let (parts, body) = response.into_parts();
    let body = body.collect().await.map_err(|_| Dropped)?.to_bytes();
    Ok(Response::from_parts(parts, Full::new(body)))
}

enum ErrorKind {
    Internal,
    Throttling,
    AccessDenied,
}

/// Enough about an AWS request to name it and to answer in its protocol's error shape.
struct AwsCall {
    service: String,
    operation: String,
    /// `Some(content type)` for the JSON protocols (awsJson1_0/1_1), `None` for awsQuery.
    json_content_type: Option<HeaderValue>,
}

impl AwsCall {
    fn identify(headers: &http::HeaderMap, body: &Bytes) -> Self {
        // SigV4: `Credential=AKID/20260101/us-east-1/sqs/aws4_request`
        let service = headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|auth| auth.split("Credential=").nth(1))
            .and_then(|cred| cred.split('/').nth(3))
            .unwrap_or_default()
            .to_string();
        if let Some(target) = headers.get("x-amz-target").and_then(|v| v.to_str().ok()) {
            // `AmazonSQS.SendMessage`, `DynamoDB_20120810.PutItem`
            let operation = target.rsplit('.').next().unwrap_or(target).to_string();
            let content_type = headers
                .get(http::header::CONTENT_TYPE)
                .cloned()
                .unwrap_or_else(|| HeaderValue::from_static("application/x-amz-json-1.0"));
            return AwsCall {
                service,
                operation,
                json_content_type: Some(content_type),
            };
        }
        // awsQuery: form-encoded `Action=Publish&Version=…`
        let operation = std::str::from_utf8(body)
            .ok()
            .and_then(|form| {
                form.split('&')
                    .find_map(|pair| pair.strip_prefix("Action="))
                    .map(str::to_string)
            })
            .unwrap_or_default();
        AwsCall {
            service,
            operation,
            json_content_type: None,
        }
    }

    /// The error AWS itself would send. The SDK's retry classifier keys on the status
    /// (500 is transient) and on the code (`Throttling`/`ThrottlingException` are throttling).
    fn error_response(&self, kind: ErrorKind) -> Response<Full<Bytes>> {
        let (status, json_code, query_code, query_type, message) = match kind {
            ErrorKind::Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalFailure",
                "InternalFailure",
                "Receiver",
                "injected internal failure",
            ),
            ErrorKind::Throttling => (
                StatusCode::BAD_REQUEST,
                "ThrottlingException",
                "Throttling",
                "Sender",
                "Rate exceeded",
            ),
            ErrorKind::AccessDenied => (
                StatusCode::FORBIDDEN,
                "AccessDeniedException",
                "AccessDenied",
                "Sender",
                "injected: the caller is not authorized to perform this action",
            ),
        };
        let request_id = "00000000-0000-4000-8000-00000fa17000";
        let builder = Response::builder()
            .status(status)
            .header("x-amzn-RequestId", request_id);
        let response = match &self.json_content_type {
            Some(content_type) => builder
                .header(http::header::CONTENT_TYPE, content_type.clone())
                .header("x-amzn-ErrorType", json_code)
                .body(Full::new(Bytes::from(
                    serde_json::json!({ "__type": json_code, "message": message }).to_string(),
                ))),
            None => builder
                .header(http::header::CONTENT_TYPE, "text/xml")
                .body(Full::new(Bytes::from(format!(
                    "<ErrorResponse><Error><Type>{query_type}</Type><Code>{query_code}</Code>\
                     <Message>{message}</Message></Error><RequestId>{request_id}</RequestId>\
                     </ErrorResponse>"
                )))),
        };
        response.unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scripted_plan_runs_in_order_then_passes() {
        let mut plan = FaultPlan::scripted([Fault::Throttle, Fault::ServerError]);
        assert_eq!(plan.next_fault("X"), Fault::Throttle);
        assert_eq!(plan.next_fault("X"), Fault::ServerError);
        assert_eq!(plan.next_fault("X"), Fault::Pass);
    }

    #[test]
    fn a_plan_limited_to_operations_passes_the_others_untouched() {
        let mut plan = FaultPlan::scripted([Fault::Throttle]).only_for(["ReceiveMessage"]);
        assert_eq!(plan.next_fault("SendMessage"), Fault::Pass);
        assert_eq!(plan.next_fault("ReceiveMessage"), Fault::Throttle);
    }

    #[test]
    fn a_random_plan_replays_from_its_seed() {
        let rates = FaultRates {
            drop_connection: 0.1,
            server_error: 0.1,
            throttle: 0.1,
            delay: 0.3,
            max_delay: Duration::from_millis(50),
            ..FaultRates::default()
        };
        let draw = |seed| {
            let mut plan = FaultPlan::random(seed, rates.clone());
            (0..200).map(|_| plan.next_fault("Op")).collect::<Vec<_>>()
        };
        assert_eq!(draw(7), draw(7));
        assert_ne!(draw(7), draw(8));
        let faults = draw(7);
        assert!(faults.contains(&Fault::Pass));
        assert!(faults.contains(&Fault::Throttle));
        assert!(faults.iter().any(|f| matches!(f, Fault::Delay(_))));
    }

    #[test]
    fn calls_are_identified_in_both_protocols() {
        let mut headers = http::HeaderMap::new();
        headers.insert(
            http::header::AUTHORIZATION,
            HeaderValue::from_static(
                "AWS4-HMAC-SHA256 Credential=AKIDX/20260101/us-east-1/sqs/aws4_request, SignedHeaders=host, Signature=00",
            ),
        );
        headers.insert(
            "x-amz-target",
            HeaderValue::from_static("AmazonSQS.SendMessage"),
        );
        let call = AwsCall::identify(&headers, &Bytes::new());
        assert_eq!(
            (call.service.as_str(), call.operation.as_str()),
            ("sqs", "SendMessage")
        );
        assert!(call.json_content_type.is_some());

        headers.remove("x-amz-target");
        let call = AwsCall::identify(
            &headers,
            &Bytes::from_static(b"Action=Publish&Version=2010-03-31"),
        );
        assert_eq!(call.operation, "Publish");
        assert!(call.json_content_type.is_none());
    }
}
