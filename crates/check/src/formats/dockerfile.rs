//! Dockerfiles (and Containerfiles): recognised by name or content, parsed into stages and
//! instructions as BuildKit reads them (parser directives, the escape character, line
//! continuations with comment lines inside them, exec form, here-documents), with Literal
//! facts for ENV values and ARG defaults and CredentialFile facts for credential files that
//! COPY/ADD put into the image.

use crate::formats::{Parsed, credentials};
use crate::model::{
    CredentialFile, CredentialKind, Dockerfile, Fact, Instruction, Literal, LiteralContext, Site,
    Span, Stage,
};
use crate::rules::Format;
use crate::source::SourceFile;

/// Instructions BuildKit knows. Anything else is a parse error, as `docker build` says.
const INSTRUCTIONS: [&str; 18] = [
    "FROM",
    "RUN",
    "CMD",
    "LABEL",
    "MAINTAINER",
    "EXPOSE",
    "ENV",
    "ADD",
    "COPY",
    "ENTRYPOINT",
    "VOLUME",
    "USER",
    "WORKDIR",
    "ARG",
    "ONBUILD",
    "STOPSIGNAL",
    "HEALTHCHECK",
    "SHELL",
];

/// Extensions of files named after a Dockerfile that are something else.
const NOT_DOCKERFILE_EXTENSIONS: [&str; 16] = [
    "md",
    "txt",
    "rst",
    "sh",
    "py",
    "j2",
    "jinja",
    "jinja2",
    "tmpl",
    "tpl",
    "erb",
    "in",
    "orig",
    "bak",
    "swp",
    "dockerignore",
];

/// How much of a file of unknown name is looked at to decide whether it is a Dockerfile.
const SNIFF_BYTES: usize = 4096;

/// `Dockerfile`, `Dockerfile.*`, `*.Dockerfile`, `*-Dockerfile` (`00-Dockerfile`),
/// `Containerfile` and `Containerfile.*`, in any letter case.
pub fn is_dockerfile_name(name: &str) -> bool {
    let name = name.rsplit('/').next().unwrap_or(name).to_ascii_lowercase();
    // `Dockerfile.md`, `Dockerfile.j2`, `Dockerfile.dockerignore`: documentation, templates
    // and ignore files that sit beside a Dockerfile and are not one.
    let extension = name.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
    if NOT_DOCKERFILE_EXTENSIONS.contains(&extension) {
        return false;
    }
    ["dockerfile", "containerfile"].iter().any(|base| {
        name == *base
            || name.starts_with(&format!("{base}."))
            || name.ends_with(&format!(".{base}"))
            || name.ends_with(&format!("-{base}"))
    })
}

/// Whether text of a file with an unremarkable name is a Dockerfile: after directives,
/// comments and blank lines the first instruction is FROM or ARG, and a FROM whose shape is
/// that of an image reference (so Python's `from x import y` is not one) follows.
pub fn is_dockerfile_content(text: &str) -> bool {
    let mut end = text.len().min(SNIFF_BYTES);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let head = text.get(..end).unwrap_or("");
    let mut first = true;
    for line in head.lines() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let mut words = trimmed.split_whitespace();
        // Instructions are case-insensitive, but sniffing a file of unknown name accepts only
        // the upper case everybody writes: prose and code starting with "from" stay out.
        let keyword = words.next().unwrap_or("");
        if first && keyword != "FROM" && keyword != "ARG" {
            return false;
        }
        first = false;
        if keyword == "FROM" && line.starts_with(|c: char| c.is_ascii_alphabetic()) {
            let rest: Vec<&str> = words.filter(|w| !w.starts_with("--")).collect();
            let image_like = |w: &str| !w.contains(['(', ')', ',', '"', '\'']);
            match rest.as_slice() {
                [image] if image_like(image) => return true,
                [image, as_kw, _] if as_kw.eq_ignore_ascii_case("as") && image_like(image) => {
                    return true;
                }
                _ => return false,
            }
        }
    }
    false
}

/// One instruction as read from the text, before it is put into a stage.
struct Raw {
    keyword: String,
    /// Everything after the keyword, continuation lines joined by a space.
    rest: String,
    span: Span,
    heredocs: Vec<String>,
}

