//! Credential files committed to the repository: htpasswd files, private keys, `.env` files
//! and AWS credentials files, recognised by name and content.

use crate::model::{CredentialFile, CredentialKind, Fact, Site, Span};
use crate::secrets;
use crate::source::SourceFile;

/// Names of SSH private key files as `ssh-keygen` writes them.
const SSH_KEY_NAMES: [&str; 4] = ["id_rsa", "id_dsa", "id_ecdsa", "id_ed25519"];

/// `.env` variants that document variables rather than hold them.
const DOTENV_TEMPLATES: [&str; 5] = ["example", "sample", "template", "dist", "defaults"];

/// What kind of credential file a path names, by name alone (for COPY/ADD sources, whose
/// content the scanner does not see). `*.pem` files that are named as certificates or
/// bundles are public material, not keys.
pub fn kind_by_path(path: &str) -> Option<CredentialKind> {
    let name = path.rsplit('/').next().unwrap_or(path);
    let lower = name.to_ascii_lowercase();
    if lower == "htpasswd" || lower == ".htpasswd" || lower.ends_with(".htpasswd") {
        return Some(CredentialKind::Htpasswd);
    }
    if SSH_KEY_NAMES.contains(&lower.as_str()) {
        return Some(CredentialKind::PrivateKey);
    }
    if lower.ends_with(".key") || (lower.ends_with(".pem") && !is_public_pem_name(&lower)) {
        return Some(CredentialKind::PrivateKey);
    }
    if is_dotenv_name(&lower) {
        return Some(CredentialKind::DotEnv);
    }
    if path.ends_with(".aws/credentials") {
        return Some(CredentialKind::AwsCredentials);
    }
    None
}

fn is_public_pem_name(lower: &str) -> bool {
    [
        "cert", "chain", "bundle", "ca.pem", "-ca", "_ca", "pub", "public",
    ]
    .iter()
    .any(|marker| lower.contains(marker))
}

fn is_dotenv_name(lower: &str) -> bool {
    if lower == ".env" {
        return true;
    }
    match lower.strip_prefix(".env.") {
        Some(suffix) => !DOTENV_TEMPLATES.iter().any(|t| suffix.contains(t)),
        None => false,
    }
}

/// A CredentialFile fact if the file is a committed credential file.
pub fn detect(file: &SourceFile) -> Option<Fact> {
    let (kind, line) = classify(file)?;
    Some(Fact::CredentialFile(CredentialFile {
        at: Site::new(&file.path, file.name(), Span::line(line)),
        kind,
        path: file.path.to_string(),
        name: file.name().to_string(),
        copied_by: None,
    }))
}

/// The kind of credential file and the line that shows it.
fn classify(file: &SourceFile) -> Option<(CredentialKind, u32)> {
    let lower = file.name().to_ascii_lowercase();
    // Private keys: the name says key, and the content holds a private key block (a `.pem`
    // may be a certificate, an `id_rsa` may be a stub).
    let key_name = SSH_KEY_NAMES.contains(&lower.as_str())
        || lower.ends_with(".pem")
        || lower.ends_with(".key");
    if key_name && let Some(line) = first_line(file, secrets::contains_private_key) {
        return Some((CredentialKind::PrivateKey, line));
    }
    // Files named as credential files count once they hold an entry: an empty or
    // comment-only file (a placeholder kept for the directory layout) holds nothing.
    let htpasswd_name = lower == "htpasswd" || lower == ".htpasswd" || lower.ends_with(".htpasswd");
    if htpasswd_name && let Some(line) = first_line(file, |l| is_entry(l, ':')) {
        return Some((CredentialKind::Htpasswd, line));
    }
    if is_htpasswd_content(file) {
        return Some((CredentialKind::Htpasswd, 1));
    }
    if is_dotenv_name(&lower)
        && let Some(line) = first_line(file, |l| is_entry(l, '='))
    {
        return Some((CredentialKind::DotEnv, line));
    }
    if file.path.ends_with(".aws/credentials")
        && let Some(line) = first_line(file, |l| is_entry(l, '='))
    {
        return Some((CredentialKind::AwsCredentials, line));
    }
    aws_credentials_content(file).map(|line| (CredentialKind::AwsCredentials, line))
}

/// A line that is neither blank nor a comment and has `separator` followed by a value.
fn is_entry(line: &str, separator: char) -> bool {
    let line = line.trim();
    !line.starts_with(['#', ';'])
        && line
            .split_once(separator)
            .is_some_and(|(key, value)| !key.trim().is_empty() && !value.trim().is_empty())
}

fn first_line(file: &SourceFile, test: impl Fn(&str) -> bool) -> Option<u32> {
    (1..=file.line_count()).find(|&n| test(file.line_text(n)))
}

