//! What the agent assumes and how: the role, the session name CloudTrail will show, the
//! duration, session tags and source identity. Everything is validated here, against STS's own
//! rules, so that a mistake is a clear start-up error instead of an AssumeRole failure (and a
//! pod that never becomes ready) minutes later.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// STS's floor for `DurationSeconds`.
pub const MIN_DURATION: Duration = Duration::from_secs(900);
/// The default and the ceiling. The agent's own credentials are usually a role session
/// already (a node role, IRSA, an SSO profile), and STS caps a session obtained from a role
/// session (role chaining) at one hour whatever the role's maximum says.
pub const MAX_CHAINED_DURATION: Duration = Duration::from_secs(3600);
/// STS allows at most 50 session tags.
pub const MAX_SESSION_TAGS: usize = 50;

/// A validated IAM role ARN: `arn:<partition>:iam::<account>:role/<path/><name>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleArn {
    arn: String,
    account_id: String,
}

impl RoleArn {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let parts: Vec<&str> = raw.splitn(6, ':').collect();
        let [arn, partition, service, region, account, resource] = parts[..] else {
            return Err("an IAM role ARN has the form arn:aws:iam::123456789012:role/NAME".into());
        };
        if arn != "arn" || !partition.starts_with("aws") {
            return Err("it does not start with arn:aws".into());
        }
        if service != "iam" {
            return Err(format!("service is {service:?}, not iam"));
        }
        if !region.is_empty() {
            return Err("IAM ARNs have no region (arn:aws:iam::ACCOUNT:role/NAME)".into());
        }
        if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("account {account:?} is not 12 digits"));
        }
        let Some(path_and_name) = resource.strip_prefix("role/") else {
            return Err(format!("resource {resource:?} is not role/NAME"));
        };
        let name = path_and_name.rsplit('/').next().unwrap_or_default();
        if name.is_empty() || name.len() > 64 || !name.chars().all(is_iam_name_char) {
            return Err(format!(
                "role name {name:?} must be 1 to 64 of letters, digits and +=,.@_-"
            ));
        }
        Ok(RoleArn {
            arn: raw.to_owned(),
            account_id: account.to_owned(),
        })
    }

    pub fn as_str(&self) -> &str {
        &self.arn
    }

    pub fn account_id(&self) -> &str {
        &self.account_id
    }
}

impl fmt::Display for RoleArn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.arn)
    }
}

/// Where the role ARN came from, so an error can say which setting to fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoleSource {
    /// `--role-arn` or `AIRLOCK_ROLE_ARN`.
    Value(String),
    /// `--role-arn-file`: a mounted secret or config map.
    File(PathBuf),
}

/// The assume-role settings, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssumeConfig {
    pub role: RoleArn,
    pub session_name: String,
    pub duration: Duration,
    pub session_tags: Vec<(String, String)>,
    pub source_identity: Option<String>,
}

/// The raw settings, as the command line and the environment give them.
#[derive(Debug, Clone, Default)]
pub struct AssumeSettings {
    pub role: Option<RoleSource>,
    /// An explicit session name (`--session-name`); otherwise it is derived from the pod.
    pub session_name: Option<String>,
    /// `POD_NAMESPACE`, `POD_NAME` (the downward API) and `HOSTNAME`, in that order of use.
    pub pod_namespace: Option<String>,
    pub pod_name: Option<String>,
    pub hostname: Option<String>,
    pub duration_secs: Option<u64>,
    /// `KEY=VALUE` strings.
    pub session_tags: Vec<String>,
    pub source_identity: Option<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error(
        "no role to assume: pass --role-arn ARN, set AIRLOCK_ROLE_ARN, or pass --role-arn-file PATH"
    )]
    NoRole,
    #[error("{origin}: {arn:?} is not an IAM role ARN: {reason}")]
    BadRoleArn {
        origin: String,
        arn: String,
        reason: String,
    },
    #[error("--role-arn-file {}: {reason}", path.display())]
    RoleFile { path: PathBuf, reason: String },
    #[error(
        "--duration {secs}: must be from {} to {} seconds (STS caps a session assumed from another role session at one hour)",
        MIN_DURATION.as_secs(),
        MAX_CHAINED_DURATION.as_secs()
    )]
    Duration { secs: u64 },
    #[error("--session-tag {tag:?}: {reason}")]
    SessionTag { tag: String, reason: String },
    #[error("--source-identity {value:?}: {reason}")]
    SourceIdentity { value: String, reason: String },
}

