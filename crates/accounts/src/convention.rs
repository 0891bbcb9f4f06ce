//! The naming convention of `[accounts]` in `airlock.toml`: an organisation, its
//! environments, templates for account aliases and profile names, and which environments
//! are protected.
//!
//! ```toml
//! [accounts]
//! org = "bboq"
//! envs = ["dev", "test", "prod"]
//! alias = "{org}-{env}-{purpose}"
//! profile = "{env}-{purpose}-{role}"
//! protected_envs = ["prod"]
//!
//! [accounts.ids]
//! "123456789012" = "bboq-prod-website"
//! ```
//!
//! Everything is validated when the file is read, so that a name is later either matched or
//! refused with a reason, never misread: an error names the file, the line and the key.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;

use serde::Deserialize;
use toml::Spanned;

/// The longest profile name the convention reads (aliases stop at 63 anyway).
pub const MAX_NAME: usize = 256;

/// The alias template when `alias` is not given.
pub const DEFAULT_ALIAS: &str = "{org}-{env}-{purpose}";
/// The profile template when `profile` is not given.
pub const DEFAULT_PROFILE: &str = "{env}-{purpose}-{role}";

/// A part of a name that a template captures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Placeholder {
    Org,
    Env,
    Purpose,
    Role,
}

impl Placeholder {
    fn parse(name: &str) -> Option<Placeholder> {
        match name {
            "org" => Some(Placeholder::Org),
            "env" => Some(Placeholder::Env),
            "purpose" => Some(Placeholder::Purpose),
            "role" => Some(Placeholder::Role),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Placeholder::Org => "org",
            Placeholder::Env => "env",
            Placeholder::Purpose => "purpose",
            Placeholder::Role => "role",
        }
    }
}

/// Which kind of name a template describes; it decides the characters a free placeholder
/// may hold and which placeholders are allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameKind {
    /// An IAM account alias: lowercase letters, digits and single hyphens.
    Alias,
    /// A profile name in `~/.aws/config`.
    Profile,
}

impl NameKind {
    fn key(self) -> &'static str {
        match self {
            NameKind::Alias => "alias",
            NameKind::Profile => "profile",
        }
    }

    /// Characters a free placeholder (`purpose`, `role`) may consist of.
    fn free_char(self, placeholder: Placeholder, c: char) -> bool {
        match (self, placeholder) {
            (NameKind::Profile, Placeholder::Role) => {
                // IAM role names: letters, digits and `+=,.@_-`.
                c.is_ascii_alphanumeric() || "+=,.@_-".contains(c)
            }
            _ => c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-',
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Field(Placeholder),
}

/// A parsed template such as `{org}-{env}-{purpose}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    text: String,
    kind: NameKind,
    segments: Vec<Segment>,
}

/// What a name that follows a template says about itself.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Labels {
    pub org: Option<String>,
    pub env: String,
    pub purpose: Option<String>,
    pub role: Option<String>,
}

