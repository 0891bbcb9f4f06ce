//! The example local lane in examples/lane is valid and its job does what it says.

use std::collections::BTreeMap;
use std::path::PathBuf;

use airlock_lane::config::LaneConfig;

fn example_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/lane")
}

#[test]
fn the_example_configuration_is_valid() {
    let config = LaneConfig::load(&example_dir().join("airlock.toml")).expect("valid example");
    let hello = config.job("hello").expect("hello job");
    assert_eq!(hello.command, ["./jobs/hello.sh"]);
    let ok = BTreeMap::from([
        ("EXIT_CODE".to_string(), "3".to_string()),
        ("GREETING".to_string(), "bonjour".to_string()),
    ]);
    assert_eq!(hello.validate_params(&ok), Ok(()));
    let bad = BTreeMap::from([("EXIT_CODE".to_string(), "three".to_string())]);
    assert!(hello.validate_params(&bad).is_err());
    assert!(config.local.db.ends_with(".airlock/lane.db"));
}

#[test]
fn the_example_job_prints_colour_on_both_streams_and_exits_as_asked() {
    let output = std::process::Command::new(example_dir().join("jobs/hello.sh"))
        .env("EXIT_CODE", "42")
        .env("GREETING", "hallo")
        .output()
        .expect("run hello.sh");
    assert_eq!(output.status.code(), Some(42));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stdout.contains("\x1b[32mhallo\x1b[0m"), "{stdout}");
    assert!(stdout.contains("step 3 of 3"), "{stdout}");
    assert!(stderr.contains("\x1b[33mwarning:"), "{stderr}");
    assert!(stderr.contains("exit code 42"), "{stderr}");
}
