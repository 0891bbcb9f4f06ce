//! The local lane: the whole deploy lane on one machine, through one SQLite file, no AWS.
//!
//! The file holds what SNS and SQS hold in the AWS lane:
//! - `requests`: signed envelopes published by `airlock deploy --local` ([`LocalRequests`],
//!   the SNS topic's stand-in), taken by the local dispatcher ([`dispatch`]);
//! - `messages`: named feedback queues ([`LocalQueue`], the SQS queue's stand-in) with SQS's
//!   semantics: a received message is hidden for a visibility timeout and comes back unless
//!   it is deleted with its receipt handle;
//! - `nonces` and `lane_lock`: the dispatcher's replay memory and its one-request-at-a-time
//!   lock, shared by every dispatcher process on the file.
//!
//! Safe across processes: WAL journal (readers never block the writer), a busy timeout (a
//! writer waits for another's short transaction instead of failing), and every
//! read-then-write in one `BEGIN IMMEDIATE` transaction (so two receivers can never take the
//! same message). `synchronous = NORMAL`: a process crash loses nothing; a power cut may lose
//! the last transactions, which is acceptable for a lane that runs on a developer's machine.
//!
//! rusqlite is blocking, so every call runs on tokio's blocking pool
//! ([`tokio::task::spawn_blocking`]) and never stalls the async runtime.
//!
//! Latency: SQLite has no notification across processes, so [`FeedbackSource::receive`]
//! polls the queue every [`DEFAULT_POLL_INTERVAL`] (10 ms) until a message arrives or `wait`
//! passes; a message waits at most about that long (plus one transaction) before it is
//! received. An idle follower costs one indexed query per poll.

pub mod dispatch;
pub mod signer;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, ErrorCode, OptionalExtension, TransactionBehavior, params};

use crate::transport::{
    EntryOutcome, FeedbackSink, FeedbackSource, Received, RequestSink, TransportError,
};

