//! A child process (an `airlock` binary under test or benchmark) whose stderr is collected
//! line by line, so a test can wait for a JSON log line and read the whole log afterwards.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use crate::HarnessError;

pub struct LoggedChild {
    pub child: Child,
    log: Arc<Mutex<String>>,
    lines: mpsc::Receiver<String>,
}

impl LoggedChild {
    /// Spawns `command` with stdin closed, stdout discarded and stderr collected.
    pub fn spawn(command: &mut Command) -> Result<Self, HarnessError> {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| HarnessError::io("spawn the process under test", e))?;
        let stderr = child
            .stderr
            .take()
            .ok_or_else(|| HarnessError::io("stderr", std::io::Error::other("not piped")))?;
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, lines) = mpsc::channel();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Ok(mut log) = sink.lock() {
                    log.push_str(&line);
                    log.push('\n');
                }
                let _ = tx.send(line);
            }
        });
        Ok(LoggedChild { child, log, lines })
    }

    /// Waits for the first JSON log line (`--log-format json`) whose `message` is `message`,
    /// and returns it parsed. On timeout or exit, the error holds the log so far.
    pub fn wait_for_message(
        &self,
        message: &str,
        timeout: Duration,
    ) -> Result<serde_json::Value, HarnessError> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    if let Ok(json) = serde_json::from_str::<serde_json::Value>(&line)
                        && json["message"] == message
                    {
                        return Ok(json);
                    }
                }
                Err(_) => {
                    return Err(HarnessError::Process(format!(
                        "no {message:?} log line within {}s; the log:\n{}",
                        timeout.as_secs(),
                        self.log()
                    )));
                }
            }
        }
    }

    /// Everything the process wrote to stderr so far.
    pub fn log(&self) -> String {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    pub fn id(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for LoggedChild {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
