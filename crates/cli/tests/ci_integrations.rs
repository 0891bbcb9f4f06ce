//! The CI integrations run as their CI systems run them, against the local lane: the GitHub
//! Action's steps (action.yml) with the inputs of the example workflow, the GitLab template's
//! job extended by the example `.gitlab-ci.yml`, and the Jenkins step vars/airlockDeploy.groovy
//! in Groovy under a harness that does `sh`, `withEnv` and `error` as Jenkins does. Each must
//! show the job's lines while the job is still running, and end with the job's exit code.
//!
//! The lane's job `web` prints a line, then waits until the test has seen that line come out
//! of the integration (the gate): output that was held back until the end would leave the job
//! waiting, and the job then fails with 99 after 30 s instead of the code the test asked for.
//!
//! Tools (groovy, actionlint, check-jsonschema, shellcheck) come from scripts/setup-ci-tools.sh;
//! a test whose tool is missing prints SKIPPED, or fails when CI=true.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{Scratch, workspace_root};
use saphyr::{LoadableYamlNode, Scalar, Yaml};

/// How long one integration run may take before the test gives up on it.
const RUN_LIMIT: Duration = Duration::from_secs(180);
/// The exit code the example job fails with.
const FAILING: i32 = 3;
/// The commit the fake CI run is for: the example job's VERSION.
const COMMIT: &str = "3f786850e387550fdab836ed7e6dc881de23001b";
/// The job's line printed before it waits for the gate.
const WAITING: &str = "web: waiting for the gate";
/// The release the integrations install when airlock is not on PATH: this build's version.
const VERSION: &str = env!("CARGO_PKG_VERSION");

// ---------------------------------------------------------------------------------------
// The local lane and one run of an integration

/// A local lane whose job `web` takes the example's parameters (VERSION, ENVIRONMENT), prints
/// on both streams, waits for the gate and exits with the code in `exit-code`.
struct Lane {
    dir: Scratch,
}

impl Lane {
    fn new(label: &str) -> Lane {
        let dir = Scratch::new(label);
        let script = dir.write(
            "web.sh",
            r#"dir=$(dirname "$0")
echo "web: deploying $VERSION to $ENVIRONMENT"
echo "web: a warning on stderr" >&2
echo "web: waiting for the gate"
waited=0
while [ ! -e "$dir/gate" ]; do
  waited=$((waited + 1))
  if [ "$waited" -gt 300 ]; then
    echo "web: the gate never opened: the output did not come out live" >&2
    exit 99
  fi
  sleep 0.1
done
echo "web: through the gate"
exit "$(cat "$dir/exit-code")"
"#,
        );
        dir.write(
            "airlock.toml",
            &format!(
                r#"[lane]
watchdog_secs = 60

[lane.local]
db = "lane.db"
key = "key.pem"

[lane.jobs.web]
command = ["sh", "{}"]
timeout_secs = 120

[lane.jobs.web.params.VERSION]
pattern = "[0-9a-f]{{40}}"

[lane.jobs.web.params.ENVIRONMENT]
enum = ["prod"]
"#,
                script.display()
            ),
        );
        Lane { dir }
    }

    fn config(&self) -> String {
        self.dir.path.join("airlock.toml").display().to_string()
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path.join(name)
    }

    /// The next run's job exits with `code`, and waits for the gate again.
    fn expect_exit(&self, code: i32) {
        std::fs::write(self.path("exit-code"), code.to_string()).expect("write exit code");
        let _ = std::fs::remove_file(self.path("gate"));
    }
}

/// What one integration printed (stdout and stderr merged, as a CI log has them) and how it
/// ended.
struct Run {
    log: String,
    code: Option<i32>,
}

impl Run {
    fn assert_ran_live(&self, code: i32, what: &str) {
        let log = &self.log;
        for line in [
            format!("web: deploying {COMMIT} to prod"),
            "web: a warning on stderr".to_string(),
            WAITING.to_string(),
            "web: through the gate".to_string(),
        ] {
            assert!(
                log.contains(&line),
                "{what}: no {line:?} in the log:\n{log}"
            );
        }
        assert_eq!(
            self.code,
            Some(code),
            "{what}: wrong exit code; log:\n{log}"
        );
    }
}

