//! `airlock lane config` against stacks in moto: two small stacks with the lane's outputs
//! (created through CloudFormation, so DescribeStacks answers as it would for the real ones),
//! read by the binary into each format; missing outputs and stacks with their exit codes.
#![cfg(feature = "aws")]

mod common;

use std::process::Command;

use airlock_testsupport::MotoServer;
use common::Scratch;

/// The production half's outputs, on resources moto's CloudFormation creates.
const PRODUCTION: &str = r#"
AWSTemplateFormatVersion: "2010-09-09"
Resources:
  Topic:
    Type: AWS::SNS::Topic
  Feedback:
    Type: AWS::SQS::Queue
Outputs:
  TopicArn:
    Value: !Ref Topic
  FeedbackQueueUrl:
    Value: !Ref Feedback
  FeedbackQueueArn:
    Value: !GetAtt Feedback.Arn
  Region:
    Value: !Ref AWS::Region
  DispatcherFunctionName:
    Value: airlock-dispatch
  TaskLogGroup:
    Value: /airlock/deployments
"#;

/// The CI half: the signing key and CI's role.
const CI: &str = r#"
AWSTemplateFormatVersion: "2010-09-09"
Resources:
  SigningKey:
    Type: AWS::KMS::Key
    Properties:
      KeySpec: ECC_NIST_P256
      KeyUsage: SIGN_VERIFY
      KeyPolicy:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Principal: {AWS: !Sub "arn:aws:iam::${AWS::AccountId}:root"}
            Action: "kms:*"
            Resource: "*"
  CiRole:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Principal: {AWS: !Sub "arn:aws:iam::${AWS::AccountId}:root"}
            Action: sts:AssumeRole
Outputs:
  SigningKeyArn:
    Value: !GetAtt SigningKey.Arn
  CiRoleArn:
    Value: !GetAtt CiRole.Arn
"#;

fn create_stack(moto: &MotoServer, runtime: &tokio::runtime::Runtime, name: &str, body: &str) {
    let cloudformation = airlock_aws::cloudformation(&moto.sdk_config());
    runtime
        .block_on(
            cloudformation
                .create_stack()
                .stack_name(name)
                .template_body(body)
                .send(),
        )
        .unwrap_or_else(|e| panic!("cloudformation:CreateStack {name}: {e:?}"));
}

fn lane_config(moto: &MotoServer, dir: &Scratch, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_airlock"))
        .arg("lane")
        .arg("config")
        .args(args)
        .envs(moto.env())
        .env("NO_COLOR", "1")
        .env_remove("AIRLOCK_LOG")
        .current_dir(&dir.path)
        .output()
        .expect("airlock lane config")
}

