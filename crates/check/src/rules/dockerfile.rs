//! Dockerfile rules (DKR): what the image runs as, where its base and its downloads come
//! from, and what it exposes.
//!
//! The *runtime* image is the last stage together with the stages it is built `FROM`
//! (`FROM build AS final` inherits `build`'s USER, EXPOSE and installed packages). Rules
//! about what runs in production look at that chain; rules about how the build fetches code
//! (pipe to shell, TLS verification) look at every stage, since a compromised build stage
//! poisons what it copies onward.

use crate::finding::{Finding, Severity};
use crate::formats::dockerfile::{assignments, stage_label};
use crate::model::{Dockerfile, Fact, Instruction, Site, Span, Stage};
use crate::rules::{Example, Format, Rule, RuleMeta, Unit};

pub static RULES: &[&dyn Rule] = &[
    &RunsAsRoot,
    &AddFromUrl,
    &BaseImageNotPinned,
    &ExposesSsh,
    &SshdInstalled,
    &PipeToShell,
    &TlsVerificationDisabled,
    &NoHealthcheck,
];

fn dockerfiles(unit: &Unit) -> impl Iterator<Item = &Dockerfile> {
    unit.facts.iter().filter_map(|f| match f {
        Fact::Dockerfile(d) => Some(d),
        _ => None,
    })
}

/// The index of the earlier stage that stage `index` is built `FROM`, if it is one. Stage
/// names are case-insensitive, as BuildKit treats them.
fn base_stage(d: &Dockerfile, index: usize) -> Option<usize> {
    let image = &d.stages.get(index)?.image;
    d.stages.get(..index)?.iter().rposition(|s| {
        s.name
            .as_deref()
            .is_some_and(|n| n.eq_ignore_ascii_case(image))
    })
}

/// The final stage and the stages it inherits from, final first.
fn runtime_chain(d: &Dockerfile) -> Vec<(usize, &Stage)> {
    let mut chain = Vec::new();
    let mut next = d.stages.len().checked_sub(1);
    while let Some(index) = next {
        let Some(stage) = d.stages.get(index) else {
            break;
        };
        chain.push((index, stage));
        // base_stage only returns earlier indices, so this ends.
        next = base_stage(d, index);
    }
    chain
}

/// A site for a stage: the given lines within the stage's resource span (FROM to its last
/// instruction, so a suppression comment anywhere in the stage covers it).
fn stage_site(d: &Dockerfile, index: usize, stage: &Stage, span: Span) -> Site {
    let end = stage
        .instructions
        .last()
        .map(|i| i.span.end_line)
        .unwrap_or(stage.span.end_line);
    Site {
        file: d.at.file.clone(),
        resource: stage_label(index, stage),
        span,
        resource_span: Span::new(stage.span.line, end),
    }
}

// ---------------------------------------------------------------------------------------
// Shell analysis: commands of RUN/CMD/ENTRYPOINT, as words, split at `;`, `&&`, `||`, `&`,
// newlines and pipes.

#[derive(Debug, Clone)]
enum Token {
    Word(String),
    Separator,
    Pipe,
}

fn tokenize(script: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = script.chars().peekable();
    let end_word = |tokens: &mut Vec<Token>, word: &mut String, in_word: &mut bool| {
        if *in_word {
            tokens.push(Token::Word(std::mem::take(word)));
            *in_word = false;
        }
    };
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                for q in chars.by_ref() {
                    if q == '\'' {
                        break;
                    }
                    word.push(q);
                }
            }
            '"' => {
                in_word = true;
                while let Some(q) = chars.next() {
                    match q {
                        '"' => break,
                        '\\' => {
                            if let Some(n) = chars.next() {
                                word.push(n);
                            }
                        }
                        other => word.push(other),
                    }
                }
            }
            '\\' => match chars.next() {
                Some('\n') | None => {}
                Some(n) => {
                    in_word = true;
                    word.push(n);
                }
            },
            '#' if !in_word => {
                for n in chars.by_ref() {
                    if n == '\n' {
                        break;
                    }
                }
                end_word(&mut tokens, &mut word, &mut in_word);
                tokens.push(Token::Separator);
            }
            ' ' | '\t' | '\r' => end_word(&mut tokens, &mut word, &mut in_word),
            '\n' | ';' => {
                end_word(&mut tokens, &mut word, &mut in_word);
                tokens.push(Token::Separator);
            }
            '&' => {
                end_word(&mut tokens, &mut word, &mut in_word);
                if chars.peek() == Some(&'&') {
                    chars.next();
                }
                tokens.push(Token::Separator);
            }
            '|' => {
                end_word(&mut tokens, &mut word, &mut in_word);
                if chars.peek() == Some(&'|') {
                    chars.next();
                    tokens.push(Token::Separator);
                } else {
                    tokens.push(Token::Pipe);
                }
            }
            other => {
                in_word = true;
                word.push(other);
            }
        }
    }
    end_word(&mut tokens, &mut word, &mut in_word);
    tokens
}

/// One simple command: every word as written, and the command's name (basename of the first
/// word after assignments and wrappers such as `sudo`) and its arguments.
#[derive(Debug, Clone, Default)]
struct Command {
    words: Vec<String>,
    name: String,
    args: Vec<String>,
}

impl Command {
    fn from_words(words: Vec<String>) -> Command {
        let mut rest = words.as_slice();
        while let Some((first, tail)) = rest.split_first() {
            let first = first.trim_start_matches(['(', '{']);
            let is_assignment = first.split_once('=').is_some_and(|(n, _)| {
                !n.is_empty() && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            });
            let wrapper = matches!(
                first,
                "sudo"
                    | "exec"
                    | "nohup"
                    | "env"
                    | "time"
                    | "command"
                    | "then"
                    | "do"
                    | "else"
                    | "elif"
                    | "if"
                    | "while"
                    | "until"
                    | "!"
                    | ""
            );
            if !(is_assignment || wrapper) {
                break;
            }
            rest = tail;
            if first == "sudo" || first == "env" {
                // their own options: `sudo -E -u app cmd`
                while let Some((flag, tail)) = rest.split_first() {
                    if !flag.starts_with('-') {
                        break;
                    }
                    rest = tail;
                    if matches!(flag.as_str(), "-u" | "-g")
                        && let Some((_, tail)) = rest.split_first()
                    {
                        rest = tail;
                    }
                }
            }
        }
        let (name, args) = match rest.split_first() {
            Some((first, args)) => {
                let first = first.trim_start_matches(['(', '{']);
                (
                    first.rsplit('/').next().unwrap_or(first).to_string(),
                    args.to_vec(),
                )
            }
            None => (String::new(), Vec::new()),
        };
        Command { words, name, args }
    }