/// The queue the runner and dispatcher write feedback to when the destination names none.
pub const DEFAULT_QUEUE: &str = "feedback";
/// How often a waiting [`FeedbackSource::receive`] or [`LocalRequests::take`] looks again.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_millis(10);
/// How long a received, undeleted message stays hidden (SQS's default).
pub const DEFAULT_VISIBILITY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a writer waits for another process's transaction before giving up.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// The most messages one receive returns (SQS's limit, kept so both transports behave alike).
pub const MAX_RECEIVE: usize = 10;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    queue TEXT NOT NULL,
    body TEXT NOT NULL,
    -- ms since the Unix epoch from which the message may be received
    visible_at INTEGER NOT NULL,
    -- bumped on every receive: part of the receipt handle, so a stale handle deletes nothing
    receive_count INTEGER NOT NULL DEFAULT 0
);
-- receive scans a queue in id order, skipping hidden messages: (queue, id) keeps that scan
-- short and sort-free however many messages wait (an index led by visible_at made every
-- receive sort the whole backlog)
CREATE INDEX IF NOT EXISTS messages_in_order ON messages (queue, id, visible_at);
CREATE TABLE IF NOT EXISTS requests (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    envelope TEXT NOT NULL,
    published_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS nonces (
    nonce TEXT PRIMARY KEY,
    request_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    seen_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS nonces_by_request ON nonces (request_id);
-- nonces whose request was decided: a redelivery of one is dropped, while a request whose
-- handling stopped midway (its nonce claimed, not decided) is finished when it comes again
CREATE TABLE IF NOT EXISTS decided_nonces (
    nonce TEXT PRIMARY KEY
);
-- requests the dispatcher accepted: a refusal is never addressed to one of them, so that a
-- duplicate or forged envelope cannot make a running deployment's follower give up
CREATE TABLE IF NOT EXISTS accepted_requests (
    request_id TEXT PRIMARY KEY,
    accepted_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS lane_lock (
    lane TEXT PRIMARY KEY,
    request_id TEXT NOT NULL,
    actor TEXT NOT NULL,
    since TEXT NOT NULL,
    -- the process that holds the lock: the dispatcher until the runner is started
    holder_pid INTEGER NOT NULL,
    runner_pid INTEGER
);
";

/// One open lane file. Cheap to clone (the connection is shared); open one per process.
#[derive(Clone)]
pub struct LocalLane {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    conn: Mutex<Connection>,
}

impl std::fmt::Debug for LocalLane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalLane")
            .field("path", &self.inner.path)
            .finish()
    }
}

impl LocalLane {
    /// Opens (creating if needed) the lane file at `path`, off the async runtime.
    pub async fn open(path: impl Into<PathBuf>) -> Result<LocalLane, TransportError> {
        let path = path.into();
        tokio::task::spawn_blocking(move || LocalLane::open_blocking(&path))
            .await
            .map_err(|e| TransportError {
                operation: "open",
                message: format!("opening the lane file: {e}"),
                retryable: false,
            })?
    }

    /// Opens the lane file from synchronous code. Creates its directory (mode 0700) and the
    /// file (mode 0600: it holds requests and job output) when missing.
    pub fn open_blocking(path: &Path) -> Result<LocalLane, TransportError> {
        let fail = |message: String| TransportError {
            operation: "open",
            message,
            retryable: false,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            create_private_dir(dir)
                .map_err(|e| fail(format!("cannot create {}: {e}", dir.display())))?;
        }
        create_private_file(path)
            .map_err(|e| fail(format!("cannot create {}: {e}", path.display())))?;
        // Absolute, so that the destination handed to a runner works from any directory.
        let path = std::fs::canonicalize(path)
            .map_err(|e| fail(format!("cannot resolve {}: {e}", path.display())))?;
        let conn = Connection::open(&path).map_err(|e| sql_error("open", &path, &e))?;
        let setup = || -> rusqlite::Result<()> {
            conn.busy_handler(Some(wait_while_busy))?;
            let mode: String =
                conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
            if !mode.eq_ignore_ascii_case("wal") {
                tracing::warn!(path = %path.display(), mode, "SQLite refused WAL mode; the lane file still works, slower");
            }
            conn.pragma_update(None, "synchronous", "NORMAL")?;
            conn.execute_batch(SCHEMA)
        };
        setup().map_err(|e| sql_error("open", &path, &e))?;
        Ok(LocalLane {
            inner: Arc::new(Inner {
                path,
                conn: Mutex::new(conn),
            }),
        })
    }

    /// The lane file (absolute).
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// A named feedback queue in this file.
    pub fn queue(&self, name: &str) -> LocalQueue {
        LocalQueue {
            lane: self.clone(),
            name: name.to_string(),
            visibility_timeout: DEFAULT_VISIBILITY_TIMEOUT,
            poll_interval: DEFAULT_POLL_INTERVAL,
        }
    }

    /// The request table (the SNS topic's stand-in).
    pub fn requests(&self) -> LocalRequests {
        LocalRequests {
            lane: self.clone(),
            poll_interval: DEFAULT_POLL_INTERVAL,
        }
    }

    /// Runs `work` on the connection on tokio's blocking pool.
    pub(crate) async fn call<T, F>(
        &self,
        operation: &'static str,
        work: F,
    ) -> Result<T, TransportError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || {
            // A panic while holding the lock cannot leave a transaction open (rusqlite rolls
            // back on drop), so a poisoned lock's connection is still usable.
            let mut conn = inner.conn.lock().unwrap_or_else(|p| p.into_inner());
            work(&mut conn).map_err(|e| sql_error(operation, &inner.path, &e))
        })
        .await
        .map_err(|e| TransportError {
            operation,
            message: format!("the SQLite worker failed: {e}"),
            retryable: false,
        })?
    }
}

/// A feedback queue in the lane file: [`FeedbackSink`] for the runner and dispatcher,
/// [`FeedbackSource`] for the follower.
#[derive(Clone, Debug)]
pub struct LocalQueue {
    lane: LocalLane,
    name: String,
    visibility_timeout: Duration,
    poll_interval: Duration,
}

