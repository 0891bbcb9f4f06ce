//! Figures for `bench/dispatch.sh`: the handler's latency per valid request against moto
//! (in process, the AWS adapters doing real HTTP calls), and the bootstrap's cold start under
//! the Lambda runtime API: process start to the first poll for an invocation (init done), and
//! to the first invocation answered.
//!
//! `AIRLOCK_DISPATCH_BIN` names the bootstrap to time (bench/dispatch.sh builds it in release).

#[path = "../tests/common/mod.rs"]
mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use airlock_dispatch::dispatcher::StoppedTask;
use common::runtime_api::{Reply, RuntimeApi, bootstrap_command};
use common::{KEY_ID, Stage, sign, trusted_key, valid_request};

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn free_lane(stage: &Stage, task_arn: &str) {
    let stopped = StoppedTask {
        task_arn: task_arn.to_string(),
        stop_code: "EssentialContainerExited".into(),
        stopped_reason: "bench".into(),
        containers: vec![],
    };
    stage
        .runtime
        .block_on(stage.dispatcher().handle_stopped(&stopped))
        .expect("stopped");
}

fn main() {
    let requests: usize = std::env::var("REQUESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let colds: usize = std::env::var("COLD_STARTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let stage = Stage::start();
    let bin = std::env::var("AIRLOCK_DISPATCH_BIN").expect("AIRLOCK_DISPATCH_BIN");
    let config = std::env::temp_dir().join(format!(
        "airlock-bench-dispatch-{}.toml",
        std::process::id()
    ));
    std::fs::write(&config, &stage.config_text).expect("config");
    let (mut init, mut first) = (Vec::new(), Vec::new());
    for _ in 0..colds {
        let api = RuntimeApi::start();
        let envelope = sign(&valid_request(), &trusted_key(), KEY_ID);
        api.push(&serde_json::json!({"Records": [{"EventSource": "aws:sns", "Sns": {"MessageId": "m", "Message": envelope}}]}));
        let spawned = Instant::now();
        let mut child = bootstrap_command(bin.as_ref(), stage.moto.env(), &api)
            .env("AIRLOCK_DISPATCH_CONFIG", &config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("bootstrap");
        let replies = api.wait_replies(1, Duration::from_secs(30));
        let answered = spawned.elapsed();
        let _ = child.kill();
        let _ = child.wait();
        let polled = api
            .first_poll()
            .map(|t| t.duration_since(spawned))
            .expect("polled");
        init.push(polled.as_secs_f64() * 1000.0);
        first.push(answered.as_secs_f64() * 1000.0);
        let Some(Reply::Response { body, .. }) = replies.first() else {
            panic!("no response: {replies:?}");
        };
        let value: serde_json::Value = serde_json::from_str(body).expect("json");
        let task = value["decisions"][0]["task_arn"]
            .as_str()
            .expect("started")
            .to_string();
        free_lane(&stage, &task);
    }
    // Warm invocations through one bootstrap: an event queued to its reply posted.
    let api = RuntimeApi::start();
    let mut child = bootstrap_command(bin.as_ref(), stage.moto.env(), &api)
        .env("AIRLOCK_DISPATCH_CONFIG", &config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("bootstrap");
    let mut latencies = Vec::with_capacity(requests);
    for i in 0..requests {
        let envelope = sign(&valid_request(), &trusted_key(), KEY_ID);
        let pushed = Instant::now();
        api.push(&serde_json::json!({"Records": [{"EventSource": "aws:sns", "Sns": {"MessageId": "m", "Message": envelope}}]}));
        let replies = api.wait_replies(i + 1, Duration::from_secs(30));
        latencies.push(pushed.elapsed().as_secs_f64() * 1000.0);
        let Some(Reply::Response { body, .. }) = replies.get(i) else {
            panic!("no response: {replies:?}");
        };
        let value: serde_json::Value = serde_json::from_str(body).expect("json");
        let task = value["decisions"][0]["task_arn"]
            .as_str()
            .expect("started")
            .to_string();
        free_lane(&stage, &task);
    }
    let _ = child.kill();
    let _ = child.wait();
    latencies.sort_by(f64::total_cmp);
    let _ = std::fs::remove_file(&config);
    init.sort_by(f64::total_cmp);
    first.sort_by(f64::total_cmp);
    println!(
        "handler, valid request to started task, warm ({requests} invocations of the release bootstrap, moto on loopback):"
    );
    println!(
        "  p50 {:.1} ms  p99 {:.1} ms  max {:.1} ms",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        latencies[latencies.len() - 1]
    );
    println!("bootstrap cold start ({colds} starts, median / max):");
    println!(
        "  process start to first poll of the runtime API (init): {:.1} / {:.1} ms",
        percentile(&init, 0.5),
        init[init.len() - 1]
    );
    println!(
        "  process start to first invocation answered:            {:.1} / {:.1} ms",
        percentile(&first, 0.5),
        first[first.len() - 1]
    );
}
