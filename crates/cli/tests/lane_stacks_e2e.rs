//! The lane installed from its CloudFormation templates, in moto, and used through nothing
//! but the stacks' outputs: both stacks are created with the SDK; `airlock deploy` gets the
//! topic, queue and key from the outputs; the real `airlock-dispatch` bootstrap runs under a
//! Lambda runtime API emulator with the environment Lambda holds for the stack's function
//! (GetFunctionConfiguration), fed the SNS event of the published request as Lambda would be;
//! it reads the configuration the stack wrote to SSM and starts the stack's own task
//! definition; the test plays Fargate with that task's command and environment; `airlock
//! deploy` prints the job's lines and exits with its code.
//!
//! moto's CloudFormation does not create every resource type, and drops some properties of
//! those it does create. The test creates those through the API, with the properties read
//! from the template and evaluated as CloudFormation would (see `MOTO_DOES_NOT_CREATE` and
//! `apply_what_moto_drops`), and checks that the list of what moto leaves out is still
//! exactly that, so the workaround cannot outlive its reason silently.
#![cfg(feature = "aws")]

#[path = "../../dispatch/tests/common/runtime_api.rs"]
mod runtime_api;
mod stacks;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use airlock_aws::aws_sdk_cloudformation::types::{Capability, Parameter};
use airlock_aws::aws_sdk_dynamodb::types::{
    PointInTimeRecoverySpecification, TimeToLiveSpecification,
};
use airlock_aws::aws_sdk_ec2::types::{IpPermission, IpRange};
use airlock_aws::aws_sdk_kms::types::{KeySpec, KeyUsageType};
use airlock_aws::aws_sdk_lambda::types::{DestinationConfig, OnFailure};
use airlock_aws::aws_sdk_sqs::types::QueueAttributeName;
use airlock_testsupport::{MotoServer, fixtures};
use runtime_api::{Reply, RuntimeApi, bootstrap_command};
use serde_json::{Value, json};
use stacks::{CI_TEMPLATE, PRODUCTION_TEMPLATE, Scope, Template, strings};

/// Resource types of the templates that moto 5.2's CloudFormation does not create (it warns
/// and skips them): the test creates them through their own APIs.
const MOTO_DOES_NOT_CREATE: &[&str] = &[
    "AWS::SNS::TopicPolicy",
    "AWS::SQS::QueuePolicy",
    "AWS::SNS::Subscription",
    "AWS::Lambda::EventInvokeConfig",
];

const JOB_PARAMS: &str = r#"{ VERSION = { pattern = "v[0-9]+\\.[0-9]+\\.[0-9]+" } }"#;
/// The job: the task definition's command, run by `airlock run` (commas split the
/// CommaDelimitedList parameter, so the script has none).
const JOB_COMMAND: &str =
    "sh,-c,echo \"deploying $VERSION as $(id -u)\"; echo 'a line on stderr' >&2; echo done; exit 7";

struct Lane {
    moto: MotoServer,
    runtime: tokio::runtime::Runtime,
    sdk: aws_config::SdkConfig,
}

impl Lane {
    fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    fn create_stack(&self, name: &str, template: &Template, params: &[(&str, String)]) {
        let cfn = airlock_aws::cloudformation(&self.sdk);
        let parameters = params
            .iter()
            .map(|(k, v)| {
                Parameter::builder()
                    .parameter_key(*k)
                    .parameter_value(v)
                    .build()
            })
            .collect();
        self.block_on(
            cfn.create_stack()
                .stack_name(name)
                .template_body(&template.text)
                .set_parameters(Some(parameters))
                .capabilities(Capability::CapabilityNamedIam)
                .send(),
        )
        .unwrap_or_else(|e| panic!("cloudformation:CreateStack {name}: {e:?}"));
        let stack = self.block_on(cfn.describe_stacks().stack_name(name).send());
        let status = stack
            .ok()
            .and_then(|s| s.stacks().first().and_then(|s| s.stack_status().cloned()));
        assert_eq!(
            status.map(|s| s.as_str().to_string()).as_deref(),
            Some("CREATE_COMPLETE"),
            "{name}"
        );
    }