/// Runs `command` with stdout and stderr into one pipe, opening the lane's gate as soon as the
/// job's waiting line comes out of it.
fn run_live(mut command: Command, lane: &Lane) -> Run {
    let (reader, writer) = std::io::pipe().expect("pipe");
    command
        .stdout(writer.try_clone().expect("pipe"))
        .stderr(writer)
        .stdin(Stdio::null());
    let mut child = command.spawn().expect("start the integration");
    // The command holds the pipe's write ends; the log ends when the child's copies close.
    drop(command);
    let (lines, received) = mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(reader);
        let mut line = Vec::new();
        while reader.read_until(b'\n', &mut line).is_ok_and(|n| n > 0) {
            if lines
                .send(String::from_utf8_lossy(&line).into_owned())
                .is_err()
            {
                break;
            }
            line.clear();
        }
    });
    let deadline = Instant::now() + RUN_LIMIT;
    let mut log = String::new();
    loop {
        match received.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(line) => {
                if line.contains(WAITING) {
                    std::fs::write(lane.path("gate"), "").expect("open the gate");
                }
                log.push_str(&line);
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let _ = child.kill();
                panic!("the integration did not end within {RUN_LIMIT:?}; its log:\n{log}");
            }
        }
    }
    let status = child.wait().expect("wait for the integration");
    Run {
        log,
        code: status.code(),
    }
}

/// The directory the built airlock is in, first on PATH: "airlock is on PATH".
fn path_with_airlock() -> String {
    let binary = Path::new(env!("CARGO_BIN_EXE_airlock"));
    let dir = binary.parent().expect("the binary's directory");
    format!("{}:{}", dir.display(), system_path())
}

/// Where bash, curl, tar and sha256sum are, and no airlock.
fn system_path() -> String {
    "/usr/local/bin:/usr/bin:/bin".to_string()
}

fn string_map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A command with only the environment a CI runner gives (PATH, HOME) plus `vars`.
fn ci_command(program: &str, path: &str, vars: &BTreeMap<String, String>) -> Command {
    let mut command = Command::new(program);
    command.env_clear().env("PATH", path).env("NO_COLOR", "1");
    if let Some(home) = std::env::var_os("HOME") {
        command.env("HOME", home);
    }
    command.envs(vars);
    command
}

// ---------------------------------------------------------------------------------------
// Reading the YAML files

fn load_yaml(relative: &str) -> Yaml<'static> {
    let path = workspace_root().join(relative);
    let text = std::fs::read_to_string(&path).expect("read a CI file");
    // Leaked so that the documents may borrow from it for the whole test: a few KiB once.
    let text: &'static str = Box::leak(text.into_boxed_str());
    let mut docs = Yaml::load_from_str(text).unwrap_or_else(|e| panic!("{relative}: {e}"));
    assert_eq!(docs.len(), 1, "{relative}: expected one YAML document");
    docs.remove(0)
}

fn get<'a>(node: &'a Yaml<'static>, key: &str) -> Option<&'a Yaml<'static>> {
    node.as_mapping_get(key)
}

fn at<'a>(node: &'a Yaml<'static>, keys: &[&str]) -> &'a Yaml<'static> {
    keys.iter().fold(node, |node, key| {
        get(node, key).unwrap_or_else(|| panic!("no {key:?} (path {keys:?})"))
    })
}

/// A scalar as the text CI systems see: strings as written, numbers and booleans printed.
fn text(node: &Yaml<'_>) -> String {
    match node {
        Yaml::Value(Scalar::String(s)) => s.to_string(),
        Yaml::Value(Scalar::Integer(i)) => i.to_string(),
        Yaml::Value(Scalar::Boolean(b)) => b.to_string(),
        Yaml::Value(Scalar::FloatingPoint(f)) => f.to_string(),
        Yaml::Value(Scalar::Null) => String::new(),
        Yaml::Representation(s, _, _) => s.to_string(),
        other => panic!("expected a scalar, found {other:?}"),
    }
}

fn entries(node: &Yaml<'static>) -> Vec<(String, String)> {
    node.as_mapping()
        .map(|map| map.iter().map(|(k, v)| (text(k), text(v))).collect())
        .unwrap_or_default()
}

