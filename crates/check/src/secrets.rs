//! Recognising secrets in literal values, and masking them so no report ever prints one.

/// Masks a secret for display. A value of 20 characters or more (an access key id, a token)
/// keeps its first and last four characters around twelve stars (`AKIA************MPLE`), which
/// is enough to recognise which key it is and far too little to use it. A shorter value (a
/// password) becomes eight stars: showing a quarter of a short password would give it away,
/// and a fixed width does not tell its length either.
pub fn mask(value: &str) -> String {
    let chars: Vec<char> = value.chars().collect();
    if chars.len() < 20 {
        return "*".repeat(8);
    }
    let head: String = chars[..4].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}{}{tail}", "*".repeat(12))
}

/// The characters AWS uses after the `AKIA`/`ASIA` prefix of an access key id (RFC 4648
/// base32: upper-case letters and the digits 2 to 7).
fn is_base32(b: u8) -> bool {
    b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b)
}

/// AWS access key ids in `text`: `AKIA` (long-term) or `ASIA` (temporary) and 16 base32
/// characters, standing alone as a word. AWS's documented example `AKIAIOSFODNN7EXAMPLE` is
/// found too: it is exactly what a leaked key looks like, and tools must not learn to skip it.
pub fn find_access_key_ids(text: &str) -> Vec<&str> {
    let bytes = text.as_bytes();
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(offset) = text.get(from..).and_then(|t| t.find("A")) {
        let start = from + offset;
        from = start + 1;
        let Some(candidate) = bytes.get(start..start + 20) else {
            break;
        };
        let prefix_ok = candidate.starts_with(b"AKIA") || candidate.starts_with(b"ASIA");
        let before_ok = start == 0
            || bytes
                .get(start - 1)
                .is_none_or(|b| !b.is_ascii_alphanumeric());
        let after_ok = bytes
            .get(start + 20)
            .is_none_or(|b| !b.is_ascii_alphanumeric());
        if prefix_ok && before_ok && after_ok && candidate[4..].iter().all(|b| is_base32(*b)) {
            if let Some(key) = text.get(start..start + 20) {
                found.push(key);
            }
            from = start + 20;
        }
    }
    found
}

/// Whether a name is that of an AWS secret access key (`aws_secret_access_key`,
/// `AWS_SECRET_ACCESS_KEY`, `SecretAccessKey`, `secret_key` next to an access key).
pub fn is_secret_access_key_name(name: &str) -> bool {
    let joined = name_words(name).join("_");
    joined.contains("secret_access_key") || joined == "aws_secret_key" || joined == "secret_key"
}

/// Whether a value has the shape of a secret access key: 40 characters of base64.
pub fn looks_like_secret_access_key(value: &str) -> bool {
    let value = value.trim();
    value.len() == 40
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'/' || b == b'+')
        && value
            .bytes()
            .any(|b| b.is_ascii_digit() || b == b'/' || b == b'+')
}

/// Whether text holds a PEM or OpenSSH/PGP private key block header.
pub fn contains_private_key(text: &str) -> bool {
    let mut rest = text;
    while let Some(at) = rest.find("-----BEGIN ") {
        let after = &rest[at + "-----BEGIN ".len()..];
        let header = after.split("-----").next().unwrap_or("");
        if header.len() < 40
            && (header.ends_with("PRIVATE KEY") || header.ends_with("PRIVATE KEY BLOCK"))
            && after.len() > header.len()
        {
            return true;
        }
        rest = after;
    }
    false
}

/// Words of an identifier in lower case: split at `_`, `-`, `.`, spaces and camelCase
/// boundaries (`dbMasterPassword` → db, master, password).
pub fn name_words(name: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut previous_lower = false;
    for c in name.chars() {
        if !c.is_ascii_alphanumeric() {
            if !current.is_empty() {
                words.push(std::mem::take(&mut current));
            }
            previous_lower = false;
            continue;
        }
        if c.is_ascii_uppercase() && previous_lower && !current.is_empty() {
            words.push(std::mem::take(&mut current));
        }
        previous_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        current.push(c.to_ascii_lowercase());
    }
    if !current.is_empty() {
        words.push(current);
    }
    words
}

