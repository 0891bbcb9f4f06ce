//! The HTTP endpoint: the container-credentials protocol on a loopback address, and the
//! health routes.
//!
//! hyper is used directly rather than through a framework because the limits are the point:
//! the header buffer, the header count and the header read timeout are set on the connection
//! itself, so an oversized or slow request is refused before any of our code runs.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use crate::cache::CredentialCache;
use crate::token::ExpectedToken;

pub const CREDENTIALS_PATH: &str = "/v1/credentials";

/// Connection and request limits.
#[derive(Debug, Clone)]
pub struct Limits {
    /// The whole request head (request line and headers) must fit in this many bytes; hyper
    /// answers 431 otherwise. 8 KiB is hyper's floor and far above what an SDK sends.
    pub max_head_bytes: usize,
    pub max_headers: usize,
    /// A client has this long to send a request's head, including between keep-alive requests.
    pub header_read_timeout: Duration,
    /// Open connections at most; more are closed at once, so a flood cannot exhaust the
    /// agent's file descriptors.
    pub max_connections: usize,
    /// How long a request waits for the first credentials on a cold start before 503.
    pub cold_wait: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_head_bytes: 8192,
            max_headers: 32,
            header_read_timeout: Duration::from_secs(5),
            max_connections: 4096,
            cold_wait: Duration::from_secs(5),
        }
    }
}

/// Which routes a listener serves: everything (the loopback endpoint), or only the health
/// routes (a listener kubelet's probes can reach on the pod's address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Routes {
    All,
    HealthOnly,
}

pub struct Endpoint {
    pub cache: Arc<CredentialCache>,
    pub token: ExpectedToken,
    pub limits: Limits,
}

type Reply = Response<Full<Bytes>>;

/// Serves `listener` until `shutdown` turns true, then lets requests in flight finish for up
/// to two seconds.
pub async fn serve(
    listener: TcpListener,
    endpoint: Arc<Endpoint>,
    routes: Routes,
    mut shutdown: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(endpoint.limits.max_connections));
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            () = stopped(&mut shutdown) => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let Ok(slot) = slots.clone().try_acquire_owned() else {
                        tracing::warn!(%peer, "connection limit reached; closing a new connection");
                        continue;
                    };
                    let endpoint = endpoint.clone();
                    connections.spawn(async move {
                        let _slot = slot;
                        serve_connection(stream, peer, endpoint, routes).await;
                    });
                }
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning, keep serving.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    let drained = tokio::time::timeout(Duration::from_secs(2), async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        connections.abort_all();
    }
}

/// Resolves once `shutdown` says stop (or its sender is gone). The `Ref` `wait_for` returns
/// is dropped here, inside, so the future stays `Send`.
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

async fn serve_connection(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    endpoint: Arc<Endpoint>,
    routes: Routes,
) {
    let limits = endpoint.limits.clone();
    let service = service_fn(move |request| {
        let endpoint = endpoint.clone();
        async move { Ok::<_, std::convert::Infallible>(answer(&endpoint, routes, request).await) }
    });
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(limits.max_head_bytes.max(8192))
        .max_headers(limits.max_headers)
        .serve_connection(TokioIo::new(stream), service);
    if let Err(e) = connection.await {
        tracing::debug!(%peer, error = %e, "connection ended with an error");
    }
}

async fn answer(endpoint: &Endpoint, routes: Routes, request: Request<Incoming>) -> Reply {
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let reply = route(endpoint, routes, &request).await;
    let status = reply.status().as_u16();
    endpoint.cache.metrics().answered(status);
    // Only the method, path and status: never a header, so never the token.
    tracing::debug!(
        %method,
        path = %path,
        status,
        micros = started.elapsed().as_micros() as u64,
        "request"
    );
    reply
}

