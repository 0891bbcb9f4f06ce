//! AWS CLI `config` and `credentials` files, read as the CLI reads them: `[profile name]`
//! sections in `config` (`[default]` bare), `[name]` sections in `credentials`,
//! `key = value` lines, `#`/`;` comment lines, and indented sub-settings under a key with an
//! empty value (`s3 =` then `  max_concurrent_requests = 10`).

use crate::formats::Parsed;
use crate::model::{AwsProfile, Fact, Literal, LiteralContext, Site, Span};
use crate::rules::Format;
use crate::source::SourceFile;

/// Keys the AWS CLI and SDKs read from these files; one of them must appear for a file
/// merely *named* `config` or `credentials` to be taken for an AWS one.
const KNOWN_KEYS: [&str; 24] = [
    "region",
    "output",
    "aws_access_key_id",
    "aws_secret_access_key",
    "aws_session_token",
    "role_arn",
    "source_profile",
    "credential_source",
    "credential_process",
    "external_id",
    "mfa_serial",
    "role_session_name",
    "duration_seconds",
    "sso_session",
    "sso_start_url",
    "sso_region",
    "sso_account_id",
    "sso_role_name",
    "sso_registration_scopes",
    "web_identity_token_file",
    "ca_bundle",
    "cli_pager",
    "endpoint_url",
    "services",
];

/// Keys whose values are credentials: kept as Literal facts so the secrets rules see them.
const CREDENTIAL_KEYS: [&str; 3] = [
    "aws_access_key_id",
    "aws_secret_access_key",
    "aws_session_token",
];

/// Whether the file is an AWS CLI config or credentials file: by its path under `.aws/`, or
/// for a file named `config`/`credentials`, by its sections and keys.
pub fn is_aws_config(file: &SourceFile) -> bool {
    if file.path.ends_with(".aws/config") || file.path.ends_with(".aws/credentials") {
        return true;
    }
    let name = file.name();
    if name != "config" && name != "credentials" {
        return false;
    }
    let mut sections = 0;
    let mut known_key = false;
    for line in file.text.lines() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with(['#', ';']) {
            continue;
        }
        if let Some(header) = section_header(trimmed) {
            let aws_like = header == "default"
                || header.starts_with("profile ")
                || is_other_section(header)
                // credentials files name profiles bare
                || (name == "credentials" && !header.contains(char::is_whitespace));
            if !aws_like {
                return false;
            }
            sections += 1;
        } else if let Some((key, _)) = trimmed.split_once('=') {
            known_key |= KNOWN_KEYS.contains(&key.trim());
        }
    }
    sections > 0 && known_key
}

fn section_header(line: &str) -> Option<&str> {
    line.strip_prefix('[')?.strip_suffix(']').map(str::trim)
}

/// Which of the two files a file is: it decides how sections name profiles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AwsFileKind {
    Config,
    Credentials,
}

impl AwsFileKind {
    /// By file name, as discovery sees it: `credentials`, or any name containing it, is a
    /// credentials file.
    pub fn of(file: &SourceFile) -> AwsFileKind {
        AwsFileKind::of_name(file.name())
    }

    /// By a file name alone (`airlock accounts lint FILE`).
    pub fn of_name(name: &str) -> AwsFileKind {
        if name.contains("credentials") {
            AwsFileKind::Credentials
        } else {
            AwsFileKind::Config
        }
    }
}

pub fn parse(file: &SourceFile) -> Parsed {
    parse_as(file, AwsFileKind::of(file))
}