/// Why a name does not follow the convention, in words fit for a report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation(pub String);

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Template {
    /// Parses a template; the error says what is wrong with it (the caller adds where).
    pub fn parse(text: &str, kind: NameKind) -> Result<Template, String> {
        let mut segments = Vec::new();
        let mut rest = text;
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix('{') {
                let Some(end) = after.find('}') else {
                    return Err(format!("`{{` without a closing `}}` in {text:?}"));
                };
                let name = &after[..end];
                let placeholder = Placeholder::parse(name).ok_or_else(|| {
                    format!("unknown placeholder {{{name}}}: use {{org}}, {{env}}, {{purpose}} or {{role}}")
                })?;
                if placeholder == Placeholder::Role && kind == NameKind::Alias {
                    return Err("{role} belongs in the profile template, not in an alias".into());
                }
                if segments.contains(&Segment::Field(placeholder)) {
                    return Err(format!("{{{name}}} appears twice"));
                }
                if matches!(segments.last(), Some(Segment::Field(_))) {
                    return Err(format!(
                        "two placeholders in a row before {{{name}}}: put a separator such as `-` between them"
                    ));
                }
                segments.push(Segment::Field(placeholder));
                rest = &after[end + 1..];
            } else {
                let end = rest.find('{').unwrap_or(rest.len());
                let literal = &rest[..end];
                if literal.contains('}') {
                    return Err(format!("`}}` without an opening `{{` in {text:?}"));
                }
                if kind == NameKind::Alias
                    && let Some(c) = literal
                        .chars()
                        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
                {
                    return Err(format!(
                        "{c:?} cannot be part of an account alias (lowercase letters, digits and hyphens only)"
                    ));
                }
                segments.push(Segment::Literal(literal.to_string()));
                rest = &rest[end..];
            }
        }
        if !segments.contains(&Segment::Field(Placeholder::Env)) {
            return Err(format!(
                "{text:?} has no {{env}}: the environment could not be read from a name"
            ));
        }
        Ok(Template {
            text: text.to_string(),
            kind,
            segments,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn has(&self, placeholder: Placeholder) -> bool {
        self.segments.contains(&Segment::Field(placeholder))
    }

    /// Matches `name`: `{org}` must be `org`, `{env}` one of `envs`, and the free
    /// placeholders non-empty runs of their characters. When several readings exist (a
    /// purpose with a hyphen in it), the one with the shortest early captures is taken; the
    /// env is the same in all of them unless two envs share a prefix and a separator.
    pub fn capture(&self, name: &str, org: &str, envs: &[String]) -> Option<Labels> {
        let mut labels = Labels::default();
        self.capture_from(0, name, Some((org, envs)), &mut labels)
            .then_some(labels)
    }

    /// The same match with `{org}` and `{env}` free: what the name *would* say its org and
    /// env are, to tell the user which part is wrong.
    fn capture_loosely(&self, name: &str) -> Option<Labels> {
        let mut labels = Labels::default();
        self.capture_from(0, name, None, &mut labels)
            .then_some(labels)
    }

    fn capture_from(
        &self,
        segment: usize,
        rest: &str,
        fixed: Option<(&str, &[String])>,
        labels: &mut Labels,
    ) -> bool {
        let Some(current) = self.segments.get(segment) else {
            return rest.is_empty();
        };
        match current {
            Segment::Literal(literal) => rest
                .strip_prefix(literal.as_str())
                .is_some_and(|after| self.capture_from(segment + 1, after, fixed, labels)),
            Segment::Field(placeholder) => {
                let candidates: Vec<&str> = match (placeholder, fixed) {
                    (Placeholder::Org, Some((org, _))) => vec![org],
                    (Placeholder::Env, Some((_, envs))) => {
                        envs.iter().map(String::as_str).collect()
                    }
                    _ => {
                        // A free run: every non-empty prefix made of allowed characters,
                        // shortest first.
                        let allowed = |c: char| match placeholder {
                            Placeholder::Org | Placeholder::Env => {
                                NameKind::Alias.free_char(Placeholder::Purpose, c)
                            }
                            _ => self.kind.free_char(*placeholder, c),
                        };
                        let run = rest.find(|c: char| !allowed(c)).unwrap_or(rest.len());
                        (1..=run)
                            .filter(|&end| rest.is_char_boundary(end))
                            .map(|end| &rest[..end])
                            .collect()
                    }
                };
                for candidate in candidates {
                    let Some(after) = rest.strip_prefix(candidate) else {
                        continue;
                    };
                    if candidate.is_empty() {
                        continue;
                    }
                    if self.capture_from(segment + 1, after, fixed, labels) {
                        let value = Some(candidate.to_string());
                        match placeholder {
                            Placeholder::Org => labels.org = value,
                            Placeholder::Env => labels.env = candidate.to_string(),
                            Placeholder::Purpose => labels.purpose = value,
                            Placeholder::Role => labels.role = value,
                        }
                        return true;
                    }
                }
                false
            }
        }
    }
}

/// The convention, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Convention {
    pub org: String,
    pub envs: Vec<String>,
    pub alias: Template,
    pub profile: Template,
    pub protected_envs: Vec<String>,
    /// Account id to alias, for checking without calling AWS.
    pub ids: BTreeMap<String, String>,
    /// Where `envs` is written (`airlock.toml:3`), for errors about an unknown env.
    pub envs_at: String,
}

/// A configuration error: the file, the line (0 when the whole file is meant) and what.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", match line { 0 => format!("{file}: {message}"), n => format!("{file}:{n}: {message}") })]
pub struct ConventionError {
    pub file: String,
    pub line: usize,
    pub message: String,
}

#[derive(Debug, Deserialize)]
struct FileView {
    accounts: Option<Spanned<AccountsSection>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AccountsSection {
    org: Spanned<String>,
    envs: Spanned<Vec<Spanned<String>>>,
    alias: Option<Spanned<String>>,
    profile: Option<Spanned<String>>,
    protected_envs: Option<Spanned<Vec<Spanned<String>>>>,
    #[serde(default)]
    ids: BTreeMap<Spanned<String>, Spanned<String>>,
}

/// The 1-based line of a byte offset.
fn line_of(text: &str, span: Range<usize>) -> usize {
    let end = span.start.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// A label (org or env) as it may appear in an alias: lowercase letters and digits. Hyphens
/// are refused because they are the usual separator and would make names ambiguous.
fn valid_label(label: &str) -> bool {
    !label.is_empty()
        && label
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
}

/// IAM's own rule for account aliases (CreateAccountAlias): 3 to 63 lowercase letters,
/// digits and hyphens, starting and ending with a letter or digit, with no two hyphens in a
/// row.
pub fn iam_alias_syntax(alias: &str) -> Result<(), Violation> {
    let len = alias.len();
    if !(3..=63).contains(&len) {
        return Err(Violation(format!(
            "an account alias has 3 to 63 characters; {alias:?} has {len}"
        )));
    }
    if let Some(c) = alias
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return Err(Violation(format!(
            "{c:?} is not allowed in an account alias (lowercase letters, digits and hyphens only)"
        )));
    }
    if alias.starts_with('-') || alias.ends_with('-') {
        return Err(Violation(
            "an account alias cannot start or end with a hyphen".into(),
        ));
    }
    if alias.contains("--") {
        return Err(Violation(
            "an account alias cannot have two hyphens in a row".into(),
        ));
    }
    Ok(())
}

/// Whether `id` is a 12-digit AWS account id.
pub fn is_account_id(id: &str) -> bool {
    id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit())
}

impl Convention {
    /// Reads `[accounts]` from an `airlock.toml`'s text. `Ok(None)` when the file has no
    /// such section. `file` is how errors name the file.
    pub fn from_toml(text: &str, file: &str) -> Result<Option<Convention>, ConventionError> {
        let error = |line: usize, message: String| ConventionError {
            file: file.to_string(),
            line,
            message,
        };
        let view: FileView = toml::from_str(text).map_err(|e| {
            let line = e.span().map_or(0, |span| line_of(text, span));
            error(line, format!("[accounts]: {}", e.message()))
        })?;
        let Some(section) = view.accounts else {
            return Ok(None);
        };
        let section_line = line_of(text, section.span());
        let section = section.into_inner();
        let at = |span: Range<usize>| line_of(text, span);

        let org_line = at(section.org.span());
        let org = section.org.into_inner();
        if !valid_label(&org) {
            return Err(error(
                org_line,
                format!("accounts.org = {org:?}: use lowercase letters and digits only"),
            ));
        }

        let envs_line = at(section.envs.span());
        let mut envs = Vec::new();
        for env in section.envs.into_inner() {
            let line = at(env.span());
            let env = env.into_inner();
            if !valid_label(&env) {
                return Err(error(
                    line,
                    format!(
                        "accounts.envs: {env:?} is not a valid env (lowercase letters and digits only)"
                    ),
                ));
            }
            if envs.contains(&env) {
                return Err(error(
                    line,
                    format!("accounts.envs: {env:?} is listed twice"),
                ));
            }
            envs.push(env);
        }
        if envs.is_empty() {
            return Err(error(envs_line, "accounts.envs is empty".into()));
        }

        let template = |value: Option<Spanned<String>>, default: &str, kind: NameKind| {
            let (line, text_value) = match value {
                Some(v) => (at(v.span()), v.into_inner()),
                None => (section_line, default.to_string()),
            };
            Template::parse(&text_value, kind)
                .map_err(|message| error(line, format!("accounts.{}: {message}", kind.key())))
        };
        let alias = template(section.alias, DEFAULT_ALIAS, NameKind::Alias)?;
        let profile = template(section.profile, DEFAULT_PROFILE, NameKind::Profile)?;

        let protected_envs = match section.protected_envs {
            Some(list) => {
                let mut out = Vec::new();
                for env in list.into_inner() {
                    let line = at(env.span());
                    let env = env.into_inner();
                    if !envs.contains(&env) {
                        return Err(error(
                            line,
                            format!(
                                "accounts.protected_envs: {env:?} is not one of the envs ({})",
                                envs.join(", ")
                            ),
                        ));
                    }
                    out.push(env);
                }
                out
            }
            None if envs.iter().any(|e| e == "prod") => vec!["prod".to_string()],
            None => {
                return Err(error(
                    section_line,
                    "accounts.protected_envs is not given and there is no \"prod\" env to default to: list the envs that need confirmation".into(),
                ));
            }
        };

        let mut convention = Convention {
            org,
            envs,
            alias,
            profile,
            protected_envs,
            ids: BTreeMap::new(),
            envs_at: format!("{file}:{envs_line}"),
        };
        for (id, alias) in section.ids {
            let line = at(id.span());
            let id = id.into_inner();
            let alias = alias.into_inner();
            if !is_account_id(&id) {
                return Err(error(
                    line,
                    format!("accounts.ids: {id:?} is not a 12-digit account id"),
                ));
            }
            if let Err(violation) = convention.check_alias(&alias) {
                return Err(error(
                    line,
                    format!("accounts.ids.{id} = {alias:?}: {violation}"),
                ));
            }
            convention.ids.insert(id, alias);
        }
        Ok(Some(convention))
    }

    pub fn is_protected(&self, env: &str) -> bool {
        self.protected_envs.iter().any(|e| e == env)
    }

    pub fn is_env(&self, env: &str) -> bool {
        self.envs.iter().any(|e| e == env)
    }

    /// An alias's labels, or why it breaks the convention (IAM syntax, shape, org, env).
    pub fn check_alias(&self, alias: &str) -> Result<Labels, Violation> {
        iam_alias_syntax(alias)?;
        self.check(&self.alias, alias, "alias")
    }

    /// A profile name's labels, or why it breaks the convention.
    pub fn check_profile(&self, name: &str) -> Result<Labels, Violation> {
        self.check(&self.profile, name, "profile")
    }

    fn check(&self, template: &Template, name: &str, what: &str) -> Result<Labels, Violation> {
        // Matching backtracks over separators; a bound on the length bounds its work.
        if name.len() > MAX_NAME {
            return Err(Violation(format!(
                "{what} of {} characters is longer than the {MAX_NAME} a name may have",
                name.len()
            )));
        }
        if let Some(labels) = template.capture(name, &self.org, &self.envs) {
            return Ok(labels);
        }
        let shape = template.as_str();
        let Some(loose) = template.capture_loosely(name) else {
            return Err(Violation(format!(
                "{what} {name:?} does not have the shape {shape}"
            )));
        };
        if let Some(org) = loose.org.as_deref()
            && org != self.org
        {
            return Err(Violation(format!(
                "{what} {name:?} names org {org:?}, not {:?} ({shape})",
                self.org
            )));
        }
        // The loose reading takes the shortest captures, so the env it found may be only a
        // prefix of what the user wrote: name the whole run up to the next separator.
        let env = self.env_as_written(template, name).unwrap_or(loose.env);
        Err(Violation(format!(
            "{what} {name:?}: env {env:?} is not one of {} ({shape})",
            self.envs.join(", ")
        )))
    }

    /// The text in the `{env}` position of a name when the env's neighbours are literals:
    /// for `{org}-{env}-{purpose}` and `bboq-production-x`, `production`.
    fn env_as_written(&self, template: &Template, name: &str) -> Option<String> {
        let position = template
            .segments
            .iter()
            .position(|s| *s == Segment::Field(Placeholder::Env))?;
        let mut offset = 0;
        for segment in &template.segments[..position] {
            match segment {
                Segment::Literal(l) => {
                    offset += name
                        .get(offset..)?
                        .strip_prefix(l.as_str())
                        .map(|_| l.len())?
                }
                Segment::Field(Placeholder::Org) => {
                    offset += name
                        .get(offset..)?
                        .strip_prefix(self.org.as_str())
                        .map(|_| self.org.len())?
                }
                Segment::Field(_) => return None,
            }
        }
        let rest = name.get(offset..)?;
        let end = match template.segments.get(position + 1) {
            Some(Segment::Literal(l)) => rest.find(l.as_str()).unwrap_or(rest.len()),
            None => rest.len(),
            Some(Segment::Field(_)) => return None,
        };
        Some(rest[..end].to_string())
    }

    /// The env an account belongs to according to `[accounts.ids]`.
    pub fn env_of_account(&self, account: &str) -> Option<String> {
        let alias = self.ids.get(account)?;
        self.check_alias(alias).ok().map(|labels| labels.env)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test's panic is its failure report
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"
[check]
disable = []

[accounts]
org = "bboq"
envs = ["dev", "test", "prod"]
alias = "{org}-{env}-{purpose}"
profile = "{env}-{purpose}-{role}"
protected_envs = ["prod"]

[accounts.ids]
"123456789012" = "bboq-prod-website"
"210987654321" = "bboq-test-website"
"#;

    fn example() -> Convention {
        Convention::from_toml(EXAMPLE, "airlock.toml")
            .unwrap()
            .unwrap()
    }

    fn error_of(text: &str) -> ConventionError {
        Convention::from_toml(text, "airlock.toml").unwrap_err()
    }

    #[test]
    fn the_example_convention_reads_back() {
        let c = example();
        assert_eq!(c.org, "bboq");
        assert_eq!(c.envs, ["dev", "test", "prod"]);
        assert_eq!(c.protected_envs, ["prod"]);
        assert_eq!(c.envs_at, "airlock.toml:7");
        assert_eq!(c.env_of_account("123456789012").as_deref(), Some("prod"));
        assert_eq!(c.env_of_account("210987654321").as_deref(), Some("test"));
        assert_eq!(c.env_of_account("999999999999"), None);
        assert!(c.is_protected("prod") && !c.is_protected("test"));
    }

    #[test]
    fn a_file_without_accounts_has_no_convention() {
        assert_eq!(
            Convention::from_toml("[check]\ndisable = []\n", "airlock.toml").unwrap(),
            None
        );
    }

    #[test]
    fn aliases_are_read_by_the_convention() {
        let c = example();
        let labels = c.check_alias("bboq-prod-website").unwrap();
        assert_eq!(labels.org.as_deref(), Some("bboq"));
        assert_eq!(labels.env, "prod");
        assert_eq!(labels.purpose.as_deref(), Some("website"));
        // A purpose may itself contain hyphens.
        assert_eq!(
            c.check_alias("bboq-test-data-lake")
                .unwrap()
                .purpose
                .as_deref(),
            Some("data-lake")
        );
        let production = c.check_alias("bboq-production-x").unwrap_err().0;
        assert!(
            production.contains("env \"production\" is not one of dev, test, prod"),
            "{production}"
        );
        let acme = c.check_alias("acme-prod-x").unwrap_err().0;
        assert!(acme.contains("org \"acme\", not \"bboq\""), "{acme}");
        let shape = c.check_alias("website").unwrap_err().0;
        assert!(
            shape.contains("does not have the shape {org}-{env}-{purpose}"),
            "{shape}"
        );
        let missing_purpose = c.check_alias("bboq-prod-").unwrap_err().0;
        assert!(missing_purpose.contains("hyphen"), "{missing_purpose}");
        assert!(c.check_alias("Bboq-prod-x").unwrap_err().0.contains("'B'"));
        assert!(
            c.check_alias("bboq--prod-x")
                .unwrap_err()
                .0
                .contains("two hyphens")
        );
        assert!(
            c.check_alias(&format!("bboq-prod-{}", "x".repeat(60)))
                .is_err()
        );
    }

    #[test]
    fn profiles_are_read_by_the_convention() {
        let c = example();
        let labels = c.check_profile("prod-website-admin").unwrap();
        assert_eq!(labels.env, "prod");
        assert_eq!(labels.purpose.as_deref(), Some("website"));
        assert_eq!(labels.role.as_deref(), Some("admin"));
        assert_eq!(
            c.check_profile("test-website-ReadOnly")
                .unwrap()
                .role
                .as_deref(),
            Some("ReadOnly")
        );
        assert!(c.check_profile("production-website-admin").is_err());
        assert!(c.check_profile("prod-website").is_err());
        assert!(c.check_profile("default").is_err());
    }

    #[test]
    fn other_templates_and_separators_work() {
        let text = "[accounts]\norg = \"acme\"\nenvs = [\"stg\", \"prd\"]\nalias = \"{env}.{purpose}\"\nprofile = \"{org}_{env}_{role}\"\nprotected_envs = [\"prd\"]\n";
        let err = error_of(text);
        assert!(
            err.message
                .contains("'.' cannot be part of an account alias"),
            "{err}"
        );
        let text = text.replace("{env}.{purpose}", "{purpose}-{env}");
        let c = Convention::from_toml(&text, "airlock.toml")
            .unwrap()
            .unwrap();
        assert_eq!(c.check_alias("billing-prd").unwrap().env, "prd");
        assert_eq!(c.check_profile("acme_stg_Admin").unwrap().env, "stg");
        assert!(c.check_profile("acme_dev_Admin").is_err());
    }

    #[test]
    fn invalid_conventions_name_the_line_and_key() {
        let base = "[accounts]\norg = \"bboq\"\nenvs = [\"dev\", \"prod\"]\n";
        let cases = [
            (
                format!("{base}alias = \"{{org}}-{{stage}}\"\n"),
                4,
                "unknown placeholder {stage}",
            ),
            (
                format!("{base}alias = \"{{org}}-{{purpose}}\"\n"),
                4,
                "has no {env}",
            ),
            (
                format!("{base}alias = \"{{org}}{{env}}\"\n"),
                4,
                "two placeholders in a row",
            ),
            (
                format!("{base}alias = \"{{org}}-{{env}}-{{role}}\"\n"),
                4,
                "{role} belongs in the profile",
            ),
            (
                format!("{base}profile = \"{{env}}-{{env}}\"\n"),
                4,
                "appears twice",
            ),
            (
                format!("{base}profile = \"{{env-x\"\n"),
                4,
                "without a closing",
            ),
            (
                format!("{base}profile = \"env}}-x\"\n"),
                4,
                "without an opening",
            ),
            (
                format!("{base}protected_envs = [\"production\"]\n"),
                4,
                "\"production\" is not one of the envs",
            ),
            (
                format!("{base}colour = \"red\"\n"),
                4,
                "unknown field `colour`",
            ),
            (
                "[accounts]\norg = \"BBOQ\"\nenvs = [\"prod\"]\n".to_string(),
                2,
                "lowercase",
            ),
            (
                "[accounts]\norg = \"bboq\"\nenvs = [\"prod\", \"prod\"]\n".to_string(),
                3,
                "listed twice",
            ),
            (
                "[accounts]\norg = \"bboq\"\nenvs = []\n".to_string(),
                3,
                "empty",
            ),
            (
                "[accounts]\norg = \"bboq\"\nenvs = [\"dev\"]\n".to_string(),
                1,
                "no \"prod\" env",
            ),
            (
                "[accounts]\nenvs = [\"prod\"]\n".to_string(),
                1,
                "missing field `org`",
            ),
            (
                format!("{base}[accounts.ids]\n\"12345\" = \"bboq-prod-x\"\n"),
                5,
                "not a 12-digit account id",
            ),
            (
                format!("{base}[accounts.ids]\n\"123456789012\" = \"bboq-stage-x\"\n"),
                5,
                "env \"stage\"",
            ),
        ];
        for (text, line, needle) in cases {
            let err = error_of(&text);
            assert_eq!(err.file, "airlock.toml");
            assert!(err.message.contains(needle), "{text}\n→ {err}");
            assert_eq!(err.line, line, "{text}\n→ {err}");
            assert!(err.to_string().starts_with("airlock.toml:"), "{err}");
        }
    }

    #[test]
    fn a_very_long_name_is_refused_quickly() {
        let c = example();
        let long = format!("prod-{}-admin", "a-".repeat(100_000));
        assert!(
            c.check_profile(&long)
                .unwrap_err()
                .0
                .contains("longer than the 256")
        );
    }

    proptest::proptest! {
        #[test]
        fn no_name_panics_and_every_accepted_name_is_in_the_convention(name in "\\PC{0,80}") {
            let c = example();
            if let Ok(labels) = c.check_alias(&name) {
                proptest::prop_assert!(c.is_env(&labels.env));
                proptest::prop_assert_eq!(labels.org.as_deref(), Some("bboq"));
                proptest::prop_assert!(iam_alias_syntax(&name).is_ok());
            }
            if let Ok(labels) = c.check_profile(&name) {
                proptest::prop_assert!(c.is_env(&labels.env));
            }
        }

        #[test]
        fn names_built_by_the_convention_read_back(
            env in proptest::sample::select(vec!["dev", "test", "prod"]),
            purpose in "[a-z0-9]{1,10}(-[a-z0-9]{1,10}){0,2}",
            role in "[A-Za-z0-9_]{1,12}",
        ) {
            let c = example();
            let alias = c.check_alias(&format!("bboq-{env}-{purpose}")).map_err(|v| proptest::test_runner::TestCaseError::fail(v.0))?;
            proptest::prop_assert_eq!(&alias.env, env);
            proptest::prop_assert_eq!(alias.purpose.as_deref(), Some(purpose.as_str()));
            let profile = c.check_profile(&format!("{env}-{purpose}-{role}")).map_err(|v| proptest::test_runner::TestCaseError::fail(v.0))?;
            proptest::prop_assert_eq!(&profile.env, env);
        }

        #[test]
        fn no_configuration_text_panics(text in "(\\[accounts\\]\n)?((org|envs|alias|profile|protected_envs|ids) = (\"[{}a-z-]{0,12}\"|\\[(\"[a-z]{0,5}\", ?){0,3}\\])\n){0,6}") {
            let _ = Convention::from_toml(&text, "airlock.toml");
        }
    }

    #[test]
    fn a_toml_syntax_error_has_its_line() {
        let err = error_of("[accounts]\norg = \"bboq\nenvs = []\n");
        assert_eq!(err.line, 2, "{err}");
    }
}
