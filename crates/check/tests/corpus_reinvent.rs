//! What the scan must find in the re:Invent 2019 CON414 corpus (issue 3's acceptance list),
//! including what checkov misses there. Skipped, with a note, when the shared corpora are
//! not present (AIRLOCK_CORPORA, default ../shared/corpora beside the workspace).

use std::path::PathBuf;

use airlock_check::{Finding, ScanOptions, scan};

fn corpus() -> Option<PathBuf> {
    airlock_test_corpora::require_corpus("corpus_reinvent", "reinvent2019-con414")
}

fn has(findings: &[Finding], rule: &str, file_suffix: &str) -> bool {
    findings
        .iter()
        .any(|f| f.rule == rule && f.file.ends_with(file_suffix) && f.suppressed.is_none())
}

#[test]
fn reinvent_corpus_reports_the_known_mistakes_without_leaking_secrets() {
    let Some(dir) = corpus() else { return };
    let result = scan(&ScanOptions {
        paths: vec![dir.clone()],
        inline_suppressions: true,
        ..ScanOptions::default()
    });
    assert!(result.errors.is_empty(), "{:?}", result.errors);
    let f = &result.findings;
    let expected = [
        (
            "NET002",
            "cloudformation/00-cluster-fargate-vpc.yml",
            "the all-ports world-open security group",
        ),
        (
            "SEC006",
            "dockerfiles/httpd-login/htpasswd",
            "the committed password file",
        ),
        (
            "SEC007",
            "dockerfiles/httpd-login/00-Dockerfile",
            "the password file copied into the image",
        ),
        (
            "DKR005",
            "dockerfiles/httpd-login/00-Dockerfile",
            "sshd installed",
        ),
        (
            "DKR005",
            "dockerfiles/httpd-login/01-Dockerfile",
            "sshd installed",
        ),
        ("DKR001", "dockerfiles/httpd-login/00-Dockerfile", "no USER"),
        ("DKR001", "dockerfiles/httpd-login/01-Dockerfile", "no USER"),
        (
            "SEC009",
            "cloudformation/01-cluster-fargate-vpc-asm.yml",
            "the literal SecretString",
        ),
        (
            "ECR001",
            "cloudformation/00-cluster-fargate-vpc.yml",
            "scan on push off",
        ),
        (
            "ECR002",
            "cloudformation/00-cluster-fargate-vpc.yml",
            "mutable tags",
        ),
        (
            "ECS002",
            "runtask/00-taskdefinition.json",
            "a writable root filesystem",
        ),
        (
            "ECS003",
            "runtask/00-taskdefinition.json",
            "a container running as root",
        ),
        (
            "ECS002",
            "runtask/01-taskdefinition.json",
            "a writable root filesystem",
        ),
        (
            "ECS003",
            "runtask/01-taskdefinition.json",
            "a container running as root",
        ),
    ];
    let missing: Vec<String> = expected
        .iter()
        .filter(|(rule, file, _)| !has(f, rule, file))
        .map(|(rule, file, what)| format!("{rule} in {file} ({what})"))
        .collect();
    assert!(missing.is_empty(), "missing:\n{}", missing.join("\n"));

    // The SecretString is an htpasswd line; its hash must appear in no finding.
    let template =
        std::fs::read_to_string(dir.join("cloudformation/01-cluster-fargate-vpc-asm.yml"))
            .expect("read template");
    let secret_line = template
        .lines()
        .find(|l| l.contains("SecretString"))
        .expect("the template has a SecretString");
    let secret = secret_line
        .split_once(':')
        .map(|(_, v)| v.trim().trim_matches(['\'', '"']))
        .unwrap_or_default();
    assert!(
        secret.len() > 8,
        "the SecretString value was found: {secret:?}"
    );
    for finding in f {
        for field in [&finding.message, &finding.resource, &finding.fingerprint] {
            assert!(
                !field.contains(secret),
                "{} leaks the secret in {field}",
                finding.rule
            );
        }
    }
}