pub fn parse(file: &SourceFile) -> Parsed {
    let mut parsed = Parsed::new(Format::Dockerfile);
    let (raws, problems) = read_instructions(file);
    for (line, message) in problems {
        parsed.errors.push(error(file, line, message));
    }
    let mut model = Dockerfile {
        at: Site::new(&file.path, file.name(), Span::new(1, file.line_count())),
        preamble: Vec::new(),
        stages: Vec::new(),
    };
    for raw in raws {
        let instruction = match build_instruction(raw) {
            Ok(i) => i,
            Err((line, message)) => {
                parsed.errors.push(error(file, line, message));
                continue;
            }
        };
        if instruction.keyword == "FROM" {
            match stage_from(&instruction) {
                Some(stage) => model.stages.push(stage),
                None => parsed.errors.push(error(
                    file,
                    instruction.span.line,
                    "FROM needs an image reference",
                )),
            }
            continue;
        }
        match model.stages.last_mut() {
            Some(stage) => stage.instructions.push(instruction),
            None if instruction.keyword == "ARG" => model.preamble.push(instruction),
            None => parsed.errors.push(error(
                file,
                instruction.span.line,
                format!("{} before the first FROM", instruction.keyword),
            )),
        }
    }
    if model.stages.is_empty() && parsed.errors.is_empty() {
        parsed.errors.push(error(file, 1, "no FROM instruction"));
    }
    extract_facts(file, &model, &mut parsed.facts);
    parsed.facts.push(Fact::Dockerfile(model));
    parsed
}

fn error(file: &SourceFile, line: u32, message: impl Into<String>) -> crate::finding::ScanError {
    crate::finding::ScanError {
        file: file.path.to_string(),
        line,
        message: message.into(),
    }
}

/// The label findings use for a stage: `stage 1`, `stage 2 (builder)`.
pub fn stage_label(index: usize, stage: &Stage) -> String {
    match &stage.name {
        Some(name) => format!("stage {} ({name})", index + 1),
        None => format!("stage {}", index + 1),
    }
}

/// Splits the text into instructions: directives, comments, continuations and heredocs.
/// Problems are returned with their lines; reading goes on after an unknown instruction so
/// that one typo does not hide the rest of the file.
fn read_instructions(file: &SourceFile) -> (Vec<Raw>, Vec<(u32, String)>) {
    let mut problems = Vec::new();
    let lines: Vec<&str> = file
        .text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect();
    let mut escape = '\\';
    let mut index = 0;
    // Parser directives: `# key=value` lines at the very top, before any other line.
    while let Some(line) = lines.get(index) {
        let Some(body) = line.trim().strip_prefix('#') else {
            break;
        };
        let Some((key, value)) = body.split_once('=') else {
            break;
        };
        let key = key.trim().to_ascii_lowercase();
        if key.is_empty() || key.contains(char::is_whitespace) {
            break;
        }
        if key == "escape" {
            escape = match value.trim() {
                "\\" => '\\',
                "`" => '`',
                other => {
                    problems.push((
                        index as u32 + 1,
                        format!("invalid escape directive {other:?}: must be \\ or `"),
                    ));
                    escape
                }
            };
        }
        index += 1;
    }

    let mut raws = Vec::new();
    while index < lines.len() {
        let line = lines.get(index).copied().unwrap_or("");
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            index += 1;
            continue;
        }
        let start = index;
        let mut text = String::new();
        let mut current = line.trim_start();
        loop {
            let body = current.trim_end();
            match body.strip_suffix(escape) {
                Some(joined) => {
                    text.push_str(joined);
                    text.push(' ');
                    index += 1;
                    // Comment and empty lines inside a continuation are dropped.
                    while let Some(next) = lines.get(index) {
                        let t = next.trim();
                        if t.starts_with('#') || t.is_empty() {
                            index += 1;
                        } else {
                            break;
                        }
                    }
                    match lines.get(index) {
                        Some(next) => current = next,
                        None => break,
                    }
                }
                None => {
                    text.push_str(body);
                    break;
                }
            }
        }
        let end = index.min(lines.len().saturating_sub(1));
        index = end + 1;
        let text = text.trim().to_string();
        let (keyword, rest) = match text.find(char::is_whitespace) {
            Some(at) => (&text[..at], text[at..].trim()),
            None => (text.as_str(), ""),
        };
        let keyword = keyword.to_ascii_uppercase();
        if !INSTRUCTIONS.contains(&keyword.as_str()) {
            problems.push((start as u32 + 1, format!("unknown instruction {keyword}")));
            continue;
        }
        let mut heredocs = Vec::new();
        let mut last = end;
        if matches!(keyword.as_str(), "RUN" | "COPY" | "ADD") {
            for (delimiter, strip_tabs) in heredoc_markers(rest) {
                let mut body = String::new();
                let mut closed = false;
                while index < lines.len() {
                    let l = lines.get(index).copied().unwrap_or("");
                    index += 1;
                    let candidate = if strip_tabs {
                        l.trim_start_matches('\t')
                    } else {
                        l
                    };
                    if candidate == delimiter {
                        closed = true;
                        break;
                    }
                    body.push_str(candidate);
                    body.push('\n');
                }
                if !closed {
                    problems.push((
                        start as u32 + 1,
                        format!(
                            "unterminated here-document: no line {delimiter:?} before the end of the file"
                        ),
                    ));
                    break;
                }
                last = index - 1;
                heredocs.push(body);
            }
        }
        raws.push(Raw {
            keyword,
            rest: rest.to_string(),
            span: Span::new(start as u32 + 1, last as u32 + 1),
            heredocs,
        });
    }
    (raws, problems)
}