impl LocalQueue {
    pub fn with_visibility_timeout(mut self, timeout: Duration) -> LocalQueue {
        self.visibility_timeout = timeout;
        self
    }

    pub fn with_poll_interval(mut self, interval: Duration) -> LocalQueue {
        self.poll_interval = interval.max(Duration::from_millis(1));
        self
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The destination string that names this queue (`sqlite:<path>?queue=<name>`).
    pub fn destination(&self) -> SqliteDestination {
        SqliteDestination {
            db: self.lane.path().to_path_buf(),
            queue: self.name.clone(),
        }
    }

    /// One attempt: takes up to `max` visible messages, oldest first, and hides them.
    async fn receive_now(&self, max: usize) -> Result<Vec<Received>, TransportError> {
        let queue = self.name.clone();
        let hide_ms = duration_ms(self.visibility_timeout);
        self.lane
            .call("receive", move |conn| {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let now = now_ms();
                let received = {
                    let mut take = tx.prepare_cached(
                        "UPDATE messages SET visible_at = ?1, receive_count = receive_count + 1
                         WHERE id IN (SELECT id FROM messages WHERE queue = ?2 AND visible_at <= ?3
                                      ORDER BY id LIMIT ?4)
                         RETURNING id, receive_count, body",
                    )?;
                    let rows = take.query_map(
                        params![now.saturating_add(hide_ms), queue, now, max as i64],
                        |row| {
                            let id: i64 = row.get(0)?;
                            let count: i64 = row.get(1)?;
                            Ok(Received {
                                body: row.get(2)?,
                                handle: format!("{id}.{count}"),
                                // The lane file does not record send times, so the local
                                // follower never treats another request's message as orphaned.
                                sent_at: None,
                            })
                        },
                    )?;
                    let mut received = rows.collect::<rusqlite::Result<Vec<_>>>()?;
                    // RETURNING gives no order guarantee; keep the queue's order.
                    received.sort_by_key(|r| handle_id(&r.handle).unwrap_or(i64::MAX));
                    received
                };
                tx.commit()?;
                Ok(received)
            })
            .await
    }
}

impl FeedbackSink for LocalQueue {
    /// Inserts every body in one transaction: all are sent or the call fails. There is no
    /// 10-entry limit here (SQLite has none), but callers keep it for the SQS transport.
    async fn send_batch(&self, bodies: &[String]) -> Result<Vec<EntryOutcome>, TransportError> {
        let queue = self.name.clone();
        let bodies = bodies.to_vec();
        self.lane
            .call("send_batch", move |conn| {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                {
                    let mut insert = tx.prepare_cached(
                        "INSERT INTO messages (queue, body, visible_at) VALUES (?1, ?2, ?3)",
                    )?;
                    let now = now_ms();
                    for body in &bodies {
                        insert.execute(params![queue, body, now])?;
                    }
                }
                tx.commit()?;
                Ok(vec![EntryOutcome::Sent; bodies.len()])
            })
            .await
    }
}

impl FeedbackSource for LocalQueue {
    fn redelivery_after(&self) -> Duration {
        self.visibility_timeout
    }

    /// Polls every `poll_interval` until a message is visible or `wait` has passed; returns
    /// at most `max` (clamped to 1..=10) messages, oldest first.
    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Received>, TransportError> {
        let max = max.clamp(1, MAX_RECEIVE);
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let received = self.receive_now(max).await?;
            let now = tokio::time::Instant::now();
            if !received.is_empty() || now >= deadline {
                return Ok(received);
            }
            tokio::time::sleep(self.poll_interval.min(deadline - now)).await;
        }
    }