/// Parses a file known to be an AWS config or credentials file, whatever its name.
pub fn parse_as(file: &SourceFile, kind: AwsFileKind) -> Parsed {
    let mut parsed = Parsed::new(Format::AwsConfig);
    let source: &'static str = match kind {
        AwsFileKind::Credentials => "credentials",
        AwsFileKind::Config => "config",
    };
    let mut current: Option<AwsProfile> = None;
    // The key whose empty value opened a block of indented sub-settings.
    let mut parent: Option<String> = None;
    let finish = |profile: Option<AwsProfile>, parsed: &mut Parsed| {
        if let Some(p) = profile {
            parsed.facts.push(Fact::AwsProfile(p));
        }
    };
    for n in 1..=file.line_count() {
        let line = file.line_text(n);
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with(['#', ';']) {
            continue;
        }
        let indented = line.starts_with([' ', '\t']);
        if !indented && trimmed.starts_with('[') {
            let Some(header) = section_header(trimmed) else {
                parsed
                    .errors
                    .push(error(file, n, "section header without a closing ]"));
                continue;
            };
            finish(current.take(), &mut parsed);
            parent = None;
            current = profile_name(header, source).map(|name| AwsProfile {
                at: Site::new(&file.path, name.clone(), Span::line(n)),
                name,
                source,
                settings: Vec::new(),
            });
            if current.is_none() && !is_other_section(header) {
                parsed
                    .errors
                    .push(error(file, n, format!("unrecognised section [{header}]")));
            }
            continue;
        }
        let Some((key, value)) = trimmed.split_once('=') else {
            parsed.errors.push(error(
                file,
                n,
                format!("expected `key = value`, found {trimmed:?}"),
            ));
            continue;
        };
        let key = key.trim();
        let value = value.trim();
        if key.is_empty() {
            parsed.errors.push(error(file, n, "setting without a name"));
            continue;
        }
        let full_key = if indented {
            match &parent {
                Some(p) => format!("{p}.{key}"),
                None => {
                    parsed.errors.push(error(
                        file,
                        n,
                        format!("indented setting {key:?} does not follow a `name =` line"),
                    ));
                    continue;
                }
            }
        } else {
            parent = value.is_empty().then(|| key.to_string());
            key.to_string()
        };
        let Some(profile) = current.as_mut() else {
            // Settings of sso-session or services sections, or of a section already reported.
            continue;
        };
        profile.at.resource_span = Span::new(profile.at.resource_span.line, n);
        if CREDENTIAL_KEYS.contains(&full_key.as_str()) && !value.is_empty() {
            parsed.facts.push(Fact::Literal(Literal {
                at: Site {
                    file: file.path.clone(),
                    resource: profile.name.clone(),
                    span: Span::line(n),
                    resource_span: profile.at.resource_span,
                },
                context: LiteralContext::Attribute,
                name: full_key.clone(),
                value: value.to_string(),
            }));
        }
        profile
            .settings
            .push((full_key, value.to_string(), Span::line(n)));
    }
    finish(current.take(), &mut parsed);
    // Settings before any section have no profile: the CLI rejects the file.
    if let Some(n) = (1..=file.line_count()).find(|&n| {
        let t = file.line_text(n).trim();
        !(t.is_empty() || t.starts_with(['#', ';']))
    }) && !file.line_text(n).trim().starts_with('[')
    {
        parsed
            .errors
            .push(error(file, n, "setting outside of any [section]"));
    }
    parsed
}

/// The profile a section header names: `[default]` and `[profile x]` in config, `[x]` in
/// credentials. Other sections (`sso-session`, `services`) are not profiles.
fn profile_name(header: &str, source: &str) -> Option<String> {
    if header == "default" {
        return Some("default".into());
    }
    if source == "credentials" {
        return (!header.is_empty()).then(|| header.to_string());
    }
    header
        .strip_prefix("profile ")
        .map(|name| name.trim().to_string())
        .filter(|name| !name.is_empty())
}

/// Sections the CLI reads that are not profiles: SSO sessions, service endpoint groups, and
/// the CLI's own `[plugins]` and `[preview]` settings.
fn is_other_section(header: &str) -> bool {
    header.starts_with("sso-session ")
        || header.starts_with("services ")
        || header == "plugins"
        || header == "preview"
}