fn items(node: &Yaml<'static>) -> Vec<Yaml<'static>> {
    node.as_sequence().cloned().unwrap_or_default()
}

// ---------------------------------------------------------------------------------------
// GitHub Actions

/// Replaces each `${{ EXPR }}` in `text`. EXPR may be `CONTEXT.NAME` (contexts `inputs`, `env`,
/// `github`) or several of them joined by `||` (the first non-empty one): all that action.yml
/// and the example use. Anything else fails the test, so that a new expression gets a look.
fn expand_github(text: &str, contexts: &BTreeMap<&str, BTreeMap<String, String>>) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${{") {
        out.push_str(&rest[..start]);
        let end = rest[start..]
            .find("}}")
            .unwrap_or_else(|| panic!("unclosed expression in {text:?}"))
            + start;
        let expression = rest[start + 3..end].trim();
        let value = expression
            .split("||")
            .map(|operand| {
                let (context, name) = operand
                    .trim()
                    .split_once('.')
                    .unwrap_or_else(|| panic!("unsupported expression {expression:?}"));
                let values = contexts
                    .get(context)
                    .unwrap_or_else(|| panic!("unsupported context in {expression:?}"));
                values.get(name).cloned().unwrap_or_default()
            })
            .find(|value| !value.is_empty())
            .unwrap_or_default();
        out.push_str(&value);
        rest = &rest[end + 2..];
    }
    out.push_str(rest);
    out
}

/// The runner's own variables for a push to main of acme/web.
fn github_runner_env(runner_temp: &Path) -> BTreeMap<String, String> {
    let runner_temp = runner_temp.display().to_string();
    let action_path = workspace_root().display().to_string();
    string_map(&[
        ("CI", "true"),
        ("GITHUB_ACTIONS", "true"),
        ("GITHUB_REPOSITORY", "acme/web"),
        ("GITHUB_SHA", COMMIT),
        ("GITHUB_SERVER_URL", "https://github.com"),
        ("GITHUB_RUN_ID", "4242"),
        ("GITHUB_ACTOR", "octocat"),
        ("RUNNER_OS", "Linux"),
        ("RUNNER_ARCH", "X64"),
        ("RUNNER_TEMP", &runner_temp),
        ("GITHUB_ACTION_PATH", &action_path),
    ])
}

/// The example workflow's step that uses the airlock action, and its `with:` inputs with the
/// workflow's expressions evaluated.
fn example_action_inputs() -> BTreeMap<String, String> {
    let workflow = load_yaml("examples/ci/github/deploy.yml");
    let steps = items(at(&workflow, &["jobs", "deploy", "steps"]));
    let step = steps
        .iter()
        .find(|step| get(step, "uses").is_some_and(|u| text(u).starts_with("airlock-dev/airlock@")))
        .expect("the example workflow has a step using airlock-dev/airlock");
    let github = string_map(&[("sha", COMMIT), ("repository", "acme/web")]);
    let contexts = BTreeMap::from([("github", github)]);
    entries(at(step, &["with"]))
        .into_iter()
        .map(|(name, value)| (name, expand_github(&value, &contexts)))
        .collect()
}

/// Runs action.yml's composite steps as the runner does: each `run:` as a file with
/// `bash --noprofile --norc -e -o pipefail`, its `env:` evaluated, until a step fails.
fn run_action(given: &BTreeMap<String, String>, path: &str, lane: &Lane) -> Run {
    let action = load_yaml("action.yml");
    assert_eq!(text(at(&action, &["runs", "using"])), "composite");
    let mut inputs = BTreeMap::new();
    for (name, spec) in at(&action, &["inputs"])
        .as_mapping()
        .expect("inputs is a mapping")
    {
        let name = text(name);
        let default = get(spec, "default").map(text).unwrap_or_default();
        let required = get(spec, "required").is_some_and(|r| text(r) == "true");
        let value = given.get(&name).cloned().unwrap_or(default);
        assert!(
            !required || !value.is_empty(),
            "required input {name} not given"
        );
        inputs.insert(name, value);
    }
    for name in given.keys() {
        assert!(
            inputs.contains_key(name),
            "input {name:?} is not defined in action.yml"
        );
    }
    let runner_temp = lane.path("runner-temp");
    std::fs::create_dir_all(&runner_temp).expect("RUNNER_TEMP");
    let runner = github_runner_env(&runner_temp);
    let contexts = BTreeMap::from([("inputs", inputs), ("env", BTreeMap::new())]);
    let mut log = String::new();
    for (n, step) in items(at(&action, &["runs", "steps"])).iter().enumerate() {
        assert_eq!(
            text(at(step, &["shell"])),
            "bash",
            "step {n} must say shell: bash"
        );
        let mut vars = runner.clone();
        for (name, value) in get(step, "env").map(entries).unwrap_or_default() {
            vars.insert(name, expand_github(&value, &contexts));
        }
        let script = runner_temp.join(format!("step-{n}.sh"));
        std::fs::write(&script, text(at(step, &["run"]))).expect("write the step's script");
        let mut command = ci_command("bash", path, &vars);
        command
            .args(["--noprofile", "--norc", "-e", "-o", "pipefail"])
            .arg(&script)
            .current_dir(&lane.dir.path);
        let run = run_live(command, lane);
        log.push_str(&run.log);
        if run.code != Some(0) {
            return Run {
                log,
                code: run.code,
            };
        }
    }
    Run { log, code: Some(0) }
}

/// The example's inputs with the local lane in place of AWS.
fn example_inputs_on(lane: &Lane) -> BTreeMap<String, String> {
    let mut inputs = example_action_inputs();
    inputs.insert("local".into(), "true".into());
    inputs.insert("config".into(), lane.config());
    inputs
}

#[test]
fn the_github_action_shows_the_job_live_and_fails_with_its_exit_code() {
    let lane = Lane::new("ci-github");
    let inputs = example_inputs_on(&lane);
    lane.expect_exit(FAILING);
    let run = run_action(&inputs, &path_with_airlock(), &lane);
    run.assert_ran_live(FAILING, "action, failing job");
    assert!(
        run.log.contains("failed: the job exited with 3"),
        "airlock's closing line is missing:\n{}",
        run.log
    );

    lane.expect_exit(0);
    run_action(&inputs, &path_with_airlock(), &lane).assert_ran_live(0, "action, good job");
}

#[test]
fn the_github_action_passes_inputs_only_through_env() {
    let action = load_yaml("action.yml");
    for (n, step) in items(at(&action, &["runs", "steps"])).iter().enumerate() {
        let run = text(at(step, &["run"]));
        assert!(
            !run.contains("${{"),
            "step {n}'s script holds an expression (script injection): {run}"
        );
        for (name, value) in get(step, "env").map(entries).unwrap_or_default() {
            assert!(
                name.starts_with("AIRLOCK_"),
                "step {n} sets {name}: only airlock's own variables belong here"
            );
            assert!(
                value.starts_with("${{ ") && value.ends_with(" }}"),
                "{name}: {value}"
            );
        }
    }
    // The version installed when airlock is not on PATH is the one this tree builds.
    assert_eq!(
        text(at(&action, &["inputs", "airlock-version", "default"])),
        VERSION
    );
}

#[test]
fn the_example_workflow_asks_only_for_its_oidc_token_and_pins_what_it_runs() {
    let workflow = load_yaml("examples/ci/github/deploy.yml");
    let permissions = entries(at(&workflow, &["permissions"]));
    assert_eq!(
        permissions,
        [
            ("id-token".to_string(), "write".to_string()),
            ("contents".to_string(), "read".to_string())
        ],
        "permissions must be id-token: write and contents: read, nothing more"
    );
    let steps = items(at(&workflow, &["jobs", "deploy", "steps"]));
    let mut oidc = false;
    for step in &steps {
        let Some(uses) = get(step, "uses").map(text) else {
            continue;
        };
        if uses.starts_with("airlock-dev/airlock@") {
            continue;
        }
        let (_, reference) = uses.split_once('@').expect("uses names a ref");
        assert!(
            reference.len() == 40 && reference.bytes().all(|b| b.is_ascii_hexdigit()),
            "{uses} is not pinned by a full commit SHA"
        );
        if uses.starts_with("aws-actions/configure-aws-credentials@") {
            oidc = true;
            let with = entries(at(step, &["with"]));
            assert!(
                with.iter().any(|(k, _)| k == "role-to-assume"),
                "no role-to-assume"
            );
            assert!(
                !with
                    .iter()
                    .any(|(k, _)| k.starts_with("aws-access-key") || k.starts_with("aws-secret")),
                "the example must not use stored keys"
            );
        }
    }
    assert!(
        oidc,
        "the example gets CI's role with configure-aws-credentials"
    );
    let inputs = example_action_inputs();
    for value in ["topic-arn", "feedback-queue-url", "signing-key-id", "job"] {
        assert!(
            inputs.get(value).is_some_and(|v| !v.is_empty()),
            "the example sets {value}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// Installing a release: the same checks in the action's script and the GitLab template

/// A release server on 127.0.0.1 serving `files` under /v<VERSION>/.
struct ReleaseServer {
    url: String,
}

impl ReleaseServer {
    fn start(files: BTreeMap<String, Vec<u8>>) -> ReleaseServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the release server");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        std::thread::spawn(move || {
            // Bounded: a handful of downloads per test.
            for stream in listener.incoming().take(64) {
                let Ok(mut stream) = stream else { continue };
                let mut request = Vec::new();
                let mut buffer = [0u8; 4096];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buffer) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => request.extend_from_slice(&buffer[..n]),
                    }
                }
                let request = String::from_utf8_lossy(&request);
                let path = request.split(' ').nth(1).unwrap_or("/").to_string();
                let (status, body) = match files.get(&path) {
                    Some(body) => ("200 OK", body.clone()),
                    None => ("404 Not Found", b"not found\n".to_vec()),
                };
                let head = format!(
                    "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(head.as_bytes());
                let _ = stream.write_all(&body);
            }
        });
        ReleaseServer { url }
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The release tarball of this build, laid out as scripts/release.sh makes it (the binary in
/// a directory named after the archive), and its name.
fn release_tarball(scratch: &Scratch) -> (String, Vec<u8>) {
    let name = format!("airlock-{VERSION}-x86_64-unknown-linux-gnu");
    let staging = scratch.path.join("staging");
    std::fs::create_dir_all(staging.join(&name)).expect("staging dir");
    std::fs::copy(
        env!("CARGO_BIN_EXE_airlock"),
        staging.join(&name).join("airlock"),
    )
    .expect("copy the binary");
    let archive = scratch.path.join(format!("{name}.tar.gz"));
    let status = Command::new("tar")
        .arg("-czf")
        .arg(&archive)
        .arg("-C")
        .arg(&staging)
        .arg(&name)
        .status()
        .expect("run tar");
    assert!(status.success(), "tar failed");
    (
        format!("{name}.tar.gz"),
        std::fs::read(&archive).expect("read the tarball"),
    )
}

/// Runs `install_and_deploy(release url, pinned sha256)` with no airlock on PATH against a
/// good release, one whose SHA256SUMS does not match, and a good one with a wrong pin.
fn installs_only_a_verified_release(
    what: &str,
    lane: &Lane,
    install_and_deploy: impl Fn(&str, &str) -> Run,
) {
    let which = Command::new("sh")
        .args(["-c", "command -v airlock"])
        .env_clear()
        .env("PATH", system_path())
        .output()
        .expect("run sh");
    assert!(
        !which.status.success(),
        "airlock is installed system-wide; this test needs a PATH without it"
    );
    let scratch = Scratch::new("ci-release");
    let (asset, tarball) = release_tarball(&scratch);
    let good_sum = sha256_hex(&tarball);
    let release = |sums: String| {
        ReleaseServer::start(BTreeMap::from([
            (format!("/v{VERSION}/{asset}"), tarball.clone()),
            (format!("/v{VERSION}/SHA256SUMS"), sums.into_bytes()),
        ]))
    };
    let other = format!(
        "{}  airlock-{VERSION}-aarch64-unknown-linux-gnu.tar.gz\n",
        "0".repeat(64)
    );

    lane.expect_exit(0);
    let good = release(format!("{other}{good_sum}  {asset}\n"));
    let run = install_and_deploy(&good.url, "");
    assert!(
        run.log.contains(&format!("installing airlock {VERSION}")),
        "{what}: {}",
        run.log
    );
    run.assert_ran_live(0, &format!("{what}, installed release"));

    lane.expect_exit(0);
    let tampered = release(format!(
        "{other}{}  {asset}\n",
        sha256_hex(b"another build")
    ));
    let run = install_and_deploy(&tampered.url, "");
    assert_eq!(run.code, Some(250), "{what}, tampered: {}", run.log);
    assert!(
        run.log.contains("refusing to run it"),
        "{what}: {}",
        run.log
    );
    assert!(
        !run.log.contains("web: deploying"),
        "{what}: the job ran: {}",
        run.log
    );

    lane.expect_exit(0);
    let run = install_and_deploy(&good.url, &"a".repeat(64));
    assert_eq!(run.code, Some(250), "{what}, wrong pin: {}", run.log);
    assert!(
        run.log.contains("AIRLOCK_SHA256 pins"),
        "{what}: {}",
        run.log
    );
    assert!(
        !run.log.contains("web: deploying"),
        "{what}: the job ran: {}",
        run.log
    );
}

#[test]
fn the_github_action_installs_only_a_release_that_matches_its_checksums() {
    let lane = Lane::new("ci-github-install");
    installs_only_a_verified_release("action", &lane, |url, pin| {
        let mut inputs = example_inputs_on(&lane);
        inputs.insert("release-url".into(), url.into());
        inputs.insert("airlock-sha256".into(), pin.into());
        run_action(&inputs, &system_path(), &lane)
    });
}

// ---------------------------------------------------------------------------------------
// GitLab CI

const GITLAB_TEMPLATE: &str = "deploy/ci/gitlab/airlock-deploy.gitlab-ci.yml";
const GITLAB_EXAMPLE: &str = "examples/ci/gitlab/.gitlab-ci.yml";

/// GitLab's predefined variables for a pipeline of acme/web's main branch.
fn gitlab_predefined() -> BTreeMap<String, String> {
    string_map(&[
        ("CI", "true"),
        ("GITLAB_CI", "true"),
        ("CI_PROJECT_PATH", "acme/web"),
        ("CI_COMMIT_SHA", COMMIT),
        ("CI_COMMIT_BRANCH", "main"),
        ("CI_DEFAULT_BRANCH", "main"),
        ("CI_JOB_ID", "4711"),
        ("CI_JOB_URL", "https://gitlab.example/acme/web/-/jobs/4711"),
        ("GITLAB_USER_LOGIN", "jdoe"),
        // A stand-in for the ID token GitLab would sign (`id_tokens:`); nothing checks it here.
        ("AIRLOCK_AWS_ID_TOKEN", "header.payload.signature"),
    ])
}

/// `$NAME` and `${NAME}` in a variable's value, from the variables defined so far, as GitLab
/// expands them (an unknown name expands to nothing).
fn expand_gitlab(value: &str, vars: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    let mut chars = value.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c != '$' {
            out.push(c);
            continue;
        }
        let rest = &value[i + 1..];
        let (name, skip) = if let Some(braced) = rest.strip_prefix('{') {
            let end = braced.find('}').unwrap_or(braced.len());
            (&braced[..end], end + 2)
        } else {
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            (&rest[..end], end)
        };
        if name.is_empty() {
            out.push('$');
            continue;
        }
        out.push_str(vars.get(name).map_or("", String::as_str));
        for _ in 0..skip {
            chars.next();
        }
    }
    out
}

/// The example's job `deploy-web` merged with the template's `.airlock-deploy` as `extends:`
/// merges them: variables and the other keys, the job's own winning. Returns the job's
/// variables (expanded, predefined ones first) and its before_script and script lines.
fn gitlab_job(overrides: &BTreeMap<String, String>) -> (BTreeMap<String, String>, Vec<String>) {
    let template = load_yaml(GITLAB_TEMPLATE);
    let example = load_yaml(GITLAB_EXAMPLE);
    let hidden = at(&template, &[".airlock-deploy"]);
    let job = at(&example, &["deploy-web"]);
    assert_eq!(text(at(job, &["extends"])), ".airlock-deploy");
    let includes = items(at(&example, &["include"]));
    assert!(
        includes.iter().any(|include| get(include, "remote")
            .or_else(|| get(include, "local"))
            .is_some_and(|path| text(path).ends_with(GITLAB_TEMPLATE))),
        "the example includes the template"
    );

    let mut vars = gitlab_predefined();
    for source in [hidden, job] {
        for (name, value) in get(source, "variables").map(entries).unwrap_or_default() {
            let value = expand_gitlab(&value, &vars);
            vars.insert(name, value);
        }
    }
    // Project settings' variables take precedence over the file's, as in GitLab.
    vars.extend(overrides.clone());
    let lines_of = |key: &str| {
        get(job, key)
            .or_else(|| get(hidden, key))
            .map(items)
            .unwrap_or_default()
            .iter()
            .map(text)
            .collect::<Vec<_>>()
    };
    let mut lines = lines_of("before_script");
    lines.extend(lines_of("script"));
    (vars, lines)
}

/// Runs the job's lines as GitLab Runner's bash shell does: one script, `set -eo pipefail`,
/// each line in turn; the job fails with the first failing line's exit code.
fn run_gitlab_job(overrides: &BTreeMap<String, String>, path: &str, lane: &Lane) -> Run {
    let (vars, lines) = gitlab_job(overrides);
    let script = lane.path("gitlab-job.sh");
    std::fs::write(&script, format!("set -eo pipefail\n{}\n", lines.join("\n")))
        .expect("write the job script");
    let mut command = ci_command("bash", path, &vars);
    command
        .arg(&script)
        .env("TMPDIR", &lane.dir.path)
        .current_dir(&lane.dir.path);
    run_live(command, lane)
}

fn gitlab_overrides(lane: &Lane) -> BTreeMap<String, String> {
    string_map(&[
        ("AIRLOCK_DEPLOY_LOCAL", "true"),
        ("AIRLOCK_CONFIG", &lane.config()),
    ])
}

#[test]
fn the_gitlab_template_shows_the_job_live_and_fails_with_its_exit_code() {
    let lane = Lane::new("ci-gitlab");
    let overrides = gitlab_overrides(&lane);
    let (vars, _) = gitlab_job(&overrides);
    assert_eq!(
        vars.get("AIRLOCK_DEPLOY_PARAMS").map(String::as_str),
        Some(format!("VERSION={COMMIT}\nENVIRONMENT=prod\n").as_str()),
        "the example's parameters, with $CI_COMMIT_SHA expanded"
    );
    assert_eq!(
        vars.get("AIRLOCK_VERSION").map(String::as_str),
        Some(VERSION)
    );

    lane.expect_exit(FAILING);
    let run = run_gitlab_job(&overrides, &path_with_airlock(), &lane);
    run.assert_ran_live(FAILING, "gitlab, failing job");

    lane.expect_exit(0);
    run_gitlab_job(&overrides, &path_with_airlock(), &lane).assert_ran_live(0, "gitlab, good job");
}

#[test]
fn the_gitlab_template_installs_only_a_release_that_matches_its_checksums() {
    let lane = Lane::new("ci-gitlab-install");
    installs_only_a_verified_release("gitlab", &lane, |url, pin| {
        let mut overrides = gitlab_overrides(&lane);
        overrides.insert("AIRLOCK_RELEASE_URL".into(), url.into());
        overrides.insert("AIRLOCK_SHA256".into(), pin.into());
        run_gitlab_job(&overrides, &system_path(), &lane)
    });
}

#[test]
fn the_gitlab_template_refuses_bad_variables_before_sending_anything() {
    let lane = Lane::new("ci-gitlab-bad");
    lane.expect_exit(0);
    for (name, value, complaint) in [
        ("AIRLOCK_DEPLOY_JOB", "", "no job"),
        ("AIRLOCK_DEPLOY_PARAMS", "VERSION", "is not NAME=VALUE"),
        ("AIRLOCK_DEPLOY_LOCAL", "yes", "expected true or false"),
    ] {
        let mut overrides = gitlab_overrides(&lane);
        overrides.insert(name.into(), value.into());
        let run = run_gitlab_job(&overrides, &path_with_airlock(), &lane);
        assert_eq!(run.code, Some(2), "{name}={value:?}: {}", run.log);
        assert!(run.log.contains(complaint), "{name}={value:?}: {}", run.log);
        assert!(!run.log.contains("web: deploying"), "{name}: the job ran");
    }
}

// ---------------------------------------------------------------------------------------
// Jenkins

/// A tool from scripts/setup-ci-tools.sh (.tools/bin) or PATH; None (after printing SKIPPED)
/// when it is missing outside CI; a failure when it is missing in CI.
fn tool(name: &str, test: &str) -> Option<PathBuf> {
    let pinned = workspace_root().join(".tools/bin").join(name);
    if pinned.is_file() {
        return Some(pinned);
    }
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|candidate| candidate.is_file())
    });
    if on_path.is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{test}: {name} is missing; scripts/setup-ci-tools.sh installs it"
        );
        eprintln!("SKIPPED {test}: {name} is missing (scripts/setup-ci-tools.sh installs it)");
    }
    on_path
}

