//! `airlock check` on inputs that produce findings: exit code 1, the severity threshold,
//! inline suppressions, baselines, parse errors winning over findings.
//!
//! These need the front ends and rules (Dockerfile, Terraform, CloudFormation, Kubernetes,
//! ECS, IAM) to be merged; before that the scanner recognises no format and these fail.

mod common;

use common::{INSECURE_FIXTURES, Scratch, stderr, stdout};

/// A Deployment whose container may run as root (K8S004, high) and whose other findings
/// are at most medium, so that `--severity critical` passes it and `--severity high` fails
/// it. `{suppression}` is replaced by a comment line (or nothing).
const ROOT_DEPLOYMENT: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
{suppression}        - name: web
          image: nginx:1.27
"#;

fn deployment(suppression: &str) -> String {
    ROOT_DEPLOYMENT.replace("{suppression}", suppression)
}

const RUNS_AS_ROOT: &str = "K8S004";

fn json(out: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).expect("JSON report")
}

fn rules_of(report: &serde_json::Value) -> Vec<String> {
    report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["suppressed"].is_null())
        .filter_map(|f| f["rule"].as_str().map(str::to_string))
        .collect()
}

#[test]
fn findings_exit_1_and_every_fixture_raises_something() {
    let dir = Scratch::new("findings");
    for (path, text) in INSECURE_FIXTURES {
        dir.write(path, text);
    }
    let out = dir.airlock(&["check", "--format", "json", "."]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let report = json(&out);
    for (path, _) in INSECURE_FIXTURES {
        let file = format!("./{path}");
        assert!(
            report["findings"]
                .as_array()
                .expect("findings")
                .iter()
                .any(|f| f["file"] == *path || f["file"] == file),
            "no finding in {path}: {report}"
        );
    }
    let rules = rules_of(&report);
    for expected in ["NET001", "K8S001", "ECS001", "IAM001", "DKR001"] {
        assert!(
            rules.iter().any(|r| r == expected),
            "{expected} missing: {rules:?}"
        );
    }
}

#[test]
fn the_severity_threshold_decides_the_exit_code() {
    let dir = Scratch::new("threshold");
    dir.write("deployment.yaml", &deployment(""));
    let out = dir.airlock(&["check", "--format", "json", "--severity", "high", "."]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(rules_of(&json(&out)).contains(&RUNS_AS_ROOT.to_string()));

    let out = dir.airlock(&["check", "--format", "json", "--severity", "critical", "."]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    // The report still lists what is below the threshold.
    assert!(rules_of(&json(&out)).contains(&RUNS_AS_ROOT.to_string()));
}

#[test]
fn inline_suppressions_count_unless_turned_off() {
    let dir = Scratch::new("suppressions");
    dir.write(
        "deployment.yaml",
        &deployment("        # airlock:ignore K8S002,K8S004 the image sets USER 10001\n"),
    );
    let out = dir.airlock(&["check", "--format", "json", "--severity", "high", "."]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let report = json(&out);
    assert!(
        report["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .any(|f| f["rule"] == RUNS_AS_ROOT && f["suppressed"] == "the image sets USER 10001"),
        "{report}"
    );

    let out = dir.airlock(&[
        "check",
        "--format",
        "json",
        "--severity",
        "high",
        "--no-inline-suppressions",
        ".",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(rules_of(&json(&out)).contains(&RUNS_AS_ROOT.to_string()));
}

#[test]
fn a_baseline_leaves_out_known_findings_but_not_new_ones() {
    let dir = Scratch::new("baseline");
    dir.write("app/deployment.yaml", &deployment(""));
    let out = dir.airlock(&["check", "--write-baseline", "baseline.json", "."]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let baseline: serde_json::Value =
        serde_json::from_str(&dir.read("baseline.json")).expect("baseline");
    assert!(
        baseline["findings"]
            .as_array()
            .is_some_and(|f| f.iter().any(|e| e["rule"] == RUNS_AS_ROOT)),
        "{baseline}"
    );

    // Moving the code keeps it baselined.
    dir.write(
        "app/deployment.yaml",
        &format!("# moved down\n\n{}", deployment("")),
    );
    let out = dir.airlock(&["check", "--baseline", "baseline.json", "."]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(stdout(&out).contains(" baselined"), "{}", stdout(&out));
    assert!(!stdout(&out).contains(", 0 baselined"), "{}", stdout(&out));

    dir.write("worker/deployment.yaml", &deployment(""));
    let out = dir.airlock(&[
        "check",
        "--format",
        "json",
        "--baseline",
        "baseline.json",
        ".",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let report = json(&out);
    assert!(
        report["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .all(|f| f["file"].as_str().is_some_and(|p| p.contains("worker/"))),
        "only the new file's findings are reported: {report}"
    );
    assert!(
        report["summary"]["baselined"]
            .as_u64()
            .is_some_and(|n| n > 0)
    );
}

#[test]
fn parse_errors_win_over_findings_and_the_report_is_complete() {
    let dir = Scratch::new("parse-error");
    dir.write("deployment.yaml", &deployment(""));
    dir.write(
        "template.yaml",
        "AWSTemplateFormatVersion: \"2010-09-09\"\nResources:\n  Bucket:\n    Type: AWS::S3::Bucket\n    Properties: [unclosed\n",
    );
    let out = dir.airlock(&["check", "--format", "json", "."]);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    let report = json(&out);
    assert!(
        rules_of(&report).contains(&RUNS_AS_ROOT.to_string()),
        "{report}"
    );
    let error = &report["errors"][0];
    assert!(
        error["file"]
            .as_str()
            .is_some_and(|f| f.ends_with("template.yaml")),
        "{report}"
    );
    assert!(error["line"].as_u64().is_some_and(|l| l >= 1), "{report}");

    let human = dir.airlock(&["check", "."]);
    assert_eq!(human.status.code(), Some(2));
    assert!(
        stdout(&human).contains("template.yaml:"),
        "{}",
        stdout(&human)
    );
    assert!(stdout(&human).contains(RUNS_AS_ROOT), "{}", stdout(&human));
}

#[test]
fn the_human_report_shows_code_fix_and_docs() {
    let dir = Scratch::new("human");
    dir.write("deployment.yaml", &deployment(""));
    let out = dir.airlock(&["check", "deployment.yaml"]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(text.starts_with("deployment.yaml\n"), "{text}");
    assert!(text.contains("K8S004 k8s-runs-as-root"), "{text}");
    assert!(text.contains(" |         - name: web\n"), "{text}");
    assert!(text.contains("    fix: "), "{text}");
    assert!(text.contains("docs/rules/K8S004.md"), "{text}");
}

/// A security group open to the world only through its parameter's default: reported, with
/// the parameter named; a value given on the command line or in a parameter file (the AWS
/// CLI's shape) makes it safe; bad values are usage errors naming what is wrong.
#[test]
fn cloudformation_parameters_decide_what_is_reported() {
    let dir = Scratch::new("cfn-params");
    dir.write(
        "stack.yaml",
        "AWSTemplateFormatVersion: \"2010-09-09\"\nParameters:\n  AllowedCidr:\n    Type: String\n    Default: 0.0.0.0/0\nResources:\n  WebSG:\n    Type: AWS::EC2::SecurityGroup\n    Properties:\n      GroupDescription: web\n      SecurityGroupIngress:\n        - IpProtocol: tcp\n          FromPort: 22\n          ToPort: 22\n          CidrIp: !Ref AllowedCidr\n",
    );
    let open = dir.airlock(&["check", "--format", "json", "stack.yaml"]);
    assert_eq!(open.status.code(), Some(1), "{}", stderr(&open));
    let report: serde_json::Value = serde_json::from_slice(&open.stdout).expect("JSON report");
    assert_eq!(report["findings"][0]["rule"], "NET001");
    assert_eq!(
        report["findings"][0]["message"],
        "security group WebSG allows 0.0.0.0/0 to port 22 (SSH) (AllowedCidr defaults to 0.0.0.0/0)"
    );

    let given = dir.airlock(&[
        "check",
        "--cfn-param",
        "AllowedCidr=10.0.0.0/8",
        "stack.yaml",
    ]);
    assert_eq!(given.status.code(), Some(0), "{}", stdout(&given));
    dir.write(
        "prod.json",
        r#"[{"ParameterKey": "AllowedCidr", "ParameterValue": "10.20.0.0/16"}]"#,
    );
    let file = dir.airlock(&["check", "--cfn-params", "prod.json", "stack.yaml"]);
    assert_eq!(file.status.code(), Some(0), "{}", stdout(&file));
    // --cfn-param wins over the file.
    let both = dir.airlock(&[
        "check",
        "--cfn-params",
        "prod.json",
        "--cfn-param",
        "AllowedCidr=0.0.0.0/0",
        "stack.yaml",
    ]);
    assert_eq!(both.status.code(), Some(1), "{}", stdout(&both));
    assert!(
        stdout(&both).contains("(AllowedCidr is 0.0.0.0/0 as given)"),
        "{}",
        stdout(&both)
    );

    let malformed = dir.airlock(&["check", "--cfn-param", "AllowedCidr", "stack.yaml"]);
    assert_eq!(malformed.status.code(), Some(2));
    assert!(
        stderr(&malformed).contains("--cfn-param \"AllowedCidr\": expected NAME=VALUE"),
        "{}",
        stderr(&malformed)
    );
    dir.write("bad.json", r#"[{"ParameterKey": "AllowedCidr"}]"#);
    let bad_file = dir.airlock(&["check", "--cfn-params", "bad.json", "stack.yaml"]);
    assert_eq!(bad_file.status.code(), Some(2));
    assert!(
        stderr(&bad_file).contains("--cfn-params bad.json: AllowedCidr has no ParameterValue"),
        "{}",
        stderr(&bad_file)
    );
}

/// A world-open group reached through a Terraform variable's default in another file of the
/// module: reported, naming the variable; `--var-file` and `--var` make it safe or open
/// again, in Terraform's order.
#[test]
fn terraform_variables_decide_what_is_reported() {
    let dir = Scratch::new("tf-vars");
    dir.write(
        "infra/main.tf",
        "resource \"aws_security_group\" \"web\" {\n  name = \"web\"\n  ingress {\n    from_port   = 22\n    to_port     = 22\n    protocol    = \"tcp\"\n    cidr_blocks = var.allowed_cidrs\n  }\n}\n",
    );
    dir.write(
        "infra/variables.tf",
        "variable \"allowed_cidrs\" {\n  type    = list(string)\n  default = [\"0.0.0.0/0\"]\n}\n",
    );
    let open = dir.airlock(&["check", "--format", "json", "infra"]);
    assert_eq!(open.status.code(), Some(1), "{}", stderr(&open));
    let report: serde_json::Value = serde_json::from_slice(&open.stdout).expect("JSON report");
    assert_eq!(report["findings"][0]["rule"], "NET001");
    assert!(
        report["findings"][0]["message"]
            .as_str()
            .is_some_and(|m| m.ends_with("(var.allowed_cidrs defaults to [0.0.0.0/0])")),
        "{report}"
    );
    dir.write("prod.tfvars", "allowed_cidrs = [\"10.0.0.0/8\"]\n");
    let safe = dir.airlock(&["check", "--var-file", "prod.tfvars", "infra"]);
    assert_eq!(safe.status.code(), Some(0), "{}", stdout(&safe));
    let again = dir.airlock(&[
        "check",
        "--var-file",
        "prod.tfvars",
        "--var",
        "allowed_cidrs=[\"0.0.0.0/0\"]",
        "infra",
    ]);
    assert_eq!(again.status.code(), Some(1), "{}", stdout(&again));
    let malformed = dir.airlock(&["check", "--var", "allowed_cidrs", "infra"]);
    assert_eq!(malformed.status.code(), Some(2));
    assert!(
        stderr(&malformed).contains("--var \"allowed_cidrs\": expected NAME=VALUE"),
        "{}",
        stderr(&malformed)
    );
    let missing = dir.airlock(&["check", "--var-file", "nope.tfvars", "infra"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        stderr(&missing).contains("--var-file nope.tfvars"),
        "{}",
        stderr(&missing)
    );
}

#[test]
fn strict_unknowns_lists_what_could_not_be_decided_and_fails_on_it() {
    let dir = Scratch::new("strict-unknowns");
    dir.write(
        "infra/main.tf",
        "resource \"aws_security_group\" \"web\" {\n  name = \"web\"\n  ingress {\n    from_port   = 22\n    to_port     = 22\n    protocol    = \"tcp\"\n    cidr_blocks = [var.admin_cidr]\n  }\n  ingress {\n    from_port   = 443\n    to_port     = 443\n    protocol    = \"tcp\"\n    cidr_blocks = [var.admin_cidr]\n  }\n}\n\nvariable \"admin_cidr\" {\n  type = string\n}\n",
    );
    // Without a value for admin_cidr nothing is known, and nothing is reported.
    let quiet = dir.airlock(&["check", "infra"]);
    assert_eq!(quiet.status.code(), Some(0), "{}", stdout(&quiet));
    let strict = dir.airlock(&["check", "--strict-unknowns", "--format", "json", "infra"]);
    assert_eq!(strict.status.code(), Some(1), "{}", stderr(&strict));
    let report: serde_json::Value = serde_json::from_slice(&strict.stdout).expect("JSON report");
    assert_eq!(report["findings"], serde_json::json!([]));
    // SSH depends on the CIDR; 443 is no rule's business whatever the CIDR.
    let undecided = report["undecided"].as_array().expect("undecided list");
    assert_eq!(undecided.len(), 1, "{report}");
    assert_eq!(undecided[0]["rule"], "NET001");
    assert_eq!(undecided[0]["line"], 3);
    assert_eq!(
        undecided[0]["message"],
        "could not be decided on aws_security_group.web: it depends on `var.admin_cidr`"
    );
    assert_eq!(report["summary"]["undecided"], 1);
    // A value decides it: then there is nothing undecided, and a safe value passes.
    let decided = dir.airlock(&[
        "check",
        "--strict-unknowns",
        "--var",
        "admin_cidr=10.0.0.0/8",
        "infra",
    ]);
    assert_eq!(decided.status.code(), Some(0), "{}", stdout(&decided));
    assert!(
        stdout(&decided).contains(", 0 undecided"),
        "{}",
        stdout(&decided)
    );
    // A disabled rule leaves nothing undecided either.
    let disabled = dir.airlock(&["check", "--strict-unknowns", "--disable", "NET001", "infra"]);
    assert_eq!(disabled.status.code(), Some(0), "{}", stdout(&disabled));
}

#[test]
fn a_registry_module_is_said_once_not_to_be_evaluated_and_does_not_fail_the_scan() {
    let dir = Scratch::new("registry-module");
    dir.write(
        "infra/main.tf",
        "module \"vpc\" {\n  source = \"terraform-aws-modules/vpc/aws\"\n  cidr   = \"10.0.0.0/16\"\n}\n",
    );
    let out = dir.airlock(&["check", "--format", "json", "infra"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    let notices = report["notices"].as_array().expect("notices");
    assert_eq!(notices.len(), 1, "{report}");
    assert_eq!(notices[0]["file"], "infra/main.tf");
    assert_eq!(notices[0]["line"], 1);
    assert!(
        notices[0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("module \"vpc\" is not evaluated")),
        "{report}"
    );
    assert_eq!(
        stderr(&out).matches("is not evaluated").count(),
        1,
        "{}",
        stderr(&out)
    );
}

/// A suppression is used or unused once per scan, whether or not undecided places are listed:
/// one that accepts a finding must not come back as "unused" among the undecided (which made
/// every scan with an `airlock:ignore` exit 1), and one that covers nothing is reported once.
#[test]
fn a_used_suppression_passes_and_an_unused_one_is_reported_once() {
    let dir = Scratch::new("suppression-once");
    dir.write(
        "used/Dockerfile",
        "FROM alpine:3.20@sha256:0000000000000000000000000000000000000000000000000000000000000000\n\
         USER 10001\n\
         # airlock:ignore DKR008 a one-shot task, not a service\n\
         ENTRYPOINT [\"/bin/true\"]\n",
    );
    for strict in [false, true] {
        let mut args = vec!["check", "--format", "json"];
        if strict {
            args.push("--strict-unknowns");
        }
        args.push("used");
        let out = dir.airlock(&args);
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON report");
        assert_eq!(out.status.code(), Some(0), "strict={strict}: {report}");
        let findings = report["findings"].as_array().expect("findings");
        assert_eq!(findings.len(), 1, "{report}");
        assert_eq!(findings[0]["rule"], "DKR008");
        assert!(findings[0]["suppressed"].is_string(), "{report}");
        let undecided = report["undecided"].as_array();
        assert!(undecided.is_none_or(Vec::is_empty), "{report}");
    }

    dir.write(
        "unused/Dockerfile",
        "FROM alpine:3.20@sha256:0000000000000000000000000000000000000000000000000000000000000000\n\
         USER 10001\n\
         HEALTHCHECK CMD [\"/bin/true\"]\n\
         # airlock:ignore DKR008 no longer needed\n\
         ENTRYPOINT [\"/bin/true\"]\n",
    );
    let out = dir.airlock(&["check", "--strict-unknowns", "--format", "json", "unused"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    assert_eq!(out.status.code(), Some(1), "{report}");
    let rules: Vec<&str> = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter_map(|f| f["rule"].as_str())
        .collect();
    assert_eq!(rules, ["SUP002"], "{report}");
    assert_eq!(report["undecided"], serde_json::json!([]), "{report}");
}