    /// Deletes by receipt handle. A stale handle (the message was received again since)
    /// deletes nothing, as in SQS the message then belongs to its newer receiver.
    async fn delete(&self, handles: &[String]) -> Result<(), TransportError> {
        let parsed = handles
            .iter()
            .map(|h| {
                parse_handle(h).ok_or_else(|| TransportError {
                    operation: "delete",
                    message: format!("not a receipt handle of the local lane: {h:?}"),
                    retryable: false,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let queue = self.name.clone();
        self.lane
            .call("delete", move |conn| {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                {
                    let mut delete = tx.prepare_cached(
                        "DELETE FROM messages WHERE id = ?1 AND receive_count = ?2 AND queue = ?3",
                    )?;
                    for (id, count) in &parsed {
                        delete.execute(params![id, count, queue])?;
                    }
                }
                tx.commit()
            })
            .await
    }
}

/// The request table: [`RequestSink`] for `airlock deploy --local`, [`LocalRequests::take`]
/// for the local dispatcher.
#[derive(Clone, Debug)]
pub struct LocalRequests {
    lane: LocalLane,
    poll_interval: Duration,
}

/// A request envelope taken from the table (and removed from it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TakenRequest {
    /// The id [`RequestSink::publish`] returned.
    pub id: String,
    pub envelope: String,
}

impl LocalRequests {
    /// Takes the oldest request, waiting up to `wait` for one. Taking removes it: a request
    /// is handed to one dispatcher only (at most once; a dispatcher that dies right after
    /// taking loses it, and the follower's watchdog reports that).
    pub async fn take(&self, wait: Duration) -> Result<Option<TakenRequest>, TransportError> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let taken = self
                .lane
                .call("take_request", |conn| {
                    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                    let taken = tx
                        .query_row(
                            "DELETE FROM requests WHERE id = (SELECT min(id) FROM requests)
                             RETURNING id, envelope",
                            [],
                            |row| {
                                Ok(TakenRequest {
                                    id: row.get::<_, i64>(0)?.to_string(),
                                    envelope: row.get(1)?,
                                })
                            },
                        )
                        .optional()?;
                    tx.commit()?;
                    Ok(taken)
                })
                .await?;
            let now = tokio::time::Instant::now();
            if taken.is_some() || now >= deadline {
                return Ok(taken);
            }
            tokio::time::sleep(self.poll_interval.min(deadline - now)).await;
        }
    }
}

impl RequestSink for LocalRequests {
    async fn publish(&self, envelope: &str) -> Result<String, TransportError> {
        let envelope = envelope.to_string();
        self.lane
            .call("publish", move |conn| {
                conn.execute(
                    "INSERT INTO requests (envelope, published_at) VALUES (?1, ?2)",
                    params![envelope, now_ms()],
                )?;
                Ok(conn.last_insert_rowid().to_string())
            })
            .await
    }
}

/// A feedback destination of the local lane: `sqlite:<path>[?queue=<name>]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqliteDestination {
    pub db: PathBuf,
    pub queue: String,
}

/// Why a `sqlite:` destination could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("feedback destination {destination:?}: {reason}")]
pub struct DestinationError {
    pub destination: String,
    pub reason: String,
}

impl SqliteDestination {
    pub const SCHEME: &'static str = "sqlite:";

    /// Whether `destination` names the local lane (rather than an SQS queue URL).
    pub fn is_sqlite(destination: &str) -> bool {
        destination.starts_with(Self::SCHEME)
    }

    pub fn parse(destination: &str) -> Result<SqliteDestination, DestinationError> {
        let fail = |reason: &str| DestinationError {
            destination: destination.to_string(),
            reason: reason.to_string(),
        };
        let rest = destination
            .strip_prefix(Self::SCHEME)
            .ok_or_else(|| fail("does not start with sqlite:"))?;
        // The last `?queue=` separates the query, so that a path may itself contain `?`.
        let (path, queue) = match rest.rsplit_once("?queue=") {
            Some((path, queue)) => (path, queue),
            None => (rest, DEFAULT_QUEUE),
        };
        if path.is_empty() {
            return Err(fail("no database path after sqlite:"));
        }
        if !valid_queue_name(queue) {
            return Err(fail("queue names are 1 to 80 of A-Z a-z 0-9 _ -"));
        }
        Ok(SqliteDestination {
            db: PathBuf::from(path),
            queue: queue.to_string(),
        })
    }