/// JAVA_HOME for groovy: as set, Debian's default-java, or the java on PATH.
fn java_home() -> Option<String> {
    if let Ok(home) = std::env::var("JAVA_HOME") {
        return Some(home);
    }
    if Path::new("/usr/lib/jvm/default-java/bin/java").exists() {
        return None;
    }
    let java = std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join("java"))
        .find(|candidate| candidate.is_file())?;
    let java = java.canonicalize().ok()?;
    Some(java.parent()?.parent()?.display().to_string())
}

fn groovy_command(groovy: &Path, path: &str, vars: &BTreeMap<String, String>) -> Command {
    let mut command = ci_command(&groovy.display().to_string(), path, vars);
    if let Some(home) = java_home() {
        command.env("JAVA_HOME", home);
    }
    command
}

fn harness() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ci_integrations/jenkins_harness.groovy")
}

/// The example Jenkinsfile's `airlockDeploy(...)` call, with `extra` arguments added.
fn jenkinsfile_call(extra: &str) -> String {
    let jenkinsfile =
        std::fs::read_to_string(workspace_root().join("examples/ci/jenkins/Jenkinsfile"))
            .expect("read the Jenkinsfile");
    // The first call on a line of code: a comment may mention `airlockDeploy(...)` too.
    let mut offset = 0;
    let mut start = None;
    for line in jenkinsfile.split_inclusive('\n') {
        if !line.trim_start().starts_with("//")
            && let Some(at) = line.find("airlockDeploy(")
        {
            start = Some(offset + at);
            break;
        }
        offset += line.len();
    }
    let start = start.expect("the Jenkinsfile calls airlockDeploy");
    let mut depth = 0;
    let end = jenkinsfile[start..]
        .char_indices()
        .find_map(|(i, c)| {
            match c {
                '(' | '[' => depth += 1,
                ')' | ']' => {
                    depth -= 1;
                    if depth == 0 {
                        return Some(start + i);
                    }
                }
                _ => {}
            }
            None
        })
        .expect("the call is closed");
    format!("{}, {extra})", jenkinsfile[start..end].trim_end())
}

