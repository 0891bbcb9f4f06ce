//! The real `airlock-dispatch` bootstrap under the Lambda runtime API: an SNS event with a
//! signed request, the same event again (SNS redelivers), and the EventBridge STOPPED event of
//! the task it started; the answers posted to the runtime API and their effects in moto.
#![cfg(feature = "aws")]

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use airlock_protocol::FeedbackBody;
use common::runtime_api::{Bootstrap, Reply, RuntimeApi, bootstrap_command, sns_event};

/// The real bootstrap, built by cargo for this test.
const BIN: &str = env!("CARGO_BIN_EXE_airlock-dispatch");
use common::{KEY_ID, Stage, bodies_for, sign, trusted_key, valid_request};
use serde_json::{Value, json};

fn start(stage: &Stage, api: &RuntimeApi, config: &std::path::Path) -> Bootstrap {
    let child = bootstrap_command(BIN.as_ref(), stage.moto.env(), api)
        .env("AIRLOCK_DISPATCH_CONFIG", config)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start airlock-dispatch");
    Bootstrap(Some(child))
}

fn response(reply: &Reply) -> Value {
    match reply {
        Reply::Response { body, .. } => serde_json::from_str(body).expect("response is JSON"),
        other => panic!("expected a response, got {other:?}"),
    }
}

#[test]
fn the_bootstrap_serves_sns_and_eventbridge_events_through_the_runtime_api() {
    let stage = Stage::start();
    let dir = tempfile_dir();
    let config = dir.join("dispatch.toml");
    std::fs::write(&config, &stage.config_text).expect("write config");
    let api = RuntimeApi::start();
    let request = valid_request();
    let envelope = sign(&request, &trusted_key(), KEY_ID);
    api.push(&sns_event(&envelope));
    api.push(&sns_event(&envelope));
    let spawned = Instant::now();
    let bootstrap = start(&stage, &api, &config);

    let replies = api.wait_replies(2, Duration::from_secs(30));
    assert_eq!(replies.len(), 2, "{replies:?}");
    let first = response(&replies[0]);
    eprintln!(
        "first poll {:?} after spawn",
        api.first_poll().map(|t| t.duration_since(spawned))
    );
    assert_eq!(first["decisions"][0]["decision"], "started", "{first}");
    let task_arn = first["decisions"][0]["task_arn"]
        .as_str()
        .expect("task arn")
        .to_string();
    assert_eq!(
        response(&replies[1])["decisions"][0]["decision"],
        "duplicate"
    );
    assert_eq!(stage.tasks(), vec![task_arn.clone()]);

    api.push(&json!({
        "version": "0",
        "id": "00000000-0000-4000-8000-000000000002",
        "detail-type": "ECS Task State Change",
        "source": "aws.ecs",
        "account": "123456789012",
        "region": "eu-west-1",
        "detail": {
            "taskArn": task_arn,
            "clusterArn": stage.cluster_arn,
            "lastStatus": "STOPPED",
            "desiredStatus": "STOPPED",
            "startedBy": "airlock-dispatch",
            "stopCode": "TaskFailedToStart",
            "stoppedReason": "CannotPullContainerError: pull image manifest has been retried 5 time(s)",
            "containers": [{"name": "deploy", "lastStatus": "STOPPED"}]
        }
    }));
    api.push(&json!({"detail-type": "Scheduled Event", "source": "aws.events"}));
    let replies = api.wait_replies(4, Duration::from_secs(30));
    assert_eq!(replies.len(), 4, "{replies:?}");
    assert_eq!(
        response(&replies[2])["decisions"][0]["decision"],
        "task_stopped"
    );
    assert_eq!(response(&replies[3])["decisions"][0]["decision"], "ignored");

    let told = bodies_for(&stage.drain_feedback(), &request.request_id);
    assert_eq!(told.len(), 3, "{told:?}");
    assert!(matches!(told[0], FeedbackBody::Accepted { .. }));
    assert!(matches!(told[1], FeedbackBody::Started { .. }));
    assert!(
        matches!(&told[2], FeedbackBody::TaskStopped { stop_code, exit_code: None, .. } if stop_code == "TaskFailedToStart"),
        "{told:?}"
    );

    // One audit line per decision on stdout, naming the request and never a parameter value.
    let output = bootstrap.finish();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let audit: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("each stdout line is a JSON audit record"))
        .collect();
    assert_eq!(audit.len(), 3, "{stdout}");
    assert_eq!(audit[0]["request_id"], request.request_id.as_str());
    assert_eq!(audit[0]["requester"]["actor"], "test-actor");
    assert_eq!(audit[0]["decision"]["decision"], "started");
    assert!(
        !stdout.contains("v1.2.3"),
        "a parameter value is in the audit log: {stdout}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_bad_configuration_stops_the_bootstrap_with_a_message_naming_it() {
    let stage = Stage::start();
    let dir = tempfile_dir();
    let config = dir.join("dispatch.toml");
    std::fs::write(
        &config,
        stage
            .config_text
            .replace("airlock-deploy:", "airlock-deploy-unpinned"),
    )
    .expect("write config");
    let api = RuntimeApi::start();
    let output = bootstrap_command(BIN.as_ref(), stage.moto.env(), &api)
        .env("AIRLOCK_DISPATCH_CONFIG", &config)
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("dispatch.toml") && stderr.contains("dispatch.jobs.web.task_definition"),
        "{stderr}"
    );

    let output = Command::new(BIN)
        .env_remove("AWS_LAMBDA_RUNTIME_API")
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("AWS_LAMBDA_RUNTIME_API"));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn the_configuration_can_come_from_an_ssm_parameter() {
    let stage = Stage::start();
    let ssm = airlock_aws::ssm(&stage.moto.sdk_config());
    stage
        .runtime
        .block_on(
            ssm.put_parameter()
                .name("/airlock/dispatch/config")
                .value(&stage.config_text)
                .r#type(airlock_aws::aws_sdk_ssm::types::ParameterType::SecureString)
                .send(),
        )
        .expect("ssm:PutParameter");
    let api = RuntimeApi::start();
    let request = valid_request();
    api.push(&sns_event(&sign(&request, &trusted_key(), KEY_ID)));
    let child = bootstrap_command(BIN.as_ref(), stage.moto.env(), &api)
        .env_remove("AIRLOCK_DISPATCH_CONFIG")
        .env("AIRLOCK_DISPATCH_CONFIG_SSM", "/airlock/dispatch/config")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start airlock-dispatch");
    let bootstrap = Bootstrap(Some(child));
    let replies = api.wait_replies(1, Duration::from_secs(30));
    drop(bootstrap);
    assert_eq!(replies.len(), 1, "{replies:?}");
    assert_eq!(response(&replies[0])["decisions"][0]["decision"], "started");

    // A parameter that does not exist is a configuration error naming it.
    let output = bootstrap_command(BIN.as_ref(), stage.moto.env(), &api)
        .env_remove("AIRLOCK_DISPATCH_CONFIG")
        .env("AIRLOCK_DISPATCH_CONFIG_SSM", "/airlock/missing")
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("ssm:/airlock/missing"));
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "airlock-dispatch-test-{}-{}",
        std::process::id(),
        common::random_hex(4)
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}
