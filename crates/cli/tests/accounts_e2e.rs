//! `airlock accounts`, `whoami` and `guard` end to end: the real binary resolves role
//! profiles from a real AWS config file (AssumeRole into two accounts of moto's STS, through
//! a counting proxy), reads the account alias from moto's IAM, and is judged by what it
//! prints and its exit code. Whatever `guard` runs is a real program (boto3) that reports
//! the identity it was given.
//!
//! The terminal test drives `airlock guard` on a real TTY through tmux, as a person would.

// A test's panics are its failure reports; unwrapping setup steps says no less than expect.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use airlock_testsupport::{
    FAKE_ACCESS_KEY_ID, FAKE_SECRET_ACCESS_KEY, Fault, FaultPlan, FaultProxy, MotoServer, REGION,
    workspace_root,
};

const PROD_ACCOUNT: &str = "111111111111";
const TEST_ACCOUNT: &str = "222222222222";
/// An account [accounts.ids] does not know, whose alias will never be set.
const SPARE_ACCOUNT: &str = "333333333333";

/// The convention of the ACC rules' doc pages: 111111111111 is bboq-prod-website and
/// 222222222222 bboq-test-website.
const CONVENTION: &str = airlock_check::rules::accounts::EXAMPLE_CONVENTION;

/// Role profiles for three accounts from one base profile with (fake) static keys. No
/// `mfa_serial`: the SDK would ask for a code, and the MFA rule is tested on its own.
fn aws_config() -> String {
    format!(
        "[profile dev-identity-base]\nregion = {REGION}\n\n\
         [profile prod-website-admin]\nrole_arn = arn:aws:iam::{PROD_ACCOUNT}:role/Admin\nsource_profile = dev-identity-base\nregion = {REGION}\n\n\
         [profile test-website-admin]\nrole_arn = arn:aws:iam::{TEST_ACCOUNT}:role/Admin\nsource_profile = dev-identity-base\nregion = {REGION}\n\n\
         [profile dev-spare-admin]\nrole_arn = arn:aws:iam::{SPARE_ACCOUNT}:role/Admin\nsource_profile = dev-identity-base\nregion = {REGION}\n"
    )
}

fn aws_credentials() -> String {
    format!(
        "[dev-identity-base]\naws_access_key_id = {FAKE_ACCESS_KEY_ID}\naws_secret_access_key = {FAKE_SECRET_ACCESS_KEY}\n"
    )
}

