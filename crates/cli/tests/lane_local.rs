//! The whole lane on one machine: `airlock deploy --local` signs the request with the local
//! key, the local dispatcher checks it against the jobs in `airlock.toml` and starts `airlock
//! run` as a subprocess, and the follower prints the job's output from the SQLite file. Each
//! job's output must be byte-identical, per stream, to the job run directly, and the exit code
//! the same.

mod common;

use std::process::{Command, Stdio};

use common::{Scratch, run_directly};

/// (job name, script) pairs: the shapes of output the lane must carry unchanged.
const JOBS: [(&str, &str); 8] = [
    ("lines", "seq 1 100000"),
    (
        "interleaved",
        "i=0; while [ $i -lt 2000 ]; do echo out $i; echo err $i >&2; i=$((i+1)); done",
    ),
    (
        "bytes",
        r"printf '\033[31mred\033[0m plain\r\nprogress 10%%\rprogress 100%%\n\377\376 not utf-8\n\000nul\n'; printf '\033[1;33mwarn\033[0m\n' >&2",
    ),
    (
        "long-line",
        "head -c 3145728 /dev/zero | tr '\\000' x; echo; echo after",
    ),
    ("exit-0", "echo fine"),
    ("exit-1", "echo failing >&2; exit 1"),
    ("exit-42", "echo answer; exit 42"),
    ("sigkill", "echo dying; kill -9 $$"),
];

fn lane() -> Scratch {
    let dir = Scratch::new("lane-local");
    let mut config = String::from(
        "[lane]\ncancel_grace_secs = 20\n\n[lane.local]\ndb = \"lane.db\"\nkey = \"key.pem\"\n\n\
         [lane.jobs.sleeper]\ncommand = [\"sh\", \"-c\", \"echo sleeping; trap 'echo stopping; exit 7' TERM; sleep 60 & wait\"]\ntimeout_secs = 120\n",
    );
    for (name, script) in JOBS {
        let quoted = toml_string(script);
        config.push_str(&format!(
            "\n[lane.jobs.{name}]\ncommand = [\"sh\", \"-c\", {quoted}]\ntimeout_secs = 120\n"
        ));
    }
    dir.write("airlock.toml", &config);
    dir
}

fn toml_string(text: &str) -> String {
    // A TOML literal string cannot hold `'`; a basic string escapes `\` and `"`.
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

/// `airlock deploy --local --job JOB`; `quiet` silences airlock's own diagnostics (which
/// share stderr with the job's), so that stderr holds exactly what the job wrote.
fn deploy(dir: &Scratch, job: &str, quiet: bool) -> (Vec<u8>, Vec<u8>, i32) {
    let out = Command::new(env!("CARGO_BIN_EXE_airlock"))
        .args(["-q", "deploy", "--local", "--job", job])
        .env("AIRLOCK_LOG", if quiet { "off" } else { "error" })
        .current_dir(&dir.path)
        .env_remove("AIRLOCK_CONFIG")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .expect("run airlock deploy --local");
    (
        out.stdout,
        out.stderr,
        out.status.code().expect("deploy exited normally"),
    )
}

#[test]
fn every_kind_of_output_arrives_byte_identical_with_the_exit_code() {
    let dir = lane();
    for (job, script) in JOBS {
        let expected = run_directly(script);
        let got = deploy(&dir, job, true);
        assert_eq!(
            got.2,
            expected.2,
            "{job}: exit code; deploy stderr:\n{}",
            String::from_utf8_lossy(&got.1)
        );
        assert!(
            got.0 == expected.0,
            "{job}: stdout differs ({} bytes through the lane, {} direct), first at byte {:?}",
            got.0.len(),
            expected.0.len(),
            got.0.iter().zip(&expected.0).position(|(a, b)| a != b)
        );
        assert!(
            got.1 == expected.1,
            "{job}: stderr differs:\n{}",
            String::from_utf8_lossy(&got.1)
        );
    }
}

#[test]
fn an_unknown_job_is_rejected_with_its_own_exit_code() {
    let dir = lane();
    let (_, stderr, code) = deploy(&dir, "no-such-job", false);
    assert_eq!(code, 251, "{}", String::from_utf8_lossy(&stderr));
    let stderr = String::from_utf8_lossy(&stderr);
    assert!(stderr.contains("no-such-job"), "{stderr}");
}

/// Ctrl-C in CI: `airlock deploy` sends a signed cancel request, the dispatcher stops the
/// runner, the runner passes SIGTERM to the job, and deploy follows until the job has stopped,
/// printing what it said on the way out, then exits with the cancelled code.
#[test]
fn sigint_cancels_the_deployment_and_follows_it_to_the_end() {
    use std::io::Read;
    use std::time::{Duration, Instant};

    let dir = lane();
    let mut deploy = Command::new(env!("CARGO_BIN_EXE_airlock"))
        .args(["-q", "deploy", "--local", "--job", "sleeper"])
        .current_dir(&dir.path)
        .env_remove("AIRLOCK_CONFIG")
        .env("AIRLOCK_LOG", "off")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn airlock deploy --local");
    let mut stdout = deploy.stdout.take().expect("stdout");
    let mut first = [0u8; 9];
    stdout.read_exact(&mut first).expect("the job starts");
    assert_eq!(&first, b"sleeping\n");

    let started = Instant::now();
    let pid = i32::try_from(deploy.id()).expect("pid");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGINT,
    )
    .expect("SIGINT to deploy");
    let mut rest = Vec::new();
    stdout.read_to_end(&mut rest).expect("read the rest");
    let status = deploy.wait().expect("deploy exits");
    assert_eq!(status.code(), Some(254));
    assert_eq!(String::from_utf8_lossy(&rest), "stopping\n");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "cancelling took {:?}",
        started.elapsed()
    );
}