fn run_jenkins_step(groovy: &Path, call: &str, lane: &Lane) -> Run {
    let workspace = lane.path("workspace");
    std::fs::create_dir_all(&workspace).expect("workspace");
    let vars = string_map(&[
        ("JENKINS_URL", "https://jenkins.example/"),
        ("JOB_NAME", "web/deploy"),
        ("BUILD_NUMBER", "9"),
        ("BUILD_URL", "https://jenkins.example/job/web/9/"),
        ("GIT_COMMIT", COMMIT),
    ]);
    let mut command = groovy_command(groovy, &path_with_airlock(), &vars);
    command
        .arg(harness())
        .arg(workspace_root())
        .arg(&workspace)
        .arg(call);
    run_live(command, lane)
}

#[test]
fn the_jenkins_step_shows_the_job_live_and_fails_with_its_exit_code() {
    let test = "the_jenkins_step_shows_the_job_live_and_fails_with_its_exit_code";
    let Some(groovy) = tool("groovy", test) else {
        return;
    };
    let lane = Lane::new("ci-jenkins");
    let local = format!("local: true, config: '{}'", lane.config());

    lane.expect_exit(FAILING);
    let run = run_jenkins_step(&groovy, &jenkinsfile_call(&local), &lane);
    run.assert_ran_live(1, "jenkins, failing job");
    assert!(
        run.log
            .contains("ERROR: airlockDeploy: job web failed with exit code 3"),
        "{}",
        run.log
    );

    lane.expect_exit(FAILING);
    let run = run_jenkins_step(
        &groovy,
        &jenkinsfile_call(&format!("{local}, returnStatus: true")),
        &lane,
    );
    run.assert_ran_live(0, "jenkins, returnStatus");
    assert!(run.log.contains("RESULT: 3"), "{}", run.log);

    lane.expect_exit(0);
    let run = run_jenkins_step(&groovy, &jenkinsfile_call(&local), &lane);
    run.assert_ran_live(0, "jenkins, good job");
    assert!(run.log.contains("RESULT: 0"), "{}", run.log);

    // A misspelt argument fails the step before anything is sent.
    let run = run_jenkins_step(&groovy, &jenkinsfile_call("parms: [A: '1']"), &lane);
    assert_eq!(run.code, Some(1), "{}", run.log);
    assert!(run.log.contains("unknown argument(s) parms"), "{}", run.log);
    assert!(!run.log.contains("web: deploying"), "{}", run.log);
}