fn python() -> PathBuf {
    std::env::var_os("AIRLOCK_MOTO_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".venv/bin/python"))
}

/// moto behind a counting proxy, a home directory with the AWS files, and airlock.toml.
struct World {
    _moto: MotoServer,
    proxy: FaultProxy,
    dir: tempfile::TempDir,
}

impl World {
    fn new() -> World {
        let moto = MotoServer::start().unwrap();
        let proxy = FaultProxy::start(&moto.endpoint(), FaultPlan::pass()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("home/.aws")).unwrap();
        std::fs::write(dir.path().join("home/.aws/config"), aws_config()).unwrap();
        std::fs::write(dir.path().join("home/.aws/credentials"), aws_credentials()).unwrap();
        std::fs::write(dir.path().join("airlock.toml"), CONVENTION).unwrap();
        World {
            _moto: moto,
            proxy,
            dir,
        }
    }

    fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    /// Only what a developer's shell would have: no keys in the environment.
    fn env(&self) -> Vec<(String, String)> {
        let home = self.home();
        [
            ("HOME", home.display().to_string()),
            ("PATH", std::env::var("PATH").unwrap_or_default()),
            (
                "AWS_CONFIG_FILE",
                home.join(".aws/config").display().to_string(),
            ),
            (
                "AWS_SHARED_CREDENTIALS_FILE",
                home.join(".aws/credentials").display().to_string(),
            ),
            ("AWS_ENDPOINT_URL", self.proxy.endpoint()),
            ("AWS_EC2_METADATA_DISABLED", "true".to_string()),
            (
                "XDG_CACHE_HOME",
                self.dir.path().join("cache").display().to_string(),
            ),
            (
                "AIRLOCK_CONFIG",
                self.dir.path().join("airlock.toml").display().to_string(),
            ),
            ("NO_COLOR", "1".to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_airlock"));
        command
            .args(args)
            .env_clear()
            .envs(self.env())
            .current_dir(self.dir.path())
            .stdin(Stdio::null());
        command
    }

    fn run(&self, args: &[&str]) -> Run {
        Run::of(self.command(args).output().unwrap())
    }

    /// Gives the account of `profile` its alias, through airlock itself.
    fn set_alias(&self, profile: &str, alias: &str) {
        let run = self.run(&["accounts", "alias", "set", alias, "--profile", profile]);
        assert_eq!(run.code, 0, "{run:?}");
    }
}

#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn of(output: Output) -> Run {
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

#[test]
fn whoami_shows_principal_alias_account_and_env_in_text_and_json() {
    let world = World::new();
    world.set_alias("prod-website-admin", "bboq-prod-website");

    let text = world.run(&["whoami", "--profile", "prod-website-admin"]);
    assert_eq!(text.code, 0, "{text:?}");
    assert_eq!(
        text.stdout,
        "Admin @ bboq-prod-website (111111111111) [PROD]\n"
    );

    let json = world.run(&[
        "whoami",
        "--profile",
        "prod-website-admin",
        "--format",
        "json",
    ]);
    assert_eq!(json.code, 0, "{json:?}");
    let value: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(value["account"], PROD_ACCOUNT);
    assert_eq!(value["alias"], "bboq-prod-website");
    assert_eq!(value["principal"], "Admin");
    assert_eq!(value["env"], "prod");
    assert_eq!(value["protected"], true);
    assert_eq!(value["convention"], "follows");
    assert_eq!(value["known_as"], "bboq-prod-website");
    assert_eq!(value["problems"], serde_json::json!([]));
    assert!(
        value["arn"]
            .as_str()
            .unwrap()
            .starts_with("arn:aws:sts::111111111111:assumed-role/Admin/"),
        "{value}"
    );

    // An account without an alias is said plainly, on stderr, and shown as unknown.
    let bare = world.run(&["whoami", "--profile", "dev-spare-admin"]);
    assert_eq!(bare.code, 0, "{bare:?}");
    assert_eq!(bare.stdout, "Admin @ (no alias) (333333333333) [?]\n");
    assert!(
        bare.stderr.contains("account 333333333333 has no alias"),
        "{bare:?}"
    );

    // A test account reads as test, and `alias check` agrees or disagrees with airlock.toml.
    world.set_alias("test-website-admin", "bboq-test-website");
    let test = world.run(&["whoami", "--profile", "test-website-admin"]);
    assert_eq!(
        test.stdout,
        "Admin @ bboq-test-website (222222222222) [test]\n"
    );
    let agrees = world.run(&[
        "accounts",
        "alias",
        "check",
        "--profile",
        "test-website-admin",
    ]);
    assert_eq!(agrees.code, 0, "{agrees:?}");
    assert!(
        agrees.stdout.contains("agrees with [accounts.ids]"),
        "{agrees:?}"
    );
    let unknown = world.run(&["accounts", "alias", "check", "--profile", "dev-spare-admin"]);
    assert_eq!(unknown.code, 3, "{unknown:?}");
    assert!(
        unknown
            .stderr
            .contains("account 333333333333 is not in [accounts.ids]"),
        "{unknown:?}"
    );
}

#[test]
fn a_role_that_may_not_list_aliases_is_placed_by_accounts_ids() {
    let world = World::new();
    world.set_alias("prod-website-admin", "bboq-prod-website");
    let deny_once = || {
        world
            .proxy
            .set_plan(FaultPlan::scripted([Fault::AccessDenied]).only_for(["ListAccountAliases"]));
    };

    deny_once();
    let known = world.run(&["whoami", "--profile", "prod-website-admin"]);
    assert_eq!(known.code, 0, "{known:?}");
    assert_eq!(
        known.stdout,
        "Admin @ bboq-prod-website (111111111111) [PROD]\n"
    );
    assert!(
        known.stderr.contains(
            "the alias is the one [accounts.ids] gives account 111111111111: IAM would not tell"
        ),
        "{known:?}"
    );

    deny_once();
    let unknown = world.run(&["whoami", "--profile", "dev-spare-admin"]);
    assert_eq!(unknown.code, 0, "{unknown:?}");
    assert_eq!(unknown.stdout, "Admin @ (no alias) (333333333333) [?]\n");
    assert!(unknown.stderr.contains("could not be read"), "{unknown:?}");
    assert!(unknown.stderr.contains("AccessDenied"), "{unknown:?}");
    assert!(
        unknown
            .stderr
            .contains("allow iam:ListAccountAliases, or name the account in [accounts.ids]"),
        "{unknown:?}"
    );

    // guard takes the same view: prod by [accounts.ids], confirmed by its alias.
    deny_once();
    let guard = world.run(&[
        "guard",
        "--env",
        "prod",
        "--profile",
        "prod-website-admin",
        "--confirm",
        "bboq-prod-website",
        "--",
        "true",
    ]);
    assert_eq!(guard.code, 0, "{guard:?}");
    // alias check cannot check what it cannot read.
    deny_once();
    let check = world.run(&[
        "accounts",
        "alias",
        "check",
        "--profile",
        "prod-website-admin",
    ]);
    assert_eq!(check.code, 5, "{check:?}");
}

#[test]
fn alias_set_validates_the_name_before_calling_iam() {
    let world = World::new();
    let set = |name: &str, profile: &str| {
        world.run(&["accounts", "alias", "set", name, "--profile", profile])
    };
    let production = set("bboq-production-x", "prod-website-admin");
    assert_eq!(production.code, 2, "{production:?}");
    assert!(
        production
            .stderr
            .contains("env \"production\" is not one of dev, test, prod"),
        "{production:?}"
    );
    let acme = set("acme-prod-x", "prod-website-admin");
    assert_eq!(acme.code, 2, "{acme:?}");
    assert!(
        acme.stderr.contains("names org \"acme\", not \"bboq\""),
        "{acme:?}"
    );
    // A valid name that airlock.toml gives to another account is refused too.
    let elsewhere = set("bboq-prod-website", "test-website-admin");
    assert_eq!(elsewhere.code, 3, "{elsewhere:?}");
    assert!(
        elsewhere
            .stderr
            .contains("gives bboq-prod-website to account 111111111111"),
        "{elsewhere:?}"
    );
    assert_eq!(world.proxy.count("CreateAccountAlias"), 0);

    let accepted = set("bboq-prod-website", "prod-website-admin");
    assert_eq!(accepted.code, 0, "{accepted:?}");
    assert_eq!(
        accepted.stdout,
        "account 111111111111: alias set to bboq-prod-website\n"
    );
    assert_eq!(world.proxy.count("CreateAccountAlias"), 1);
    let again = set("bboq-prod-website", "prod-website-admin");
    assert_eq!(again.code, 0, "{again:?}");
    assert!(again.stdout.contains("already has the alias"), "{again:?}");
    assert_eq!(world.proxy.count("CreateAccountAlias"), 1);
    // The alias is really in IAM, in that account only.
    let check = world.run(&[
        "accounts",
        "alias",
        "check",
        "--profile",
        "prod-website-admin",
    ]);
    assert_eq!(check.code, 0, "{check:?}");
    let test = world.run(&[
        "accounts",
        "alias",
        "check",
        "--profile",
        "test-website-admin",
    ]);
    assert_eq!(test.code, 3, "{test:?}");
    assert!(test.stderr.contains("but its alias is not set"), "{test:?}");
}

/// A Python program with boto3 that prints the account its default chain reaches, and exits
/// with 7: what `guard` ran, and with which credentials.
const REPORT_ACCOUNT: &str = "import boto3, os, sys\n\
    print(boto3.client('sts').get_caller_identity()['Arn'])\n\
    print('AWS_PROFILE' in os.environ)\n\
    sys.exit(7)\n";

#[test]
fn guard_refuses_the_wrong_env_and_runs_the_command_with_the_checked_credentials() {
    let world = World::new();
    world.set_alias("prod-website-admin", "bboq-prod-website");
    world.set_alias("test-website-admin", "bboq-test-website");
    let marker = world.dir.path().join("ran");
    let touch = ["touch", marker.to_str().unwrap()];
    let guard = |extra: &[&str], command: &[&str]| {
        let mut args = vec!["guard"];
        args.extend_from_slice(extra);
        args.push("--");
        args.extend_from_slice(command);
        let mut cmd = world.command(&args);
        Run::of(cmd.output().unwrap())
    };

    // Test credentials, prod expected: refused, and the command never ran.
    let wrong = guard(
        &["--env", "prod", "--profile", "test-website-admin"],
        &touch,
    );
    assert_eq!(wrong.code, 3, "{wrong:?}");
    assert!(
        wrong.stderr.contains(
            "the credentials are for bboq-test-website (222222222222), which is test, not prod"
        ),
        "{wrong:?}"
    );
    assert!(!marker.exists());

    // A match runs the command, with the same credentials (the profile is gone from its
    // environment), and passes its exit code on.
    let python = python();
    let ran = guard(
        &["--env", "test", "--profile", "test-website-admin"],
        &[python.to_str().unwrap(), "-c", REPORT_ACCOUNT],
    );
    assert_eq!(ran.code, 7, "{ran:?}");
    let mut lines = ran.stdout.lines();
    assert!(
        lines
            .next()
            .unwrap()
            .starts_with("arn:aws:sts::222222222222:assumed-role/Admin/"),
        "{ran:?}"
    );
    assert_eq!(lines.next(), Some("False"), "{ran:?}");

    // Prod without a terminal: --confirm with the exact alias, nothing less.
    let prod = ["--env", "prod", "--profile", "prod-website-admin"];
    let unconfirmed = guard(&prod, &touch);
    assert_eq!(unconfirmed.code, 4, "{unconfirmed:?}");
    assert!(
        unconfirmed
            .stderr
            .contains("no terminal to confirm on; pass --confirm bboq-prod-website"),
        "{unconfirmed:?}"
    );
    let near_miss = guard(
        &[&prod[..], &["--confirm", "bboq-prod-websit"]].concat(),
        &touch,
    );
    assert_eq!(near_miss.code, 4, "{near_miss:?}");
    assert!(!marker.exists());
    let confirmed = guard(
        &[&prod[..], &["--confirm", "bboq-prod-website"]].concat(),
        &touch,
    );
    assert_eq!(confirmed.code, 0, "{confirmed:?}");
    assert!(marker.exists());

    // An account whose env cannot be told is refused whatever is expected.
    let bare = guard(&["--env", "dev", "--profile", "dev-spare-admin"], &["true"]);
    assert_eq!(bare.code, 3, "{bare:?}");
    assert!(bare.stderr.contains("has no alias"), "{bare:?}");
    // The command's own failures keep their codes.
    let missing = guard(
        &["--env", "test", "--profile", "test-website-admin"],
        &["/nonexistent/tool"],
    );
    assert_eq!(missing.code, 127, "{missing:?}");
}

#[test]
fn the_prompt_form_is_cached_per_identity() {
    let world = World::new();
    world.set_alias("prod-website-admin", "bboq-prod-website");
    world.proxy.clear_log();
    let prompt = |profile: &str| world.run(&["whoami", "--format", "prompt", "--profile", profile]);

    let first = prompt("prod-website-admin");
    assert_eq!(first.code, 0, "{first:?}");
    assert_eq!(first.stdout, "Admin@bboq-prod-website[PROD]\n");
    assert_eq!(world.proxy.count("GetCallerIdentity"), 1);
    let calls = world.proxy.requests().len();
    // The second prompt asks AWS nothing at all: not even AssumeRole.
    let second = prompt("prod-website-admin");
    assert_eq!(second.stdout, first.stdout);
    assert_eq!(
        world.proxy.requests().len(),
        calls,
        "{:?}",
        world.proxy.requests()
    );

    // Other credentials are another entry.
    let test = prompt("test-website-admin");
    assert_eq!(test.stdout, "Admin@222222222222[?]\n");
    assert_eq!(world.proxy.count("GetCallerIdentity"), 2);
    // Editing the config file (say, pointing the profile elsewhere) misses the cache.
    let config = world.home().join(".aws/config");
    let edited = std::fs::read_to_string(&config).unwrap() + "# edited\n";
    std::fs::write(&config, edited).unwrap();
    assert_eq!(prompt("prod-website-admin").stdout, first.stdout);
    assert_eq!(world.proxy.count("GetCallerIdentity"), 3);
    // The entries hold no secrets.
    for entry in std::fs::read_dir(world.dir.path().join("cache/airlock/whoami")).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        assert!(
            !text.contains(FAKE_SECRET_ACCESS_KEY) && !text.contains("Secret"),
            "{text}"
        );
    }
}

#[test]
fn lint_reads_the_cli_files_by_default_and_check_runs_the_same_rules() {
    let world = World::new();
    // Prod roles without MFA, a cycle, and the base profile's static keys: three findings.
    let config = world.home().join(".aws/config");
    let text = std::fs::read_to_string(&config).unwrap()
        + "\n[profile test-loop-a]\nrole_arn = arn:aws:iam::222222222222:role/A\nsource_profile = test-loop-b\nregion = eu-west-1\n\
           [profile test-loop-b]\nrole_arn = arn:aws:iam::222222222222:role/B\nsource_profile = test-loop-a\nregion = eu-west-1\n";
    std::fs::write(&config, text).unwrap();
    let lint = world.run(&["accounts", "lint", "--format", "json"]);
    assert_eq!(lint.code, 1, "{lint:?}");
    let report: serde_json::Value = serde_json::from_str(&lint.stdout).unwrap();
    let found: Vec<(String, String)> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["rule"].as_str().unwrap().to_string(),
                f["message"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let codes: Vec<&str> = found.iter().map(|(r, _)| r.as_str()).collect();
    assert_eq!(codes, ["ACC004", "ACC006"], "{found:#?}");
    assert!(
        found[0]
            .1
            .contains("prod-website-admin assumes a role in protected env prod without mfa_serial"),
        "{found:#?}"
    );
    // The cycle is reported once. The base profile has no region in the credentials file
    // but has one in config, so ACC008 is quiet: the two files are one set of profiles.
    assert!(
        found[1]
            .1
            .contains("test-loop-a -> test-loop-b -> test-loop-a"),
        "{found:#?}"
    );

    // `airlock check` on the same directory applies the same rules (among its others).
    let check = world.run(&[
        "check",
        "--format",
        "json",
        world.home().join(".aws").to_str().unwrap(),
    ]);
    let report: serde_json::Value = serde_json::from_str(&check.stdout).unwrap();
    let check_codes: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["rule"].as_str())
        .filter(|r| r.starts_with("ACC"))
        .collect();
    assert_eq!(check_codes, codes, "{check:?}");
}

#[test]
fn bad_input_gets_a_clear_error_naming_the_file_and_line() {
    let world = World::new();
    // A malformed line in a config file.
    let broken = world.dir.path().join("config");
    std::fs::write(
        &broken,
        "[profile prod-website-admin]\nregion = eu-west-1\nthis is not a setting\n",
    )
    .unwrap();
    let lint = world.run(&["accounts", "lint", broken.to_str().unwrap()]);
    assert_eq!(lint.code, 2, "{lint:?}");
    assert!(
        lint.stdout
            .contains("config:3: expected `key = value`, found \"this is not a setting\""),
        "{lint:?}"
    );
    // A file that cannot be read.
    let unreadable = world.dir.path().join("not-a-file");
    std::fs::create_dir(&unreadable).unwrap();
    let lint = world.run(&["accounts", "lint", unreadable.to_str().unwrap()]);
    assert_eq!(lint.code, 2, "{lint:?}");
    assert!(lint.stdout.contains("not-a-file: cannot read"), "{lint:?}");
    // An env the convention does not list, before any AWS call.
    let calls = world.proxy.requests().len();
    let guard = world.run(&["guard", "--env", "production", "--", "true"]);
    assert_eq!(guard.code, 2, "{guard:?}");
    assert!(
        guard
            .stderr
            .contains("--env \"production\" is not one of the envs configured at"),
        "{guard:?}"
    );
    assert!(
        guard.stderr.contains("airlock.toml:3: dev, test, prod"),
        "{guard:?}"
    );
    assert_eq!(world.proxy.requests().len(), calls);
    // An invalid convention.
    let bad = world.dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[accounts]\norg = \"bboq\"\nenvs = [\"dev\", \"prod\"]\nalias = \"{org}-{stage}\"\n",
    )
    .unwrap();
    let whoami = world.run(&["whoami", "--config", bad.to_str().unwrap()]);
    assert_eq!(whoami.code, 2, "{whoami:?}");
    assert!(
        whoami
            .stderr
            .contains("bad.toml:4: accounts.alias: unknown placeholder {stage}"),
        "{whoami:?}"
    );
    // No credentials at all.
    let mut nothing = world.command(&["whoami"]);
    nothing
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null");
    let nothing = Run::of(nothing.output().unwrap());
    assert_eq!(nothing.code, 5, "{nothing:?}");
    assert!(
        nothing
            .stderr
            .contains("no AWS credentials could be resolved"),
        "{nothing:?}"
    );
}

// ---------------------------------------------------------------------------------------
// The one interactive path, on a real terminal.

/// A tmux server of the test's own (its own socket), stopped when dropped.
struct Tmux {
    socket: PathBuf,
}

impl Tmux {
    fn start(dir: &Path, shell_env: &[(String, String)]) -> Option<Tmux> {
        if Command::new("tmux").arg("-V").output().is_err() {
            assert!(
                std::env::var_os("CI").is_none(),
                "tmux is missing in CI: scripts/setup-test-env.sh installs it"
            );
            eprintln!("SKIPPED: tmux is not installed (apt-get install tmux)");
            return None;
        }
        let socket = dir.join("tmux.sock");
        let tmux = Tmux { socket };
        // The server, and so the shell in it, gets the developer-like environment only.
        let mut command = tmux.command();
        command
            .env_clear()
            .envs(shell_env.iter().cloned())
            .env("TERM", "xterm")
            .args([
                "-f",
                "/dev/null",
                "new-session",
                "-d",
                "-x",
                "200",
                "-y",
                "50",
                "-s",
                "guard",
                "sh",
            ]);
        let status = command.status().unwrap();
        assert!(status.success(), "tmux did not start");
        Some(tmux)
    }

    fn command(&self) -> Command {
        let mut command = Command::new("tmux");
        command.arg("-S").arg(&self.socket);
        command
    }

    fn interrupt(&self) {
        let status = self
            .command()
            .args(["send-keys", "-t", "guard", "C-c"])
            .status()
            .unwrap();
        assert!(status.success());
    }

    fn send(&self, keys: &str) {
        let status = self
            .command()
            .args(["send-keys", "-t", "guard", "-l", keys])
            .status()
            .unwrap();
        assert!(status.success());
        let status = self
            .command()
            .args(["send-keys", "-t", "guard", "Enter"])
            .status()
            .unwrap();
        assert!(status.success());
    }

    fn screen(&self) -> String {
        let output = self
            .command()
            .args(["capture-pane", "-p", "-t", "guard", "-S", "-200"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    fn wait_for(&self, needle: &str, count: usize) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let screen = self.screen();
            if screen.matches(needle).count() >= count {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "{needle:?} (×{count}) never appeared on:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.command().arg("kill-server").status();
    }
}

#[test]
fn on_a_terminal_guard_runs_only_when_the_alias_is_typed() {
    let world = World::new();
    world.set_alias("prod-website-admin", "bboq-prod-website");
    let Some(tmux) = Tmux::start(world.dir.path(), &world.env()) else {
        return;
    };
    let marker = world.dir.path().join("applied");
    let line = format!(
        "cd {} && {} guard --env prod --profile prod-website-admin -- touch {}; echo \"guard \"\"exited $?\"",
        world.dir.path().display(),
        env!("CARGO_BIN_EXE_airlock"),
        marker.display()
    );
    let prompt = "Type the account alias to confirm:";

    // A wrong alias: refused with 4, nothing ran.
    tmux.send(&line);
    let screen = tmux.wait_for(prompt, 1);
    assert!(
        screen.contains("will run in bboq-prod-website (111111111111), a protected PROD account"),
        "{screen}"
    );
    tmux.send("bboq-test-website");
    let screen = tmux.wait_for("guard exited", 1);
    assert!(screen.contains("guard exited 4"), "{screen}");
    assert!(
        screen.contains("the alias typed was not bboq-prod-website"),
        "{screen}"
    );
    assert!(!marker.exists());

    // The right alias: the command runs.
    tmux.send(&line);
    tmux.wait_for(prompt, 2);
    tmux.send("bboq-prod-website");
    let screen = tmux.wait_for("guard exited", 2);
    assert!(screen.contains("guard exited 0"), "{screen}");
    assert!(marker.exists(), "{screen}");

    // Ctrl-C reaches the command once, from the terminal: guard does not pass on a second
    // interrupt (terraform takes a second one as "stop now, whatever the state").
    world.set_alias("test-website-admin", "bboq-test-website");
    let script = world.dir.path().join("count_interrupts.py");
    std::fs::write(&script, COUNT_INTERRUPTS).unwrap();
    let counting = format!(
        "{} guard --env test --profile test-website-admin -- {} {}; echo \"guard \"\"exited $?\"",
        env!("CARGO_BIN_EXE_airlock"),
        python().display(),
        script.display()
    );
    tmux.send(&counting);
    tmux.wait_for("waiting for interrupts", 1);
    tmux.interrupt();
    let screen = tmux.wait_for("guard exited", 3);
    assert!(screen.contains("interrupts: 1\n"), "{screen}");
    assert!(screen.contains("guard exited 130"), "{screen}");
}

/// Counts SIGINTs for a second after the first one, then exits 130 as an interrupted
/// program does.
const COUNT_INTERRUPTS: &str = "import signal, sys, time\n\
    count = []\n\
    signal.signal(signal.SIGINT, lambda *_: count.append(time.time()))\n\
    print(\"waiting for interrupts\", flush=True)\n\
    while not count: time.sleep(0.05)\n\
    time.sleep(1)\n\
    print(\"interrupts: %d\" % len(count), flush=True)\n\
    sys.exit(130)\n";