    fn outputs(&self, name: &str) -> BTreeMap<String, String> {
        let out = self
            .block_on(
                airlock_aws::cloudformation(&self.sdk)
                    .describe_stacks()
                    .stack_name(name)
                    .send(),
            )
            .expect("cloudformation:DescribeStacks");
        out.stacks()
            .first()
            .map(|s| {
                s.outputs()
                    .iter()
                    .filter_map(|o| {
                        Some((o.output_key()?.to_string(), o.output_value()?.to_string()))
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Logical id to (type, physical id) of what moto created.
    fn resources(&self, name: &str) -> BTreeMap<String, (String, String)> {
        let out = self
            .block_on(
                airlock_aws::cloudformation(&self.sdk)
                    .list_stack_resources()
                    .stack_name(name)
                    .send(),
            )
            .expect("cloudformation:ListStackResources");
        out.stack_resource_summaries()
            .iter()
            .filter_map(|r| {
                let id = r.logical_resource_id().filter(|id| !id.is_empty())?;
                Some((
                    id.to_string(),
                    (
                        r.resource_type().unwrap_or_default().to_string(),
                        r.physical_resource_id().unwrap_or_default().to_string(),
                    ),
                ))
            })
            .collect()
    }

    /// The ARN attributes CloudFormation would give the stack's resources, read from the
    /// services (moto reports only physical ids).
    fn arns(&self, resources: &BTreeMap<String, (String, String)>) -> BTreeMap<String, String> {
        let mut arns = BTreeMap::new();
        for (id, (kind, physical)) in resources {
            let arn = match kind.as_str() {
                "AWS::IAM::Role" => self
                    .block_on(
                        airlock_aws::iam(&self.sdk)
                            .get_role()
                            .role_name(physical)
                            .send(),
                    )
                    .ok()
                    .and_then(|r| r.role().map(|r| r.arn().to_string())),
                "AWS::SQS::Queue" => self
                    .block_on(
                        airlock_aws::sqs(&self.sdk)
                            .get_queue_attributes()
                            .queue_url(physical)
                            .attribute_names(QueueAttributeName::QueueArn)
                            .send(),
                    )
                    .ok()
                    .and_then(|a| {
                        a.attributes()
                            .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
                    }),
                "AWS::Lambda::Function" => self
                    .block_on(
                        airlock_aws::lambda(&self.sdk)
                            .get_function()
                            .function_name(physical)
                            .send(),
                    )
                    .ok()
                    .and_then(|f| {
                        f.configuration()
                            .and_then(|c| c.function_arn().map(str::to_string))
                    }),
                "AWS::SNS::Topic" => Some(physical.clone()),
                // Built from the key id, as CloudFormation's `Arn` is: moto's DescribeKey
                // fails (500) on a key whose policy came from CloudFormation.
                "AWS::KMS::Key" => Some(format!(
                    "arn:aws:kms:{}:{}:key/{physical}",
                    airlock_testsupport::REGION,
                    airlock_testsupport::ACCOUNT_ID
                )),
                _ => None,
            };
            if let Some(arn) = arn {
                arns.insert(id.clone(), arn);
            }
        }
        arns
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_airlock"));
        command
            .args(args)
            .envs(self.moto.env())
            .env_remove("AIRLOCK_CONFIG")
            .env("NO_COLOR", "1")
            .current_dir(std::env::temp_dir())
            .stdin(Stdio::null());
        command
    }
}

/// The stack evaluated as CloudFormation deployed it: parameters as given (defaults
/// otherwise), `Ref` of a resource its physical id, `Fn::GetAtt X.Arn` its ARN.
fn deployed_scope<'a>(
    template: &'a Template,
    stack_name: &str,
    params: &[(&str, String)],
    reference: &'a dyn Fn(&str) -> Option<String>,
    attribute: &'a dyn Fn(&str, &str) -> Option<String>,
) -> Scope<'a> {
    let list_params: BTreeSet<String> = template.doc["Parameters"]
        .as_object()
        .map(|p| {
            p.iter()
                .filter(|(_, spec)| {
                    spec["Type"]
                        .as_str()
                        .is_some_and(|t| t.starts_with("List<") || t == "CommaDelimitedList")
                })
                .map(|(name, _)| name.clone())
                .collect()
        })
        .unwrap_or_default();
    let params = params
        .iter()
        .map(|(k, v)| {
            let value = if list_params.contains(*k) {
                json!(v.split(',').collect::<Vec<_>>())
            } else {
                json!(v)
            };
            (k.to_string(), value)
        })
        .collect();
    Scope {
        template,
        params,
        region: airlock_testsupport::REGION.into(),
        account: airlock_testsupport::ACCOUNT_ID.into(),
        stack_name: stack_name.into(),
        reference,
        attribute,
    }
    .with_defaults()
}

/// Template resources (whose condition holds) that moto did not create.
fn not_created(
    template: &Template,
    scope: &Scope<'_>,
    created: &BTreeMap<String, (String, String)>,
) -> BTreeMap<String, String> {
    template
        .resources()
        .iter()
        .filter(|(_, r)| r["Condition"].as_str().is_none_or(|c| scope.condition(c)))
        .filter(|(id, _)| !created.contains_key(*id))
        .map(|(id, r)| {
            (
                id.clone(),
                r["Type"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// Creates, through their APIs, the resources moto's CloudFormation skipped, with the
/// template's properties.
fn create_what_moto_skips(
    lane: &Lane,
    template: &Template,
    scope: &Scope<'_>,
    skipped: &BTreeMap<String, String>,
) {
    for (id, kind) in skipped {
        let props = scope.eval(&template.resource(id)["Properties"]);
        match kind.as_str() {
            "AWS::SNS::TopicPolicy" => {
                for topic in strings(&props["Topics"]) {
                    lane.block_on(
                        airlock_aws::sns(&lane.sdk)
                            .set_topic_attributes()
                            .topic_arn(&topic)
                            .attribute_name("Policy")
                            .attribute_value(props["PolicyDocument"].to_string())
                            .send(),
                    )
                    .expect("sns:SetTopicAttributes");
                }
            }
            "AWS::SQS::QueuePolicy" => {
                for queue in strings(&props["Queues"]) {
                    lane.block_on(
                        airlock_aws::sqs(&lane.sdk)
                            .set_queue_attributes()
                            .queue_url(&queue)
                            .attributes(
                                QueueAttributeName::Policy,
                                props["PolicyDocument"].to_string(),
                            )
                            .send(),
                    )
                    .expect("sqs:SetQueueAttributes");
                }
            }
            "AWS::SNS::Subscription" => {
                lane.block_on(
                    airlock_aws::sns(&lane.sdk)
                        .subscribe()
                        .topic_arn(props["TopicArn"].as_str().expect("TopicArn"))
                        .protocol(props["Protocol"].as_str().expect("Protocol"))
                        .endpoint(props["Endpoint"].as_str().expect("Endpoint"))
                        .send(),
                )
                .expect("sns:Subscribe");
            }
            "AWS::Lambda::EventInvokeConfig" => {
                let number = |key: &str| {
                    props[key]
                        .as_i64()
                        .and_then(|n| i32::try_from(n).ok())
                        .unwrap_or_else(|| panic!("{id}.{key}"))
                };
                let on_failure = props["DestinationConfig"]["OnFailure"]["Destination"]
                    .as_str()
                    .expect("OnFailure destination");
                lane.block_on(
                    airlock_aws::lambda(&lane.sdk)
                        .put_function_event_invoke_config()
                        .function_name(props["FunctionName"].as_str().expect("FunctionName"))
                        .qualifier(props["Qualifier"].as_str().expect("Qualifier"))
                        .maximum_retry_attempts(number("MaximumRetryAttempts"))
                        .maximum_event_age_in_seconds(number("MaximumEventAgeInSeconds"))
                        .destination_config(
                            DestinationConfig::builder()
                                .on_failure(OnFailure::builder().destination(on_failure).build())
                                .build(),
                        )
                        .send(),
                )
                .expect("lambda:PutFunctionEventInvokeConfig");
            }
            other => panic!("{id}: moto skipped {other}, which this test cannot create"),
        }
    }
}

/// Properties moto's CloudFormation accepts but drops, set through the APIs where the lane
/// depends on them. (Dropped and not set here, because nothing in moto reads them: the task
/// definition's network mode, compatibilities, CPU and roles, the cluster's settings, and the
/// log groups' KMS keys; the unit tests in lane_stacks_policies.rs check them in the
/// template.)
fn apply_what_moto_drops(
    lane: &Lane,
    template: &Template,
    scope: &Scope<'_>,
    created: &BTreeMap<String, (String, String)>,
) {
    let physical = |id: &str| created.get(id).map(|(_, p)| p.clone()).expect(id);
    // The security group: moto keeps its default allow-all egress instead of the template's.
    let group = scope.eval(&template.resource("RunnerSecurityGroup")["Properties"]);
    let ec2 = airlock_aws::ec2(&lane.sdk);
    let group_id = physical("RunnerSecurityGroup");
    lane.block_on(
        ec2.revoke_security_group_egress()
            .group_id(&group_id)
            .ip_permissions(
                IpPermission::builder()
                    .ip_protocol("-1")
                    .ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build())
                    .build(),
            )
            .send(),
    )
    .expect("ec2:RevokeSecurityGroupEgress");
    for rule in group["SecurityGroupEgress"].as_array().expect("egress") {
        let port = |key: &str| {
            rule[key]
                .as_i64()
                .and_then(|n| i32::try_from(n).ok())
                .expect(key)
        };
        lane.block_on(
            ec2.authorize_security_group_egress()
                .group_id(&group_id)
                .ip_permissions(
                    IpPermission::builder()
                        .ip_protocol(rule["IpProtocol"].as_str().expect("IpProtocol"))
                        .from_port(port("FromPort"))
                        .to_port(port("ToPort"))
                        .ip_ranges(
                            IpRange::builder()
                                .cidr_ip(rule["CidrIp"].as_str().expect("CidrIp"))
                                .build(),
                        )
                        .build(),
                )
                .send(),
        )
        .expect("ec2:AuthorizeSecurityGroupEgress");
    }
    // The table's TTL and point-in-time recovery.
    let table = scope.eval(&template.resource("LaneTable")["Properties"]);
    let dynamodb = airlock_aws::dynamodb(&lane.sdk);
    let ttl = &table["TimeToLiveSpecification"];
    lane.block_on(
        dynamodb
            .update_time_to_live()
            .table_name(physical("LaneTable"))
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name(ttl["AttributeName"].as_str().expect("ttl attribute"))
                    .enabled(ttl["Enabled"].as_bool().expect("ttl enabled"))
                    .build()
                    .expect("ttl spec"),
            )
            .send(),
    )
    .expect("dynamodb:UpdateTimeToLive");
    let pitr = &table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"];
    lane.block_on(
        dynamodb
            .update_continuous_backups()
            .table_name(physical("LaneTable"))
            .point_in_time_recovery_specification(
                PointInTimeRecoverySpecification::builder()
                    .point_in_time_recovery_enabled(pitr.as_bool().expect("pitr"))
                    .build()
                    .expect("pitr spec"),
            )
            .send(),
    )
    .expect("dynamodb:UpdateContinuousBackups");
    // The task role's managed policy: what the deployment may do.
    let task_role = scope.eval(&template.resource("TaskRole")["Properties"]);
    for policy in strings(&task_role["ManagedPolicyArns"]) {
        lane.block_on(
            airlock_aws::iam(&lane.sdk)
                .attach_role_policy()
                .role_name(physical("TaskRole"))
                .policy_arn(policy)
                .send(),
        )
        .expect("iam:AttachRolePolicy");
    }
}

/// The `airlock-dispatch` bootstrap of this workspace, built if need be: it is another
/// package's binary, which cargo builds for this test only on request.
fn bootstrap_binary() -> PathBuf {
    let airlock = PathBuf::from(env!("CARGO_BIN_EXE_airlock"));
    let profile_dir = airlock.parent().expect("target profile dir").to_path_buf();
    let target_dir = profile_dir.parent().expect("target dir").to_path_buf();
    let built = profile_dir.join("airlock-dispatch");
    // `cargo nextest run --workspace` (the README's test command) builds every binary of
    // the workspace, this one included, before any test runs: use it. Building it here with
    // `-p` would resolve other features and rebuild half the SDK (minutes on 2 cores).
    // Running only this package's tests (`-p airlock-cli`) does not rebuild it: after a change
    // to the dispatcher, run with `--workspace` or this test uses the bootstrap built last.
    if built.is_file() {
        return built;
    }
    let mut build = Command::new(env!("CARGO"));
    build
        .args([
            "build",
            "--quiet",
            "-p",
            "airlock-dispatch",
            "--bin",
            "airlock-dispatch",
        ])
        .arg("--target-dir")
        .arg(&target_dir)
        .current_dir(stacks::workspace_root());
    if profile_dir.file_name().is_some_and(|n| n == "release") {
        build.arg("--release");
    }
    let status = build.status().expect("run cargo build");
    assert!(
        status.success(),
        "cargo build -p airlock-dispatch: {status}"
    );
    profile_dir.join("airlock-dispatch")
}

fn drain(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        bytes
    })
}

struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_deployment_runs_through_the_stacks_and_exits_with_the_jobs_code() {
    let bootstrap = bootstrap_binary();
    let moto = MotoServer::start().expect("moto starts");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let sdk = moto.sdk_config();
    let lane = Lane { moto, runtime, sdk };
    let account = airlock_testsupport::ACCOUNT_ID;
    let region = airlock_testsupport::REGION;

    // What the user brings: a VPC and subnet, the deployment's own policy, the dispatcher's
    // package in a bucket.
    let network = lane
        .block_on(fixtures::network(&lane.sdk))
        .expect("network");
    let task_policy = lane
        .block_on(
            airlock_aws::iam(&lane.sdk)
                .create_policy()
                .policy_name("deploy-web")
                .policy_document(
                    json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
                        "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::web-assets"}]})
                    .to_string(),
                )
                .send(),
        )
        .expect("iam:CreatePolicy")
        .policy()
        .and_then(|p| p.arn().map(str::to_string))
        .expect("policy ARN");
    let s3 = airlock_aws::aws_sdk_s3::Client::from_conf(
        airlock_aws::aws_sdk_s3::config::Builder::from(&lane.sdk)
            .force_path_style(true)
            .build(),
    );
    lane.block_on(s3.create_bucket().bucket("artifacts").send())
        .expect("s3:CreateBucket");
    // moto stores the package and never runs it (the test runs the bootstrap itself): an
    // empty zip archive stands in for scripts/package-dispatcher.sh's.
    let mut empty_zip = b"PK\x05\x06".to_vec();
    empty_zip.extend([0u8; 18]);
    lane.block_on(
        s3.put_object()
            .bucket("artifacts")
            .key("airlock-dispatch.zip")
            .body(empty_zip.into())
            .send(),
    )
    .expect("s3:PutObject");