#[test]
fn lane_config_reads_both_stacks_into_every_format_and_names_what_is_missing() {
    let moto = MotoServer::start().expect("moto starts");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    create_stack(&moto, &runtime, "airlock-production", PRODUCTION);
    create_stack(&moto, &runtime, "airlock-ci", CI);
    let dir = Scratch::new("lane-config");

    let stacks = [
        "--production-stack",
        "airlock-production",
        "--ci-stack",
        "airlock-ci",
    ];
    let mut args = stacks.to_vec();
    args.extend(["-o", "airlock.toml"]);
    let out = lane_config(&moto, &dir, &args);
    assert_eq!(out.status.code(), Some(0), "{}", common::stderr(&out));
    let written = dir.read("airlock.toml");
    let config =
        airlock_lane::config::LaneConfig::parse(&written, "airlock.toml", &dir.path).expect("toml");
    let topic = config.topic_arn.clone().expect("topic");
    let queue = config.feedback_queue_url.clone().expect("queue");
    let key = config.signing_key_id.clone().expect("key");
    assert!(
        topic.starts_with("arn:aws:sns:") && topic.contains(":123456789012:"),
        "{topic}"
    );
    assert!(
        queue.starts_with("http") && queue.contains("/123456789012/"),
        "{queue}"
    );
    assert!(
        key.starts_with("arn:aws:kms:") && key.contains(":key/"),
        "{key}"
    );
    assert_eq!(config.region.as_deref(), topic.split(':').nth(3));
    assert!(
        written.contains("CloudWatch log group /airlock/deployments"),
        "{written}"
    );
    assert!(
        written.contains("/aws/lambda/airlock-dispatch"),
        "{written}"
    );

    // The key in the file is the stack's real key: KMS knows it. (GetPublicKey, not
    // DescribeKey: moto 5.2.5 keeps a key policy from CloudFormation as an object and its
    // DescribeKey then fails parsing it as text, with a 500.)
    let public_key = runtime
        .block_on(
            airlock_aws::kms(&moto.sdk_config())
                .get_public_key()
                .key_id(&key)
                .send(),
        )
        .expect("kms:GetPublicKey");
    // AWS answers with the key's ARN, moto with its id: the same key either way.
    let answered = public_key.key_id().unwrap_or_default();
    assert!(
        !answered.is_empty() && (answered == key || key.ends_with(&format!(":key/{answered}"))),
        "{answered} is not {key}"
    );
    assert!(
        public_key
            .public_key()
            .is_some_and(|der| !der.as_ref().is_empty()),
        "no public key"
    );

    // Without --force, an existing file is kept.
    let again = lane_config(&moto, &dir, &args);
    assert_eq!(again.status.code(), Some(2));
    assert!(
        common::stderr(&again).contains("--force"),
        "{}",
        common::stderr(&again)
    );

    let mut env_args = stacks.to_vec();
    env_args.extend(["--format", "github"]);
    let out = lane_config(&moto, &dir, &env_args);
    assert_eq!(out.status.code(), Some(0), "{}", common::stderr(&out));
    let lines = common::stdout(&out);
    assert!(
        lines.contains(&format!("AIRLOCK_LANE_TOPIC_ARN={topic}\n")),
        "{lines}"
    );
    assert!(
        lines.contains(&format!("AIRLOCK_LANE_FEEDBACK_QUEUE_URL={queue}\n")),
        "{lines}"
    );
    assert!(
        lines.contains(&format!("AIRLOCK_LANE_SIGNING_KEY_ID={key}\n")),
        "{lines}"
    );
    assert!(
        lines.contains("AIRLOCK_CI_ROLE_ARN=arn:aws:iam::123456789012:role/"),
        "{lines}"
    );

    // Only the production stack: the key is missing, and the message says where it lives.
    let out = lane_config(&moto, &dir, &["--stack", "airlock-production"]);
    assert_eq!(out.status.code(), Some(3));
    let err = common::stderr(&out);
    assert!(
        err.contains("no output SigningKeyArn in CloudFormation stack \"airlock-production\""),
        "{err}"
    );
    assert!(err.contains("the CI stack"), "{err}");

    // A stack that does not exist.
    let out = lane_config(&moto, &dir, &["--stack", "no-such-stack"]);
    assert_eq!(out.status.code(), Some(4));
    let err = common::stderr(&out);
    assert!(
        err.contains("cloudformation:DescribeStacks") && err.contains("no-such-stack"),
        "{err}"
    );
}

#[test]
fn lane_config_reads_terraform_output_from_stdin_and_refuses_a_malformed_file() {
    use std::io::Write as _;
    use std::process::Stdio;

    let dir = Scratch::new("lane-config-tf");
    let terraform = r#"{
  "topic_arn": {"sensitive": false, "type": "string", "value": "arn:aws:sns:eu-west-1:222222222222:airlock-lane"},
  "feedback_queue_url": {"sensitive": false, "type": "string", "value": "https://sqs.eu-west-1.amazonaws.com/222222222222/airlock-feedback"},
  "signing_key_arn": {"sensitive": false, "type": "string", "value": "arn:aws:kms:eu-west-1:111111111111:key/0f0f0f0f-0000-4000-8000-000000000000"},
  "ci_role_arn": {"sensitive": false, "type": "string", "value": "arn:aws:iam::111111111111:role/airlock-ci"},
  "region": {"sensitive": false, "type": "string", "value": "eu-west-1"}
}"#;
    let mut child = Command::new(env!("CARGO_BIN_EXE_airlock"))
        .args([
            "lane",
            "config",
            "--terraform-output",
            "-",
            "--format",
            "env",
        ])
        .current_dir(&dir.path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("airlock lane config");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(terraform.as_bytes())
        .expect("write stdin");
    let out = child.wait_with_output().expect("exits");
    assert_eq!(out.status.code(), Some(0), "{}", common::stderr(&out));
    assert_eq!(
        common::stdout(&out),
        "AIRLOCK_LANE_TOPIC_ARN=arn:aws:sns:eu-west-1:222222222222:airlock-lane\n\
         AIRLOCK_LANE_FEEDBACK_QUEUE_URL=https://sqs.eu-west-1.amazonaws.com/222222222222/airlock-feedback\n\
         AIRLOCK_LANE_SIGNING_KEY_ID=arn:aws:kms:eu-west-1:111111111111:key/0f0f0f0f-0000-4000-8000-000000000000\n\
         AWS_REGION=eu-west-1\n"
    );

    let broken = dir.write(
        "tf.json",
        &terraform.replace("\"region\": {", "\"region\": "),
    );
    let out = dir.airlock(&[
        "lane",
        "config",
        "--terraform-output",
        broken.to_str().expect("path"),
    ]);
    assert_eq!(out.status.code(), Some(3));
    let err = common::stderr(&out);
    assert!(
        err.contains("tf.json: not the JSON of `terraform output -json`"),
        "{err}"
    );
    assert!(err.contains("line 6"), "{err}");
}