/// Words that make a name a secret's wherever they appear.
const SECRET_WORDS: [&str; 10] = [
    "password",
    "passwd",
    "pwd",
    "secret",
    "token",
    "apikey",
    "passphrase",
    "privatekey",
    "clientsecret",
    "htpasswd",
];

/// Last words that make a name describe a secret rather than hold one (`PASSWORD_LENGTH`,
/// `SECRET_ARN`, `TOKEN_URL`, `KEY_NAME`, `password_reuse_prevention`).
const DESCRIPTIVE_TAILS: [&str; 61] = [
    "id",
    "ids",
    "name",
    "names",
    "arn",
    "path",
    "file",
    "type",
    "length",
    "size",
    "alias",
    "version",
    "prefix",
    "field",
    "column",
    "ref",
    "url",
    "uri",
    "endpoint",
    "location",
    "dir",
    "filename",
    "policy",
    "enabled",
    "required",
    "min",
    "max",
    "count",
    "ttl",
    "expiry",
    "timeout",
    "duration",
    "lifetime",
    "header",
    "source",
    "mode",
    "format",
    "rotation",
    "days",
    "age",
    "prevention",
    "reuse",
    "parameter",
    "param",
    "algorithm",
    "audience",
    "disabled",
    "enable",
    "expiration",
    "host",
    "interval",
    "issuer",
    "kind",
    "mount",
    "namespace",
    "port",
    "provider",
    "region",
    "suffix",
    "user",
    "username",
];

/// First words of `*_KEY` names that are not secrets: database keys, public keys, key ids,
/// signing-key fingerprints, cloud key references and S3 object keys.
const NON_SECRET_KEY_QUALIFIERS: &[&str] = &[
    "public",
    "pub",
    "primary",
    "sort",
    "partition",
    "hash",
    "range",
    "foreign",
    "cache",
    "kms",
    "idempotency",
    "object",
    "s3",
    "index",
    "unique",
    "composite",
    "row",
    "routing",
    "shard",
    "lookup",
    "dedup",
    "gpg",
    "pgp",
    "ssh",
    "map",
    // A tag's or label's key is its name (`Ec2VolumeTagKey: CostCenter`).
    "tag",
    "label",
    // An S3 object's key is its path (Lambda's `S3Key`: `DispatcherCodeKey: dispatch.zip`).
    "code",
    "bucket",
    "artifact",
    "package",
    "template",
    "file",
];

/// Whether a variable, argument or attribute name says it holds a secret: password, passwd,
/// pwd, secret, token, api_key, private_key, client_secret, `*_PASSWORD`, `*_TOKEN`,
/// `*_SECRET`, `*_KEY` — but not public keys, key ids or names, or database keys such as
/// `PRIMARY_KEY`/`SORT_KEY`.
pub fn is_secret_name(name: &str) -> bool {
    let words = name_words(name);
    let Some(last) = words.last() else {
        return false;
    };
    if DESCRIPTIVE_TAILS.contains(&last.as_str()) {
        return false;
    }
    if words.iter().any(|w| w == "public" || w == "pub") {
        return false;
    }
    // Pairs that read as one word: api key, private key, client secret, access key.
    let joined: String = words.concat();
    if SECRET_WORDS
        .iter()
        .any(|s| words.iter().any(|w| w == s) || joined.ends_with(s))
    {
        return true;
    }
    // Short or collective forms only as the last of several words: `DB_PASS`, `SMTP_CREDENTIALS`,
    // but not `PASS_THROUGH`.
    if words.len() > 1 && matches!(last.as_str(), "pass" | "credential" | "credentials") {
        return true;
    }
    if last == "key" || last == "keys" {
        return match words.len() {
            1 => false,
            n => words
                .get(n - 2)
                .is_some_and(|q| !NON_SECRET_KEY_QUALIFIERS.contains(&q.as_str())),
        };
    }
    false
}