/// The here-documents an instruction opens, in order: delimiter and whether `<<-` strips
/// leading tabs. `<<<` (a here-string) and `<<` followed by no word are not here-documents.
fn heredoc_markers(rest: &str) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    let bytes = rest.as_bytes();
    let mut i = 0;
    // `<<` inside quotes (`echo "<<EOF"`) is text, not a here-document.
    let mut quoted: Option<u8> = None;
    while let Some(&b) = bytes.get(i) {
        if let Some(q) = quoted {
            if b == q {
                quoted = None;
            } else if b == b'\\' && q == b'"' {
                i += 1;
            }
            i += 1;
            continue;
        }
        match b {
            b'\'' | b'"' => {
                quoted = Some(b);
                i += 1;
                continue;
            }
            b'\\' => {
                i += 2;
                continue;
            }
            b'<' if bytes.get(i + 1) == Some(&b'<') => {}
            _ => {
                i += 1;
                continue;
            }
        }
        let mut at = i + 2;
        i = at;
        if bytes.get(at) == Some(&b'<') {
            // here-string: skip all the angle brackets
            while bytes.get(i) == Some(&b'<') {
                i += 1;
            }
            continue;
        }
        let strip_tabs = bytes.get(at) == Some(&b'-');
        if strip_tabs {
            at += 1;
        }
        let quote = match bytes.get(at) {
            Some(q @ (b'"' | b'\'')) => {
                at += 1;
                Some(*q)
            }
            _ => None,
        };
        let word_len = rest
            .get(at..)
            .unwrap_or("")
            .bytes()
            .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
            .count();
        if word_len == 0 {
            continue;
        }
        let word = rest.get(at..at + word_len).unwrap_or("");
        let mut next = at + word_len;
        if let Some(q) = quote {
            if bytes.get(next) != Some(&q) {
                continue;
            }
            next += 1;
        }
        if !word.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
            continue;
        }
        out.push((word.to_string(), strip_tabs));
        i = next;
    }
    out
}

/// Keywords whose leading `--flags` are options of the instruction itself.
fn takes_flags(keyword: &str) -> bool {
    matches!(keyword, "FROM" | "RUN" | "COPY" | "ADD" | "HEALTHCHECK")
}

/// Keywords that accept the exec (JSON array) form.
fn takes_exec_form(keyword: &str) -> bool {
    matches!(
        keyword,
        "RUN" | "CMD" | "ENTRYPOINT" | "COPY" | "ADD" | "SHELL" | "VOLUME"
    )
}