/// The job gets what a Fargate task would: the lane's variables, its parameters and what its
/// configuration names, not the caller's environment. A caller's AWS credentials (obviously
/// fake values here) must not reach it; a variable the job names in `pass_env` must.
#[test]
fn the_job_gets_only_the_lanes_variables_and_what_its_configuration_names() {
    let dir = Scratch::new("lane-local-env");
    let script = "echo \"secret=${AWS_SECRET_ACCESS_KEY-unset}\"; echo \"key=${AWS_ACCESS_KEY_ID-unset}\"; \
                  echo \"region=${DEPLOY_REGION-unset}\"; echo \"fixed=${FIXED-unset}\"; echo \"job=$AIRLOCK_JOB\"; \
                  env | cut -d= -f1 | sort";
    dir.write(
        "airlock.toml",
        &format!(
            "[lane.local]\ndb = \"lane.db\"\nkey = \"key.pem\"\n\n[lane.jobs.env]\ncommand = [\"sh\", \"-c\", {}]\n\
             env = {{ FIXED = \"from-config\" }}\npass_env = [\"DEPLOY_REGION\"]\n",
            toml_string(script)
        ),
    );
    let out = Command::new(env!("CARGO_BIN_EXE_airlock"))
        .args(["-q", "deploy", "--local", "--job", "env"])
        .env("AIRLOCK_LOG", "off")
        .env_remove("AIRLOCK_CONFIG")
        .env("AWS_SECRET_ACCESS_KEY", "fake/secret+for-tests-only")
        .env("AWS_ACCESS_KEY_ID", "AKIAFAKEFORTESTSONLY")
        .env("DEPLOY_REGION", "eu-west-1")
        .env("CALLERS_OWN", "not for the job")
        .current_dir(&dir.path)
        .stdin(Stdio::null())
        .output()
        .expect("run airlock deploy --local");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut lines = stdout.lines();
    let values: Vec<&str> = lines.by_ref().take(5).collect();
    assert_eq!(
        values,
        [
            "secret=unset",
            "key=unset",
            "region=eu-west-1",
            "fixed=from-config",
            "job=env"
        ],
        "{stdout}"
    );
    // Every variable the job sees is one the lane documents (and what `sh` adds itself).
    let allowed = [
        "PATH",
        "HOME",
        "TMPDIR",
        "LANG",
        "LC_ALL",
        "TZ",
        "AIRLOCK_REQUEST_ID",
        "AIRLOCK_JOB",
        "AIRLOCK_FEEDBACK",
        "AIRLOCK_DEADLINE",
        "DEPLOY_REGION",
        "FIXED",
        "PWD",
        "OLDPWD",
        "SHLVL",
        "_",
    ];
    let names: Vec<&str> = lines.collect();
    assert!(
        names.contains(&"PATH") && names.contains(&"AIRLOCK_REQUEST_ID"),
        "{names:?}"
    );
    let unexpected: Vec<&&str> = names.iter().filter(|n| !allowed.contains(n)).collect();
    assert!(unexpected.is_empty(), "the job saw {unexpected:?}");
}