impl AssumeSettings {
    pub fn validate(&self) -> Result<AssumeConfig, ConfigError> {
        let role = match &self.role {
            None => return Err(ConfigError::NoRole),
            Some(RoleSource::Value(value)) => parse_role(value.trim(), "--role-arn")?,
            Some(RoleSource::File(path)) => read_role_file(path)?,
        };
        let duration_secs = self.duration_secs.unwrap_or(MAX_CHAINED_DURATION.as_secs());
        let duration = Duration::from_secs(duration_secs);
        if !(MIN_DURATION..=MAX_CHAINED_DURATION).contains(&duration) {
            return Err(ConfigError::Duration {
                secs: duration_secs,
            });
        }
        let session_name = match &self.session_name {
            Some(explicit) => sanitize_session_name(explicit),
            None => derived_session_name(
                self.pod_namespace.as_deref(),
                self.pod_name.as_deref(),
                self.hostname.as_deref(),
            ),
        };
        Ok(AssumeConfig {
            role,
            session_name,
            duration,
            session_tags: parse_session_tags(&self.session_tags)?,
            source_identity: self
                .source_identity
                .as_deref()
                .map(validate_source_identity)
                .transpose()?,
        })
    }
}

fn parse_role(value: &str, origin: &str) -> Result<RoleArn, ConfigError> {
    RoleArn::parse(value).map_err(|reason| ConfigError::BadRoleArn {
        origin: origin.to_owned(),
        arn: value.to_owned(),
        reason,
    })
}

fn read_role_file(path: &Path) -> Result<RoleArn, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::RoleFile {
        path: path.to_owned(),
        reason: format!("cannot read it: {e}"),
    })?;
    // A mounted secret often ends with a newline; the ARN is the one non-blank line.
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let (Some(value), None) = (lines.next(), lines.next()) else {
        return Err(ConfigError::RoleFile {
            path: path.to_owned(),
            reason: "it must hold exactly one role ARN".into(),
        });
    };
    parse_role(value, &format!("--role-arn-file {}", path.display()))
}

/// Characters IAM allows in names, and STS in session names and source identities.
fn is_iam_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "+=,.@_-".contains(c)
}

/// Makes any string a valid `RoleSessionName` (2 to 64 of `[\w+=,.@-]`): other characters
/// become `-`, the result is cut at 64 characters, and a too-short one is padded, so a pod
/// with an odd name still gets a session CloudTrail can attribute.
pub fn sanitize_session_name(raw: &str) -> String {
    let mut name: String = raw
        .chars()
        .map(|c| if is_iam_name_char(c) { c } else { '-' })
        .take(64)
        .collect();
    while name.len() < 2 {
        name.push('-');
    }
    name
}

/// `<namespace>.<pod>` from the downward API, so CloudTrail says which pod did what; the
/// host name outside Kubernetes; `airlock-agent` when neither is known.
pub fn derived_session_name(
    namespace: Option<&str>,
    pod: Option<&str>,
    hostname: Option<&str>,
) -> String {
    fn non_empty(s: Option<&str>) -> Option<&str> {
        s.map(str::trim).filter(|s| !s.is_empty())
    }
    let raw = match (non_empty(namespace), non_empty(pod), non_empty(hostname)) {
        (Some(ns), Some(pod), _) => format!("{ns}.{pod}"),
        (None, Some(pod), _) => pod.to_owned(),
        (_, None, Some(host)) => host.to_owned(),
        (_, None, None) => "airlock-agent".to_owned(),
    };
    sanitize_session_name(&raw)
}