#[test]
fn the_jenkinsfile_is_groovy() {
    let test = "the_jenkinsfile_is_groovy";
    let Some(groovy) = tool("groovy", test) else {
        return;
    };
    let lane = Lane::new("ci-jenkinsfile");
    let mut command = groovy_command(&groovy, &system_path(), &BTreeMap::new());
    command
        .arg(harness())
        .arg("--parse")
        .arg(workspace_root().join("examples/ci/jenkins/Jenkinsfile"))
        .arg(workspace_root().join("vars/airlockDeploy.groovy"));
    let run = run_live(command, &lane);
    assert_eq!(run.code, Some(0), "{}", run.log);
    assert_eq!(run.log.matches("parsed ").count(), 2, "{}", run.log);

    // The same check refuses a broken file.
    let broken = lane.dir.write(
        "Jenkinsfile",
        "pipeline { stages { stage('x') { steps { sh 'a' }\n",
    );
    let mut command = groovy_command(&groovy, &system_path(), &BTreeMap::new());
    command.arg(harness()).arg("--parse").arg(&broken);
    let run = run_live(command, &lane);
    assert_ne!(run.code, Some(0), "{}", run.log);
}

// ---------------------------------------------------------------------------------------
// Linters

#[test]
fn the_ci_files_pass_actionlint_shellcheck_and_the_published_schemas() {
    let test = "the_ci_files_pass_actionlint_shellcheck_and_the_published_schemas";
    for name in ["actionlint", "check-jsonschema", "shellcheck"] {
        if tool(name, test).is_none() {
            return;
        }
    }
    let lint = workspace_root().join("scripts/lint-ci.sh");
    let output = Command::new("bash")
        .arg(&lint)
        .output()
        .expect("run scripts/lint-ci.sh");
    assert!(
        output.status.success(),
        "scripts/lint-ci.sh failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );

    // The lint can fail: an input the action does not have is caught.
    let lane = Lane::new("ci-lint");
    let workflow = std::fs::read_to_string(workspace_root().join("examples/ci/github/deploy.yml"))
        .expect("read the workflow")
        .replace(
            "          timeout: 30m\n",
            "          timeout: 30m\n          timout: 30m\n",
        );
    let broken = lane.dir.write("broken.yml", &workflow);
    let output = Command::new("bash")
        .arg(&lint)
        .arg("--workflow")
        .arg(&broken)
        .output()
        .expect("run scripts/lint-ci.sh");
    let log = String::from_utf8_lossy(&output.stdout);
    assert!(!output.status.success(), "a wrong input passed:\n{log}");
    assert!(log.contains("\"timout\" is not defined"), "{log}");
}