async fn route(endpoint: &Endpoint, routes: Routes, request: &Request<Incoming>) -> Reply {
    let path = request.uri().path();
    let known = match path {
        CREDENTIALS_PATH => routes == Routes::All,
        "/healthz" | "/readyz" | "/metrics" => true,
        _ => false,
    };
    if !known {
        return text(StatusCode::NOT_FOUND, "not found\n");
    }
    if request.method() != Method::GET {
        let mut reply = text(StatusCode::METHOD_NOT_ALLOWED, "only GET is allowed\n");
        reply
            .headers_mut()
            .insert(header::ALLOW, header::HeaderValue::from_static("GET"));
        return reply;
    }
    if has_body(request) {
        return text(StatusCode::PAYLOAD_TOO_LARGE, "a GET carries no body\n");
    }
    match path {
        // Liveness never depends on STS: a restart cannot fix an STS outage, and restarting
        // would drop the still-valid credentials the agent is serving.
        "/healthz" => text(StatusCode::OK, "ok\n"),
        "/readyz" => readiness(&endpoint.cache),
        "/metrics" => {
            let mut reply = text(
                StatusCode::OK,
                endpoint.cache.metrics().render(endpoint.cache.gauges()),
            );
            reply.headers_mut().insert(
                header::CONTENT_TYPE,
                header::HeaderValue::from_static("text/plain; version=0.0.4"),
            );
            reply
        }
        _ => credentials(endpoint, request).await,
    }
}

fn has_body(request: &Request<Incoming>) -> bool {
    let headers = request.headers();
    headers.contains_key(header::TRANSFER_ENCODING)
        || headers
            .get(header::CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes() != b"0")
}

fn readiness(cache: &CredentialCache) -> Reply {
    if cache.ready() {
        return text(StatusCode::OK, "ready\n");
    }
    let status = cache.status();
    let why = match (&status.current, &status.last_error) {
        (_, Some(error)) => format!("not ready: {}\n", error.message),
        (Some(_), None) => "not ready: the credentials expired\n".to_owned(),
        (None, None) => "not ready: no credentials yet\n".to_owned(),
    };
    text(StatusCode::SERVICE_UNAVAILABLE, why)
}

async fn credentials(endpoint: &Endpoint, request: &Request<Incoming>) -> Reply {
    let mut presented = request.headers().get_all(header::AUTHORIZATION).iter();
    let token = match (presented.next(), presented.next()) {
        (None, _) => {
            return error(
                StatusCode::UNAUTHORIZED,
                "Unauthorized",
                "the Authorization header is missing",
            );
        }
        (Some(_), Some(_)) => {
            return error(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                "more than one Authorization header",
            );
        }
        (Some(token), None) => token,
    };
    if !endpoint.token.matches(token.as_bytes()) {
        return error(
            StatusCode::FORBIDDEN,
            "Forbidden",
            "the authorization token is wrong",
        );
    }
    match endpoint.cache.wait_valid(endpoint.limits.cold_wait).await {
        Some(issued) => {
            let body = issued.response_body();
            let mut reply = Response::new(Full::new(Bytes::copy_from_slice(&body)));
            let headers = reply.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                header::HeaderValue::from_static("application/json"),
            );
            headers.insert(
                header::CACHE_CONTROL,
                header::HeaderValue::from_static("no-store"),
            );
            reply
        }
        None => {
            let status = endpoint.cache.status();
            let message = match status.last_error {
                Some(e) => format!("no valid credentials: {}", e.message),
                None => "no valid credentials yet".to_owned(),
            };
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                "CredentialsUnavailable",
                &message,
            )
        }
    }
}

fn text(status: StatusCode, body: impl Into<String>) -> Reply {
    let mut reply = Response::new(Full::new(Bytes::from(body.into())));
    *reply.status_mut() = status;
    reply.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    reply
}

fn error(status: StatusCode, code: &str, message: &str) -> Reply {
    let body = serde_json::json!({ "code": code, "message": message }).to_string();
    let mut reply = Response::new(Full::new(Bytes::from(body)));
    *reply.status_mut() = status;
    reply.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    reply
}
