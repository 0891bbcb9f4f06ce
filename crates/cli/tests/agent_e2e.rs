//! `airlock agent` end to end: the real binary assumes a role in moto's STS (through a
//! counting proxy), and clients nobody here wrote (boto3, the AWS CLI, the AWS SDK for Rust)
//! get the assumed role's credentials through the container-credentials protocol, with only
//! the two standard environment variables pointing them at the agent.
//!
//! Every test ends by scanning the agent's whole log (at trace level, JSON) for the served
//! secret key, session token and the authorization token.

// A test's panics are its failure reports; unwrapping setup steps says no less than expect.
#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use airlock_testsupport::{
    Fault, FaultPlan, FaultProxy, LoggedChild, MotoServer, REGION, workspace_root,
};

const ROLE_ARN: &str = "arn:aws:iam::123456789012:role/orders-api";
/// What the session name is derived from (the downward API's variables), and the result.
const POD_NAMESPACE: &str = "payments";
const POD_NAME: &str = "orders-7f9c4";
const ASSUMED_ARN: &str = "arn:aws:sts::123456789012:assumed-role/orders-api/payments.orders-7f9c4";
/// Set in the environment of this test binary when it runs as the AWS SDK for Rust client.
const CHILD_ENV: &str = "AIRLOCK_AGENT_E2E_RUST_SDK_CLIENT";