    // 1. The CI stack.
    let ci_template = Template::load(CI_TEMPLATE);
    let ci_params = vec![
        ("ProductionAccountId", account.to_string()),
        ("ProductionRegion", region.to_string()),
        (
            "TrustedPrincipalArn",
            format!("arn:aws:iam::{account}:user/jenkins"),
        ),
    ];
    lane.create_stack("airlock-ci", &ci_template, &ci_params);
    let ci_outputs = lane.outputs("airlock-ci");
    let ci_created = lane.resources("airlock-ci");
    let ci_arns = lane.arns(&ci_created);
    let ci_reference = |id: &str| ci_created.get(id).map(|(_, p)| p.clone());
    let ci_attribute = |id: &str, attribute: &str| {
        (attribute == "Arn")
            .then(|| ci_arns.get(id).cloned())
            .flatten()
    };
    let ci_scope = deployed_scope(
        &ci_template,
        "airlock-ci",
        &ci_params,
        &ci_reference,
        &ci_attribute,
    );
    assert!(
        not_created(&ci_template, &ci_scope, &ci_created).is_empty(),
        "moto created every resource of the CI stack"
    );
    assert_eq!(
        ci_outputs.get("CiRoleArn").map(String::as_str),
        Some(format!("arn:aws:iam::{account}:role/airlock-ci").as_str())
    );
    // moto's CloudFormation creates every KMS key as SYMMETRIC_DEFAULT/ENCRYPT_DECRYPT
    // whatever KeySpec and KeyUsage say, so the stack's key cannot sign. The signing key is
    // created through the API with the template's spec, usage and (evaluated) key policy,
    // and stands in for the SigningKeyArn output from here on.
    assert!(ci_outputs.contains_key("SigningKeyArn"));
    let key_props = ci_scope.eval(&ci_template.resource("SigningKey")["Properties"]);
    let kms = airlock_aws::kms(&lane.sdk);
    let signing_key_arn = lane
        .block_on(
            kms.create_key()
                .key_spec(KeySpec::from(
                    key_props["KeySpec"].as_str().expect("KeySpec"),
                ))
                .key_usage(KeyUsageType::from(
                    key_props["KeyUsage"].as_str().expect("KeyUsage"),
                ))
                .policy(key_props["KeyPolicy"].to_string())
                .send(),
        )
        .expect("kms:CreateKey")
        .key_metadata()
        .map(|m| m.arn().unwrap_or_default().to_string())
        .expect("key ARN");
    let public_key = lane
        .block_on(kms.get_public_key().key_id(&signing_key_arn).send())
        .expect("kms:GetPublicKey")
        .public_key()
        .map(|b| base64::Engine::encode(&base64::engine::general_purpose::STANDARD, b.as_ref()))
        .expect("public key");