    fn has(&self, word: &str) -> bool {
        self.args.iter().any(|a| a == word)
    }
}

const SHELLS: [&str; 6] = ["sh", "bash", "zsh", "dash", "ash", "ksh"];

/// Pipelines of a script, each a list of commands; scripts passed to `sh -c` are analysed
/// too.
fn pipelines(script: &str) -> Vec<Vec<Command>> {
    let mut out = Vec::new();
    let mut pipeline: Vec<Command> = Vec::new();
    let mut words = Vec::new();
    let flush_command = |words: &mut Vec<String>, pipeline: &mut Vec<Command>| {
        if !words.is_empty() {
            pipeline.push(Command::from_words(std::mem::take(words)));
        }
    };
    for token in tokenize(script) {
        match token {
            Token::Word(w) => words.push(w),
            Token::Pipe => flush_command(&mut words, &mut pipeline),
            Token::Separator => {
                flush_command(&mut words, &mut pipeline);
                if !pipeline.is_empty() {
                    out.push(std::mem::take(&mut pipeline));
                }
            }
        }
    }
    flush_command(&mut words, &mut pipeline);
    if !pipeline.is_empty() {
        out.push(pipeline);
    }
    let nested: Vec<Vec<Command>> = out
        .iter()
        .flatten()
        .filter_map(shell_c_script)
        .flat_map(|s| pipelines(&s))
        .collect();
    out.extend(nested);
    out
}

/// The script of `sh -c 'script'`.
fn shell_c_script(command: &Command) -> Option<String> {
    if !SHELLS.contains(&command.name.as_str()) {
        return None;
    }
    let at = command.args.iter().position(|a| a == "-c")?;
    command.args.get(at + 1).cloned()
}

/// The commands an instruction runs: RUN (shell or exec form, and here-documents that are
/// shell scripts), CMD and ENTRYPOINT.
fn instruction_pipelines(i: &Instruction) -> Vec<Vec<Command>> {
    if !matches!(i.keyword.as_str(), "RUN" | "CMD" | "ENTRYPOINT") {
        return Vec::new();
    }
    if i.exec_form {
        let command = Command::from_words(i.args.clone());
        let nested = shell_c_script(&command)
            .map(|s| pipelines(&s))
            .unwrap_or_default();
        let mut out = vec![vec![command]];
        out.extend(nested);
        return out;
    }
    let text = i.args.join(" ");
    let mut out = pipelines(&text);
    // `RUN <<EOF` or `RUN bash <<EOF`: the body is the script. Other here-documents
    // (`RUN <<EOF cat > /etc/x`) are file contents.
    let first = text.split_whitespace().next().unwrap_or("");
    let script_body =
        first.starts_with("<<") || SHELLS.contains(&first.rsplit('/').next().unwrap_or(""));
    if script_body {
        for body in &i.heredocs {
            out.extend(pipelines(body));
        }
    }
    out
}

/// Every instruction of every stage with its stage index.
fn all_instructions(d: &Dockerfile) -> impl Iterator<Item = (usize, &Stage, &Instruction)> {
    d.stages
        .iter()
        .enumerate()
        .flat_map(|(n, s)| s.instructions.iter().map(move |i| (n, s, i)))
}

// ---------------------------------------------------------------------------------------
// DKR001

pub struct RunsAsRoot;

static RUNS_AS_ROOT: RuleMeta = RuleMeta {
    code: "DKR001",
    name: "dockerfile-runs-as-root",
    severity: Severity::High,
    practice: "Containers run as an unprivileged user, set by the image's last USER.",
    formats: &[Format::Dockerfile],
    what: "A Dockerfile whose final stage has no USER instruction (in itself or in the stages it is built from), or whose last USER is root (`root`, `0`, `0:0`).",
    why: "A process that runs as root inside the container is root on the container's filesystem and, through any kernel or runtime escape, much closer to root on the host. Running as an unprivileged user turns many exploits into harmless failures.",
    fix: "Add `USER <non-root user>` after the last step that needs root. Create the user with `RUN useradd --uid 10001 app` (or `adduser -D app` on Alpine) and give it only the files it needs.",
    examples: &[Example {
        file: "Dockerfile",
        failing: "FROM python:3.12-slim@sha256:3f4a0b4c1b1a2a3b2c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b\nCOPY app.py /app/\nHEALTHCHECK CMD python -c 'print(1)'\nCMD [\"python\", \"/app/app.py\"]\n",
        passing: "FROM python:3.12-slim@sha256:3f4a0b4c1b1a2a3b2c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b\nRUN useradd --uid 10001 app\nCOPY app.py /app/\nUSER app\nHEALTHCHECK CMD python -c 'print(1)'\nCMD [\"python\", \"/app/app.py\"]\n",
    }],
    checkov: &["CKV_DOCKER_3", "CKV_DOCKER_8"],
};

/// Whether a USER value names root; `None` when it is a build argument.
fn is_root_user(value: &str) -> Option<bool> {
    if value.contains('$') {
        return None;
    }
    let user = value.split(':').next().unwrap_or("").trim();
    Some(user == "root" || user == "0")
}