fn python() -> PathBuf {
    std::env::var_os("AIRLOCK_MOTO_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".venv/bin/python"))
}

fn aws_cli() -> PathBuf {
    python().with_file_name("aws")
}

/// A running `airlock agent`, its stderr collected line by line.
struct AgentProcess {
    process: LoggedChild,
    addr: SocketAddr,
    health: Option<SocketAddr>,
    token_path: PathBuf,
    _dir: tempfile::TempDir,
}

impl AgentProcess {
    /// Starts the agent with its STS calls going to `sts_endpoint`, and waits until it
    /// listens (not until it holds credentials).
    fn start(moto: &MotoServer, sts_endpoint: &str, extra: &[&str]) -> AgentProcess {
        let dir = tempfile::tempdir().unwrap();
        let token_path = dir.path().join("token");
        let process = LoggedChild::spawn(
            Command::new(env!("CARGO_BIN_EXE_airlock"))
                .args([
                    "agent",
                    "--role-arn",
                    ROLE_ARN,
                    "--port",
                    "0",
                    "--log-format",
                    "json",
                    "-vv",
                ])
                .arg("--token-file")
                .arg(&token_path)
                .args(extra)
                .envs(moto.env())
                .env("AWS_ENDPOINT_URL", sts_endpoint)
                .env("POD_NAMESPACE", POD_NAMESPACE)
                .env("POD_NAME", POD_NAME)
                .env_remove("AIRLOCK_LOG"),
        )
        .unwrap();
        let listening = process
            .wait_for_message("agent listening", Duration::from_secs(30))
            .unwrap();
        let addr = listening["addr"].as_str().unwrap().parse().unwrap();
        let health = listening["health"]
            .as_str()
            .filter(|h| !h.is_empty())
            .map(|h| h.parse().unwrap());
        AgentProcess {
            process,
            addr,
            health,
            token_path,
            _dir: dir,
        }
    }

    fn token(&self) -> String {
        std::fs::read_to_string(&self.token_path).unwrap()
    }

    fn url(&self) -> String {
        format!("http://{}/v1/credentials", self.addr)
    }

    /// The environment of a client that knows only the agent: no keys, no profile, no files.
    fn client_env(&self, moto: &MotoServer, home: &Path) -> Vec<(String, String)> {
        let path = std::env::var("PATH").unwrap_or_default();
        [
            ("AWS_CONTAINER_CREDENTIALS_FULL_URI", self.url()),
            (
                "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
                self.token_path.display().to_string(),
            ),
            ("AWS_ENDPOINT_URL", moto.endpoint()),
            ("AWS_REGION", REGION.to_owned()),
            ("AWS_DEFAULT_REGION", REGION.to_owned()),
            ("AWS_CONFIG_FILE", "/dev/null".to_owned()),
            ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null".to_owned()),
            ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
            ("HOME", home.display().to_string()),
            ("PATH", path),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    /// Stops the agent with SIGTERM, as Kubernetes does, and returns its whole log.
    fn stop(mut self) -> String {
        let child = &mut self.process.child;
        let pid = nix::unistd::Pid::from_raw(child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                assert_eq!(status.code(), Some(0), "a clean stop exits 0");
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the agent did not stop on SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        // The reader thread drains what was written before the exit.
        std::thread::sleep(Duration::from_millis(100));
        assert!(
            !self.token_path.exists(),
            "the generated token is removed at shutdown"
        );
        self.process.log()
    }

    /// Stops the agent and checks its whole log against what it must never contain: the
    /// credentials it served last, the token, and `more`.
    fn stop_and_scan_log(self, more: &[String]) -> String {
        let creds = served(&self);
        let mut secrets = vec![
            creds["SecretAccessKey"].as_str().unwrap().to_owned(),
            creds["Token"].as_str().unwrap().to_owned(),
            self.token(),
        ];
        secrets.extend_from_slice(more);
        let log = self.stop();
        assert_no_secret_in(&log, &secrets);
        log
    }
}

/// One raw HTTP/1.1 exchange: the request as given, the response as received.
fn exchange(addr: SocketAddr, request: &[u8]) -> (u16, String, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    stream.write_all(request).unwrap();
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let response = String::from_utf8_lossy(&response).into_owned();
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    (status, head.to_owned(), body.to_owned())
}

fn get(addr: SocketAddr, path: &str, token: Option<&str>) -> (u16, String) {
    let auth = token
        .map(|t| format!("Authorization: {t}\r\n"))
        .unwrap_or_default();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Connection: close\r\n\r\n");
    let (status, _, body) = exchange(addr, request.as_bytes());
    (status, body)
}

/// The credentials the agent serves now (to know what must never appear in a log).
fn served(agent: &AgentProcess) -> serde_json::Value {
    let (status, body) = get(agent.addr, "/v1/credentials", Some(&agent.token()));
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

fn assert_no_secret_in(log: &str, secrets: &[String]) {
    assert!(!log.is_empty());
    for secret in secrets {
        assert!(secret.len() >= 16, "a secret too short to search for");
        assert!(
            !log.contains(secret.as_str()),
            "a credential or the token is in the log"
        );
    }
}

fn wait_ready(agent: &AgentProcess) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while get(agent.addr, "/readyz", None).0 != 200 {
        assert!(
            Instant::now() < deadline,
            "not ready:\n{}",
            agent.process.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn stdout_of(output: &Output, what: &str) -> String {
    assert!(
        output.status.success(),
        "{what} failed ({:?}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

const BOTO3_WHOAMI: &str = "\
import boto3, json
session = boto3.Session()
arn = session.client('sts').get_caller_identity()['Arn']
print(json.dumps({'arn': arn, 'method': session.get_credentials().method}))
";

#[test]
fn boto3_the_aws_cli_and_the_rust_sdk_get_the_assumed_role_through_the_agent() {
    let moto = MotoServer::start().expect("moto starts");
    let proxy = FaultProxy::start(&moto.endpoint(), FaultPlan::pass()).unwrap();
    let agent = AgentProcess::start(&moto, &proxy.endpoint(), &[]);
    wait_ready(&agent);
    let home = tempfile::tempdir().unwrap();
    let env = agent.client_env(&moto, home.path());

    let boto3 = Command::new(python())
        .args(["-c", BOTO3_WHOAMI])
        .env_clear()
        .envs(env.clone())
        .output()
        .unwrap();
    let boto3: serde_json::Value = serde_json::from_str(&stdout_of(&boto3, "boto3")).unwrap();
    assert_eq!(boto3["arn"], ASSUMED_ARN);
    assert_eq!(
        boto3["method"], "container-role",
        "boto3 used the container provider"
    );

    let cli = Command::new(aws_cli())
        .args(["sts", "get-caller-identity", "--output", "json"])
        .env_clear()
        .envs(env.clone())
        .output()
        .unwrap();
    let cli: serde_json::Value = serde_json::from_str(&stdout_of(&cli, "aws")).unwrap();
    assert_eq!(cli["Arn"], ASSUMED_ARN);

    // The AWS SDK for Rust, in a process of its own so that its default chain reads the real
    // environment: this test binary, running only `rust_sdk_client`.
    let rust = Command::new(std::env::current_exe().unwrap())
        .args([
            "rust_sdk_client",
            "--exact",
            "--nocapture",
            "--include-ignored",
            "--quiet",
        ])
        .env_clear()
        .envs(env)
        .env(CHILD_ENV, "1")
        .output()
        .unwrap();
    let rust_out = stdout_of(&rust, "the Rust SDK client");
    let arn = rust_out
        .lines()
        .find_map(|l| l.strip_prefix("CALLER_ARN="))
        .unwrap_or_else(|| panic!("no CALLER_ARN line in:\n{rust_out}"));
    assert_eq!(arn, ASSUMED_ARN);

    // Three clients, one set of credentials: the agent called STS once.
    assert_eq!(proxy.count("AssumeRole"), 1);
    assert_eq!(served(&agent)["AccountId"], "123456789012");
    let log = agent.stop_and_scan_log(&[]);
    assert!(log.contains("credentials refreshed"), "{log}");
    // -vv asks for trace, but the SDK's wire-level targets stay at debug for the agent.
    let wire_traces = log
        .lines()
        .filter(|l| l.contains("\"level\":\"TRACE\"") && l.contains("\"target\":\"aws_smithy"))
        .count();
    assert_eq!(wire_traces, 0, "{log}");
}

/// Not a test of its own: the child process of the test above. It is ignored, so a normal
/// run skips it, and does nothing unless that test started it.
#[tokio::test]
#[ignore = "run as a child process by boto3_the_aws_cli_and_the_rust_sdk_get_the_assumed_role_through_the_agent"]
async fn rust_sdk_client() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let sts = airlock_aws::aws_sdk_sts::Client::new(&config);
    let identity = sts
        .get_caller_identity()
        .send()
        .await
        .expect("GetCallerIdentity");
    println!("CALLER_ARN={}", identity.arn().unwrap_or_default());
}

#[test]
fn a_thousand_concurrent_cold_requests_cause_exactly_one_assume_role() {
    let moto = MotoServer::start().expect("moto starts");
    // The first AssumeRole takes 3 s, so every request below arrives while the cache is cold
    // (the 503 from /readyz just before the burst shows it), even on a loaded machine.
    let proxy = FaultProxy::start(
        &moto.endpoint(),
        FaultPlan::scripted([Fault::Delay(Duration::from_secs(3))]).only_for(["AssumeRole"]),
    )
    .unwrap();
    let agent = AgentProcess::start(&moto, &proxy.endpoint(), &[]);
    let token = agent.token();
    assert_eq!(
        get(agent.addr, "/readyz", None).0,
        503,
        "cold at the start of the burst"
    );

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let addr = agent.addr;
    let started = Instant::now();
    let answers: Vec<(u16, String)> = runtime.block_on(async {
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..1000 {
            let token = token.clone();
            tasks.spawn(async move {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
                let request = format!(
                    "GET /v1/credentials HTTP/1.1\r\nHost: {addr}\r\nAuthorization: {token}\r\nConnection: close\r\n\r\n"
                );
                stream.write_all(request.as_bytes()).await.unwrap();
                let mut response = String::new();
                stream.read_to_string(&mut response).await.unwrap();
                let status = response.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
                let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
                (status, body)
            });
        }
        tasks.join_all().await
    });
    let took = started.elapsed();
    assert_eq!(answers.len(), 1000);
    let keys: std::collections::BTreeSet<String> = answers
        .iter()
        .map(|(status, body)| {
            assert_eq!(*status, 200, "{body}");
            let json: serde_json::Value = serde_json::from_str(body).unwrap();
            json["AccessKeyId"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(keys.len(), 1, "every request got the same credentials");
    assert_eq!(
        proxy.count("AssumeRole"),
        1,
        "exactly one AssumeRole for 1000 cold requests"
    );
    assert!(
        took >= Duration::from_millis(1000),
        "the burst waited for the one slow call ({took:?})"
    );

    let (_, metrics) = get(agent.addr, "/metrics", None);
    assert!(
        metrics.contains("airlock_agent_refreshes_total 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("airlock_agent_requests_total{status=\"200\"} 1000"),
        "{metrics}"
    );
    agent.stop_and_scan_log(&[]);
}

#[test]
fn the_endpoint_refuses_missing_and_wrong_tokens_other_methods_and_oversized_requests() {
    let moto = MotoServer::start().expect("moto starts");
    let agent = AgentProcess::start(&moto, &moto.endpoint(), &["--health-listen", "127.0.0.1:0"]);
    wait_ready(&agent);
    let token = agent.token();
    let addr = agent.addr;

    assert_eq!(get(addr, "/v1/credentials", None).0, 401);
    assert_eq!(
        get(addr, "/v1/credentials", Some("wrong-token-0123456789")).0,
        403
    );
    // Same length, one character off.
    let mut near = token.clone().into_bytes();
    near[10] = if near[10] == b'a' { b'b' } else { b'a' };
    let near = String::from_utf8(near).unwrap();
    let (status, body) = get(addr, "/v1/credentials", Some(&near));
    assert_eq!(status, 403);
    assert!(
        !body.contains(&token) && !body.contains(&near),
        "errors never echo a token"
    );
    assert_eq!(get(addr, "/v1/credentials", Some(&token)).0, 200);
    // Two Authorization headers are ambiguous, even if one holds the token.
    let twice = format!(
        "GET /v1/credentials HTTP/1.1\r\nHost: {addr}\r\nAuthorization: {token}\r\nAuthorization: {near}\r\nConnection: close\r\n\r\n"
    );
    assert_eq!(exchange(addr, twice.as_bytes()).0, 400);

    for method in ["POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"] {
        let request = format!(
            "{method} /v1/credentials HTTP/1.1\r\nHost: {addr}\r\nAuthorization: {token}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        let (status, head, _) = exchange(addr, request.as_bytes());
        assert_eq!(status, 405, "{method}");
        assert!(
            head.to_ascii_lowercase().contains("allow: get"),
            "{method}: {head}"
        );
    }
    let with_body = format!(
        "GET /v1/credentials HTTP/1.1\r\nHost: {addr}\r\nAuthorization: {token}\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello"
    );
    assert_eq!(exchange(addr, with_body.as_bytes()).0, 413);

    // A 20 KiB header, and 100 small ones: refused before any of the agent's code runs.
    let big = format!(
        "GET /v1/credentials HTTP/1.1\r\nHost: {addr}\r\nAuthorization: {token}\r\nX-Padding: {}\r\n\r\n",
        "a".repeat(20 * 1024)
    );
    assert_eq!(exchange(addr, big.as_bytes()).0, 431);
    let many: String = (0..100).map(|i| format!("X-H{i}: v\r\n")).collect();
    let many = format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\n{many}\r\n");
    assert_eq!(exchange(addr, many.as_bytes()).0, 431);
    assert_eq!(get(addr, "/v1/credentials/../../etc", Some(&token)).0, 404);
    assert_eq!(get(addr, "/", None).0, 404);

    // A client that connects and sends nothing is cut off by the header read timeout.
    let mut idle = TcpStream::connect(addr).unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    let started = Instant::now();
    let mut answer = Vec::new();
    let read = idle.read_to_end(&mut answer);
    let waited = started.elapsed();
    assert!(read.is_ok(), "the agent closed the connection: {read:?}");
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "{answer}"
    );
    assert!(
        waited >= Duration::from_secs(4) && waited < Duration::from_secs(12),
        "{waited:?}"
    );

    // Health routes need no token, and the health listener never serves credentials.
    assert_eq!(get(addr, "/healthz", None).0, 200);
    let health = agent.health.expect("a health listener");
    assert_eq!(get(health, "/healthz", None).0, 200);
    assert_eq!(get(health, "/readyz", None).0, 200);
    assert_eq!(get(health, "/v1/credentials", Some(&token)).0, 404);
    // `airlock agent probe`, the health check of the shell-less image: 0 healthy, 1 not.
    let probe = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_airlock"))
            .args(["agent", "probe"])
            .args(args)
            .output()
            .unwrap()
    };
    let healthz = format!("http://{health}/healthz");
    assert_eq!(probe(&["--url", &healthz]).status.code(), Some(0));
    assert_eq!(
        probe(&["--url", &healthz, "--ready"]).status.code(),
        Some(0)
    );
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let down = probe(&[
        "--url",
        &format!("http://{closed}/healthz"),
        "--timeout",
        "1",
    ]);
    assert_eq!(down.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&down.stderr).contains("unhealthy"));

    let (status, metrics) = get(health, "/metrics", None);
    assert_eq!(status, 200);
    for expected in [
        "airlock_agent_requests_total{status=\"401\"} 1",
        "airlock_agent_requests_total{status=\"403\"} 2",
        "airlock_agent_requests_total{status=\"405\"} 6",
        "airlock_agent_ready 1",
    ] {
        assert!(metrics.contains(expected), "{expected} in\n{metrics}");
    }

    agent.stop_and_scan_log(&[near]);
}

#[test]
fn agent_exec_runs_the_command_with_the_role_instead_of_the_callers_keys_and_passes_its_exit_code()
{
    let moto = MotoServer::start().expect("moto starts");
    let dir = tempfile::tempdir().unwrap();
    // The caller's own static keys and a profile are in the environment (the agent uses them
    // as its base credentials); the command must not see them.
    let script = format!(
        "{BOTO3_WHOAMI}\nimport os, sys\nassert 'AWS_ACCESS_KEY_ID' not in os.environ\nsys.exit(7)\n"
    );
    let output = Command::new(env!("CARGO_BIN_EXE_airlock"))
        .args([
            "agent",
            "exec",
            "--role-arn",
            ROLE_ARN,
            "--session-name",
            "ci-job-42",
            "--log-format",
            "json",
            "-vv",
            "--",
        ])
        .arg(python())
        .args(["-c", &script])
        .envs(moto.env())
        .env("AWS_DEFAULT_REGION", REGION)
        .env("HOME", dir.path())
        .env_remove("AIRLOCK_LOG")
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(7),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let json: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(
        json["arn"],
        "arn:aws:sts::123456789012:assumed-role/orders-api/ci-job-42"
    );
    assert_eq!(json["method"], "container-role");
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(log.contains("credentials refreshed"), "{log}");
    // The base secret key of the caller is not in the log either.
    assert_no_secret_in(
        &log,
        &[airlock_testsupport::FAKE_SECRET_ACCESS_KEY.to_owned()],
    );

    // A command that does not exist: 127, as a shell says.
    let missing = Command::new(env!("CARGO_BIN_EXE_airlock"))
        .args([
            "agent",
            "exec",
            "--role-arn",
            ROLE_ARN,
            "--",
            "/nonexistent/airlock-e2e-cmd",
        ])
        .envs(moto.env())
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(127));
}

#[test]
fn agent_exec_passes_sigterm_on_to_the_command_and_its_exit_code_back() {
    let moto = MotoServer::start().expect("moto starts");
    let dir = tempfile::tempdir().unwrap();
    let started = dir.path().join("started");
    let script = format!(
        "trap 'exit 9' TERM; touch {}; while :; do sleep 0.1; done",
        started.display()
    );
    let mut exec = Command::new(env!("CARGO_BIN_EXE_airlock"))
        .args([
            "agent",
            "exec",
            "--role-arn",
            ROLE_ARN,
            "--",
            "sh",
            "-c",
            &script,
        ])
        .envs(moto.env())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !started.exists() {
        assert!(Instant::now() < deadline, "the command did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let pid = nix::unistd::Pid::from_raw(exec.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = exec.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "agent exec did not end after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(
        status.code(),
        Some(9),
        "the command's own answer to SIGTERM"
    );
}

#[test]
fn agent_exec_does_not_start_the_command_without_credentials() {
    let moto = MotoServer::start().expect("moto starts");
    let proxy = FaultProxy::start(
        &moto.endpoint(),
        FaultPlan::scripted(std::iter::repeat_n(Fault::ServerError, 100)).only_for(["AssumeRole"]),
    )
    .unwrap();
    let marker = tempfile::tempdir().unwrap();
    let ran = marker.path().join("ran");
    let output = Command::new(env!("CARGO_BIN_EXE_airlock"))
        .args([
            "agent",
            "exec",
            "--role-arn",
            ROLE_ARN,
            "--ready-timeout",
            "2",
            "--",
            "touch",
        ])
        .arg(&ran)
        .envs(moto.env())
        .env("AWS_ENDPOINT_URL", proxy.endpoint())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(125), "{stderr}");
    assert!(
        stderr.contains("not started") && stderr.contains("AssumeRole failed"),
        "{stderr}"
    );
    assert!(
        !ran.exists(),
        "the command must not run without credentials"
    );
    assert!(
        proxy.count("AssumeRole") >= 2,
        "it retried within the timeout"
    );
}

#[test]
fn bad_configuration_is_a_clear_error_with_exit_code_2() {
    let cases: &[(&[&str], &str)] = &[
        (&["agent"], "no role to assume"),
        (&["agent", "--role-arn", "orders"], "not an IAM role ARN"),
        (
            &["agent", "--role-arn", ROLE_ARN, "--duration", "7200"],
            "one hour",
        ),
        (
            &[
                "agent",
                "--role-arn",
                ROLE_ARN,
                "--role-arn-file",
                "/etc/hostname",
            ],
            "keep one",
        ),
        (
            &["agent", "--role-arn", ROLE_ARN, "--bind", "0.0.0.0"],
            "not a loopback address",
        ),
        (
            &["agent", "--role-arn", ROLE_ARN, "--session-tag", "aws:x=y"],
            "reserved",
        ),
    ];
    for (args, expected) in cases {
        let output = Command::new(env!("CARGO_BIN_EXE_airlock"))
            .args(*args)
            .env_remove("AIRLOCK_ROLE_ARN")
            .env("AWS_REGION", REGION)
            .env("AWS_ACCESS_KEY_ID", airlock_testsupport::FAKE_ACCESS_KEY_ID)
            .env(
                "AWS_SECRET_ACCESS_KEY",
                airlock_testsupport::FAKE_SECRET_ACCESS_KEY,
            )
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
}