fn build_instruction(raw: Raw) -> Result<Instruction, (u32, String)> {
    let mut rest = raw.rest.as_str();
    let mut flags = Vec::new();
    if takes_flags(&raw.keyword) {
        while rest.starts_with("--") {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            flags.push(rest[..end].to_string());
            rest = rest[end..].trim_start();
        }
    }
    let mut exec_form = false;
    let mut args = vec![rest.to_string()];
    // A shell command may itself start with `[` (`RUN [ -f x ] && …`): only text shaped like
    // a JSON array of strings is the exec form, as Docker decides.
    let looks_json = rest.starts_with('[')
        && rest.ends_with(']')
        && rest[1..].trim_start().starts_with(['"', ']']);
    if takes_exec_form(&raw.keyword) && looks_json {
        match serde_json::from_str::<Vec<String>>(rest) {
            Ok(array) => {
                exec_form = true;
                args = array;
            }
            Err(e) => {
                return Err((
                    raw.span.line,
                    format!("{} has an invalid JSON array: {e}", raw.keyword),
                ));
            }
        }
    } else if raw.keyword == "SHELL" {
        return Err((raw.span.line, "SHELL must be a JSON array".into()));
    }
    Ok(Instruction {
        keyword: raw.keyword,
        flags,
        args,
        exec_form,
        heredocs: raw.heredocs,
        span: raw.span,
    })
}

fn stage_from(from: &Instruction) -> Option<Stage> {
    let words: Vec<&str> = from
        .args
        .first()
        .map(|a| a.split_whitespace().collect())
        .unwrap_or_default();
    let image = words.first()?.to_string();
    let name = match words.as_slice() {
        [_, as_kw, name] if as_kw.eq_ignore_ascii_case("as") => Some(name.to_string()),
        [_] => None,
        _ => return None,
    };
    let platform = from
        .flags
        .iter()
        .find_map(|f| f.strip_prefix("--platform="))
        .map(str::to_string);
    Some(Stage {
        span: from.span,
        image,
        name,
        platform,
        instructions: Vec::new(),
    })
}

/// Shell-like words of `text`: whitespace separates words outside quotes; quotes are removed;
/// a backslash in double quotes or outside quotes escapes the next character.
pub fn shell_words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut in_word = false;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                in_word = true;
                while let Some(q) = chars.next() {
                    match q {
                        '"' => break,
                        '\\' => {
                            if let Some(n) = chars.next() {
                                current.push(n);
                            }
                        }
                        other => current.push(other),
                    }
                }
            }
            '\'' => {
                in_word = true;
                for q in chars.by_ref() {
                    if q == '\'' {
                        break;
                    }
                    current.push(q);
                }
            }
            '\\' => {
                in_word = true;
                if let Some(n) = chars.next() {
                    current.push(n);
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut current));
                    in_word = false;
                }
            }
            other => {
                in_word = true;
                current.push(other);
            }
        }
    }
    if in_word {
        words.push(current);
    }
    words
}

/// `name=value` pairs of ENV (both forms) or ARG. ARG without `=` has no default and yields
/// nothing.
pub fn assignments(instruction: &Instruction) -> Vec<(String, String)> {
    let text = instruction.args.join(" ");
    let words = shell_words(&text);
    let legacy = instruction.keyword == "ENV" && words.first().is_some_and(|w| !w.contains('='));
    if legacy {
        // `ENV name value with spaces`: the rest of the line is the value.
        let trimmed = text.trim();
        let Some(at) = trimmed.find(char::is_whitespace) else {
            return Vec::new();
        };
        let name = trimmed[..at].to_string();
        let value = shell_words(trimmed[at..].trim()).join(" ");
        return vec![(name, value)];
    }
    words
        .into_iter()
        .filter_map(|w| {
            w.split_once('=')
                .map(|(n, v)| (n.to_string(), v.to_string()))
        })
        .collect()
}

/// The text an instruction was written as, for messages (`COPY htpasswd /etc/x`).
pub fn instruction_text(instruction: &Instruction) -> String {
    let mut parts = vec![instruction.keyword.clone()];
    parts.extend(instruction.flags.iter().cloned());
    if instruction.exec_form {
        parts.push(serde_json::to_string(&instruction.args).unwrap_or_default());
    } else {
        parts.extend(instruction.args.iter().filter(|a| !a.is_empty()).cloned());
    }
    parts.join(" ")
}