/// Whether a value is a reference, template or obvious stand-in rather than a literal secret:
/// empty, `${VAR}`, `$VAR`, `$(cmd)`, `{{ … }}`, `<redacted>`, `%VAR%`, an ARN, an absolute
/// path, a boolean, or a run of one repeated character (`****`, `xxxxxxxx`). A weak password
/// such as `changeme` is *not* a placeholder: it is the worst kind of secret.
pub fn is_placeholder(value: &str) -> bool {
    let v = value.trim().trim_matches(['"', '\'']).trim();
    if v.is_empty() {
        return true;
    }
    if v.contains("${") || v.contains("$(") || v.contains("{{") || v.contains("#{") {
        return true;
    }
    if let Some(name) = v.strip_prefix('$')
        && !name.is_empty()
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !name.starts_with(|c: char| c.is_ascii_digit())
    {
        return true;
    }
    if (v.starts_with('<') && v.ends_with('>')) || (v.starts_with('%') && v.ends_with('%')) {
        return true;
    }
    if v.starts_with("arn:aws") || v.starts_with('/') {
        return true;
    }
    let lower = v.to_ascii_lowercase();
    if matches!(lower.as_str(), "true" | "false" | "null" | "none" | "nil") {
        return true;
    }
    let mut chars = v.chars();
    let first = chars.next();
    v.chars().count() > 1 && chars.all(|c| Some(c) == first)
}

/// `user:hash` as `htpasswd` writes it: MD5 (`$apr1$`), SHA-1 (`{SHA}`), bcrypt (`$2y$`,
/// `$2a$`, `$2b$`) or SHA-crypt (`$5$`, `$6$`).
pub fn is_htpasswd_line(line: &str) -> bool {
    let Some((user, hash)) = line.trim().split_once(':') else {
        return false;
    };
    let user_ok = !user.is_empty()
        && !user.contains(char::is_whitespace)
        && user
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'$' && b != b'{' && b != b'/');
    let hash = hash.trim();
    let hash_ok = ["$apr1$", "{SHA}", "$2y$", "$2a$", "$2b$", "$5$", "$6$"]
        .iter()
        .any(|p| hash.starts_with(p) && hash.len() > p.len() + 8)
        && !hash.contains(char::is_whitespace);
    user_ok && hash_ok
}

/// What kind of basic-auth credential a value holds, if any: an htpasswd line, a URL with
/// `user:password@`, or an `Authorization: Basic` header with a literal token.
pub fn basic_auth_kind(value: &str) -> Option<&'static str> {
    if value.lines().any(is_htpasswd_line) {
        return Some("an htpasswd entry");
    }
    if url_with_password(value) {
        return Some("a URL with a user name and password");
    }
    let lower = value.to_ascii_lowercase();
    if let Some(at) = lower.find("authorization: basic ") {
        let token = value
            .get(at + "authorization: basic ".len()..)
            .unwrap_or("")
            .split(|c: char| c.is_whitespace() || c == '"' || c == '\'')
            .next()
            .unwrap_or("");
        if token.len() >= 4 && !is_placeholder(token) {
            return Some("an Authorization: Basic header");
        }
    }
    None
}

/// `scheme://user:password@host` with a literal password.
fn url_with_password(value: &str) -> bool {
    let mut rest = value;
    while let Some(at) = rest.find("://") {
        let after = &rest[at + 3..];
        let authority = after
            .split(|c: char| c == '/' || c == '?' || c == '#' || c.is_whitespace() || c == '"')
            .next()
            .unwrap_or("");
        if let Some((userinfo, host)) = authority.rsplit_once('@')
            && let Some((user, password)) = userinfo.split_once(':')
            && !user.is_empty()
            && !password.is_empty()
            && !host.is_empty()
            && !is_placeholder(password)
            && !password.contains('$')
        {
            return true;
        }
        rest = after;
    }
    false
}

