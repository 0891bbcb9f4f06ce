//! Wall-clock time behind a trait, because credential expiry is wall-clock time (STS says
//! "expires at 12:00Z") and the refresh logic must be testable over simulated hours.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::watch;

pub type Sleep<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> SystemTime;
    /// Resolves once `now() >= deadline`.
    fn sleep_until(&self, deadline: SystemTime) -> Sleep<'_>;
}

/// The system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

/// Sleeps are cut into slices of at most this, so that a wall-clock jump (a suspended VM, an
/// NTP step) delays a refresh by at most one slice.
const SLEEP_SLICE: Duration = Duration::from_secs(30);

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }

    fn sleep_until(&self, deadline: SystemTime) -> Sleep<'_> {
        Box::pin(async move {
            while let Ok(left) = deadline.duration_since(SystemTime::now()) {
                if left.is_zero() {
                    break;
                }
                tokio::time::sleep(left.min(SLEEP_SLICE)).await;
            }
        })
    }
}

/// A clock that moves only when a test moves it.
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: Arc<watch::Sender<SystemTime>>,
}

impl ManualClock {
    pub fn new(start: SystemTime) -> Self {
        ManualClock {
            now: Arc::new(watch::Sender::new(start)),
        }
    }

    pub fn advance(&self, by: Duration) {
        self.now.send_modify(|now| *now += by);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> SystemTime {
        *self.now.borrow()
    }

    fn sleep_until(&self, deadline: SystemTime) -> Sleep<'_> {
        let mut rx = self.now.subscribe();
        Box::pin(async move {
            // The sender lives as long as `self`, so `wait_for` ends only when time is reached.
            let _ = rx.wait_for(|now| *now >= deadline).await;
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test's panic is its failure report
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_manual_sleep_ends_when_the_clock_reaches_its_deadline() {
        let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let clock = ManualClock::new(start);
        let sleeper = clock.clone();
        let task = tokio::spawn(async move {
            sleeper.sleep_until(start + Duration::from_secs(60)).await;
        });
        clock.advance(Duration::from_secs(59));
        tokio::task::yield_now().await;
        assert!(!task.is_finished());
        clock.advance(Duration::from_secs(1));
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .expect("the sleep ended")
            .expect("no panic");
    }

    #[tokio::test]
    async fn a_system_sleep_in_the_past_returns_at_once() {
        SystemClock
            .sleep_until(SystemTime::now() - Duration::from_secs(1))
            .await;
    }
}
