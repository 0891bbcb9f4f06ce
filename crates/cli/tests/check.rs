//! `airlock check` as a user meets it: exit codes, where the report goes, configuration and
//! baseline files, rule listing. These tests need no front end to recognise anything; the
//! ones that need findings are in check_findings.rs.

mod common;

use common::{Scratch, stderr, stdout};

#[test]
fn nothing_to_report_exits_0_with_a_summary() {
    let dir = Scratch::new("clean");
    dir.write("README.md", "nothing to scan here\n");
    let out = dir.airlock(&["check", "."]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out)
            .ends_with("0 findings, 0 suppressed, 0 baselined, 0 errors, 0 files scanned\n"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn a_path_that_does_not_exist_exits_2_and_still_prints_the_report() {
    let dir = Scratch::new("missing");
    let out = dir.airlock(&["check", "--format", "json", "no/such/dir"]);
    assert_eq!(out.status.code(), Some(2));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    assert_eq!(report["errors"][0]["file"], "no/such/dir");
    assert_eq!(report["summary"]["errors"], 1);
}

#[test]
fn output_goes_to_the_file_instead_of_stdout() {
    let dir = Scratch::new("output");
    let out = dir.airlock(&["check", "--format", "sarif", "--output", "out.sarif", "."]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).is_empty(), "{}", stdout(&out));
    let log: serde_json::Value = serde_json::from_str(&dir.read("out.sarif")).expect("SARIF");
    assert_eq!(log["version"], "2.1.0");
}

#[test]
fn an_unwritable_output_is_a_usage_error() {
    let dir = Scratch::new("unwritable");
    let out = dir.airlock(&["check", "--output", "no/such/dir/report.txt", "."]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("no/such/dir/report.txt"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn every_format_renders_an_empty_scan() {
    let dir = Scratch::new("formats");
    for (format, marker) in [
        ("human", "0 findings"),
        ("json", "\"version\": 1"),
        ("sarif", "\"version\": \"2.1.0\""),
        ("junit", "<testsuites name=\"airlock check\""),
        ("github", "0 findings"),
    ] {
        let out = dir.airlock(&["check", "--format", format, "."]);
        assert_eq!(out.status.code(), Some(0), "{format}: {}", stderr(&out));
        assert!(stdout(&out).contains(marker), "{format}: {}", stdout(&out));
    }
}

#[test]
fn list_rules_in_text_and_json() {
    let dir = Scratch::new("list");
    let out = dir.airlock(&["check", "--list-rules"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("SUP001  suppression-without-reason  (medium)"),
        "{text}"
    );
    assert!(text.contains("/docs/rules/SUP001.md"), "{text}");

    let out = dir.airlock(&["check", "--list-rules", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let rules: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON list");
    let rules = rules.as_array().expect("array");
    assert!(!rules.is_empty());
    for rule in rules {
        for key in [
            "code", "name", "severity", "formats", "practice", "doc_url", "checkov",
        ] {
            assert!(!rule[key].is_null(), "{key} missing in {rule}");
        }
    }
    let net001 = rules
        .iter()
        .find(|rule| rule["code"] == "NET001")
        .expect("NET001 listed");
    assert_eq!(
        net001["checkov"],
        serde_json::json!(["CKV_AWS_24", "CKV_AWS_25"])
    );

    let out = dir.airlock(&["check", "--list-rules", "--format", "junit"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--list-rules"), "{}", stderr(&out));
}

#[test]
fn a_bad_config_file_is_an_error_naming_it() {
    let dir = Scratch::new("config");
    dir.write("custom.toml", "[check]\ndisable = [\"NOPE999\"]\n");
    let out = dir.airlock(&["check", "--config", "custom.toml", "."]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("custom.toml"), "{err}");
    assert!(err.contains("NOPE999"), "{err}");
    assert!(stdout(&out).is_empty(), "no report without a configuration");

    let out = dir.airlock(&["check", "--config", "missing.toml", "."]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("missing.toml"), "{}", stderr(&out));
}

#[test]
fn airlock_toml_in_the_current_directory_is_read() {
    let dir = Scratch::new("default-config");
    dir.write("airlock.toml", "[check]\nunknown_key = 1\n");
    let out = dir.airlock(&["check", "."]);
    assert_eq!(out.status.code(), Some(2), "the default file was not read");
    assert!(stderr(&out).contains("airlock.toml"), "{}", stderr(&out));

    dir.write("airlock.toml", "[check]\ndisable = [\"SUP002\"]\n");
    let out = dir.airlock(&["check", "."]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn disable_takes_known_rules_only() {
    let dir = Scratch::new("disable");
    let out = dir.airlock(&[
        "check",
        "--disable",
        "SUP002",
        "--disable",
        "suppression-without-reason",
        ".",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = dir.airlock(&["check", "--disable", "XYZ001", "."]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("XYZ001"), "{}", stderr(&out));
}

#[test]
fn write_baseline_writes_a_versioned_file() {
    let dir = Scratch::new("write-baseline");
    let out = dir.airlock(&["check", "--write-baseline", "baseline.json", "."]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let baseline: serde_json::Value =
        serde_json::from_str(&dir.read("baseline.json")).expect("baseline JSON");
    assert_eq!(baseline["version"], 1);
    assert!(baseline["findings"].is_array());

    let out = dir.airlock(&["check", "--baseline", "baseline.json", "."]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn write_baseline_still_writes_but_exits_2_when_files_could_not_be_read() {
    let dir = Scratch::new("write-baseline-errors");
    let out = dir.airlock(&["check", "--write-baseline", "baseline.json", "missing"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("missing"), "{}", stderr(&out));
    let baseline: serde_json::Value =
        serde_json::from_str(&dir.read("baseline.json")).expect("baseline JSON");
    assert_eq!(baseline["version"], 1);
}

#[test]
fn a_bad_baseline_is_an_error_naming_it() {
    let dir = Scratch::new("bad-baseline");
    dir.write("old.json", "{\"version\": 1}");
    let out = dir.airlock(&["check", "--baseline", "old.json", "."]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("old.json"), "{}", stderr(&out));
}

#[test]
fn colour_is_off_when_not_a_terminal_and_on_when_forced() {
    let dir = Scratch::new("colour");
    // A missing path gives an error line, which the human report colours.
    let out = dir.airlock(&["check", "missing"]);
    assert!(!stdout(&out).contains('\x1b'), "{}", stdout(&out));
    let out = dir.airlock(&["--color", "always", "check", "missing"]);
    assert!(stdout(&out).contains("\x1b["), "{}", stdout(&out));
}
