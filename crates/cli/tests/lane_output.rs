//! Where a deployment's output goes besides CI's own streams: `airlock deploy` writing stdout
//! and stderr into one CI log in the order the job wrote them, and the runner's own copy (the
//! task's log in production), tagged by stream, masked, with the request id.

mod common;

use std::process::{Command, Stdio};

use common::Scratch;

/// Lines alternate between the streams 2 ms apart, then the job fails with 3.
const ALTERNATING: &str = "i=1; while [ $i -le 40 ]; do echo \"out $i\"; sleep 0.002; \
                           echo \"err $i\" >&2; sleep 0.002; i=$((i+1)); done; exit 3";

fn is_job_line(line: &str) -> bool {
    line.starts_with("out ") || line.starts_with("err ")
}

#[test]
fn merged_streams_come_out_in_the_order_of_the_runners_log() {
    let dir = Scratch::new("lane-order");
    dir.write(
        "airlock.toml",
        &format!(
            "[lane.local]\ndb = \"lane.db\"\nkey = \"key.pem\"\n\n[lane.jobs.alternate]\n\
             command = [\"sh\", \"-c\", {ALTERNATING:?}]\ntimeout_secs = 60\n"
        ),
    );
    // One file behind both descriptors, as a CI runner merges `2>&1`: writes land in the
    // order they are made.
    let merged_path = dir.path.join("merged.log");
    let merged = std::fs::File::create(&merged_path).expect("merged log");
    let status = Command::new(env!("CARGO_BIN_EXE_airlock"))
        .args(["-q", "deploy", "--local", "--job", "alternate"])
        .current_dir(&dir.path)
        .env_remove("AIRLOCK_CONFIG")
        .env_remove("AIRLOCK_LOG")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(merged.try_clone().expect("clone"))
        .stderr(merged)
        .status()
        .expect("airlock deploy --local");
    assert_eq!(status.code(), Some(3));
    let merged = std::fs::read_to_string(&merged_path).expect("read merged");
    let lines: Vec<&str> = merged.lines().collect();
    let printed: Vec<&str> = lines.iter().copied().filter(|l| is_job_line(l)).collect();

    let runs: Vec<_> = std::fs::read_dir(dir.path.join("runs"))
        .expect("runner logs")
        .map(|entry| entry.expect("entry").path())
        .collect();
    assert_eq!(runs.len(), 1, "{runs:?}");
    let runner_log = std::fs::read_to_string(&runs[0]).expect("runner log");
    let logged: Vec<String> = runner_log
        .lines()
        .filter_map(|l| {
            l.strip_prefix("[out] ")
                .or_else(|| l.strip_prefix("[err] "))
        })
        .map(str::to_string)
        .collect();
    assert_eq!(logged.len(), 80, "runner log:\n{runner_log}");
    assert_eq!(printed, logged, "merged output:\n{merged}");
    // The runner's log tells the streams apart: each line sits on the stream it was written to.
    for line in runner_log.lines() {
        if let Some(text) = line.strip_prefix("[out] ") {
            assert!(text.starts_with("out "), "{line}");
        } else if let Some(text) = line.strip_prefix("[err] ") {
            assert!(text.starts_with("err "), "{line}");
        }
    }
    let switches = printed
        .windows(2)
        .filter(|pair| pair[0][..3] != pair[1][..3])
        .count();
    assert!(
        switches >= 10,
        "only {switches} stream switches: the test did not alternate"
    );

    // deploy's own line about the end comes after the job's last line.
    let last_job_line = lines
        .iter()
        .rposition(|l| is_job_line(l))
        .expect("job lines");
    let end_line = lines
        .iter()
        .rposition(|l| l.contains("failed: the job exited with 3"))
        .unwrap_or_else(|| panic!("no end line in:\n{merged}"));
    assert!(end_line > last_job_line, "merged output:\n{merged}");
}

/// The runner's own stdout holds every line of the job, masked, tagged by stream, between a
/// header and a footer naming the request.
#[test]
fn the_runners_own_output_is_the_whole_masked_record() {
    const SECRET: &str = "fake-deploy-token-0123456789";
    let script = "i=1; while [ $i -le 300 ]; do echo \"line $i of stdout\"; \
                  if [ $((i % 7)) -eq 0 ]; then echo \"line $i of stderr with $DEPLOY_TOKEN\" >&2; fi; \
                  i=$((i+1)); done; printf 'token %s, no newline' \"$DEPLOY_TOKEN\"; exit 4";
    let out = Command::new(env!("CARGO_BIN_EXE_airlock"))
        .args([
            "run",
            "--request-id",
            "req-echo-1",
            "--",
            "sh",
            "-c",
            script,
        ])
        .env("DEPLOY_TOKEN", SECRET)
        .env_remove("AIRLOCK_FEEDBACK")
        .env_remove("AIRLOCK_ECHO")
        .env("AIRLOCK_LOG", "off")
        .stdin(Stdio::null())
        .output()
        .expect("airlock run");
    assert_eq!(out.status.code(), Some(4));
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !stdout.contains(SECRET) && !stderr.contains(SECRET),
        "{stdout}{stderr}"
    );

    let lines: Vec<&str> = stdout.lines().collect();
    assert!(
        lines.first().is_some_and(
            |l| l.starts_with("[airlock] request req-echo-1: started sh (process group ")
        ),
        "{stdout}"
    );
    assert!(
        lines
            .last()
            .is_some_and(|l| l
                .starts_with("[airlock] request req-echo-1: the job exited with code 4 after ")),
        "{stdout}"
    );
    let mut expected = Vec::new();
    for i in 1..=300 {
        expected.push(format!("[out] line {i} of stdout"));
        if i % 7 == 0 {
            expected.push(format!("[err] line {i} of stderr with ***"));
        }
    }
    expected.push("[out] token ***, no newline".to_string());
    let job_lines: Vec<&str> = lines[1..lines.len() - 1].to_vec();
    // Each stream in order, and every line there; between the streams, the order of reading.
    for tag in ["[out] ", "[err] "] {
        let got: Vec<&str> = job_lines
            .iter()
            .copied()
            .filter(|l| l.starts_with(tag))
            .collect();
        let want: Vec<&str> = expected
            .iter()
            .map(String::as_str)
            .filter(|l| l.starts_with(tag))
            .collect();
        assert_eq!(got, want, "{tag}lines");
    }
    assert_eq!(job_lines.len(), expected.len(), "{stdout}");
}

/// `--echo streams` keeps each stream on its own, byte for byte (masked), and the runner's own
/// lines on stderr.
#[test]
fn echo_streams_keeps_the_bytes_of_each_stream() {
    let out = Command::new(env!("CARGO_BIN_EXE_airlock"))
        .args([
            "run",
            "--echo",
            "streams",
            "--request-id",
            "req-echo-2",
            "--",
            "sh",
            "-c",
            "printf 'a\\r\\n\\033[1mb\\033[0m'; echo oops >&2; echo \"$API_SECRET\"",
        ])
        .env("API_SECRET", "fake-api-secret-value")
        .env_remove("AIRLOCK_FEEDBACK")
        .env("AIRLOCK_LOG", "off")
        .stdin(Stdio::null())
        .output()
        .expect("airlock run");
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(out.stdout, b"a\r\n\x1b[1mb\x1b[0m***\n");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("oops\n"), "{stderr}");
    assert!(
        stderr.contains("[airlock] request req-echo-2: the job exited with code 0"),
        "{stderr}"
    );
    assert!(!stderr.contains("fake-api-secret-value"), "{stderr}");
}
