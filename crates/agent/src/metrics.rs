//! Counters for `/metrics`, in Prometheus' text exposition format (version 0.0.4).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Default)]
pub struct Metrics {
    refreshes: AtomicU64,
    refresh_failures: AtomicU64,
    requests: Mutex<BTreeMap<u16, u64>>,
}

/// What the gauges show at the moment of a scrape.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Gauges {
    /// Seconds until the held credentials expire; `None` when none are held.
    pub seconds_to_expiry: Option<f64>,
    pub ready: bool,
}

impl Metrics {
    pub fn refreshed(&self) {
        self.refreshes.fetch_add(1, Ordering::Relaxed);
    }

    pub fn refresh_failed(&self) {
        self.refresh_failures.fetch_add(1, Ordering::Relaxed);
    }

    pub fn answered(&self, status: u16) {
        if let Ok(mut requests) = self.requests.lock() {
            *requests.entry(status).or_default() += 1;
        }
    }

    pub fn refreshes(&self) -> u64 {
        self.refreshes.load(Ordering::Relaxed)
    }

    pub fn refresh_failures(&self) -> u64 {
        self.refresh_failures.load(Ordering::Relaxed)
    }

    pub fn render(&self, gauges: Gauges) -> String {
        let mut out = String::new();
        let mut metric = |name: &str, kind: &str, help: &str, samples: &[(String, String)]| {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {kind}");
            for (labels, value) in samples {
                let _ = writeln!(out, "{name}{labels} {value}");
            }
        };
        metric(
            "airlock_agent_refreshes_total",
            "counter",
            "Successful AssumeRole calls.",
            &[(String::new(), self.refreshes().to_string())],
        );
        metric(
            "airlock_agent_refresh_failures_total",
            "counter",
            "Failed AssumeRole calls.",
            &[(String::new(), self.refresh_failures().to_string())],
        );
        metric(
            "airlock_agent_credentials_seconds_to_expiry",
            "gauge",
            "Seconds until the held credentials expire (0 when none are held).",
            &[(
                String::new(),
                format!("{:.0}", gauges.seconds_to_expiry.unwrap_or(0.0)),
            )],
        );
        metric(
            "airlock_agent_ready",
            "gauge",
            "1 while valid credentials are held.",
            &[(String::new(), u8::from(gauges.ready).to_string())],
        );
        let requests: Vec<(String, String)> = self
            .requests
            .lock()
            .map(|r| {
                r.iter()
                    .map(|(status, n)| (format!("{{status=\"{status}\"}}"), n.to_string()))
                    .collect()
            })
            .unwrap_or_default();
        metric(
            "airlock_agent_requests_total",
            "counter",
            "HTTP requests answered, by status code.",
            &requests,
        );
        out
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test's panic is its failure report
mod tests {
    use super::*;

    #[test]
    fn the_text_format_has_help_type_and_labelled_samples() {
        let m = Metrics::default();
        m.refreshed();
        m.refreshed();
        m.refresh_failed();
        m.answered(200);
        m.answered(200);
        m.answered(403);
        let text = m.render(Gauges {
            seconds_to_expiry: Some(1799.6),
            ready: true,
        });
        for line in [
            "# TYPE airlock_agent_refreshes_total counter",
            "airlock_agent_refreshes_total 2",
            "airlock_agent_refresh_failures_total 1",
            "airlock_agent_credentials_seconds_to_expiry 1800",
            "airlock_agent_ready 1",
            "airlock_agent_requests_total{status=\"200\"} 2",
            "airlock_agent_requests_total{status=\"403\"} 1",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
        assert!(text.ends_with('\n'));
    }
}