fn error(file: &SourceFile, line: u32, message: impl Into<String>) -> crate::finding::ScanError {
    crate::finding::ScanError {
        file: file.path.to_string(),
        line,
        message: message.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profiles(parsed: &Parsed) -> Vec<&AwsProfile> {
        parsed
            .facts
            .iter()
            .filter_map(|f| match f {
                Fact::AwsProfile(p) => Some(p),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn recognises_by_path_or_by_shape() {
        assert!(is_aws_config(&SourceFile::new("home/.aws/config", "")));
        assert!(is_aws_config(&SourceFile::new(
            "ci/config",
            "[profile prod]\nregion = eu-west-1\n"
        )));
        assert!(is_aws_config(&SourceFile::new(
            "credentials",
            "[prod]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\n"
        )));
        assert!(!is_aws_config(&SourceFile::new(
            ".git/config",
            "[core]\n\trepositoryformatversion = 0\n"
        )));
        assert!(!is_aws_config(&SourceFile::new(
            "settings.ini",
            "[default]\nregion = x\n"
        )));
        assert!(!is_aws_config(&SourceFile::new(
            "config",
            "[default]\ncolor = auto\n"
        )));
    }

    #[test]
    fn config_profiles_with_comments_and_nested_settings() {
        let text = "# top comment\n[default]\nregion = us-east-1\n; another\n[profile prod]\nrole_arn = arn:aws:iam::123456789012:role/Admin\nsource_profile = default\ns3 =\n  max_concurrent_requests = 10\n  multipart_threshold = 64MB\noutput = json\n[sso-session corp]\nsso_region = us-east-1\n[plugins]\ncli_legacy_plugin_path = /opt/plugins\n";
        let parsed = parse(&SourceFile::new(".aws/config", text));
        assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
        let ps = profiles(&parsed);
        assert_eq!(ps.len(), 2);
        assert_eq!(ps[0].name, "default");
        assert_eq!(ps[0].source, "config");
        assert_eq!(ps[1].name, "prod");
        let keys: Vec<&str> = ps[1].settings.iter().map(|(k, _, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            vec![
                "role_arn",
                "source_profile",
                "s3",
                "s3.max_concurrent_requests",
                "s3.multipart_threshold",
                "output"
            ]
        );
        assert_eq!(ps[1].settings[3].1, "10");
        assert_eq!(ps[1].settings[3].2, Span::line(9));
        assert_eq!(ps[1].at.resource_span, Span::new(5, 11));
    }

    #[test]
    fn credentials_sections_are_bare_names_and_secrets_become_literals() {
        let text = "[default]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\naws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n[ci]\naws_access_key_id=AKIAI44QH8DHBEXAMPLE\n";
        let parsed = parse(&SourceFile::new("home/.aws/credentials", text));
        assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
        let ps = profiles(&parsed);
        assert_eq!(ps.len(), 2);
        assert_eq!(ps[1].name, "ci");
        assert_eq!(ps[1].source, "credentials");
        let secret = parsed.facts.iter().find_map(|f| match f {
            Fact::Literal(l) if l.name == "aws_secret_access_key" => Some(l),
            _ => None,
        });
        let secret = secret.unwrap_or_else(|| panic!("no literal"));
        assert_eq!(secret.at.resource, "default");
        assert_eq!(secret.at.span, Span::line(3));
        assert_eq!(secret.context, LiteralContext::Attribute);
    }

    #[test]
    fn malformed_lines_are_errors_with_their_line() {
        let parsed = parse(&SourceFile::new(
            ".aws/config",
            "region = x\n[default]\nthis is not a setting\n  nested = 1\n[broken\n",
        ));
        let lines: Vec<u32> = parsed.errors.iter().map(|e| e.line).collect();
        assert!(lines.contains(&1), "{lines:?}");
        assert!(lines.contains(&3), "{lines:?}");
        assert!(lines.contains(&4), "{lines:?}");
        assert!(lines.contains(&5), "{lines:?}");
    }
}