    // 2. The production stack, with the CI stack's outputs and the key's public key.
    let production_template = Template::load(PRODUCTION_TEMPLATE);
    let production_params = vec![
        ("CiAccountId", account.to_string()),
        ("SigningKeyArn", signing_key_arn.clone()),
        ("SigningPublicKey", public_key),
        ("VpcId", network.vpc_id.clone()),
        ("SubnetIds", network.subnet_id.clone()),
        (
            "RunnerImage",
            format!(
                "{account}.dkr.ecr.{region}.amazonaws.com/airlock-runner@sha256:{}",
                "0123456789abcdef".repeat(4)
            ),
        ),
        ("JobName", "web".to_string()),
        ("JobCommand", JOB_COMMAND.to_string()),
        ("JobParams", JOB_PARAMS.to_string()),
        ("JobTimeoutSeconds", "600".to_string()),
        ("TaskPolicyArn", task_policy.clone()),
        ("DispatcherCodeBucket", "artifacts".to_string()),
        ("DispatcherCodeKey", "airlock-dispatch.zip".to_string()),
    ];
    lane.create_stack(
        "airlock-production",
        &production_template,
        &production_params,
    );
    let outputs = lane.outputs("airlock-production");
    let created = lane.resources("airlock-production");
    let arns = lane.arns(&created);
    let reference = |id: &str| created.get(id).map(|(_, p)| p.clone());
    let attribute = |id: &str, attribute: &str| {
        (attribute == "Arn")
            .then(|| arns.get(id).cloned())
            .flatten()
    };
    let scope = deployed_scope(
        &production_template,
        "airlock-production",
        &production_params,
        &reference,
        &attribute,
    );
    let skipped = not_created(&production_template, &scope, &created);
    let skipped_types: BTreeSet<&str> = skipped.values().map(String::as_str).collect();
    assert_eq!(
        skipped_types,
        MOTO_DOES_NOT_CREATE.iter().copied().collect(),
        "what moto's CloudFormation leaves out changed: {skipped:?}"
    );
    create_what_moto_skips(&lane, &production_template, &scope, &skipped);
    apply_what_moto_drops(&lane, &production_template, &scope, &created);