fn extract_facts(file: &SourceFile, model: &Dockerfile, facts: &mut Vec<Fact>) {
    let literal = |resource: &str, i: &Instruction, facts: &mut Vec<Fact>| {
        let context = if i.keyword == "ENV" {
            LiteralContext::DockerEnv
        } else {
            LiteralContext::DockerArg
        };
        for (name, value) in assignments(i) {
            facts.push(Fact::Literal(Literal {
                at: Site::new(&file.path, resource, i.span),
                context,
                name,
                value,
            }));
        }
    };
    for arg in &model.preamble {
        literal(file.name(), arg, facts);
    }
    for (index, stage) in model.stages.iter().enumerate() {
        let label = stage_label(index, stage);
        for i in &stage.instructions {
            match i.keyword.as_str() {
                "ENV" | "ARG" => literal(&label, i, facts),
                "COPY" | "ADD" => copied_credentials(file, &label, i, facts),
                _ => {}
            }
        }
    }
}

/// CredentialFile facts for COPY/ADD sources that name credential files. Copies from another
/// stage or image (`--from`) and here-documents are not files of the repository.
fn copied_credentials(file: &SourceFile, label: &str, i: &Instruction, facts: &mut Vec<Fact>) {
    if i.flags.iter().any(|f| f.starts_with("--from")) {
        return;
    }
    let words = if i.exec_form {
        i.args.clone()
    } else {
        shell_words(&i.args.join(" "))
    };
    let Some((_, sources)) = words.split_last() else {
        return;
    };
    let dir = file.path.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
    for source in sources {
        if source.starts_with("<<") || source.contains("://") {
            continue;
        }
        let path = resolve(dir, source);
        // Whole credential directories: `COPY .ssh /root/.ssh`, `COPY .aws /root/.aws`.
        let directory_kind = match path.trim_end_matches('/').rsplit('/').next() {
            Some(".ssh") => Some(CredentialKind::PrivateKey),
            Some(".aws") => Some(CredentialKind::AwsCredentials),
            _ => None,
        };
        if let Some(kind) = credentials::kind_by_path(&path).or(directory_kind) {
            facts.push(Fact::CredentialFile(CredentialFile {
                at: Site::new(&file.path, label, i.span),
                kind,
                path,
                name: resolve("", source),
                copied_by: Some(instruction_text(i)),
            }));
        }
    }
}