/// `NAME=value` and `NAME: value` assignments on the lines of a multi-line value (a user
/// data script, an embedded config file), with `export`/`set` prefixes and quotes removed.
/// Single-line values yield nothing: their own name is the literal's name.
pub fn embedded_assignments(value: &str) -> Vec<(&str, &str)> {
    if !value.contains('\n') {
        return Vec::new();
    }
    value
        .lines()
        .filter_map(|line| {
            let line = line.trim();
            let line = line
                .strip_prefix("export ")
                .or_else(|| line.strip_prefix("set "))
                .unwrap_or(line)
                .trim_start();
            let at = line.find(['=', ':'])?;
            let (name, rest) = line.split_at(at);
            let name = name.trim().trim_matches(['"', '\'']);
            let valid_name = !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.');
            let raw = rest.get(1..)?.trim();
            // An unquoted value with brackets or parentheses is code reading a value at run
            // time (`key = response['keyPair']['PrivateKey']`, `pw = os.getenv("PW")`): in
            // a shell script the same characters unquoted would not even parse.
            let quoted = raw.starts_with(['"', '\'']);
            if !quoted && raw.contains(['[', '(']) {
                return None;
            }
            let value = raw.trim_matches(['"', '\'']).trim();
            (valid_name && !value.is_empty() && !value.contains(char::is_whitespace))
                .then_some((name, value))
        })
        .collect()
}

/// Words of names whose values are random by nature but public: checksums, digests, commit
/// ids, key fingerprints and identifiers (`NODE_SHA256`, `GPG_KEYS`, `GIT_COMMIT`).
const PUBLIC_RANDOM_WORDS: [&str; 19] = [
    "sha",
    "sha1",
    "sha256",
    "sha512",
    "md5",
    "checksum",
    "checksums",
    "hash",
    "digest",
    "commit",
    "rev",
    "revision",
    "fingerprint",
    "gpg",
    "pgp",
    "uuid",
    "guid",
    "id",
    "ids",
];

/// Whether a name says its value is a public random-looking string, not a secret.
pub fn is_public_random_name(name: &str) -> bool {
    name_words(name)
        .iter()
        .any(|w| PUBLIC_RANDOM_WORDS.contains(&w.as_str()) || w.ends_with("sum"))
}

/// Shannon entropy in bits per character.
pub fn shannon_entropy(s: &str) -> f64 {
    let mut counts = [0usize; 256];
    let mut total = 0usize;
    for b in s.bytes() {
        counts[b as usize] += 1;
        total += 1;
    }
    if total == 0 {
        return 0.0;
    }
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f64 / total as f64;
            -p * p.log2()
        })
        .sum()
}

/// Minimum length of a string judged by entropy: shorter strings are too short for the
/// measure to tell random from chosen text.
pub const MIN_ENTROPY_LENGTH: usize = 20;

/// The share of the maximum possible entropy a string must reach to count as random. The
/// maximum for a string of length n over an alphabet of size a is log2(min(n, a)); a random
/// 20-to-64-character base64 or hex string reaches 0.85 to 0.97 of it, while words,
/// identifiers, version strings and repeated patterns stay well below (`my_database_name_here`
/// is about 0.70 of its maximum). 0.85 keeps true keys and rejects chosen text.
const ENTROPY_SHARE: f64 = 0.85;