/// Every non-blank, non-comment line is `user:hash` with a hash htpasswd writes.
fn is_htpasswd_content(file: &SourceFile) -> bool {
    let mut any = false;
    for line in file.text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if !secrets::is_htpasswd_line(line) {
            return false;
        }
        any = true;
    }
    any
}

/// An INI file with a section header and an `aws_secret_access_key = <literal>` line: the
/// line of the key. Source code that mentions the key name has no such shape.
fn aws_credentials_content(file: &SourceFile) -> Option<u32> {
    // Documentation and code quote such files; only configuration files are them.
    let name = file.name().to_ascii_lowercase();
    let config_like = match name.rsplit_once('.') {
        None => true,
        Some((_, ext)) => ["ini", "cfg", "conf", "credentials", "properties"].contains(&ext),
    };
    if !config_like {
        return None;
    }
    let mut in_section = false;
    for n in 1..=file.line_count() {
        let line = file.line_text(n).trim();
        if line.starts_with('[') && line.ends_with(']') {
            in_section = true;
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        if in_section
            && key.trim().eq_ignore_ascii_case("aws_secret_access_key")
            && !secrets::is_placeholder(value.trim())
        {
            return Some(n);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(path: &str, text: &str) -> Option<CredentialKind> {
        match detect(&SourceFile::new(path, text)) {
            Some(Fact::CredentialFile(c)) => {
                assert_eq!(c.path, path);
                // Named by the file's name, not its path: fingerprints hash the resource, and
                // must not change when the checkout moves.
                let name = path.rsplit('/').next().unwrap_or(path);
                assert_eq!(c.at.resource, name);
                assert_eq!(c.name, name);
                assert!(c.copied_by.is_none());
                Some(c.kind)
            }
            _ => None,
        }
    }

    const KEY: &str = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n";

    #[test]
    fn htpasswd_by_name_and_by_content() {
        assert_eq!(
            kind("deploy/.htpasswd", "x:plaintext"),
            Some(CredentialKind::Htpasswd)
        );
        assert_eq!(
            kind("deploy/.htpasswd", "# filled in at deploy time\n"),
            None
        );
        assert_eq!(
            kind("users.txt", "admin:$apr1$DBjA3/Yx$hQnfWmZJ9kafAsHa0oekq1\n"),
            Some(CredentialKind::Htpasswd)
        );
        assert_eq!(
            kind("users.txt", "bob:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n"),
            Some(CredentialKind::Htpasswd)
        );
        assert_eq!(kind("notes.txt", "admin:$apr1$x$y\nand prose\n"), None);
    }

    #[test]
    fn private_keys_need_key_content_and_a_key_name() {
        assert_eq!(kind("keys/id_rsa", KEY), Some(CredentialKind::PrivateKey));
        assert_eq!(
            kind("tls/server.pem", KEY),
            Some(CredentialKind::PrivateKey)
        );
        assert_eq!(
            kind(
                "tls/server.pem",
                "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
            ),
            None
        );
        assert_eq!(kind("README.md", KEY), None);
    }

    #[test]
    fn dotenv_files_but_not_templates() {
        assert_eq!(kind(".env", "A=1"), Some(CredentialKind::DotEnv));
        assert_eq!(
            kind("app/.env.production", "A=1"),
            Some(CredentialKind::DotEnv)
        );
        assert_eq!(kind(".env", "# nothing yet\nA=\n"), None);
        assert_eq!(kind(".env.example", "A=1"), None);
        assert_eq!(kind(".env.sample", "A=1"), None);
        assert_eq!(kind(".env.template", "A=1"), None);
        assert_eq!(kind("environment", "A=1"), None);
    }

    #[test]
    fn aws_credentials_by_path_and_content() {
        assert_eq!(
            kind(
                "home/.aws/credentials",
                "[default]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\n"
            ),
            Some(CredentialKind::AwsCredentials)
        );
        assert_eq!(
            kind(
                "ci/creds.ini",
                "[default]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\naws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n"
            ),
            Some(CredentialKind::AwsCredentials)
        );
        assert_eq!(
            kind(
                "boto.py",
                "session = boto3.Session(aws_secret_access_key=key)\n"
            ),
            None
        );
    }

    #[test]
    fn names_for_copies() {
        assert_eq!(
            kind_by_path("a/id_ed25519"),
            Some(CredentialKind::PrivateKey)
        );
        assert_eq!(kind_by_path("a/id_ed25519.pub"), None);
        assert_eq!(kind_by_path("certs/fullchain.pem"), None);
        assert_eq!(kind_by_path("tls.key"), Some(CredentialKind::PrivateKey));
        assert_eq!(
            kind_by_path("x/.aws/credentials"),
            Some(CredentialKind::AwsCredentials)
        );
        assert_eq!(kind_by_path("nginx.conf"), None);
    }
}