impl Rule for RunsAsRoot {
    fn meta(&self) -> &'static RuleMeta {
        &RUNS_AS_ROOT
    }

    fn check(&self, unit: &Unit, out: &mut Vec<Finding>) {
        for d in dockerfiles(unit) {
            let chain = runtime_chain(d);
            let Some(&(final_index, final_stage)) = chain.first() else {
                continue;
            };
            let last_user = chain.iter().find_map(|&(index, stage)| {
                stage
                    .instructions
                    .iter()
                    .rev()
                    .find(|i| i.keyword == "USER")
                    .map(|i| (index, stage, i))
            });
            match last_user {
                Some((index, stage, user)) => {
                    let value = user.args.join(" ");
                    let value = value.trim();
                    if is_root_user(value) == Some(true) {
                        out.push(Finding::new(
                            &RUNS_AS_ROOT,
                            &stage_site(d, index, stage, user.span),
                            "user",
                            format!("the image runs as root: the last USER is `{value}`"),
                        ));
                    }
                }
                None => {
                    // The base image decides; distroless `nonroot` images set a user.
                    let base = chain.last().map(|(_, s)| s.image.as_str()).unwrap_or("");
                    if base.contains("nonroot") {
                        continue;
                    }
                    out.push(Finding::new(
                        &RUNS_AS_ROOT,
                        &stage_site(d, final_index, final_stage, final_stage.span),
                        "user",
                        format!(
                            "the image runs as root: no USER instruction in the final stage (FROM {})",
                            final_stage.image
                        ),
                    ));
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// DKR002

pub struct AddFromUrl;

static ADD_FROM_URL: RuleMeta = RuleMeta {
    code: "DKR002",
    name: "dockerfile-add-from-url",
    severity: Severity::Medium,
    practice: "Files downloaded into an image are fetched explicitly and verified against a checksum.",
    formats: &[Format::Dockerfile],
    what: "An ADD instruction whose source is an http:// or https:// URL, without `--checksum`.",
    why: "ADD fetches the URL at build time and trusts whatever the server returns: a compromised or hijacked download lands in the image unnoticed, and the build is not reproducible.",
    fix: "Download with `RUN curl -fsSLo file URL && echo \"<sha256>  file\" | sha256sum -c -`, or give ADD `--checksum=sha256:<digest>`. Use COPY for local files.",
    examples: &[Example {
        file: "Dockerfile",
        failing: "FROM alpine:3.20@sha256:0a4eaa0eecf5f8c050e5bba433f58c052be7587ee8af3e8b3910ef9ab5fbe9f5\nADD https://example.com/tool.tar.gz /opt/\nUSER 10001\nHEALTHCHECK CMD true\n",
        passing: "FROM alpine:3.20@sha256:0a4eaa0eecf5f8c050e5bba433f58c052be7587ee8af3e8b3910ef9ab5fbe9f5\nADD --checksum=sha256:24454f830cdb571e2c4ad15481119c43b3cafd48dd869a9b2945d1036d1dc68d https://example.com/tool.tar.gz /opt/\nUSER 10001\nHEALTHCHECK CMD true\n",
    }],
    checkov: &["CKV_DOCKER_4"],
};

/// A URL without its query, fragment or `user:password@` part, which may hold credentials.
fn url_for_display(url: &str) -> String {
    let bare = url.split(['?', '#']).next().unwrap_or(url);
    match bare.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            let host = authority
                .rsplit_once('@')
                .map(|(_, h)| h)
                .unwrap_or(authority);
            format!("{scheme}://{host}{path}")
        }
        None => bare.to_string(),
    }
}

impl Rule for AddFromUrl {
    fn meta(&self) -> &'static RuleMeta {
        &ADD_FROM_URL
    }

    fn check(&self, unit: &Unit, out: &mut Vec<Finding>) {
        for d in dockerfiles(unit) {
            for (index, stage, i) in all_instructions(d) {
                if i.keyword != "ADD" || i.flags.iter().any(|f| f.starts_with("--checksum")) {
                    continue;
                }
                let words = if i.exec_form {
                    i.args.clone()
                } else {
                    crate::formats::dockerfile::shell_words(&i.args.join(" "))
                };
                let Some((_, sources)) = words.split_last() else {
                    continue;
                };
                for url in sources.iter().filter(|s| {
                    let lower = s.to_ascii_lowercase();
                    lower.starts_with("http://") || lower.starts_with("https://")
                }) {
                    let shown = url_for_display(url);
                    let shown = shown.as_str();
                    out.push(Finding::new(
                        &ADD_FROM_URL,
                        &stage_site(d, index, stage, i.span),
                        shown,
                        format!("ADD downloads {shown} without verifying a checksum"),
                    ));
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// DKR003

pub struct BaseImageNotPinned;

static BASE_IMAGE_NOT_PINNED: RuleMeta = RuleMeta {
    code: "DKR003",
    name: "dockerfile-base-image-not-pinned",
    severity: Severity::Low,
    practice: "Base images are pinned by digest, so every build starts from the same bytes.",
    formats: &[Format::Dockerfile],
    what: "A FROM whose image is untagged, tagged `latest`, or tagged but not pinned with `@sha256:`. `scratch`, earlier stages and images given by a build argument are not reported.",
    why: "Tags move: the same Dockerfile builds a different image tomorrow, possibly one an attacker pushed to the tag. A digest names exactly one image, so builds are reproducible and a tampered tag cannot slip in.",
    fix: "Pin the image by digest: `FROM python:3.12-slim@sha256:<digest>` (keep the tag for readers). Let a bot such as Dependabot or Renovate update the digest.",
    examples: &[Example {
        file: "Dockerfile",
        failing: "FROM node:latest\nUSER node\nHEALTHCHECK CMD true\n",
        passing: "FROM node:22-alpine@sha256:9bef0ef1e268f60627da9ba7d7605e8831d5b56ad07487d24d1aa386336d1944 AS build\nFROM build\nUSER node\nHEALTHCHECK CMD true\n",
    }],
    checkov: &["CKV_DOCKER_7"],
};

impl Rule for BaseImageNotPinned {
    fn meta(&self) -> &'static RuleMeta {
        &BASE_IMAGE_NOT_PINNED
    }

    fn check(&self, unit: &Unit, out: &mut Vec<Finding>) {
        for d in dockerfiles(unit) {
            for (index, stage) in d.stages.iter().enumerate() {
                let image = stage.image.as_str();
                if image.contains('$')
                    || image.eq_ignore_ascii_case("scratch")
                    || image.contains('@')
                    || base_stage(d, index).is_some()
                {
                    continue;
                }
                let last_part = image.rsplit('/').next().unwrap_or(image);
                let problem = match last_part.split_once(':') {
                    None => "is untagged (implicitly `latest`)".to_string(),
                    Some((_, "latest")) => "uses the moving tag `latest`".to_string(),
                    Some((_, tag)) => format!("is pinned by tag `{tag}` only, not by digest"),
                };
                out.push(Finding::new(
                    &BASE_IMAGE_NOT_PINNED,
                    &stage_site(d, index, stage, stage.span),
                    image,
                    format!("base image {image} {problem}"),
                ));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// DKR004

pub struct ExposesSsh;

static EXPOSES_SSH: RuleMeta = RuleMeta {
    code: "DKR004",
    name: "dockerfile-exposes-ssh",
    severity: Severity::Medium,
    practice: "Images do not offer SSH; operators use `docker exec`, ECS Exec or `kubectl exec`.",
    formats: &[Format::Dockerfile],
    what: "An EXPOSE of port 22 in the final stage (or a stage it is built from).",
    why: "An SSH port on a container invites password guessing and key theft, and an SSH server is a second way in that bypasses the orchestrator's access control and audit trail.",
    fix: "Remove `EXPOSE 22` and the SSH server. Reach running containers with ECS Exec, `kubectl exec` or `docker exec`, which are authenticated and logged.",
    examples: &[Example {
        file: "Dockerfile",
        failing: "FROM nginx:1.27@sha256:0a4eaa0eecf5f8c050e5bba433f58c052be7587ee8af3e8b3910ef9ab5fbe9f5\nEXPOSE 80 22/tcp\nUSER nginx\nHEALTHCHECK CMD curl -f http://localhost/ || exit 1\n",
        passing: "FROM nginx:1.27@sha256:0a4eaa0eecf5f8c050e5bba433f58c052be7587ee8af3e8b3910ef9ab5fbe9f5\nEXPOSE 80\nUSER nginx\nHEALTHCHECK CMD curl -f http://localhost/ || exit 1\n",
    }],
    checkov: &["CKV_DOCKER_1"],
};

/// Whether an EXPOSE word (`22`, `22/tcp`, `20-25`) includes port 22.
fn exposes_22(word: &str) -> bool {
    let ports = word.split('/').next().unwrap_or("");
    let (from, to) = ports.split_once('-').unwrap_or((ports, ports));
    match (from.trim().parse::<u32>(), to.trim().parse::<u32>()) {
        (Ok(from), Ok(to)) => from <= 22 && 22 <= to,
        _ => false,
    }
}

impl Rule for ExposesSsh {
    fn meta(&self) -> &'static RuleMeta {
        &EXPOSES_SSH
    }

    fn check(&self, unit: &Unit, out: &mut Vec<Finding>) {
        for d in dockerfiles(unit) {
            for (index, stage) in runtime_chain(d) {
                for i in stage.instructions.iter().filter(|i| i.keyword == "EXPOSE") {
                    let words = i.args.join(" ");
                    if let Some(word) = words.split_whitespace().find(|w| exposes_22(w)) {
                        out.push(Finding::new(
                            &EXPOSES_SSH,
                            &stage_site(d, index, stage, i.span),
                            "22",
                            format!("EXPOSE {word} offers SSH (port 22)"),
                        ));
                    }
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// DKR005

pub struct SshdInstalled;

static SSHD_INSTALLED: RuleMeta = RuleMeta {
    code: "DKR005",
    name: "dockerfile-sshd-installed",
    severity: Severity::High,
    practice: "Images contain one service and no remote-login daemon.",
    formats: &[Format::Dockerfile],
    what: "The runtime image installs an SSH server (`openssh-server` with apt, yum, dnf, zypper; `openssh` or `openssh-server` with apk) or starts `sshd` in RUN, CMD or ENTRYPOINT.",
    why: "An SSH daemon in a container is a standing way in: its credentials or host keys are baked into the image, it is patched only when the image is rebuilt, and sessions through it escape the orchestrator's audit trail.",
    fix: "Remove the SSH server from the image and stop starting `sshd`. Use ECS Exec, `kubectl exec` or `docker exec` to reach a running container.",
    examples: &[Example {
        file: "Dockerfile",
        failing: "FROM debian:12-slim@sha256:0a4eaa0eecf5f8c050e5bba433f58c052be7587ee8af3e8b3910ef9ab5fbe9f5\nRUN apt-get update && apt-get install -y --no-install-recommends nginx openssh-server\nUSER www-data\nHEALTHCHECK CMD true\nCMD [\"/bin/bash\", \"-c\", \"/usr/sbin/sshd && nginx -g 'daemon off;'\"]\n",
        passing: "FROM debian:12-slim@sha256:0a4eaa0eecf5f8c050e5bba433f58c052be7587ee8af3e8b3910ef9ab5fbe9f5\nRUN apt-get update && apt-get install -y --no-install-recommends nginx openssh-client\nUSER www-data\nHEALTHCHECK CMD true\nCMD [\"nginx\", \"-g\", \"daemon off;\"]\n",
    }],
    checkov: &[],
};

/// The SSH server package a command installs, if any.
fn installs_ssh_server(c: &Command) -> Option<&str> {
    let (subcommands, packages): (&[&str], &[&str]) = match c.name.as_str() {
        "apt-get" | "apt" | "aptitude" => (&["install"], &["openssh-server", "ssh"]),
        "apk" => (&["add"], &["openssh", "openssh-server"]),
        "yum" | "dnf" | "microdnf" | "zypper" | "tdnf" => (&["install", "in"], &["openssh-server"]),
        _ => return None,
    };
    let words: Vec<&str> = c
        .args
        .iter()
        .map(String::as_str)
        .filter(|w| !w.starts_with('-'))
        .collect();
    if !words.first().is_some_and(|w| subcommands.contains(w)) {
        return None;
    }
    words.iter().skip(1).copied().find(|w| {
        // `openssh-server=1:9.2p1-2`, `openssh-server-9.0`
        let name = w.split('=').next().unwrap_or(w);
        packages.contains(&name)
    })
}

/// Whether a command starts the SSH daemon (`/usr/sbin/sshd -D`, `service ssh start`).
fn starts_sshd(c: &Command) -> bool {
    match c.name.as_str() {
        "sshd" => true,
        "service" => c.args.first().is_some_and(|s| s == "ssh" || s == "sshd") && c.has("start"),
        "systemctl" => c.has("start") && c.args.iter().any(|a| a == "ssh" || a == "sshd"),
        _ => false,
    }
}

impl Rule for SshdInstalled {
    fn meta(&self) -> &'static RuleMeta {
        &SSHD_INSTALLED
    }

    fn check(&self, unit: &Unit, out: &mut Vec<Finding>) {
        for d in dockerfiles(unit) {
            let mut installed: Option<(usize, &Stage, &Instruction, String)> = None;
            let mut started: Option<(usize, &Stage, &Instruction)> = None;
            for (index, stage) in runtime_chain(d).into_iter().rev() {
                for i in &stage.instructions {
                    for c in instruction_pipelines(i).iter().flatten() {
                        if let Some(package) = installs_ssh_server(c)
                            && installed.is_none()
                        {
                            installed = Some((index, stage, i, package.to_string()));
                        }
                        if starts_sshd(c) && started.is_none() {
                            started = Some((index, stage, i));
                        }
                    }
                }
            }
            let message = match (&installed, &started) {
                (Some((_, _, _, package)), Some((_, _, i))) => format!(
                    "the image installs an SSH server ({package}) and starts sshd ({} at line {})",
                    i.keyword, i.span.line
                ),
                (Some((_, _, _, package)), None) => {
                    format!("the image installs an SSH server ({package})")
                }
                (None, Some((_, _, i))) => format!("{} starts sshd", i.keyword),
                (None, None) => continue,
            };
            let (index, stage, at) = match (&installed, &started) {
                (Some((n, s, i, _)), _) | (None, Some((n, s, i))) => (*n, *s, *i),
                (None, None) => continue,
            };
            out.push(Finding::new(
                &SSHD_INSTALLED,
                &stage_site(d, index, stage, at.span),
                "sshd",
                message,
            ));
        }
    }
}

// ---------------------------------------------------------------------------------------
// DKR006

pub struct PipeToShell;

static PIPE_TO_SHELL: RuleMeta = RuleMeta {
    code: "DKR006",
    name: "dockerfile-pipe-to-shell",
    severity: Severity::High,
    practice: "Builds run only code they have verified, never a script streamed from the network.",
    formats: &[Format::Dockerfile],
    what: "A RUN that pipes `curl` or `wget -O-` output into a shell (`| sh`, `| bash`, `| sudo bash -s --`), or runs a shell on `$(curl …)` / `<(curl …)`.",
    why: "Whatever the server sends (or whoever controls it, its CDN or DNS) runs as root in the build with no review and no integrity check; a truncated download can run half a script.",
    fix: "Download the script to a file, verify its checksum or signature, then run it: `curl -fsSLo install.sh URL && echo \"<sha256>  install.sh\" | sha256sum -c - && sh install.sh`. Better, install a versioned package.",
    examples: &[Example {
        file: "Dockerfile",
        failing: "FROM debian:12-slim@sha256:0a4eaa0eecf5f8c050e5bba433f58c052be7587ee8af3e8b3910ef9ab5fbe9f5\nRUN curl -fsSL https://deb.nodesource.com/setup_22.x | bash -\nUSER 10001\nHEALTHCHECK CMD true\n",
        passing: "FROM debian:12-slim@sha256:0a4eaa0eecf5f8c050e5bba433f58c052be7587ee8af3e8b3910ef9ab5fbe9f5\nRUN curl -fsSLo /tmp/setup.sh https://deb.nodesource.com/setup_22.x \\\n && echo \"9c5e2fc1d2c0e1c6ab4c3e1b0b4a33f8d6b1d1a0e7b0f7d9f0a1b2c3d4e5f6a7  /tmp/setup.sh\" | sha256sum -c - \\\n && bash /tmp/setup.sh\nUSER 10001\nHEALTHCHECK CMD true\n",
    }],
    checkov: &[],
};

/// Whether a download command writes what it fetches to standard output.
fn downloads_to_stdout(c: &Command) -> bool {
    match c.name.as_str() {
        "curl" => !c
            .args
            .iter()
            .any(|a| a == "-o" || a == "-O" || a.starts_with("--output") || a == "--remote-name"),
        "wget" => c.args.iter().enumerate().any(|(n, a)| {
            let short_bundle = a.starts_with('-') && !a.starts_with("--");
            (short_bundle && a.ends_with("O-"))
                || a == "--output-document=-"
                || ((a == "--output-document" || (short_bundle && a.ends_with('O')))
                    && c.args.get(n + 1).is_some_and(|v| v == "-"))
        }),
        _ => false,
    }
}

/// Whether a command runs its standard input as a script: a shell without `-c` or a script
/// file argument (`bash -s -- --flag` and `sh -` do; `bash script.sh` does not).
fn runs_stdin(c: &Command) -> bool {
    if !SHELLS.contains(&c.name.as_str()) {
        return false;
    }
    let mut args = c.args.iter();
    for a in args.by_ref() {
        if a == "--" {
            break;
        }
        if a == "-c" {
            return false;
        }
        if a != "-" && !a.starts_with('-') {
            return false;
        }
    }
    true
}

fn pipes_to_shell(pipeline: &[Command]) -> Option<String> {
    for (n, c) in pipeline.iter().enumerate() {
        if downloads_to_stdout(c)
            && let Some(shell) = pipeline.iter().skip(n + 1).find(|s| runs_stdin(s))
        {
            return Some(format!("{} | {}", c.name, shell.name));
        }
        if SHELLS.contains(&c.name.as_str())
            && c.args.iter().any(|a| {
                ["$(curl", "<(curl", "$(wget", "<(wget", "`curl", "`wget"]
                    .iter()
                    .any(|p| a.starts_with(p))
            })
        {
            return Some(format!("{} on a downloaded script", c.name));
        }
    }
    None
}

impl Rule for PipeToShell {
    fn meta(&self) -> &'static RuleMeta {
        &PIPE_TO_SHELL
    }

    fn check(&self, unit: &Unit, out: &mut Vec<Finding>) {
        for d in dockerfiles(unit) {
            for (index, stage, i) in all_instructions(d) {
                if i.keyword != "RUN" {
                    continue;
                }
                if let Some(what) = instruction_pipelines(i)
                    .iter()
                    .find_map(|p| pipes_to_shell(p))
                {
                    out.push(Finding::new(
                        &PIPE_TO_SHELL,
                        &stage_site(d, index, stage, i.span),
                        &format!("{}:{what}", i.args.join(" ")),
                        format!("RUN pipes a download into a shell ({what})"),
                    ));
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// DKR007

pub struct TlsVerificationDisabled;

static TLS_VERIFICATION_DISABLED: RuleMeta = RuleMeta {
    code: "DKR007",
    name: "dockerfile-tls-verification-disabled",
    severity: Severity::High,
    practice: "Builds verify TLS certificates and package signatures on every download.",
    formats: &[Format::Dockerfile],
    what: "A build step that turns off certificate or signature checks: `curl -k`/`--insecure`, `wget --no-check-certificate`, `pip install --trusted-host`, `apt-get --allow-unauthenticated`/`--allow-insecure-repositories`, `git -c http.sslVerify=false`, `npm config set strict-ssl false`, or `NODE_TLS_REJECT_UNAUTHORIZED=0`, `GIT_SSL_NO_VERIFY`, `PYTHONHTTPSVERIFY=0` in RUN, ENV or ARG.",
    why: "Without verification anyone on the network path (a proxy, a hijacked mirror, a hostile Wi-Fi in CI) can substitute packages and code, which then run as root in the build and ship in the image.",
    fix: "Remove the flag or variable and make verification work instead: install the CA certificate your proxy uses (`COPY corp-ca.crt /usr/local/share/ca-certificates/ && update-ca-certificates`) and use HTTPS mirrors with signed repositories.",
    examples: &[Example {
        file: "Dockerfile",
        failing: "FROM python:3.12-slim@sha256:0a4eaa0eecf5f8c050e5bba433f58c052be7587ee8af3e8b3910ef9ab5fbe9f5\nRUN pip install --trusted-host pypi.org --trusted-host files.pythonhosted.org requests\nUSER 10001\nHEALTHCHECK CMD true\n",
        passing: "FROM python:3.12-slim@sha256:0a4eaa0eecf5f8c050e5bba433f58c052be7587ee8af3e8b3910ef9ab5fbe9f5\nRUN pip install --no-cache-dir requests==2.32.3\nUSER 10001\nHEALTHCHECK CMD true\n",
    }],
    checkov: &[
        "CKV2_DOCKER_2",
        "CKV2_DOCKER_3",
        "CKV2_DOCKER_4",
        "CKV2_DOCKER_5",
    ],
};

/// Environment settings that switch verification off, with the values that do.
fn insecure_setting(name: &str, value: &str) -> bool {
    let value = value.trim().to_ascii_lowercase();
    match name {
        "NODE_TLS_REJECT_UNAUTHORIZED" | "PYTHONHTTPSVERIFY" => value == "0",
        "GIT_SSL_NO_VERIFY" => !matches!(value.as_str(), "" | "0" | "false" | "no"),
        _ => false,
    }
}

/// What in a command turns verification off, if anything.
fn disables_tls(c: &Command) -> Option<String> {
    for word in &c.words {
        if let Some((name, value)) = word.split_once('=')
            && insecure_setting(name, value)
        {
            return Some(word.clone());
        }
    }
    let lower: Vec<String> = c.args.iter().map(|a| a.to_ascii_lowercase()).collect();
    let has = |w: &str| lower.iter().any(|a| a == w);
    let found = match c.name.as_str() {
        // Case matters for curl's short options: `-K` reads a config file, `-k` is insecure.
        "curl" => c
            .args
            .iter()
            .find(|a| {
                *a == "--insecure"
                    || (a.starts_with('-')
                        && !a.starts_with("--")
                        && a.len() > 1
                        && a[1..].bytes().all(|b| b.is_ascii_alphabetic())
                        && a.contains('k'))
            })
            .map(|a| format!("curl {a}")),
        "wget" => has("--no-check-certificate").then(|| "wget --no-check-certificate".into()),
        name if name.starts_with("pip") || (name.starts_with("python") && has("pip")) => lower
            .iter()
            .any(|a| a.starts_with("--trusted-host") || a.ends_with(".trusted-host"))
            .then(|| "pip --trusted-host".into()),
        "apt-get" | "apt" | "aptitude" => lower
            .iter()
            .find(|a| {
                *a == "--allow-unauthenticated"
                    || *a == "--allow-insecure-repositories"
                    || a.contains("allowunauthenticated=true")
                    || a.contains("allowinsecurerepositories=true")
                    || a.contains("verify-peer=false")
            })
            .map(|a| format!("{} {a}", c.name)),
        "git" => lower
            .iter()
            .enumerate()
            .find(|(n, a)| {
                let disabled_value = |v: &str| matches!(v, "false" | "0" | "no" | "off");
                a.strip_prefix("http.sslverify=")
                    .is_some_and(disabled_value)
                    || (*a == "http.sslverify"
                        && lower.get(n + 1).is_some_and(|v| disabled_value(v)))
            })
            .map(|_| "git http.sslVerify=false".into()),
        "npm" | "yarn" | "pnpm" => {
            let config = has("config") && has("set") && has("strict-ssl") && has("false");
            (config || has("--strict-ssl=false")).then(|| format!("{} strict-ssl false", c.name))
        }
        _ => None,
    };
    found.or_else(|| {
        // `export NODE_TLS_REJECT_UNAUTHORIZED=0`
        (c.name == "export")
            .then(|| {
                c.args.iter().find(|a| {
                    a.split_once('=')
                        .is_some_and(|(name, value)| insecure_setting(name, value))
                })
            })
            .flatten()
            .cloned()
    })
}

impl Rule for TlsVerificationDisabled {
    fn meta(&self) -> &'static RuleMeta {
        &TLS_VERIFICATION_DISABLED
    }

    fn check(&self, unit: &Unit, out: &mut Vec<Finding>) {
        for d in dockerfiles(unit) {
            let stages = d
                .stages
                .iter()
                .enumerate()
                .map(|(n, s)| (Some((n, s)), &s.instructions));
            let preamble = std::iter::once((None, &d.preamble));
            for (stage, instructions) in preamble.chain(stages) {
                for i in instructions {
                    let found = match i.keyword.as_str() {
                        "ENV" | "ARG" => assignments(i)
                            .into_iter()
                            .find(|(name, value)| insecure_setting(name, value))
                            .map(|(name, value)| format!("{name}={value}")),
                        _ => instruction_pipelines(i)
                            .iter()
                            .flatten()
                            .find_map(disables_tls),
                    };
                    let Some(what) = found else {
                        continue;
                    };
                    let site = match stage {
                        Some((index, s)) => stage_site(d, index, s, i.span),
                        None => d.at.at(i.span),
                    };
                    out.push(Finding::new(
                        &TLS_VERIFICATION_DISABLED,
                        &site,
                        &format!("{}:{what}", i.args.join(" ")),
                        format!("{} disables TLS verification ({what})", i.keyword),
                    ));
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// DKR008

pub struct NoHealthcheck;

static NO_HEALTHCHECK: RuleMeta = RuleMeta {
    code: "DKR008",
    name: "dockerfile-no-healthcheck",
    severity: Severity::Low,
    practice: "Images say how to tell that they are healthy.",
    formats: &[Format::Dockerfile],
    what: "A Dockerfile whose final stage (with the stages it is built from) has no HEALTHCHECK, or whose last HEALTHCHECK is `NONE`.",
    why: "Without a health check a container that has hung or lost its dependencies keeps receiving traffic; Docker and ECS restart or replace only containers they know to be unhealthy.",
    fix: "Add `HEALTHCHECK CMD <command that fails when the service is unhealthy>`, for example `HEALTHCHECK --interval=30s CMD wget -qO- http://localhost:8080/health || exit 1`. If the orchestrator probes instead (Kubernetes), configure it there.",
    examples: &[Example {
        file: "Dockerfile",
        failing: "FROM nginx:1.27@sha256:0a4eaa0eecf5f8c050e5bba433f58c052be7587ee8af3e8b3910ef9ab5fbe9f5\nUSER nginx\n",
        passing: "FROM nginx:1.27@sha256:0a4eaa0eecf5f8c050e5bba433f58c052be7587ee8af3e8b3910ef9ab5fbe9f5\nUSER nginx\nHEALTHCHECK --interval=30s CMD curl -fs http://localhost/ || exit 1\n",
    }],
    checkov: &["CKV_DOCKER_2"],
};

impl Rule for NoHealthcheck {
    fn meta(&self) -> &'static RuleMeta {
        &NO_HEALTHCHECK
    }

    fn check(&self, unit: &Unit, out: &mut Vec<Finding>) {
        for d in dockerfiles(unit) {
            let chain = runtime_chain(d);
            let Some(&(index, final_stage)) = chain.first() else {
                continue;
            };
            let last = chain.iter().find_map(|(_, s)| {
                s.instructions
                    .iter()
                    .rev()
                    .find(|i| i.keyword == "HEALTHCHECK")
            });
            let disabled = last.is_some_and(|i| {
                i.args
                    .first()
                    .is_some_and(|a| a.trim().eq_ignore_ascii_case("none"))
            });
            if last.is_some() && !disabled {
                continue;
            }
            let message = if disabled {
                "the image disables its health check (HEALTHCHECK NONE)".to_string()
            } else {
                "the image has no HEALTHCHECK".to_string()
            };
            out.push(Finding::new(
                &NO_HEALTHCHECK,
                &stage_site(d, index, final_stage, final_stage.span),
                "healthcheck",
                message,
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ScanOptions, SourceFile, scan_sources};

    fn scan(name: &str, text: &str) -> Vec<Finding> {
        let result = scan_sources(&[SourceFile::new(name, text)], &ScanOptions::default());
        assert!(result.errors.is_empty(), "{:?}", result.errors);
        result.findings
    }

    fn codes(name: &str, text: &str, code: &str) -> Vec<Finding> {
        scan(name, text)
            .into_iter()
            .filter(|f| f.rule == code)
            .collect()
    }

    #[test]
    fn every_example_fails_and_passes_as_documented() {
        for rule in RULES {
            let meta = rule.meta();
            assert!(!meta.examples.is_empty());
            for example in meta.examples {
                assert!(
                    !codes(example.file, example.failing, meta.code).is_empty(),
                    "{} failing example does not fire",
                    meta.code
                );
                let passing = codes(example.file, example.passing, meta.code);
                assert!(
                    passing.is_empty(),
                    "{} passing example fires: {passing:?}",
                    meta.code
                );
            }
        }
    }

    #[test]
    fn user_is_the_last_one_and_inherited_from_earlier_stages() {
        let root = codes("Dockerfile", "FROM alpine\nUSER app\nUSER root\n", "DKR001");
        assert_eq!(root.len(), 1);
        assert_eq!(root[0].line, 3);
        assert!(codes("Dockerfile", "FROM alpine\nUSER 0:0\n", "DKR001").len() == 1);
        assert!(codes("Dockerfile", "FROM alpine\nUSER 0\n", "DKR001").len() == 1);
        assert!(
            codes(
                "Dockerfile",
                "FROM alpine\nUSER root\nUSER 1000:1000\n",
                "DKR001"
            )
            .is_empty()
        );
        assert!(codes("Dockerfile", "FROM alpine\nUSER ${APP_UID}\n", "DKR001").is_empty());
        // The final stage inherits the USER of the stage it is built from…
        let inherited = "FROM alpine AS base\nUSER app\nFROM base\nRUN echo\n";
        assert!(codes("Dockerfile", inherited, "DKR001").is_empty());
        // …but not of an unrelated earlier stage.
        let builder = "FROM golang AS build\nUSER app\nFROM alpine\nCOPY --from=build /a /a\n";
        let found = codes("Dockerfile", builder, "DKR001");
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].resource, "stage 2");
        assert!(found[0].message.contains("no USER"));
    }

    #[test]
    fn pinning_exempts_scratch_stages_and_build_arguments() {
        let text = "ARG BASE=alpine\nFROM golang:1.22 AS build\nFROM ${BASE}\nFROM build AS test\nFROM scratch\nFROM ubuntu\nFROM registry:5000/team/img\nFROM img@sha256:abc\n";
        let found = codes("Dockerfile", text, "DKR003");
        let images: Vec<u32> = found.iter().map(|f| f.line).collect();
        assert_eq!(images, vec![2, 6, 7]);
        assert!(found[0].message.contains("tag `1.22`"));
        assert!(found[1].message.contains("untagged"));
        assert!(
            codes("Dockerfile", "FROM python:latest\n", "DKR003")[0]
                .message
                .contains("latest")
        );
    }

    #[test]
    fn sshd_is_found_installed_and_started_in_the_runtime_image_only() {
        for text in [
            "FROM alpine\nRUN apk add --no-cache openssh\n",
            "FROM centos\nRUN yum -y install openssh-server && yum clean all\n",
            "FROM debian\nRUN sudo DEBIAN_FRONTEND=noninteractive apt-get install -y openssh-server=1:9.2\n",
            "FROM debian\nCMD [\"/usr/sbin/sshd\", \"-D\"]\n",
            "FROM debian\nENTRYPOINT service ssh start && bash\n",
        ] {
            assert_eq!(codes("Dockerfile", text, "DKR005").len(), 1, "{text}");
        }
        for text in [
            "FROM debian\nRUN apt-get install -y openssh-client\n",
            "FROM debian\nRUN mkdir -p /run/sshd\n",
            "FROM debian AS build\nRUN apt-get install -y openssh-server\nFROM debian\nRUN echo\n",
        ] {
            assert!(codes("Dockerfile", text, "DKR005").is_empty(), "{text}");
        }
    }

    #[test]
    fn pipe_to_shell_shapes() {
        for text in [
            "FROM alpine\nRUN curl -sSL https://x.io/i.sh | sh\n",
            "FROM alpine\nRUN wget -qO- https://x.io/i.sh | sudo bash -s -- --yes\n",
            "FROM alpine\nRUN wget -O - https://x.io/i.sh | sh\n",
            "FROM alpine\nRUN sh -c \"$(curl -fsSL https://x.io/i.sh)\"\n",
            "FROM alpine\nRUN <<EOF\nset -e\ncurl -fsSL https://x.io/i.sh | bash\nEOF\n",
        ] {
            assert_eq!(codes("Dockerfile", text, "DKR006").len(), 1, "{text}");
        }
        for text in [
            "FROM alpine\nRUN curl -fsSL https://x.io/k.gpg | gpg --dearmor -o /k.gpg\n",
            "FROM alpine\nRUN curl -o i.sh https://x.io/i.sh | sh\n",
            "FROM alpine\nRUN wget https://x.io/a.tgz | sh\n",
            "FROM alpine\nRUN curl -s https://x.io/a.json | bash -c 'cat > /a.json'\n",
        ] {
            assert!(codes("Dockerfile", text, "DKR006").is_empty(), "{text}");
        }
    }

    #[test]
    fn tls_verification_shapes() {
        for text in [
            "FROM alpine\nRUN curl -fsSLk https://x.io/a -o a\n",
            "FROM alpine\nRUN curl --insecure https://x.io/a -o a\n",
            "FROM alpine\nRUN wget --no-check-certificate https://x.io/a\n",
            "FROM debian\nRUN apt-get install -y --allow-unauthenticated foo\n",
            "FROM debian\nRUN apt-get update --allow-insecure-repositories\n",
            "FROM alpine\nRUN git -c http.sslVerify=false clone https://x.io/r.git\n",
            "FROM node\nRUN npm config set strict-ssl false\n",
            "FROM node\nENV NODE_TLS_REJECT_UNAUTHORIZED=0\n",
            "FROM node\nRUN NODE_TLS_REJECT_UNAUTHORIZED=0 npm ci\n",
            "FROM python\nRUN python3 -m pip install --trusted-host=pypi.org flask\n",
        ] {
            assert_eq!(codes("Dockerfile", text, "DKR007").len(), 1, "{text}");
        }
        for text in [
            "FROM alpine\nRUN curl -fsSL https://x.io/a -o a\n",
            "FROM alpine\nRUN curl -K /etc/curlrc https://x.io/a -o a\n",
            "FROM node\nENV NODE_TLS_REJECT_UNAUTHORIZED=1\n",
            "FROM alpine\nRUN git config --global http.sslVerify true\n",
        ] {
            assert!(codes("Dockerfile", text, "DKR007").is_empty(), "{text}");
        }
    }

    #[test]
    fn expose_and_healthcheck() {
        assert_eq!(
            codes("Dockerfile", "FROM a\nEXPOSE 20-25/tcp\n", "DKR004").len(),
            1
        );
        assert!(codes("Dockerfile", "FROM a\nEXPOSE 2222 8022\n", "DKR004").is_empty());
        let none = codes(
            "Dockerfile",
            "FROM a\nHEALTHCHECK CMD true\nFROM a\n",
            "DKR008",
        );
        assert_eq!(
            none.len(),
            1,
            "an unrelated stage's HEALTHCHECK does not count"
        );
        let disabled = codes("Dockerfile", "FROM a\nHEALTHCHECK NONE\n", "DKR008");
        assert!(disabled[0].message.contains("NONE"));
        assert!(
            codes(
                "Dockerfile",
                "FROM a AS b\nHEALTHCHECK CMD true\nFROM b\n",
                "DKR008"
            )
            .is_empty()
        );
    }

    #[test]
    fn add_from_url_unless_checksummed() {
        let found = codes(
            "Dockerfile",
            "FROM a\nADD https://x.io/a.tgz?token=s3cr3t /opt/\n",
            "DKR002",
        );
        assert_eq!(found.len(), 1);
        assert!(
            !found[0].message.contains("s3cr3t"),
            "query strings may hold tokens"
        );
        assert!(codes("Dockerfile", "FROM a\nADD app.tgz /opt/\n", "DKR002").is_empty());
    }

    fn corpora() -> Option<std::path::PathBuf> {
        airlock_test_corpora::require("dockerfile corpus tests")
    }

    #[test]
    fn corpus_httpd_login_reports_sshd_root_and_the_htpasswd_file() {
        let Some(corpora) = corpora() else {
            return;
        };
        let dir = corpora.join("reinvent2019-con414/dockerfiles/httpd-login");
        let result = crate::scan(&ScanOptions {
            paths: vec![dir],
            ..ScanOptions::default()
        });
        assert!(result.errors.is_empty(), "{:?}", result.errors);
        let has = |file: &str, rule: &str| {
            result
                .findings
                .iter()
                .filter(|f| f.file.ends_with(file) && f.rule == rule)
                .count()
        };
        for dockerfile in ["/00-Dockerfile", "/01-Dockerfile"] {
            assert_eq!(has(dockerfile, "DKR005"), 1, "{dockerfile} DKR005");
            assert_eq!(has(dockerfile, "DKR001"), 1, "{dockerfile} DKR001");
        }
        assert_eq!(has("/htpasswd", "SEC006"), 1);
        assert_eq!(has("/00-Dockerfile", "SEC007"), 1);
        assert_eq!(has("/01-Dockerfile", "SEC007"), 0);
        let mut summary: Vec<String> = result
            .findings
            .iter()
            .map(|f| {
                format!(
                    "{}:{} {}",
                    f.file.rsplit('/').next().unwrap_or(""),
                    f.line,
                    f.rule
                )
            })
            .collect();
        summary.sort();
        eprintln!(
            "httpd-login: {} findings: {summary:?}",
            result.findings.len()
        );
    }

    #[test]
    fn corpus_kubernetes_examples_dockerfiles_parse_without_errors() {
        let Some(corpora) = corpora() else {
            return;
        };
        let mut pending = vec![corpora.join("kubernetes-examples")];
        let mut parsed = 0;
        let mut instructions = 0;
        while let Some(dir) = pending.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                if path.is_dir() {
                    pending.push(path);
                    continue;
                }
                let name = entry.file_name().to_string_lossy().to_string();
                if !crate::formats::dockerfile::is_dockerfile_name(&name) {
                    continue;
                }
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                let file = SourceFile::new(path.to_string_lossy().to_string(), text);
                let result = crate::formats::dockerfile::parse(&file);
                assert!(
                    result.errors.is_empty(),
                    "{}: {:?}",
                    path.display(),
                    result.errors
                );
                for fact in &result.facts {
                    if let Fact::Dockerfile(d) = fact {
                        instructions += d
                            .stages
                            .iter()
                            .map(|s| s.instructions.len() + 1)
                            .sum::<usize>();
                    }
                }
                parsed += 1;
            }
        }
        eprintln!(
            "kubernetes-examples: {parsed} Dockerfiles, {instructions} instructions, 0 errors"
        );
        assert!(parsed >= 10, "only {parsed} Dockerfiles found");
    }
}