/// Random-looking tokens of at least [`MIN_ENTROPY_LENGTH`] characters in `value`: hex strings
/// with letters and digits, or base64/base64url strings mixing upper case, lower case and
/// digits, whose entropy reaches [`ENTROPY_SHARE`] of the maximum for their length and
/// alphabet (hex: 16 symbols, at most 4 bits; base64: 64 symbols, at most 6 bits). URLs and
/// paths are left to other checks.
pub fn high_entropy_tokens(value: &str) -> Vec<&str> {
    if value.contains("://") {
        return Vec::new();
    }
    value
        .split(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=' | '_' | '-')))
        .map(|t| t.trim_end_matches('='))
        .filter(|t| t.len() >= MIN_ENTROPY_LENGTH && !t.starts_with('/') && !t.contains("//"))
        .filter(|t| {
            let has_digit = t.bytes().any(|b| b.is_ascii_digit());
            let has_upper = t.bytes().any(|b| b.is_ascii_uppercase());
            let has_lower = t.bytes().any(|b| b.is_ascii_lowercase());
            let hex = t.bytes().all(|b| b.is_ascii_hexdigit());
            let alphabet = if hex {
                if !(has_digit && (has_upper || has_lower)) {
                    return false;
                }
                16.0
            } else {
                if !(has_digit && has_upper && has_lower) {
                    return false;
                }
                64.0
            };
            let max = (t.len() as f64).min(alphabet).log2();
            shannon_entropy(t) >= ENTROPY_SHARE * max
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_keep_only_the_ends_of_long_values() {
        assert_eq!(mask("AKIAIOSFODNN7EXAMPLE"), "AKIA************MPLE");
        assert_eq!(mask("hunter2"), "********");
        assert_eq!(mask("ab"), "********");
        // A 19-character password keeps nothing; a 40-character key keeps its ends only.
        assert_eq!(mask("Tr0ub4dor&3-horse!!"), "********");
        assert_eq!(
            mask("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
            "wJal************EKEY"
        );
        assert!(!mask("correct horse battery staple").contains("horse"));
    }

    #[test]
    fn access_key_ids_need_the_prefix_base32_and_word_boundaries() {
        assert_eq!(
            find_access_key_ids("key=AKIAIOSFODNN7EXAMPLE;"),
            vec!["AKIAIOSFODNN7EXAMPLE"]
        );
        assert_eq!(
            find_access_key_ids("ASIAFAKEFAKEFAKEFAK2"),
            vec!["ASIAFAKEFAKEFAKEFAK2"]
        );
        assert!(find_access_key_ids("XAKIAIOSFODNN7EXAMPLE").is_empty());
        assert!(find_access_key_ids("AKIAIOSFODNN7EXAMPLEX").is_empty());
        assert!(
            find_access_key_ids("AKIAIOSFODNN1EXAMPLE").is_empty(),
            "1 is not base32"
        );
        assert!(find_access_key_ids("AKIA").is_empty());
        assert!(find_access_key_ids("é AKIAIOSFODNN7EXAMPL").is_empty());
    }

    #[test]
    fn secret_access_keys_by_name_and_shape() {
        assert!(is_secret_access_key_name("AWS_SECRET_ACCESS_KEY"));
        assert!(is_secret_access_key_name("SecretAccessKey"));
        assert!(!is_secret_access_key_name("aws_access_key_id"));
        assert!(looks_like_secret_access_key(
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
        ));
        assert!(!looks_like_secret_access_key("short"));
    }

    #[test]
    fn private_key_blocks() {
        assert!(contains_private_key(
            "-----BEGIN RSA PRIVATE KEY-----\nMIIE"
        ));
        assert!(contains_private_key("x -----BEGIN PRIVATE KEY----- y"));
        assert!(contains_private_key(
            "-----BEGIN PGP PRIVATE KEY BLOCK-----"
        ));
        assert!(!contains_private_key("-----BEGIN PUBLIC KEY-----"));
        assert!(!contains_private_key("-----BEGIN CERTIFICATE-----"));
    }

    #[test]
    fn secret_names() {
        for yes in [
            "password",
            "DB_PASSWORD",
            "dbMasterPassword",
            "MYSQL_ROOT_PASSWD",
            "pwd",
            "client_secret",
            "GITHUB_TOKEN",
            "api_key",
            "ApiKey",
            "apikey",
            "STRIPE_SECRET",
            "private_key",
            "ENCRYPTION_KEY",
            "aws_secret_access_key",
        ] {
            assert!(is_secret_name(yes), "{yes}");
        }
        for no in [
            "PRIMARY_KEY",
            "SORT_KEY",
            "KEY_NAME",
            "public_key",
            "ssh_public_key",
            "access_key_id",
            "kms_key",
            "GPG_KEY",
            "Ec2VolumeTagKey",
            "label_key",
            "DispatcherCodeKey",
            "artifact_key",
            "TemplateKey",
            "PASSWORD_LENGTH",
            "password_reuse_prevention",
            "DB_PASSWORD_PARAMETER",
            "secret_arn",
            "TOKEN_URL",
            "key",
            "monkey",
            "USERNAME",
            "",
        ] {
            assert!(!is_secret_name(no), "{no}");
        }
    }

    #[test]
    fn placeholders_are_references_not_weak_passwords() {
        for yes in [
            "",
            "${DB_PASSWORD}",
            "$DB_PASSWORD",
            "$(cat /run/secrets/db)",
            "{{ vault_password }}",
            "<redacted>",
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:db",
            "/run/secrets/db",
            "********",
            "true",
        ] {
            assert!(is_placeholder(yes), "{yes:?}");
        }
        for no in ["changeme", "hunter2", "S3cr3t!", "pa$$word"] {
            assert!(!is_placeholder(no), "{no:?}");
        }
    }

    #[test]
    fn basic_auth_shapes() {
        assert!(basic_auth_kind("fargate:$apr1$DBjA3/Yx$hQnfWmZJ9kafAsHa0oekq1").is_some());
        assert!(basic_auth_kind("admin:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=").is_some());
        assert!(basic_auth_kind("postgres://app:S3cret@db.internal:5432/app").is_some());
        assert!(basic_auth_kind("curl -H 'Authorization: Basic YWRtaW46c2VjcmV0' x").is_some());
        assert!(basic_auth_kind("postgres://app:${DB_PASSWORD}@db:5432/app").is_none());
        assert!(basic_auth_kind("postgres://app@db:5432/app").is_none());
        assert!(basic_auth_kind("https://example.com/a:b").is_none());
        assert!(basic_auth_kind("Authorization: Basic $TOKEN").is_none());
    }

    #[test]
    fn public_random_names() {
        for yes in [
            "NODE_SHA256",
            "GPG_KEYS",
            "GIT_COMMIT",
            "sha256sum",
            "imageDigest",
        ] {
            assert!(is_public_random_name(yes), "{yes}");
        }
        for no in ["WEBHOOK_SIGNING", "SESSION_SEED", "shampoo"] {
            assert!(!is_public_random_name(no), "{no}");
        }
    }

    #[test]
    fn assignments_inside_scripts() {
        let script = "#!/bin/bash\nexport DB_PASSWORD=\"hunter22\"\nREGION: eu-west-1\necho hello world\nURL=https://x.io/a\n";
        assert_eq!(
            embedded_assignments(script),
            vec![
                ("DB_PASSWORD", "hunter22"),
                ("REGION", "eu-west-1"),
                ("URL", "https://x.io/a")
            ]
        );
        assert!(embedded_assignments("DB_PASSWORD=x").is_empty());
        // Code reading values at run time assigns no literal; a quoted bracket still counts.
        let code =
            "key = response['keyPair']['PrivateKey']\npw = os.getenv(\"PW\")\ntoken = \"a(b[c\"\n";
        assert_eq!(embedded_assignments(code), vec![("token", "a(b[c")]);
    }

    #[test]
    fn entropy_separates_random_tokens_from_chosen_text() {
        assert!(shannon_entropy("aaaa") < 0.01);
        assert!((shannon_entropy("ab") - 1.0).abs() < 1e-9);
        assert!(!high_entropy_tokens("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY").is_empty());
        assert!(!high_entropy_tokens("ghp_x7Kq2mZ9vR4tLp8sWn3bYc6dHf1jA5eG0uQi").is_empty());
        assert!(!high_entropy_tokens("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b").is_empty());
        for chosen in [
            "my_database_name_here",
            "/usr/local/bin:/usr/bin:/bin",
            "https://github.com/org/repo/releases/download/v1.2.3/tool_Linux_x86_64.tar.gz",
            "550e8400-e29b-41d4-a716-446655440000",
            "ThisIsAVeryLongCamelCaseName1",
            "short1A",
        ] {
            assert!(high_entropy_tokens(chosen).is_empty(), "{chosen}");
        }
    }
}