    let output = |name: &str| -> String {
        outputs
            .get(name)
            .cloned()
            .unwrap_or_else(|| panic!("the production stack has no output {name}: {outputs:?}"))
    };
    let (topic_arn, queue_url) = (output("TopicArn"), output("FeedbackQueueUrl"));
    assert_eq!(output("Region"), region);
    assert_eq!(output("TaskLogGroup"), "/airlock/airlock-lane/deploy");
    assert!(output("FeedbackQueueArn").ends_with(":airlock-feedback"));

    // The topic's subscriber in moto is the function, which moto cannot run without Docker.
    // The test listens on the topic with a queue of its own, and hands each message to the
    // bootstrap as the SNS event Lambda would deliver.
    let tap = lane
        .block_on(fixtures::queue(&lane.sdk, "test-topic-tap"))
        .expect("tap queue");
    let tap_arn = lane
        .block_on(
            airlock_aws::sqs(&lane.sdk)
                .get_queue_attributes()
                .queue_url(&tap)
                .attribute_names(QueueAttributeName::QueueArn)
                .send(),
        )
        .expect("sqs:GetQueueAttributes")
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .expect("tap ARN");
    lane.block_on(
        airlock_aws::sns(&lane.sdk)
            .subscribe()
            .topic_arn(&topic_arn)
            .protocol("sqs")
            .endpoint(&tap_arn)
            .attributes("RawMessageDelivery", "true")
            .send(),
    )
    .expect("sns:Subscribe");