/// `source` relative to `dir`, with `.` and `..` resolved (the build context is taken to be
/// the Dockerfile's directory; a leading `/` in a COPY source is relative to it too).
fn resolve(dir: &str, source: &str) -> String {
    let mut parts: Vec<&str> = dir
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    for part in source.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|p| *p != "..") {
                    parts.pop();
                } else {
                    parts.push("..");
                }
            }
            other => parts.push(other),
        }
    }
    let joined = parts.join("/");
    if dir.starts_with('/') {
        format!("/{joined}")
    } else {
        joined
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_text(text: &str) -> (Dockerfile, Parsed) {
        let parsed = parse(&SourceFile::new("app/Dockerfile", text));
        let model = parsed
            .facts
            .iter()
            .find_map(|f| match f {
                Fact::Dockerfile(d) => Some(d.clone()),
                _ => None,
            })
            .unwrap_or_else(|| panic!("no Dockerfile fact: {:?}", parsed.errors));
        (model, parsed)
    }

    #[test]
    fn names_are_recognised() {
        for yes in [
            "Dockerfile",
            "dir/Dockerfile.prod",
            "api.Dockerfile",
            "web.dockerfile",
            "00-Dockerfile",
            "Containerfile",
        ] {
            assert!(is_dockerfile_name(yes), "{yes}");
        }
        for no in [
            "Dockerfiles.md",
            "README",
            "dockerfile_lint.py",
            "docker-compose.yml",
        ] {
            assert!(!is_dockerfile_name(no), "{no}");
        }
    }

    #[test]
    fn content_sniffing_needs_from_or_arg_first_and_an_image_shaped_from() {
        assert!(is_dockerfile_content(
            "# syntax=docker/dockerfile:1\n# comment\n\nARG V=1\nFROM alpine:${V} AS base\n"
        ));
        assert!(is_dockerfile_content(
            "FROM --platform=$BUILDPLATFORM golang\n"
        ));
        assert!(!is_dockerfile_content("from os import path\nprint(path)\n"));
        assert!(!is_dockerfile_content("from here\n"));
        assert!(!is_dockerfile_content("RUN echo\nFROM alpine\n"));
        assert!(!is_dockerfile_content("ARG x\n"));
        assert!(!is_dockerfile_content(""));
    }

    #[test]
    fn stages_flags_and_names() {
        let (d, p) = parse_text(
            "ARG BASE=golang:1.22\nFROM --platform=linux/amd64 ${BASE} AS build\nRUN go build\nFROM scratch\nCOPY --from=build /app /app\n",
        );
        assert!(p.errors.is_empty(), "{:?}", p.errors);
        assert_eq!(d.preamble.len(), 1);
        assert_eq!(d.stages.len(), 2);
        let build = &d.stages[0];
        assert_eq!(build.image, "${BASE}");
        assert_eq!(build.name.as_deref(), Some("build"));
        assert_eq!(build.platform.as_deref(), Some("linux/amd64"));
        let copy = &d.stages[1].instructions[0];
        assert_eq!(copy.flags, vec!["--from=build"]);
        assert_eq!(copy.args, vec!["/app /app"]);
        assert_eq!(copy.span, Span::line(5));
    }

    #[test]
    fn continuations_skip_comment_lines_and_honour_the_escape_directive() {
        let (d, p) = parse_text(
            "FROM alpine\nRUN apk add \\\n# a comment inside\n    curl \\\n\n    git\nUSER app\n",
        );
        assert!(p.errors.is_empty(), "{:?}", p.errors);
        let run = &d.stages[0].instructions[0];
        assert_eq!(run.args.len(), 1);
        assert!(run.args[0].contains("apk add"));
        assert!(run.args[0].contains("curl"));
        assert!(run.args[0].contains("git"));
        assert_eq!(run.span, Span::new(2, 6));
        assert_eq!(d.stages[0].instructions[1].span, Span::line(7));

        let (d, p) = parse_text(
            "# escape=`\nFROM mcr.microsoft.com/windows\nRUN dir C:\\ `\n  && echo done\n",
        );
        assert!(p.errors.is_empty(), "{:?}", p.errors);
        let run = &d.stages[0].instructions[0];
        assert!(run.args[0].contains("C:\\"));
        assert!(run.args[0].contains("echo done"));
        assert_eq!(run.span, Span::new(3, 4));
    }

    #[test]
    fn exec_form_is_decoded_and_bad_arrays_are_errors() {
        let (d, _) = parse_text(
            "FROM alpine\nCMD [\"nginx\", \"-g\", \"daemon off;\"]\nRUN [ -f /x ] && echo\n",
        );
        let cmd = &d.stages[0].instructions[0];
        assert!(cmd.exec_form);
        assert_eq!(cmd.args, vec!["nginx", "-g", "daemon off;"]);
        let run = &d.stages[0].instructions[1];
        assert!(!run.exec_form, "a shell test is not JSON");

        let p = parse(&SourceFile::new(
            "Dockerfile",
            "FROM alpine\n\nCMD [\"a\", b]\n",
        ));
        assert_eq!(p.errors.len(), 1);
        assert_eq!(p.errors[0].line, 3);
    }

    #[test]
    fn heredocs_are_collected_in_order() {
        let (d, p) = parse_text(
            "# syntax=docker/dockerfile:1\nFROM alpine\nRUN <<EOF1 cat >/a && <<-\"EOF2\" cat >/b\necho one\nEOF1\n\techo two\n\tEOF2\nCOPY <<EOF /etc/motd\nhello\nEOF\nUSER app\n",
        );
        assert!(p.errors.is_empty(), "{:?}", p.errors);
        let run = &d.stages[0].instructions[0];
        assert_eq!(run.heredocs, vec!["echo one\n", "echo two\n"]);
        assert_eq!(run.span, Span::new(3, 7));
        let copy = &d.stages[0].instructions[1];
        assert_eq!(copy.heredocs, vec!["hello\n"]);
        assert_eq!(d.stages[0].instructions[2].keyword, "USER");
        assert_eq!(d.stages[0].instructions[2].span, Span::line(11));
        // A here-string, a shift and quoted text are not here-documents.
        for text in [
            "FROM alpine\nRUN cat <<< hi\nUSER app\n",
            "FROM alpine\nRUN echo $((1<<3))\nUSER app\n",
            "FROM alpine\nRUN echo \"<<EOF\" '<<EOT'\nUSER app\n",
        ] {
            let (d, p) = parse_text(text);
            assert!(p.errors.is_empty(), "{text}: {:?}", p.errors);
            assert!(d.stages[0].instructions[0].heredocs.is_empty(), "{text}");
            assert_eq!(d.stages[0].instructions.len(), 2, "{text}");
        }
    }

    #[test]
    fn unterminated_heredoc_and_unknown_instruction_are_errors_with_lines() {
        let p = parse(&SourceFile::new(
            "Dockerfile",
            "FROM alpine\nRUN <<EOF\necho\n",
        ));
        assert_eq!(p.errors.len(), 1);
        assert_eq!(p.errors[0].line, 2);
        assert!(p.errors[0].message.contains("here-document"));
        let p = parse(&SourceFile::new(
            "Dockerfile",
            "FROM alpine\nRUNN echo\nCOPY x y\nCMD [\"a\"\nUSER app\n",
        ));
        let lines: Vec<u32> = p.errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, vec![2], "{:?}", p.errors);
        assert!(p.errors[0].message.contains("RUNN"));
        // reading went on past the typo
        let model = p.facts.iter().find_map(|f| match f {
            Fact::Dockerfile(d) => Some(d),
            _ => None,
        });
        assert_eq!(model.map(|d| d.stages[0].instructions.len()), Some(3));
        let p = parse(&SourceFile::new("Dockerfile", "RUN echo\n"));
        assert!(!p.errors.is_empty());
    }

    #[test]
    fn env_and_arg_literals_in_both_forms() {
        let (_, p) = parse_text(
            "ARG TOKEN=abc\nFROM alpine\nENV A=1 B=\"two words\"\nENV LEGACY some value\nARG NODEFAULT\n",
        );
        let literals: Vec<(LiteralContext, String, String)> = p
            .facts
            .iter()
            .filter_map(|f| match f {
                Fact::Literal(l) => Some((l.context, l.name.clone(), l.value.clone())),
                _ => None,
            })
            .collect();
        assert_eq!(
            literals,
            vec![
                (LiteralContext::DockerArg, "TOKEN".into(), "abc".into()),
                (LiteralContext::DockerEnv, "A".into(), "1".into()),
                (LiteralContext::DockerEnv, "B".into(), "two words".into()),
                (
                    LiteralContext::DockerEnv,
                    "LEGACY".into(),
                    "some value".into()
                ),
            ]
        );
    }

    #[test]
    fn copied_credential_files_are_resolved_against_the_dockerfile_directory() {
        let (_, p) = parse_text(
            "FROM nginx\nCOPY htpasswd /etc/nginx/.htpasswd\nCOPY [\"keys/id_rsa\", \"/root/.ssh/\"]\nADD ../.env /app/\nCOPY --from=build /src/server.key /k\nCOPY nginx.conf /etc/nginx/\nCOPY .ssh/ /root/.ssh/\n",
        );
        let files: Vec<(CredentialKind, String)> = p
            .facts
            .iter()
            .filter_map(|f| match f {
                Fact::CredentialFile(c) => Some((c.kind, c.path.clone())),
                _ => None,
            })
            .collect();
        assert_eq!(
            files,
            vec![
                (CredentialKind::Htpasswd, "app/htpasswd".into()),
                (CredentialKind::PrivateKey, "app/keys/id_rsa".into()),
                (CredentialKind::DotEnv, ".env".into()),
                (CredentialKind::PrivateKey, "app/.ssh".into()),
            ]
        );
        let copied_by = p.facts.iter().find_map(|f| match f {
            Fact::CredentialFile(c) => c.copied_by.clone(),
            _ => None,
        });
        assert_eq!(
            copied_by.as_deref(),
            Some("COPY htpasswd /etc/nginx/.htpasswd")
        );
    }
}
