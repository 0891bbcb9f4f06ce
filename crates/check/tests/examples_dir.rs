//! The README's quick start scans `examples/`: the fixed samples must be clean and the
//! insecure ones must show every family of mistakes, with no parse errors in either.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use airlock_check::{ScanOptions, scan};

fn examples(which: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples")
        .join(which)
}

fn options(which: &str) -> ScanOptions {
    ScanOptions {
        paths: vec![examples(which)],
        inline_suppressions: true,
        ..ScanOptions::default()
    }
}

#[test]
fn fixed_examples_are_clean() {
    let result = scan(&options("fixed"));
    assert!(result.errors.is_empty(), "{:?}", result.errors);
    let findings: Vec<String> = result
        .findings
        .iter()
        .map(|f| format!("{}:{} {} {}", f.file, f.line, f.rule, f.message))
        .collect();
    assert!(
        findings.is_empty(),
        "fixed examples raise:\n{}",
        findings.join("\n")
    );
    assert_eq!(result.files_scanned, 6);
}

#[test]
fn files_are_counted_by_format() {
    let result = scan(&options("fixed"));
    // One fixed example of each kind the scanner reads from a repository.
    let expected: BTreeMap<&str, usize> = [
        "cloudformation",
        "dockerfile",
        "ecs-task-definition",
        "iam-policy",
        "kubernetes",
        "terraform",
    ]
    .into_iter()
    .map(|format| (format, 1))
    .collect();
    assert_eq!(result.files_by_format, expected);
}

#[test]
fn insecure_examples_show_every_family_in_every_file() {
    let result = scan(&options("insecure"));
    assert!(result.errors.is_empty(), "{:?}", result.errors);
    let families: BTreeSet<&str> = result
        .findings
        .iter()
        .map(|f| f.rule.trim_end_matches(|c: char| c.is_ascii_digit()))
        .collect();
    for family in ["NET", "SEC", "ECS", "K8S", "DKR", "ECR", "IAM", "LOG"] {
        assert!(
            families.contains(family),
            "no {family} finding in examples/insecure: {families:?}"
        );
    }
    let files: BTreeSet<&str> = result.findings.iter().map(|f| f.file.as_str()).collect();
    assert_eq!(
        files.len(),
        6,
        "every insecure file has findings: {files:?}"
    );
    for f in &result.findings {
        assert!(
            !f.message.contains("Tr0ub4dor") && !f.message.contains("c2VjcmV0LXRva2Vu"),
            "a secret value leaked into a message: {}",
            f.message
        );
    }
}

fn fingerprints(path: PathBuf) -> BTreeSet<String> {
    let result = scan(&ScanOptions {
        paths: vec![path],
        inline_suppressions: true,
        ..ScanOptions::default()
    });
    assert!(!result.findings.is_empty());
    result.findings.into_iter().map(|f| f.fingerprint).collect()
}

/// Baselines and SARIF fingerprints must survive another spelling of the path and another
/// checkout location.
#[test]
fn fingerprints_do_not_depend_on_where_the_files_are() {
    let spelled = examples("insecure").join("terraform");
    let canonical = spelled.canonicalize().expect("examples exist");
    assert_eq!(fingerprints(spelled.clone()), fingerprints(canonical));

    // Two copies outside any git work tree: anchored at the scanned folder.
    let base = std::env::temp_dir().join(format!("airlock-fp-{}", std::process::id()));
    let mut copies = Vec::new();
    for name in ["checkout-a", "elsewhere/checkout-b"] {
        let dir = base.join(name);
        std::fs::create_dir_all(&dir).expect("temp dir");
        for entry in std::fs::read_dir(&spelled).expect("read examples") {
            let path = entry.expect("entry").path();
            if path.is_file() {
                std::fs::copy(&path, dir.join(path.file_name().expect("name"))).expect("copy");
            }
        }
        // Findings about files (a committed password file, and its COPY into an image) name
        // them by path; their fingerprints must not carry the checkout's location either.
        let web = dir.join("web");
        std::fs::create_dir_all(&web).expect("temp dir");
        std::fs::write(
            web.join("htpasswd"),
            "admin:$apr1$FAKEFAKE$notarealhashnotarealha\n",
        )
        .expect("write htpasswd");
        std::fs::write(
            web.join("Dockerfile"),
            "FROM nginx:1.27\nCOPY ./htpasswd /etc/nginx/.htpasswd\nUSER nginx\n",
        )
        .expect("write Dockerfile");
        copies.push(fingerprints(dir));
    }
    let _ = std::fs::remove_dir_all(&base);
    assert_eq!(copies[0], copies[1]);
}

/// `examples/accounts` is docs/accounts.md's sample for `airlock accounts lint`: its mistakes,
/// each at its line.
#[test]
fn the_accounts_example_shows_each_mistake_once() {
    use airlock_check::formats::awsconfig::AwsFileKind;
    let dir = examples("accounts");
    let config =
        airlock_check::Config::load(&dir.join("airlock.toml")).unwrap_or_else(|e| panic!("{e}"));
    let read = |name: &str, kind| {
        let path = dir.join("aws").join(name);
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{e}"));
        (airlock_check::SourceFile::new(name, text), kind)
    };
    let files = [
        read("config", AwsFileKind::Config),
        read("credentials", AwsFileKind::Credentials),
    ];
    let result = airlock_check::scan_aws_files(
        &files,
        &ScanOptions {
            config,
            ..ScanOptions::default()
        },
    );
    assert!(result.errors.is_empty(), "{:?}", result.errors);
    let found: Vec<String> = result
        .findings
        .iter()
        .filter(|f| f.rule.starts_with("ACC"))
        .map(|f| format!("{}:{} {}", f.file, f.line, f.rule))
        .collect();
    assert_eq!(
        found,
        [
            "config:17 ACC002",
            "config:17 ACC003",
            "config:17 ACC004",
            "config:22 ACC001",
            "config:23 ACC004",
            "config:25 ACC007",
            "config:29 ACC008",
            "config:31 ACC006",
            "credentials:8 ACC005",
        ]
    );
}
