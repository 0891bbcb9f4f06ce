//! A moto server owned by one test: started on a free loopback port, stopped by PID.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig, retry::RetryConfig};
use aws_credential_types::{Credentials, provider::SharedCredentialsProvider};
use aws_smithy_async::rt::sleep::{SharedAsyncSleep, TokioSleep};

use crate::HarnessError;

/// The region every fixture and test uses.
pub const REGION: &str = "us-east-1";
/// The account moto puts everything in by default.
pub const ACCOUNT_ID: &str = "123456789012";
/// Obviously fake credentials: moto accepts any, and nothing real ever goes near a test.
pub const FAKE_ACCESS_KEY_ID: &str = "AKIDAIRLOCKTESTFAKE";
pub const FAKE_SECRET_ACCESS_KEY: &str = "airlock-test-fake-secret-not-a-real-key";

const LAUNCHER: &str = include_str!("moto_launcher.py");
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A moto server process for one test (nextest runs each test in its own process, so this
/// is also one server per test binary run). Dropping it kills the process by PID; that
/// happens on a panic too, since the test harness unwinds.
pub struct MotoServer {
    child: Child,
    addr: SocketAddr,
    log: PathBuf,
}

impl MotoServer {
    /// Starts moto from the project's virtualenv (`scripts/setup-test-env.sh` creates it) or
    /// from the Python named by `AIRLOCK_MOTO_PYTHON`, and waits until it answers.
    pub fn start() -> Result<Self, HarnessError> {
        let python = python_path()?;
        let log = std::env::temp_dir().join(format!(
            "airlock-moto-{}-{}.log",
            std::process::id(),
            unique_suffix()
        ));
        let log_file = File::create(&log).map_err(|e| HarnessError::io("create moto log", e))?;
        let mut child = Command::new(&python)
            .arg("-c")
            .arg(LAUNCHER)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log_file))
            .env("PYTHONUNBUFFERED", "1")
            .spawn()
            .map_err(|e| HarnessError::io(format!("start {}", python.display()), e))?;

        let port = match read_port(&mut child) {
            Ok(port) => port,
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                let tail = std::fs::read_to_string(&log).unwrap_or_default();
                return Err(HarnessError::MotoStart(format!(
                    "{e}; moto's stderr:\n{tail}"
                )));
            }
        };
        let server = MotoServer {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            log,
        };
        server.wait_ready()?;
        Ok(server)
    }

    /// `http://127.0.0.1:PORT`
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Where moto's own log (werkzeug's request lines, Python tracebacks) goes. It is kept
    /// after a failing test and removed after a passing one.
    pub fn log_path(&self) -> &std::path::Path {
        &self.log
    }

    /// SDK configuration that talks to this server directly.
    pub fn sdk_config(&self) -> SdkConfig {
        sdk_config_for(&self.endpoint(), RetryConfig::standard())
    }

    /// Environment for a child process (an `airlock` binary under test) so that the standard
    /// AWS chain in `airlock-aws` points it at this server. Nothing else is needed.
    pub fn env(&self) -> Vec<(String, String)> {
        env_for(&self.endpoint())
    }

    /// Drops every resource in every service (`POST /moto-api/reset`).
    pub fn reset(&self) -> Result<(), HarnessError> {
        let (status, body) = http_request(self.addr, "POST", "/moto-api/reset")
            .map_err(|e| HarnessError::io("POST /moto-api/reset", e))?;
        if status != 200 {
            return Err(HarnessError::MotoStart(format!(
                "reset answered {status}: {body}"
            )));
        }
        Ok(())
    }

    fn wait_ready(&self) -> Result<(), HarnessError> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            match http_request(self.addr, "GET", "/moto-api/") {
                Ok((200, _)) => return Ok(()),
                Ok(_) | Err(_) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50))
                }
                Ok((status, body)) => {
                    return Err(HarnessError::MotoStart(format!(
                        "moto answered {status} to its readiness probe: {body}"
                    )));
                }
                Err(e) => return Err(HarnessError::io("moto readiness probe", e)),
            }
        }
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        // Child::kill sends SIGKILL to the recorded PID; wait() reaps it so no zombie is left.
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("moto's log is kept at {}", self.log.display());
        } else {
            let _ = std::fs::remove_file(&self.log);
        }
    }
}

/// SDK configuration for any endpoint (moto itself, or a [`crate::FaultProxy`] in front of it)
/// with the fixed test region and fake credentials.
pub fn sdk_config_for(endpoint: &str, retry: RetryConfig) -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url(endpoint)
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            FAKE_ACCESS_KEY_ID,
            FAKE_SECRET_ACCESS_KEY,
            None,
            None,
            "airlock-testsupport",
        )))
        .retry_config(retry)
        .sleep_impl(SharedAsyncSleep::new(TokioSleep::new()))
        .build()
}

/// The environment variables that point the standard AWS chain at `endpoint`.
pub fn env_for(endpoint: &str) -> Vec<(String, String)> {
    [
        ("AWS_ENDPOINT_URL", endpoint),
        ("AWS_REGION", REGION),
        ("AWS_ACCESS_KEY_ID", FAKE_ACCESS_KEY_ID),
        ("AWS_SECRET_ACCESS_KEY", FAKE_SECRET_ACCESS_KEY),
        // Keep the developer's own files and IMDS out of the picture.
        ("AWS_CONFIG_FILE", "/dev/null"),
        ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

fn python_path() -> Result<PathBuf, HarnessError> {
    if let Some(explicit) = std::env::var_os("AIRLOCK_MOTO_PYTHON") {
        return Ok(PathBuf::from(explicit));
    }
    let venv = crate::workspace_root().join(".venv/bin/python");
    if venv.exists() {
        Ok(venv)
    } else {
        Err(HarnessError::MotoMissing(venv))
    }
}

fn read_port(child: &mut Child) -> Result<u16, String> {
    let stdout = child
        .stdout
        .take()
        .ok_or("moto's stdout was not captured")?;
    let (tx, rx) = mpsc::channel();
    // A thread, so that a launcher that hangs before printing cannot hang the test.
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        let result = loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) => break Err("moto exited before reporting its port".to_string()),
                Ok(_) => {
                    if let Some(port) = line.trim().strip_prefix("AIRLOCK_MOTO_PORT=") {
                        break port
                            .parse::<u16>()
                            .map_err(|e| format!("bad port line {line:?}: {e}"));
                    }
                }
                Err(e) => break Err(format!("reading moto's stdout: {e}")),
            }
        };
        let _ = tx.send(result);
        // Keep draining so the launcher never blocks on a full pipe.
        let _ = std::io::copy(&mut reader, &mut std::io::sink());
    });
    rx.recv_timeout(START_TIMEOUT)
        .map_err(|_| format!("moto did not report a port within {START_TIMEOUT:?}"))?
}

/// A minimal HTTP/1.1 exchange for moto's own control API; the AWS APIs go through the SDK.
pub(crate) fn http_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::InvalidData, "no HTTP status line")
        })?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((status, body))
}

fn unique_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}