    /// Opens the file and returns the queue.
    pub async fn open(&self) -> Result<LocalQueue, TransportError> {
        Ok(LocalLane::open(self.db.clone()).await?.queue(&self.queue))
    }
}

impl std::fmt::Display for SqliteDestination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "sqlite:{}?queue={}", self.db.display(), self.queue)
    }
}

fn valid_queue_name(name: &str) -> bool {
    (1..=80).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'))
}

fn parse_handle(handle: &str) -> Option<(i64, i64)> {
    let (id, count) = handle.split_once('.')?;
    Some((id.parse().ok()?, count.parse().ok()?))
}

fn handle_id(handle: &str) -> Option<i64> {
    parse_handle(handle).map(|(id, _)| id)
}

pub(crate) fn now_ms() -> i64 {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX)
}

fn duration_ms(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

pub(crate) fn sql_error(
    operation: &'static str,
    path: &Path,
    error: &rusqlite::Error,
) -> TransportError {
    let retryable = matches!(
        error.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    );
    TransportError {
        operation,
        message: format!("{}: {error}", path.display()),
        retryable,
    }
}

/// SQLite's busy handler: called with the number of earlier calls for the same lock, it
/// sleeps and returns true to try again, false to give up with `SQLITE_BUSY`.
///
/// SQLite's own `busy_timeout` sleeps 1, 2, 5, 10, … ms between tries; our transactions last
/// tens of microseconds, so a runner and a follower that collide would sleep far longer than
/// the lock is held and throughput would fall to a few thousand transactions a second.
/// Short sleeps first (50 µs growing to 1 ms), then 5 ms, for about [`BUSY_TIMEOUT`] in all.
fn wait_while_busy(attempt: i32) -> bool {
    const QUICK_TRIES: u32 = 20;
    let attempt = u32::try_from(attempt).unwrap_or(0);
    let slept_quick: u64 = (1..=u64::from(QUICK_TRIES)).map(|n| 50 * n).sum();
    let slow_tries =
        (duration_ms(BUSY_TIMEOUT).unsigned_abs() * 1000).saturating_sub(slept_quick) / 5000;
    if u64::from(attempt) >= u64::from(QUICK_TRIES) + slow_tries {
        return false;
    }
    let pause = if attempt < QUICK_TRIES {
        Duration::from_micros(50 * u64::from(attempt + 1))
    } else {
        Duration::from_millis(5)
    };
    std::thread::sleep(pause);
    true
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

fn create_private_file(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_parse_and_print() {
        let d = SqliteDestination::parse("sqlite:/tmp/lane.db").expect("valid");
        assert_eq!(d.db, PathBuf::from("/tmp/lane.db"));
        assert_eq!(d.queue, "feedback");
        assert_eq!(d.to_string(), "sqlite:/tmp/lane.db?queue=feedback");
        let d = SqliteDestination::parse("sqlite:/tmp/a?b.db?queue=fb-2").expect("valid");
        assert_eq!(d.db, PathBuf::from("/tmp/a?b.db"));
        assert_eq!(d.queue, "fb-2");
        assert_eq!(SqliteDestination::parse(&d.to_string()), Ok(d));
        for bad in [
            "sqlite:",
            "sqlite:?queue=x",
            "sqlite:/x?queue=",
            "sqlite:/x?queue=a b",
            "https://sqs",
        ] {
            assert!(SqliteDestination::parse(bad).is_err(), "{bad}");
        }
        assert!(SqliteDestination::is_sqlite("sqlite:x"));
        assert!(!SqliteDestination::is_sqlite(
            "https://sqs.eu-west-1.amazonaws.com/1/q"
        ));
    }

    #[test]
    fn handles_round_trip() {
        assert_eq!(parse_handle("12.3"), Some((12, 3)));
        assert_eq!(parse_handle("12"), None);
        assert_eq!(parse_handle("a.b"), None);
    }
}