/// Session tags: `KEY=VALUE`, keys 1 to 128 and values 0 to 256 characters of letters,
/// digits, spaces and `_.:/=+-@`, no `aws:` prefix, no key twice (STS compares keys
/// case-insensitively), at most 50.
pub fn parse_session_tags(raw: &[String]) -> Result<Vec<(String, String)>, ConfigError> {
    let bad = |tag: &str, reason: &str| ConfigError::SessionTag {
        tag: tag.to_owned(),
        reason: reason.to_owned(),
    };
    if raw.len() > MAX_SESSION_TAGS {
        return Err(bad(
            &raw[MAX_SESSION_TAGS],
            "STS accepts at most 50 session tags",
        ));
    }
    let tag_char = |c: char| c.is_alphanumeric() || " _.:/=+-@".contains(c);
    let mut tags: Vec<(String, String)> = Vec::with_capacity(raw.len());
    for tag in raw {
        let Some((key, value)) = tag.split_once('=') else {
            return Err(bad(tag, "expected KEY=VALUE"));
        };
        if key.is_empty() || key.chars().count() > 128 {
            return Err(bad(tag, "the key must be 1 to 128 characters"));
        }
        if value.chars().count() > 256 {
            return Err(bad(tag, "the value must be at most 256 characters"));
        }
        if !key.chars().all(tag_char) || !value.chars().all(tag_char) {
            return Err(bad(
                tag,
                "only letters, digits, spaces and _.:/=+-@ are allowed",
            ));
        }
        if key.to_ascii_lowercase().starts_with("aws:") {
            return Err(bad(tag, "keys starting with aws: are reserved"));
        }
        if tags.iter().any(|(k, _)| k.eq_ignore_ascii_case(key)) {
            return Err(bad(
                tag,
                "the key is given twice (STS compares keys ignoring case)",
            ));
        }
        tags.push((key.to_owned(), value.to_owned()));
    }
    Ok(tags)
}

