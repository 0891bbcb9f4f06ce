//! Figures for `airlock agent` against a moto server on loopback; run through
//! `bench/agent.sh`, which builds the release binary this times.
//!
//! - start to ready: process start until `/readyz` answers 200 (config, SDK set-up, one
//!   AssumeRole);
//! - credentials requests answered from the cache on 1 to 32 keep-alive connections at once:
//!   requests per second, and p50/p99 of every request;
//! - side by side, the peer design: AssumeRole on every request (what an agent without a
//!   cache, or with STS on the request path, costs), through the AWS SDK for Rust to the same
//!   moto server; real STS adds a network round trip and its own latency on top;
//! - the agent's resident memory after the load.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use airlock_testsupport::{LoggedChild, MotoServer};

const ROLE_ARN: &str = "arn:aws:iam::123456789012:role/bench";

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}

struct Agent {
    process: LoggedChild,
    addr: SocketAddr,
    token: String,
    started: Instant,
    _dir: tempfile::TempDir,
}

fn start_agent(bin: &str, moto: &MotoServer) -> Agent {
    let dir = tempfile::tempdir().unwrap();
    let token_path = dir.path().join("token");
    let started = Instant::now();
    let process = LoggedChild::spawn(
        Command::new(bin)
            .args([
                "agent",
                "--role-arn",
                ROLE_ARN,
                "--port",
                "0",
                "--log-format",
                "json",
            ])
            .arg("--token-file")
            .arg(&token_path)
            .envs(moto.env()),
    )
    .unwrap();
    let listening = process
        .wait_for_message("agent listening", Duration::from_secs(30))
        .unwrap();
    let addr = listening["addr"].as_str().unwrap().parse().unwrap();
    let token = std::fs::read_to_string(&token_path).unwrap();
    Agent {
        process,
        addr,
        token,
        started,
        _dir: dir,
    }
}

/// A keep-alive HTTP/1.1 client for one connection.
struct Connection {
    reader: BufReader<TcpStream>,
    request: Vec<u8>,
}

impl Connection {
    fn open(addr: SocketAddr, path: &str, token: Option<&str>) -> Connection {
        let stream = TcpStream::connect(addr).unwrap();
        stream.set_nodelay(true).unwrap();
        let auth = token
            .map(|t| format!("Authorization: {t}\r\n"))
            .unwrap_or_default();
        Connection {
            reader: BufReader::new(stream),
            request: format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}\r\n").into_bytes(),
        }
    }

    /// Sends the request and reads the whole answer; returns the status.
    fn get(&mut self) -> u16 {
        self.reader.get_mut().write_all(&self.request).unwrap();
        let mut status = 0;
        let mut length = 0usize;
        let mut line = String::new();
        loop {
            line.clear();
            self.reader.read_line(&mut line).unwrap();
            if status == 0 {
                status = line
                    .split(' ')
                    .nth(1)
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0);
            } else if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().unwrap();
            } else if line == "\r\n" {
                break;
            }
        }
        let mut body = vec![0u8; length];
        self.reader.read_exact(&mut body).unwrap();
        status
    }
}

