//! `airlock-aws` honours the standard settings: `AWS_ENDPOINT_URL`, the per-service
//! `AWS_ENDPOINT_URL_<SERVICE>`, and a profile's `region` and `endpoint_url`.
//!
//! The environment belongs to the process, so each case runs in a child process: this test
//! binary re-executes itself to run the ignored `probe` test with the environment under test.

use std::process::Command;

use airlock_testsupport::MotoServer;

const PROBE: &str = "probe_reports_which_services_answer";

/// Runs in the child: loads the configuration exactly as `airlock` does and reports, one
/// line each, the region and whether SQS and STS answered.
#[tokio::test]
#[ignore = "run by the other tests in a child process with a prepared environment"]
async fn probe_reports_which_services_answer() {
    let config = airlock_aws::load(&airlock_aws::AwsOptions::default()).await;
    println!(
        "region={}",
        config.region().map(|r| r.as_ref()).unwrap_or("none")
    );
    let sqs = airlock_aws::sqs(&config).list_queues().send().await;
    println!("sqs={}", if sqs.is_ok() { "ok" } else { "error" });
    let sts = airlock_aws::sts(&config).get_caller_identity().send().await;
    println!("sts={}", if sts.is_ok() { "ok" } else { "error" });
}

fn run_probe(env: &[(&str, &str)]) -> String {
    let exe = std::env::current_exe().expect("own test binary");
    let output = Command::new(exe)
        .args([
            PROBE,
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", "/nonexistent")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ACCESS_KEY_ID", airlock_testsupport::FAKE_ACCESS_KEY_ID)
        .env(
            "AWS_SECRET_ACCESS_KEY",
            airlock_testsupport::FAKE_SECRET_ACCESS_KEY,
        )
        // One attempt: the point is where requests go, not how they are retried.
        .env("AWS_MAX_ATTEMPTS", "1")
        .envs(env.iter().copied())
        .output()
        .expect("run the probe");
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    assert!(
        output.status.success(),
        "probe failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // libtest prints `test probe ... ` on the same line as the first of ours.
    stdout
        .split_whitespace()
        .filter(|w| w.starts_with("region=") || w.starts_with("sqs=") || w.starts_with("sts="))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Nothing listens on port 1 of loopback, so requests sent there fail at once.
const DEAD_ENDPOINT: &str = "http://127.0.0.1:1";

#[test]
fn the_service_specific_endpoint_variable_wins_over_the_general_one() {
    let moto = MotoServer::start().unwrap_or_else(|e| panic!("{e}"));
    let endpoint = moto.endpoint();
    let report = run_probe(&[
        ("AWS_REGION", "us-east-1"),
        ("AWS_ENDPOINT_URL", DEAD_ENDPOINT),
        ("AWS_ENDPOINT_URL_SQS", &endpoint),
    ]);
    assert_eq!(report, "region=us-east-1 sqs=ok sts=error");

    let report = run_probe(&[("AWS_REGION", "us-east-1"), ("AWS_ENDPOINT_URL", &endpoint)]);
    assert_eq!(report, "region=us-east-1 sqs=ok sts=ok");
}

#[test]
fn a_profile_sets_region_and_endpoint() {
    let moto = MotoServer::start().unwrap_or_else(|e| panic!("{e}"));
    let dir = std::env::temp_dir().join(format!("airlock-aws-env-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let config_file = dir.join("config");
    std::fs::write(
        &config_file,
        format!(
            "[profile local-moto]\nregion = eu-west-3\nendpoint_url = {}\n",
            moto.endpoint()
        ),
    )
    .expect("write config");
    let config_path = config_file.to_string_lossy().to_string();
    let report = run_probe(&[
        ("AWS_CONFIG_FILE", &config_path),
        ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null"),
        ("AWS_PROFILE", "local-moto"),
    ]);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(report, "region=eu-west-3 sqs=ok sts=ok");
}