/// A source identity: 2 to 64 of `[\w+=,.@-]`, not starting with `aws:`. Unlike the session
/// name it is not sanitised: it is an identity a person chose, and changing it silently would
/// make CloudTrail lie.
pub fn validate_source_identity(value: &str) -> Result<String, ConfigError> {
    let bad = |reason: &str| ConfigError::SourceIdentity {
        value: value.to_owned(),
        reason: reason.to_owned(),
    };
    if !(2..=64).contains(&value.len()) || !value.chars().all(is_iam_name_char) {
        return Err(bad("must be 2 to 64 of letters, digits and +=,.@_-"));
    }
    if value.to_ascii_lowercase().starts_with("aws:") {
        return Err(bad("values starting with aws: are reserved"));
    }
    Ok(value.to_owned())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test's panic is its failure report
mod tests {
    use super::*;

    fn settings(role: &str) -> AssumeSettings {
        AssumeSettings {
            role: Some(RoleSource::Value(role.into())),
            ..AssumeSettings::default()
        }
    }

    #[test]
    fn role_arns_are_checked_part_by_part() {
        let ok = RoleArn::parse("arn:aws:iam::123456789012:role/service/orders-api").unwrap();
        assert_eq!(ok.account_id(), "123456789012");
        assert!(RoleArn::parse("arn:aws-us-gov:iam::123456789012:role/x").is_ok());
        for (bad, why) in [
            ("orders", "form"),
            ("arn:aws:iam::12345:role/x", "12 digits"),
            ("arn:aws:s3:::bucket/x:y", "not iam"),
            ("arn:aws:iam:us-east-1:123456789012:role/x", "no region"),
            ("arn:aws:iam::123456789012:user/alice", "role/NAME"),
            ("arn:aws:iam::123456789012:role/", "1 to 64"),
            ("arn:aws:iam::123456789012:role/has space", "1 to 64"),
            ("urn:aws:iam::123456789012:role/x", "arn:aws"),
        ] {
            let reason = RoleArn::parse(bad).unwrap_err();
            assert!(reason.contains(why), "{bad}: {reason}");
        }
    }

    #[test]
    fn no_role_and_bad_role_are_clear_errors() {
        assert_eq!(
            AssumeSettings::default().validate(),
            Err(ConfigError::NoRole)
        );
        let err = settings("arn:aws:iam::123:role/x").validate().unwrap_err();
        assert!(
            err.to_string()
                .starts_with("--role-arn: \"arn:aws:iam::123:role/x\"")
        );
    }

    #[test]
    fn the_role_file_holds_one_arn_and_may_end_with_a_newline() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("role-arn");
        std::fs::write(&path, "arn:aws:iam::123456789012:role/orders\n").unwrap();
        let mut s = AssumeSettings {
            role: Some(RoleSource::File(path.clone())),
            ..AssumeSettings::default()
        };
        assert_eq!(
            s.validate().unwrap().role.as_str(),
            "arn:aws:iam::123456789012:role/orders"
        );
        std::fs::write(
            &path,
            "arn:aws:iam::123456789012:role/a\narn:aws:iam::123456789012:role/b\n",
        )
        .unwrap();
        let err = s.validate().unwrap_err().to_string();
        assert!(
            err.contains("exactly one role ARN") && err.contains("role-arn"),
            "{err}"
        );
        s.role = Some(RoleSource::File(dir.path().join("missing")));
        let err = s.validate().unwrap_err().to_string();
        assert!(err.contains("missing: cannot read it"), "{err}");
    }

    #[test]
    fn duration_defaults_to_an_hour_and_role_chaining_caps_it() {
        let mut s = settings("arn:aws:iam::123456789012:role/orders");
        assert_eq!(s.validate().unwrap().duration, Duration::from_secs(3600));
        s.duration_secs = Some(900);
        assert_eq!(s.validate().unwrap().duration, Duration::from_secs(900));
        for secs in [899, 3601, 43200] {
            s.duration_secs = Some(secs);
            let err = s.validate().unwrap_err();
            assert_eq!(err, ConfigError::Duration { secs });
            assert!(err.to_string().contains("one hour"), "{err}");
        }
    }

    #[test]
    fn session_names_come_from_the_pod_and_are_sanitised() {
        assert_eq!(
            derived_session_name(Some("payments"), Some("orders-7f9c-x2"), Some("ignored")),
            "payments.orders-7f9c-x2"
        );
        assert_eq!(derived_session_name(None, Some("web"), None), "web");
        assert_eq!(
            derived_session_name(None, None, Some("ci-runner")),
            "ci-runner"
        );
        assert_eq!(derived_session_name(Some(" "), None, None), "airlock-agent");
        assert_eq!(sanitize_session_name("a b/c:d#é"), "a-b-c-d--");
        assert_eq!(sanitize_session_name("x"), "x-");
        assert_eq!(sanitize_session_name(""), "--");
        let long = sanitize_session_name(&"n".repeat(100));
        assert_eq!(long.len(), 64);
        for name in ["a b", "x", "ümlaut-pod", &"p".repeat(80)] {
            let s = sanitize_session_name(name);
            assert!(
                (2..=64).contains(&s.len()) && s.chars().all(is_iam_name_char),
                "{s}"
            );
        }
    }

    #[test]
    fn session_tags_follow_sts_rules() {
        let tags = parse_session_tags(&["team=payments".into(), "pod=orders-1".into()]).unwrap();
        assert_eq!(tags[0], ("team".into(), "payments".into()));
        let empty_value = parse_session_tags(&["flag=".into()]).unwrap();
        assert_eq!(empty_value[0].1, "");
        for (tag, why) in [
            ("novalue", "KEY=VALUE"),
            ("=v", "1 to 128"),
            ("aws:team=x", "reserved"),
            ("team=a;b", "only letters"),
        ] {
            let err = parse_session_tags(&[tag.into()]).unwrap_err().to_string();
            assert!(err.contains(why), "{tag}: {err}");
        }
        let dup = parse_session_tags(&["Team=a".into(), "team=b".into()]).unwrap_err();
        assert!(dup.to_string().contains("twice"), "{dup}");
        let many: Vec<String> = (0..51).map(|i| format!("k{i}=v")).collect();
        assert!(
            parse_session_tags(&many)
                .unwrap_err()
                .to_string()
                .contains("at most 50")
        );
    }

    #[test]
    fn source_identity_is_validated_not_rewritten() {
        assert_eq!(
            validate_source_identity("alice@example.com").unwrap(),
            "alice@example.com"
        );
        for bad in ["a", "has space", "aws:alice", &"x".repeat(65)] {
            assert!(validate_source_identity(bad).is_err(), "{bad}");
        }
    }

    proptest::proptest! {
        #[test]
        fn any_string_becomes_a_valid_session_name(raw in "\\PC{0,100}") {
            let name = sanitize_session_name(&raw);
            proptest::prop_assert!((2..=64).contains(&name.len()), "{name:?}");
            proptest::prop_assert!(name.chars().all(is_iam_name_char), "{name:?}");
        }

        #[test]
        fn what_the_parsers_accept_is_well_formed_and_nothing_panics(raw in "\\PC{0,100}") {
            if let Ok(arn) = RoleArn::parse(&raw) {
                proptest::prop_assert_eq!(arn.as_str(), raw.as_str());
                proptest::prop_assert!(arn.account_id().bytes().all(|b| b.is_ascii_digit()));
                proptest::prop_assert_eq!(arn.account_id().len(), 12);
            }
            if let Ok(tags) = parse_session_tags(std::slice::from_ref(&raw)) {
                proptest::prop_assert_eq!(tags.len(), 1);
                proptest::prop_assert!(!tags[0].0.is_empty());
            }
            if let Ok(id) = validate_source_identity(&raw) {
                proptest::prop_assert!((2..=64).contains(&id.len()));
            }
        }
    }
}