    // 3. The dispatcher, as Lambda starts the stack's function.
    let function_name = output("DispatcherFunctionName");
    let function = lane
        .block_on(
            airlock_aws::lambda(&lane.sdk)
                .get_function_configuration()
                .function_name(&function_name)
                .send(),
        )
        .expect("lambda:GetFunctionConfiguration");
    assert_eq!(
        function.runtime().map(|r| r.as_str()),
        Some("provided.al2023")
    );
    assert_eq!(function.handler(), Some("bootstrap"));
    let function_env: Vec<(String, String)> = function
        .environment()
        .and_then(|e| e.variables())
        .map(|v| v.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    assert!(
        function_env
            .iter()
            .any(|(k, _)| k == "AIRLOCK_DISPATCH_CONFIG_SSM"),
        "{function_env:?}"
    );
    let api = RuntimeApi::start();
    let dispatcher = Killed(
        bootstrap_command(&bootstrap, lane.moto.env(), &api)
            .envs(function_env)
            .env("AWS_LAMBDA_FUNCTION_NAME", &function_name)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start airlock-dispatch"),
    );

    // 4. CI: airlock deploy with the outputs and the signing key.
    let mut deploy = lane
        .command(&[
            "deploy",
            "--job",
            "web",
            "--param",
            "VERSION=v2.7.1",
            "--watchdog",
            "60s",
        ])
        .env("AIRLOCK_LOG", "error")
        .env("AWS_REGION", output("Region"))
        .env("AIRLOCK_LANE_TOPIC_ARN", &topic_arn)
        .env("AIRLOCK_LANE_FEEDBACK_QUEUE_URL", &queue_url)
        .env("AIRLOCK_LANE_SIGNING_KEY_ID", &signing_key_arn)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("airlock deploy");
    let stdout = drain(deploy.stdout.take().expect("stdout"));
    let stderr = drain(deploy.stderr.take().expect("stderr"));

    let envelope = lane
        .block_on(fixtures::take_message(
            &lane.sdk,
            &tap,
            Duration::from_secs(60),
        ))
        .expect("the request on the topic");
    api.push(&json!({"Records": [{
        "EventSource": "aws:sns",
        "EventVersion": "1.0",
        "EventSubscriptionArn": format!("{topic_arn}:00000000-0000-4000-8000-000000000000"),
        "Sns": {
            "Type": "Notification",
            "MessageId": "00000000-0000-4000-8000-000000000001",
            "TopicArn": topic_arn,
            "Message": envelope,
            "Timestamp": "2026-12-03T00:00:00.000Z"
        }
    }]}));
    let replies = api.wait_replies(1, Duration::from_secs(60));
    let decision = match replies.first() {
        Some(Reply::Response { body, .. }) => {
            serde_json::from_str::<Value>(body).expect("response JSON")["decisions"][0].clone()
        }
        other => {
            drop(dispatcher);
            panic!("the dispatcher did not answer: {other:?}");
        }
    };
    assert_eq!(decision["decision"], "started", "{decision}");
    let task_arn = decision["task_arn"].as_str().expect("task_arn").to_string();

    // 5. Fargate: the stack's own task definition, its command and environment, with the
    // overrides RunTask gave the task.
    let cluster = output("ClusterArn");
    let task = lane
        .block_on(fixtures::describe_task(&lane.sdk, &cluster, &task_arn))
        .expect("ecs:DescribeTasks");
    let task_definition_arn = task.task_definition_arn().unwrap_or_default().to_string();
    assert_eq!(task_definition_arn, output("TaskDefinitionArn"));
    let definition = lane
        .block_on(
            airlock_aws::ecs(&lane.sdk)
                .describe_task_definition()
                .task_definition(&task_definition_arn)
                .send(),
        )
        .expect("ecs:DescribeTaskDefinition");
    let container = definition
        .task_definition()
        .and_then(|d| {
            d.container_definitions()
                .iter()
                .find(|c| c.name() == Some("deploy"))
        })
        .expect("the deploy container")
        .clone();
    assert_eq!(container.readonly_root_filesystem(), Some(true));
    assert_eq!(container.user(), Some("10001:10001"));
    let mut environment: Vec<(String, String)> = container
        .environment()
        .iter()
        .map(|kv| {
            (
                kv.name().unwrap_or_default().to_string(),
                kv.value().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let overrides = task
        .overrides()
        .and_then(|o| {
            o.container_overrides()
                .iter()
                .find(|c| c.name() == Some("deploy"))
        })
        .expect("the deploy container's overrides");
    environment.extend(overrides.environment().iter().map(|kv| {
        (
            kv.name().unwrap_or_default().to_string(),
            kv.value().unwrap_or_default().to_string(),
        )
    }));
    assert!(
        environment
            .iter()
            .any(|(k, v)| k == "AIRLOCK_FEEDBACK" && *v == queue_url),
        "{environment:?}"
    );
    let mut run_args = vec!["-q", "run", "--"];
    run_args.extend(container.command().iter().map(String::as_str));
    let runner = lane
        .command(&run_args)
        .envs(environment.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("airlock run");
    assert_eq!(runner.code(), Some(7));

    // 6. CI prints the job's lines and exits with its code.
    let status = deploy.wait().expect("deploy exits");
    let out = String::from_utf8_lossy(&stdout.join().expect("stdout")).into_owned();
    let err = String::from_utf8_lossy(&stderr.join().expect("stderr")).into_owned();
    let uid = current_uid();
    assert_eq!(status.code(), Some(7), "stdout:\n{out}\nstderr:\n{err}");
    assert_eq!(out, format!("deploying v2.7.1 as {uid}\ndone\n"), "{err}");
    assert!(err.contains("a line on stderr"), "{err}");

    // 7. ECS reports the task stopped, through the stack's EventBridge rule. The runner's exit
    // code is the job's, so it delivered Finished: the dispatcher frees the lane and sends no
    // TaskStopped, which nobody would read. The queue is left empty.
    api.push(&json!({
        "version": "0",
        "id": "00000000-0000-4000-8000-000000000002",
        "detail-type": "ECS Task State Change",
        "source": "aws.ecs",
        "account": account,
        "region": region,
        "detail": {
            "taskArn": task_arn,
            "clusterArn": cluster,
            "lastStatus": "STOPPED",
            "desiredStatus": "STOPPED",
            "startedBy": "airlock-dispatch",
            "stopCode": "EssentialContainerExited",
            "stoppedReason": "Essential container in task exited",
            "containers": [{"name": "deploy", "lastStatus": "STOPPED", "exitCode": 7}]
        }
    }));
    let replies = api.wait_replies(2, Duration::from_secs(60));
    let decision = match replies.get(1) {
        Some(Reply::Response { body, .. }) => {
            serde_json::from_str::<Value>(body).expect("response JSON")["decisions"][0].clone()
        }
        other => {
            drop(dispatcher);
            panic!("the dispatcher did not answer the STOPPED event: {other:?}");
        }
    };
    assert_eq!(decision["decision"], "task_stopped", "{decision}");
    assert_eq!(decision["notice"], "runner_reported", "{decision}");
    let left = lane
        .block_on(fixtures::messages_in(&lane.sdk, &queue_url))
        .expect("sqs:GetQueueAttributes");
    assert_eq!(left, 0, "messages left in the feedback queue");
    drop(dispatcher);
}

/// This process's uid as `id -u` prints it (the job runs as the test's user here).
fn current_uid() -> String {
    let out = Command::new("id").arg("-u").output().expect("id -u");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}
