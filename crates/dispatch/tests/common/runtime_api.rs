//! A small Lambda runtime API (the HTTP interface Lambda gives a custom runtime): it hands out
//! queued events on `GET /2018-06-01/runtime/invocation/next` and records what the function
//! posts to `/response` and `/error`. Enough to run the real `airlock-dispatch` bootstrap as
//! Lambda would.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::{Request, Response, StatusCode};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Response { id: String, body: String },
    Error { id: String, body: String },
    InitError { body: String },
}

#[derive(Default)]
struct State {
    events: VecDeque<String>,
    replies: Vec<Reply>,
    next_id: u64,
    /// When the first `next` request arrived.
    first_poll: Option<Instant>,
}

pub struct RuntimeApi {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
    notify: Arc<tokio::sync::Notify>,
    _runtime: tokio::runtime::Runtime,
}

impl RuntimeApi {
    pub fn start() -> RuntimeApi {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let state = Arc::new(Mutex::new(State::default()));
        let notify = Arc::new(tokio::sync::Notify::new());
        let (s, n) = (Arc::clone(&state), Arc::clone(&notify));
        runtime.spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (s, n) = (Arc::clone(&s), Arc::clone(&n));
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let (s, n) = (Arc::clone(&s), Arc::clone(&n));
                        async move { Ok::<_, Infallible>(serve(req, s, n).await) }
                    });
                    let io = hyper_util::rt::TokioIo::new(stream);
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(io, service)
                        .await;
                });
            }
        });
        RuntimeApi {
            addr,
            state,
            notify,
            _runtime: runtime,
        }
    }

    pub fn push(&self, event: &serde_json::Value) {
        self.state
            .lock()
            .expect("state")
            .events
            .push_back(event.to_string());
        self.notify.notify_waiters();
        self.notify.notify_one();
    }

    pub fn replies(&self) -> Vec<Reply> {
        self.state.lock().expect("state").replies.clone()
    }

    pub fn first_poll(&self) -> Option<Instant> {
        self.state.lock().expect("state").first_poll
    }

    /// Waits until `count` replies arrived.
    pub fn wait_replies(&self, count: usize, limit: Duration) -> Vec<Reply> {
        let deadline = Instant::now() + limit;
        loop {
            let replies = self.replies();
            if replies.len() >= count || Instant::now() > deadline {
                return replies;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

async fn serve(
    req: Request<hyper::body::Incoming>,
    state: Arc<Mutex<State>>,
    notify: Arc<tokio::sync::Notify>,
) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_string();
    let method = req.method().clone();
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| String::from_utf8_lossy(&b.to_bytes()).into_owned())
        .unwrap_or_default();
    const PREFIX: &str = "/2018-06-01/runtime/";
    let Some(rest) = path.strip_prefix(PREFIX) else {
        return status(StatusCode::NOT_FOUND);
    };
    if method == hyper::Method::GET && rest == "invocation/next" {
        loop {
            let waiter = notify.notified();
            {
                let mut s = state.lock().expect("state");
                s.first_poll.get_or_insert_with(Instant::now);
                if let Some(event) = s.events.pop_front() {
                    s.next_id += 1;
                    let id = format!("invocation-{}", s.next_id);
                    let deadline = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map(|d| d.as_millis() + 60_000)
                        .unwrap_or_default();
                    return Response::builder()
                        .header("Lambda-Runtime-Aws-Request-Id", id)
                        .header("Lambda-Runtime-Deadline-Ms", deadline.to_string())
                        .header(
                            "Lambda-Runtime-Invoked-Function-Arn",
                            "arn:aws:lambda:eu-west-1:123456789012:function:airlock-dispatch",
                        )
                        .header(
                            "Lambda-Runtime-Trace-Id",
                            "Root=1-00000000-000000000000000000000000",
                        )
                        .body(Full::new(Bytes::from(event)))
                        .unwrap_or_else(|_| status(StatusCode::INTERNAL_SERVER_ERROR));
                }
            }
            waiter.await;
        }
    }
    if method == hyper::Method::POST {
        let mut s = state.lock().expect("state");
        if rest == "init/error" {
            s.replies.push(Reply::InitError { body });
            return status(StatusCode::ACCEPTED);
        }
        if let Some(id_and_kind) = rest.strip_prefix("invocation/") {
            if let Some(id) = id_and_kind.strip_suffix("/response") {
                s.replies.push(Reply::Response {
                    id: id.to_string(),
                    body,
                });
                return status(StatusCode::ACCEPTED);
            }
            if let Some(id) = id_and_kind.strip_suffix("/error") {
                s.replies.push(Reply::Error {
                    id: id.to_string(),
                    body,
                });
                return status(StatusCode::ACCEPTED);
            }
        }
    }
    status(StatusCode::NOT_FOUND)
}

fn status(code: StatusCode) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = code;
    response
}

/// The bootstrap process, killed when the test ends however it ends.
pub struct Bootstrap(pub Option<std::process::Child>);

impl Bootstrap {
    /// Stops the bootstrap and returns what it printed.
    pub fn finish(mut self) -> std::process::Output {
        let mut child = self.0.take().expect("running");
        let _ = child.kill();
        child.wait_with_output().expect("output")
    }
}

impl Drop for Bootstrap {
    fn drop(&mut self) {
        if let Some(child) = self.0.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A command for the bootstrap `bin` as Lambda would start it against `api`, with the AWS
/// settings in `aws_env` (a moto server's); the configuration variables are the caller's.
pub fn bootstrap_command(
    bin: &std::path::Path,
    aws_env: Vec<(String, String)>,
    api: &RuntimeApi,
) -> std::process::Command {
    let mut command = std::process::Command::new(bin);
    command
        .envs(aws_env)
        .env("AWS_LAMBDA_RUNTIME_API", api.addr.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", "airlock-dispatch")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST");
    command
}

/// The event Lambda gets from the lane's SNS subscription for one published `message`.
pub fn sns_event(message: &str) -> serde_json::Value {
    serde_json::json!({"Records": [{
        "EventSource": "aws:sns",
        "EventVersion": "1.0",
        "EventSubscriptionArn": "arn:aws:sns:eu-west-1:123456789012:airlock-lane:0000",
        "Sns": {
            "Type": "Notification",
            "MessageId": "00000000-0000-4000-8000-000000000001",
            "TopicArn": "arn:aws:sns:eu-west-1:123456789012:airlock-lane",
            "Message": message,
            "Timestamp": "2026-12-01T00:00:00.000Z"
        }
    }]})
}