fn wait_ready(agent: &Agent) -> Duration {
    loop {
        let mut probe = Connection::open(agent.addr, "/readyz", None);
        if probe.get() == 200 {
            return agent.started.elapsed();
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

struct Load {
    connections: usize,
    per_second: f64,
    /// Every request's latency, sorted.
    latencies: Vec<Duration>,
}

/// `total` requests over `connections` keep-alive connections started together.
fn load(agent: &Agent, connections: usize, total: usize) -> Load {
    let per_connection = (total / connections).max(1);
    let start = std::sync::Arc::new(std::sync::Barrier::new(connections + 1));
    let threads: Vec<_> = (0..connections)
        .map(|_| {
            let (addr, token, start) = (agent.addr, agent.token.clone(), start.clone());
            std::thread::spawn(move || {
                let mut c = Connection::open(addr, "/v1/credentials", Some(&token));
                for _ in 0..200 {
                    assert_eq!(c.get(), 200);
                }
                start.wait();
                let mut latencies = Vec::with_capacity(per_connection);
                for _ in 0..per_connection {
                    let t = Instant::now();
                    assert_eq!(c.get(), 200);
                    latencies.push(t.elapsed());
                }
                latencies
            })
        })
        .collect();
    start.wait();
    let t = Instant::now();
    let mut latencies: Vec<Duration> = threads
        .into_iter()
        .flat_map(|thread| thread.join().unwrap())
        .collect();
    let elapsed = t.elapsed();
    latencies.sort();
    Load {
        connections,
        per_second: latencies.len() as f64 / elapsed.as_secs_f64(),
        latencies,
    }
}

fn rss_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn main() {
    let bin = std::env::var("AIRLOCK_BIN").expect("AIRLOCK_BIN: the airlock binary to time");
    let starts = env_usize("STARTS", 10);
    let requests = env_usize("REQUESTS", 50_000);
    let sts_requests = env_usize("STS_REQUESTS", 200);
    let moto = MotoServer::start().unwrap();

    // Start to ready.
    let mut ready = Vec::new();
    for _ in 0..starts {
        let agent = start_agent(&bin, &moto);
        ready.push(wait_ready(&agent));
    }
    ready.sort();

    // Cached answers under keep-alive load: N connections at once, each timing every request.
    let agent = start_agent(&bin, &moto);
    wait_ready(&agent);
    let loads: Vec<Load> = [1usize, 4, 8, 16, 32]
        .into_iter()
        .map(|connections| load(&agent, connections, requests))
        .collect();
    let rss = rss_kib(agent.process.id(), "VmRSS:");
    let hwm = rss_kib(agent.process.id(), "VmHWM:");
    drop(agent);

    // The peer design: AssumeRole per request, through the SDK, to the same server.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut sts_latencies = runtime.block_on(async {
        let sts = airlock_aws::aws_sdk_sts::Client::new(&moto.sdk_config());
        let mut out = Vec::with_capacity(sts_requests);
        for i in 0..sts_requests + 10 {
            let t = Instant::now();
            sts.assume_role()
                .role_arn(ROLE_ARN)
                .role_session_name("bench")
                .send()
                .await
                .unwrap();
            if i >= 10 {
                out.push(t.elapsed());
            }
        }
        out
    });
    sts_latencies.sort();

    println!(
        "airlock agent, {} on loopback against moto",
        std::env::consts::ARCH
    );
    println!();
    println!("{:<44} {:>14} {:>14} {:>14}", "", "p50", "p99", "max");
    println!(
        "{:<44} {:>14} {:>14} {:>14}",
        format!("start to ready ({starts} starts)"),
        ms(percentile(&ready, 0.5)),
        ms(percentile(&ready, 0.99)),
        ms(*ready.last().unwrap())
    );
    println!(
        "{:<44} {:>14} {:>14} {:>14}",
        "airlock agent: cached answer (1 connection)",
        ms(percentile(&loads[0].latencies, 0.5)),
        ms(percentile(&loads[0].latencies, 0.99)),
        ms(*loads[0].latencies.last().unwrap())
    );
    println!(
        "{:<44} {:>14} {:>14} {:>14}",
        format!("peer design: AssumeRole per request ({sts_requests})"),
        ms(percentile(&sts_latencies, 0.5)),
        ms(percentile(&sts_latencies, 0.99)),
        ms(*sts_latencies.last().unwrap())
    );
    println!();
    println!(
        "GET /v1/credentials, cached, keep-alive ({requests} requests per row, client on the same 2 cores)"
    );
    println!(
        "{:>12} {:>12} {:>12} {:>12} {:>12}",
        "connections", "req/s", "p50", "p99", "max"
    );
    for l in &loads {
        println!(
            "{:>12} {:>12.0} {:>12} {:>12} {:>12}",
            l.connections,
            l.per_second,
            ms(percentile(&l.latencies, 0.5)),
            ms(percentile(&l.latencies, 0.99)),
            ms(*l.latencies.last().unwrap())
        );
    }
    println!();
    println!(
        "p50 speed-up of the cache (1 connection) over STS on the request path: {:.0}x",
        percentile(&sts_latencies, 0.5).as_secs_f64()
            / percentile(&loads[0].latencies, 0.5).as_secs_f64()
    );
    println!(
        "agent memory after the load: {:.1} MiB resident, {:.1} MiB peak",
        rss as f64 / 1024.0,
        hwm as f64 / 1024.0
    );
}
