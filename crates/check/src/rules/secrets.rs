//! Secrets rules (SEC): credentials written into code, templates, images and committed files.
//!
//! They read Literal, CredentialFile and Parameter facts from every format. Value-shape
//! rules (access keys, private keys, basic-auth credentials, random-looking strings) fire in
//! every context; the name-based rule leaves ECS and Kubernetes environments to ECS006 and
//! K8S011 (and literal SecretStrings to SEC009). Among SEC001 to SEC005 one literal raises one
//! finding: the most specific rule that recognises it.
//! Messages show values only through [`mask`].

use crate::finding::{Finding, Severity};
use crate::model::{CredentialFile, Fact, Known, Literal, LiteralContext, Parameter};
use crate::rules::{Example, Format, Rule, RuleMeta, Unit};
use crate::secrets::{
    basic_auth_kind, contains_private_key, embedded_assignments, find_access_key_ids,
    high_entropy_tokens, is_placeholder, is_public_random_name, is_secret_access_key_name,
    is_secret_name, looks_like_secret_access_key, mask,
};

pub static RULES: &[&dyn Rule] = &[
    &AwsAccessKey,
    &PrivateKey,
    &SecretByName,
    &BasicAuthCredentials,
    &HighEntropyString,
    &CredentialFileCommitted,
    &CredentialFileInImage,
    &PasswordParameterVisible,
    &LiteralSecretValue,
];

fn literals(unit: &Unit) -> impl Iterator<Item = &Literal> {
    unit.facts.iter().filter_map(|f| match f {
        Fact::Literal(l) => Some(l),
        _ => None,
    })
}

/// What a literal is, judged by the most specific rule that recognises it.
#[derive(Debug, Clone, PartialEq)]
enum Verdict {
    PrivateKey,
    /// The masked key, or the secret key's name.
    AwsKey(String),
    BasicAuth(&'static str),
    /// The secret's name and its masked value (a name inside a script for embedded ones).
    SecretByName(String, String),
    HighEntropy(String),
}

fn classify(l: &Literal) -> Option<Verdict> {
    let value = l.value.as_str();
    if contains_private_key(value) {
        return Some(Verdict::PrivateKey);
    }
    if let Some(key) = find_access_key_ids(value).first() {
        return Some(Verdict::AwsKey(format!("access key id {}", mask(key))));
    }
    if is_secret_access_key_name(&l.name) && looks_like_secret_access_key(value) {
        return Some(Verdict::AwsKey(format!(
            "secret access key {}",
            mask(value.trim())
        )));
    }
    // Scripts and embedded files (user data) assign secrets to names of their own.
    let embedded = embedded_assignments(value);
    if let Some((_, secret)) = embedded
        .iter()
        .find(|(n, v)| is_secret_access_key_name(n) && looks_like_secret_access_key(v))
    {
        return Some(Verdict::AwsKey(format!(
            "secret access key {}",
            mask(secret)
        )));
    }
    if let Some(kind) = basic_auth_kind(value) {
        return Some(Verdict::BasicAuth(kind));
    }
    let name_rule_applies = !matches!(
        l.context,
        LiteralContext::EcsEnvironment
            | LiteralContext::KubernetesEnv
            | LiteralContext::SecretString
            | LiteralContext::SsmSecureString
    );
    // The name rule does not apply where ECS006, K8S011 or SEC009 own secret-named values;
    // the value-shape rules above and the entropy rule below fire in every context.
    if name_rule_applies && is_secret_name(&l.name) && !is_placeholder(value) {
        return Some(Verdict::SecretByName(l.name.clone(), mask(value)));
    }
    if name_rule_applies
        && let Some((name, secret)) = embedded
            .iter()
            .find(|(n, v)| is_secret_name(n) && !is_placeholder(v))
    {
        return Some(Verdict::SecretByName(name.to_string(), mask(secret)));
    }
    if is_placeholder(value) || is_public_random_name(&l.name) {
        return None;
    }
    high_entropy_tokens(value)
        .first()
        .map(|t| Verdict::HighEntropy(mask(t)))
}

/// `ENV DB_PASSWORD in stage 1` style description of where a literal is.
fn place(l: &Literal) -> String {
    // A context that already names the attribute (`Secrets Manager SecretString`) needs it
    // only once.
    if l.name.is_empty() || l.context.describe().ends_with(l.name.as_str()) {
        format!("{} of {}", l.context.describe(), l.at.resource)
    } else {
        format!("{} {} of {}", l.context.describe(), l.name, l.at.resource)
    }
}

/// Discriminator for a literal: its name, or for nameless values their context.
fn discriminator(l: &Literal) -> String {
    if l.name.is_empty() {
        l.context.describe().to_string()
    } else {
        l.name.clone()
    }
}

/// A rule over Literal facts: `$message` turns a literal and its verdict into the message,
/// or `None` when the verdict belongs to another rule.
macro_rules! literal_rule {
    ($rule:ident, $meta:ident, |$l:ident, $v:ident| $message:expr) => {
        impl Rule for $rule {
            fn meta(&self) -> &'static RuleMeta {
                &$meta
            }

            fn check(&self, unit: &Unit, out: &mut Vec<Finding>) {
                for $l in literals(unit) {
                    let Some($v) = classify($l) else {
                        continue;
                    };
                    let message: Option<String> = $message;
                    if let Some(message) = message {
                        out.push(Finding::new(&$meta, &$l.at, &discriminator($l), message));
                    }
                }
            }
        }
    };
}

// ---------------------------------------------------------------------------------------

pub struct AwsAccessKey;

static AWS_ACCESS_KEY: RuleMeta = RuleMeta {
    code: "SEC001",
    name: "aws-access-key",
    severity: Severity::Critical,
    practice: "AWS credentials never appear in code; workloads get temporary credentials from their role.",
    formats: &[
        Format::Dockerfile,
        Format::AwsConfig,
        Format::Terraform,
        Format::CloudFormation,
    ],
    what: "An AWS access key id (`AKIA…` long-term or `ASIA…` temporary, 20 characters) anywhere in a literal value, or a 40-character secret access key assigned to a name such as `aws_secret_access_key`. AWS's documented example key is reported too: it is indistinguishable from a leaked one.",
    why: "Anyone who reads the repository, the image or the template gets the key and can act as its owner until the key is deactivated; leaked keys are harvested from public repositories within minutes.",
    fix: "Deactivate and delete the key now (IAM console or `aws iam delete-access-key`), then remove it from the code and its history. Give the workload an IAM role (instance profile, ECS task role, IRSA, Lambda execution role) or use `aws sso login` for people.",
    examples: &[
        Example {
            file: "Dockerfile",
            failing: "FROM amazon/aws-cli:2.17.0\nENV AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE\nUSER 10001\n",
            passing: "FROM amazon/aws-cli:2.17.0\nENV AWS_REGION=eu-west-1\nUSER 10001\n",
        },
        Example {
            file: "credentials",
            failing: "[default]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\naws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n",
            passing: "[default]\ncredential_process = /usr/local/bin/aws-vault exec prod --json\n",
        },
        Example {
            file: "main.tf",
            failing: "resource \"aws_lambda_function\" \"sync\" {\n  function_name = \"sync\"\n  role          = aws_iam_role.sync.arn\n  handler       = \"index.handler\"\n  runtime       = \"nodejs20.x\"\n  filename      = \"sync.zip\"\n\n  environment {\n    variables = {\n      AWS_ACCESS_KEY_ID = \"AKIAIOSFODNN7EXAMPLE\"\n    }\n  }\n}\n",
            passing: "resource \"aws_lambda_function\" \"sync\" {\n  function_name = \"sync\"\n  role          = aws_iam_role.sync.arn\n  handler       = \"index.handler\"\n  runtime       = \"nodejs20.x\"\n  filename      = \"sync.zip\"\n\n  environment {\n    variables = {\n      BUCKET = \"reports\"\n    }\n  }\n}\n",
        },
        Example {
            file: "template.yaml",
            failing: "AWSTemplateFormatVersion: \"2010-09-09\"\nResources:\n  Sync:\n    Type: AWS::Lambda::Function\n    Properties:\n      Runtime: nodejs20.x\n      Handler: index.handler\n      Role: !GetAtt SyncRole.Arn\n      Code:\n        ZipFile: exports.handler = async () => {};\n      Environment:\n        Variables:\n          AWS_ACCESS_KEY_ID: AKIAIOSFODNN7EXAMPLE\n",
            passing: "AWSTemplateFormatVersion: \"2010-09-09\"\nResources:\n  Sync:\n    Type: AWS::Lambda::Function\n    Properties:\n      Runtime: nodejs20.x\n      Handler: index.handler\n      Role: !GetAtt SyncRole.Arn\n      Code:\n        ZipFile: exports.handler = async () => {};\n      Environment:\n        Variables:\n          BUCKET: reports\n",
        },
    ],
    checkov: &["CKV_AWS_41", "CKV_AWS_45", "CKV_SECRET_2"],
};

literal_rule!(AwsAccessKey, AWS_ACCESS_KEY, |l, v| match v {
    Verdict::AwsKey(what) => Some(format!("{} holds an AWS {what}", place(l))),
    _ => None,
});

// ---------------------------------------------------------------------------------------

pub struct PrivateKey;

static PRIVATE_KEY: RuleMeta = RuleMeta {
    code: "SEC002",
    name: "private-key",
    severity: Severity::Critical,
    practice: "Private keys live in a secrets manager or are generated where they are used, never in code.",
    formats: &[
        Format::Dockerfile,
        Format::Terraform,
        Format::CloudFormation,
    ],
    what: "A literal value containing a PEM, OpenSSH or PGP private key block (`-----BEGIN … PRIVATE KEY-----`).",
    why: "A private key in code is readable by everyone with access to the repository, its forks, CI logs and built images; whoever has it can impersonate the server or user it belongs to and decrypt what was encrypted for it.",
    fix: "Revoke the key and issue a new one, kept out of the code: store it in Secrets Manager or SSM Parameter Store (SecureString) and read it at run time, or mount it as a build secret (`RUN --mount=type=secret`).",
    examples: &[
        Example {
            file: "Dockerfile",
            failing: "FROM alpine:3.20\nARG DEPLOY_KEY=\"-----BEGIN OPENSSH PRIVATE KEY-----\\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\\n-----END OPENSSH PRIVATE KEY-----\"\nRUN apk add --no-cache git\nUSER 10001\n",
            passing: "# syntax=docker/dockerfile:1\nFROM alpine:3.20\nRUN --mount=type=ssh apk add --no-cache git\nUSER 10001\n",
        },
        Example {
            file: "main.tf",
            failing: "resource \"aws_secretsmanager_secret_version\" \"tls\" {\n  secret_id     = aws_secretsmanager_secret.tls.id\n  secret_string = \"-----BEGIN RSA PRIVATE KEY-----\\nMIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun\\n-----END RSA PRIVATE KEY-----\"\n}\n",
            passing: "resource \"aws_secretsmanager_secret_version\" \"tls\" {\n  secret_id     = aws_secretsmanager_secret.tls.id\n  secret_string = tls_private_key.server.private_key_pem\n}\n",
        },
        Example {
            file: "template.yaml",
            failing: "AWSTemplateFormatVersion: \"2010-09-09\"\nResources:\n  TlsKey:\n    Type: AWS::SecretsManager::Secret\n    Properties:\n      SecretString: |\n        -----BEGIN RSA PRIVATE KEY-----\n        MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun\n        -----END RSA PRIVATE KEY-----\n",
            passing: "AWSTemplateFormatVersion: \"2010-09-09\"\nResources:\n  TlsKey:\n    Type: AWS::SecretsManager::Secret\n    Properties:\n      GenerateSecretString:\n        PasswordLength: 32\n",
        },
    ],
    checkov: &["CKV_SECRET_13"],
};

literal_rule!(PrivateKey, PRIVATE_KEY, |l, v| (v == Verdict::PrivateKey)
    .then(|| format!("{} holds a private key", place(l))));

// ---------------------------------------------------------------------------------------

pub struct SecretByName;

static SECRET_BY_NAME: RuleMeta = RuleMeta {
    code: "SEC003",
    name: "secret-by-name",
    severity: Severity::High,
    practice: "Values named as secrets (passwords, tokens, API keys) are injected at run time, not written into code.",
    formats: &[
        Format::Dockerfile,
        Format::Terraform,
        Format::CloudFormation,
    ],
    what: "A literal assigned to a name that says it is a secret (`password`, `DB_PASSWD`, `api_key`, `client_secret`, `GITHUB_TOKEN`, `*_SECRET`, `*_KEY` except public keys, key ids and database keys). References (`${VAR}`, `$(cat …)`, `{{ … }}`, ARNs, paths) are not reported; weak values such as `changeme` are. ECS and Kubernetes environments are covered by ECS006 and K8S011. A Kubernetes Secret manifest's values count as literals (`data` decoded from base64, and `stringData`): a Secret committed with its values is a secret in the repository; commit a SealedSecret or an ExternalSecret instead.",
    why: "A secret in a Dockerfile is baked into every image layer and visible to `docker history`; in a template it is stored in plain text in state files, the console and API responses, and it cannot be rotated without a code change.",
    fix: "Remove the value and inject it at run time from Secrets Manager or SSM Parameter Store (ECS `secrets`, Kubernetes Secrets, CloudFormation dynamic references `{{resolve:secretsmanager:…}}`, Terraform data sources). For build-time secrets use `RUN --mount=type=secret`.",
    examples: &[
        Example {
            file: "Dockerfile",
            failing: "FROM postgres:16\nENV POSTGRES_PASSWORD=changeme\nUSER postgres\n",
            passing: "FROM postgres:16\nENV POSTGRES_PASSWORD_FILE=/run/secrets/postgres_password\nUSER postgres\n",
        },
        Example {
            file: "main.tf",
            failing: "resource \"aws_lambda_function\" \"api\" {\n  function_name = \"api\"\n  role          = aws_iam_role.api.arn\n  handler       = \"app.handler\"\n  runtime       = \"python3.12\"\n  filename      = \"api.zip\"\n\n  environment {\n    variables = {\n      DB_PASSWORD = \"Tr0ub4dor&3\"\n    }\n  }\n}\n",
            passing: "resource \"aws_lambda_function\" \"api\" {\n  function_name = \"api\"\n  role          = aws_iam_role.api.arn\n  handler       = \"app.handler\"\n  runtime       = \"python3.12\"\n  filename      = \"api.zip\"\n\n  environment {\n    variables = {\n      DB_PASSWORD_SECRET_ARN = aws_secretsmanager_secret.db.arn\n    }\n  }\n}\n",
        },
        Example {
            file: "template.yaml",
            failing: "AWSTemplateFormatVersion: \"2010-09-09\"\nResources:\n  Api:\n    Type: AWS::Lambda::Function\n    Properties:\n      Runtime: python3.12\n      Handler: app.handler\n      Role: !GetAtt ApiRole.Arn\n      Code:\n        ZipFile: \"def handler(e, c): pass\"\n      Environment:\n        Variables:\n          DB_PASSWORD: Tr0ub4dor&3\n",
            passing: "AWSTemplateFormatVersion: \"2010-09-09\"\nResources:\n  Api:\n    Type: AWS::Lambda::Function\n    Properties:\n      Runtime: python3.12\n      Handler: app.handler\n      Role: !GetAtt ApiRole.Arn\n      Code:\n        ZipFile: \"def handler(e, c): pass\"\n      Environment:\n        Variables:\n          DB_PASSWORD: \"{{resolve:secretsmanager:prod/db:SecretString:password}}\"\n",
        },
    ],
    checkov: &["CKV_AWS_45", "CKV_SECRET_6"],
};

literal_rule!(SecretByName, SECRET_BY_NAME, |l, v| match v {
    Verdict::SecretByName(name, masked) if name == l.name => {
        Some(format!("{} is a literal secret ({masked})", place(l)))
    }
    Verdict::SecretByName(name, masked) => Some(format!(
        "{} sets {name} to a literal secret ({masked})",
        place(l)
    )),
    _ => None,
});

// ---------------------------------------------------------------------------------------

pub struct BasicAuthCredentials;

static BASIC_AUTH_CREDENTIALS: RuleMeta = RuleMeta {
    code: "SEC004",
    name: "basic-auth-credentials",
    severity: Severity::High,
    practice: "User names with passwords or password hashes are not written into code or URLs.",
    formats: &[
        Format::Dockerfile,
        Format::Terraform,
        Format::CloudFormation,
    ],
    what: "A literal holding an htpasswd entry (`user:$apr1$…`, `user:{SHA}…`, bcrypt `user:$2y$…`), a URL with `user:password@`, or an `Authorization: Basic` header with a literal token.",
    why: "The password (or a hash that is cheap to crack: htpasswd MD5 and SHA-1 fall to commodity GPUs) is readable by everyone with the code, and URLs with passwords end up in logs, process lists and error messages.",
    fix: "Move the credential to Secrets Manager or SSM Parameter Store and build the URL or header at run time. Rotate the exposed password.",
    examples: &[
        Example {
            file: "Dockerfile",
            failing: "FROM nginx:1.27\nENV HTPASSWD=\"fargate:$apr1$DBjA3/Yx$hQnfWmZJ9kafAsHa0oekq1\"\nUSER nginx\n",
            passing: "FROM nginx:1.27\nENV HTPASSWD_SSM_PARAMETER=/prod/web/htpasswd\nUSER nginx\n",
        },
        Example {
            file: "main.tf",
            failing: "resource \"aws_lambda_function\" \"worker\" {\n  function_name = \"worker\"\n  role          = aws_iam_role.worker.arn\n  handler       = \"main.handler\"\n  runtime       = \"python3.12\"\n  filename      = \"worker.zip\"\n\n  environment {\n    variables = {\n      BROKER_URL = \"amqp://worker:9xQ2vLp7@mq.internal:5672/jobs\"\n    }\n  }\n}\n",
            passing: "resource \"aws_lambda_function\" \"worker\" {\n  function_name = \"worker\"\n  role          = aws_iam_role.worker.arn\n  handler       = \"main.handler\"\n  runtime       = \"python3.12\"\n  filename      = \"worker.zip\"\n\n  environment {\n    variables = {\n      BROKER_URL = \"amqp://mq.internal:5672/jobs\"\n    }\n  }\n}\n",
        },
        Example {
            file: "template.yaml",
            failing: "AWSTemplateFormatVersion: \"2010-09-09\"\nResources:\n  Worker:\n    Type: AWS::Lambda::Function\n    Properties:\n      Runtime: python3.12\n      Handler: main.handler\n      Role: !GetAtt WorkerRole.Arn\n      Code:\n        ZipFile: \"def handler(e, c): pass\"\n      Environment:\n        Variables:\n          BROKER_URL: amqp://worker:9xQ2vLp7@mq.internal:5672/jobs\n",
            passing: "AWSTemplateFormatVersion: \"2010-09-09\"\nResources:\n  Worker:\n    Type: AWS::Lambda::Function\n    Properties:\n      Runtime: python3.12\n      Handler: main.handler\n      Role: !GetAtt WorkerRole.Arn\n      Code:\n        ZipFile: \"def handler(e, c): pass\"\n      Environment:\n        Variables:\n          BROKER_URL: amqp://mq.internal:5672/jobs\n",
        },
    ],
    checkov: &["CKV_SECRET_4"],
};

literal_rule!(
    BasicAuthCredentials,
    BASIC_AUTH_CREDENTIALS,
    |l, v| match v {
        Verdict::BasicAuth(kind) => Some(format!("{} holds {kind} ({})", place(l), mask(&l.value))),
        _ => None,
    }
);

// ---------------------------------------------------------------------------------------

pub struct HighEntropyString;

static HIGH_ENTROPY_STRING: RuleMeta = RuleMeta {
    code: "SEC005",
    name: "high-entropy-string",
    severity: Severity::Medium,
    practice: "Random-looking tokens in configuration are treated as secrets until shown otherwise.",
    formats: &[
        Format::Dockerfile,
        Format::Terraform,
        Format::CloudFormation,
    ],
    what: "A literal containing a token of 20 or more characters that looks random: base64 mixing upper case, lower case and digits, or hex mixing letters and digits, with Shannon entropy of at least 85% of the maximum for its length and alphabet. Values already reported by a more specific secrets rule, URLs and paths are skipped.",
    why: "API keys, signing keys and session secrets are random strings that often carry names that do not say `secret`; left in code they leak with it.",
    fix: "If the value is a secret, move it to Secrets Manager or SSM Parameter Store and rotate it. If it is not (a checksum, a public identifier), suppress the finding with `airlock:ignore SEC005` and a reason.",
    examples: &[
        Example {
            file: "Dockerfile",
            failing: "FROM node:22\nENV WEBHOOK_SIGNING=\"q7Zt3Lx9Rk2Vb8Nw4Pm6Ys1Hd5Gf0Jc\"\nUSER node\n",
            passing: "FROM node:22\nENV WEBHOOK_SIGNING_PARAMETER=\"/prod/webhook/signing\"\nUSER node\n",
        },
        Example {
            file: "main.tf",
            failing: "resource \"aws_lambda_function\" \"hook\" {\n  function_name = \"hook\"\n  role          = aws_iam_role.hook.arn\n  handler       = \"index.handler\"\n  runtime       = \"nodejs20.x\"\n  filename      = \"hook.zip\"\n\n  environment {\n    variables = {\n      WEBHOOK_SIGNING = \"q7Zt3Lx9Rk2Vb8Nw4Pm6Ys1Hd5Gf0Jc\"\n    }\n  }\n}\n",
            passing: "resource \"aws_lambda_function\" \"hook\" {\n  function_name = \"hook\"\n  role          = aws_iam_role.hook.arn\n  handler       = \"index.handler\"\n  runtime       = \"nodejs20.x\"\n  filename      = \"hook.zip\"\n\n  environment {\n    variables = {\n      WEBHOOK_SIGNING = \"managed-by-ssm\"\n    }\n  }\n}\n",
        },
        Example {
            file: "template.yaml",
            failing: "AWSTemplateFormatVersion: \"2010-09-09\"\nResources:\n  Hook:\n    Type: AWS::Lambda::Function\n    Properties:\n      Runtime: nodejs20.x\n      Handler: index.handler\n      Role: !GetAtt HookRole.Arn\n      Code:\n        ZipFile: exports.handler = async () => {};\n      Environment:\n        Variables:\n          WEBHOOK_SIGNING: q7Zt3Lx9Rk2Vb8Nw4Pm6Ys1Hd5Gf0Jc\n",
            passing: "AWSTemplateFormatVersion: \"2010-09-09\"\nResources:\n  Hook:\n    Type: AWS::Lambda::Function\n    Properties:\n      Runtime: nodejs20.x\n      Handler: index.handler\n      Role: !GetAtt HookRole.Arn\n      Code:\n        ZipFile: exports.handler = async () => {};\n      Environment:\n        Variables:\n          WEBHOOK_SIGNING: managed-by-ssm\n",
        },
    ],
    checkov: &["CKV_SECRET_6", "CKV_SECRET_19"],
};

literal_rule!(HighEntropyString, HIGH_ENTROPY_STRING, |l, v| match v {
    Verdict::HighEntropy(masked) => {
        Some(format!(
            "{} holds a random-looking string ({masked})",
            place(l)
        ))
    }
    _ => None,
});

// ---------------------------------------------------------------------------------------

fn credential_files(unit: &Unit) -> impl Iterator<Item = &CredentialFile> {
    unit.facts.iter().filter_map(|f| match f {
        Fact::CredentialFile(c) => Some(c),
        _ => None,
    })
}

pub struct CredentialFileCommitted;

static CREDENTIAL_FILE_COMMITTED: RuleMeta = RuleMeta {
    code: "SEC006",
    name: "credential-file-committed",
    severity: Severity::High,
    practice: "Credential files are never committed to the repository.",
    formats: &[Format::AnyFile],
    what: "A committed htpasswd file, private key (`id_rsa`, `*.pem`, `*.key` holding a private key block), `.env` file (not `.env.example`/`.sample`/`.template`), or AWS credentials file.",
    why: "Everything in a repository is copied to every clone, fork, CI runner and backup, and stays in its history after deletion; the credentials in the file must be considered exposed.",
    fix: "Remove the file, add it to `.gitignore`, and rotate the credentials it held (they stay in the Git history). Keep secrets in Secrets Manager or SSM Parameter Store, and commit a `.env.example` with placeholders instead.",
    examples: &[
        Example {
            file: "deploy/.htpasswd",
            failing: "admin:$apr1$DBjA3/Yx$hQnfWmZJ9kafAsHa0oekq1\n",
            passing: "# generated on the host from Secrets Manager (prod/web/htpasswd) at deploy time\n",
        },
        Example {
            file: "id_rsa",
            failing: "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n-----END OPENSSH PRIVATE KEY-----\n",
            passing: "# the deploy key lives in Secrets Manager: prod/deploy-key\n",
        },
    ],
    checkov: &[],
};

impl Rule for CredentialFileCommitted {
    fn meta(&self) -> &'static RuleMeta {
        &CREDENTIAL_FILE_COMMITTED
    }

    fn check(&self, unit: &Unit, out: &mut Vec<Finding>) {
        for c in credential_files(unit).filter(|c| c.copied_by.is_none()) {
            out.push(Finding::new(
                &CREDENTIAL_FILE_COMMITTED,
                &c.at,
                c.kind.describe(),
                format!("{} is a committed {}", c.name, c.kind.describe()),
            ));
        }
    }
}

pub struct CredentialFileInImage;

static CREDENTIAL_FILE_IN_IMAGE: RuleMeta = RuleMeta {
    code: "SEC007",
    name: "credential-file-in-image",
    severity: Severity::Critical,
    practice: "Images carry no credentials; containers receive them at run time.",
    formats: &[Format::Dockerfile],
    what: "A COPY or ADD that puts a credential file into an image: htpasswd, SSH private keys (`id_rsa`, `id_ed25519`, …), `*.key` and `*.pem` keys, `.env` files or AWS credentials files.",
    why: "Every layer of an image is readable by anyone who can pull it, and deleting the file in a later layer does not remove it; registries, caches and developer laptops all end up holding the credential.",
    fix: "Stop copying the file. Mount it at run time from Secrets Manager or SSM (ECS `secrets`, Kubernetes Secrets), or for build-time needs use `RUN --mount=type=secret,id=…`. Rotate the credential, since existing images contain it.",
    examples: &[Example {
        file: "Dockerfile",
        failing: "FROM nginx:1.27\nCOPY nginx.conf /etc/nginx/nginx.conf\nCOPY htpasswd /etc/nginx/.htpasswd\nUSER nginx\n",
        passing: "FROM nginx:1.27\nCOPY nginx.conf /etc/nginx/nginx.conf\nUSER nginx\n",
    }],
    checkov: &[],
};

impl Rule for CredentialFileInImage {
    fn meta(&self) -> &'static RuleMeta {
        &CREDENTIAL_FILE_IN_IMAGE
    }

    fn check(&self, unit: &Unit, out: &mut Vec<Finding>) {
        for c in credential_files(unit) {
            let Some(instruction) = &c.copied_by else {
                continue;
            };
            let keyword = instruction.split_whitespace().next().unwrap_or("COPY");
            out.push(Finding::new(
                &CREDENTIAL_FILE_IN_IMAGE,
                &c.at,
                &c.name,
                format!(
                    "{keyword} puts {} ({}) into the image",
                    c.path,
                    c.kind.describe()
                ),
            ));
        }
    }
}

// ---------------------------------------------------------------------------------------

pub struct PasswordParameterVisible;

static PASSWORD_PARAMETER_VISIBLE: RuleMeta = RuleMeta {
    code: "SEC008",
    name: "password-parameter-visible",
    severity: Severity::Medium,
    practice: "Secret parameters are masked: NoEcho in CloudFormation, sensitive in Terraform.",
    formats: &[Format::Terraform, Format::CloudFormation],
    what: "A CloudFormation parameter named like a secret without `NoEcho: true`, or a Terraform variable named like a secret with a literal default and without `sensitive = true`.",
    why: "CloudFormation shows parameters without NoEcho in the console, `describe-stacks` output and events; Terraform prints non-sensitive variables in plans and logs. A default value is also committed with the code.",
    fix: "Set `NoEcho: true` on the CloudFormation parameter (better: use a dynamic reference to Secrets Manager), or `sensitive = true` on the Terraform variable and remove its default.",
    examples: &[
        Example {
            file: "template.yaml",
            failing: "AWSTemplateFormatVersion: \"2010-09-09\"\nParameters:\n  DBPassword:\n    Type: String\nResources:\n  Topic:\n    Type: AWS::SNS::Topic\n",
            passing: "AWSTemplateFormatVersion: \"2010-09-09\"\nParameters:\n  DBPassword:\n    Type: String\n    NoEcho: true\nResources:\n  Topic:\n    Type: AWS::SNS::Topic\n",
        },
        Example {
            file: "main.tf",
            failing: "variable \"db_password\" {\n  type    = string\n  default = \"Tr0ub4dor&3\"\n}\n",
            passing: "variable \"db_password\" {\n  type      = string\n  sensitive = true\n}\n",
        },
    ],
    checkov: &[],
};

/// Whether a parameter belongs to Terraform (a variable) rather than CloudFormation.
fn is_terraform(p: &Parameter) -> bool {
    p.at.file.ends_with(".tf") || p.at.file.ends_with(".tf.json")
}

impl Rule for PasswordParameterVisible {
    fn meta(&self) -> &'static RuleMeta {
        &PASSWORD_PARAMETER_VISIBLE
    }

    fn check(&self, unit: &Unit, out: &mut Vec<Finding>) {
        for f in &unit.facts {
            let Fact::Parameter(p) = f else {
                continue;
            };
            if !is_secret_name(&p.name) {
                continue;
            }
            let hidden = match &p.hidden {
                Known::Value(v) => *v,
                Known::Unknown(_) => continue,
                Known::Absent => false,
            };
            if hidden {
                continue;
            }
            let message = if is_terraform(p) {
                // A variable without a literal default is only as visible as what is passed.
                match &p.default {
                    Known::Value(v) if !is_placeholder(v) => format!(
                        "variable {} has a literal default ({}) and is not sensitive",
                        p.name,
                        mask(v)
                    ),
                    _ => continue,
                }
            } else {
                format!(
                    "parameter {} is not NoEcho: its value is shown in the console and API",
                    p.name
                )
            };
            out.push(Finding::new(
                &PASSWORD_PARAMETER_VISIBLE,
                &p.at,
                &p.name,
                message,
            ));
        }
    }
}

// ---------------------------------------------------------------------------------------

pub struct LiteralSecretValue;

static LITERAL_SECRET_VALUE: RuleMeta = RuleMeta {
    code: "SEC009",
    name: "literal-secret-value",
    severity: Severity::High,
    practice: "Secrets Manager secrets and SSM SecureStrings are generated or set out of band, not written in the template.",
    formats: &[Format::Terraform, Format::CloudFormation],
    what: "A Secrets Manager secret with a literal `SecretString` / `secret_string`, or an SSM `SecureString` parameter with a literal value.",
    why: "The secret store protects the value at rest and in API responses, but the template holding the literal does not: the secret is in the repository, in Terraform state and in CloudFormation's template store.",
    fix: "Let AWS generate the value (`GenerateSecretString`, `aws_secretsmanager_secret` with `random_password` kept out of code), or create the secret empty and set its value out of band. Rotate the exposed value.",
    examples: &[
        Example {
            file: "main.tf",
            failing: "resource \"aws_secretsmanager_secret_version\" \"db\" {\n  secret_id     = aws_secretsmanager_secret.db.id\n  secret_string = \"Tr0ub4dor&3\"\n}\n",
            passing: "resource \"aws_secretsmanager_secret_version\" \"db\" {\n  secret_id     = aws_secretsmanager_secret.db.id\n  secret_string = random_password.db.result\n}\n",
        },
        Example {
            file: "template.yaml",
            failing: "AWSTemplateFormatVersion: \"2010-09-09\"\nResources:\n  DbSecret:\n    Type: AWS::SecretsManager::Secret\n    Properties:\n      SecretString: Tr0ub4dor&3\n",
            passing: "AWSTemplateFormatVersion: \"2010-09-09\"\nResources:\n  DbSecret:\n    Type: AWS::SecretsManager::Secret\n    Properties:\n      GenerateSecretString:\n        PasswordLength: 32\n",
        },
    ],
    checkov: &[],
};

impl Rule for LiteralSecretValue {
    fn meta(&self) -> &'static RuleMeta {
        &LITERAL_SECRET_VALUE
    }

    fn check(&self, unit: &Unit, out: &mut Vec<Finding>) {
        for l in literals(unit) {
            if !l.context.is_secret_by_definition() || is_placeholder(&l.value) {
                continue;
            }
            out.push(Finding::new(
                &LITERAL_SECRET_VALUE,
                &l.at,
                &discriminator(l),
                format!("{} is a literal ({})", place(l), mask(&l.value)),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Site, Span};
    use crate::{ScanOptions, SourceFile, scan_sources};
    use std::sync::Arc;

    fn scan(files: &[(&str, &str)]) -> crate::ScanResult {
        let sources: Vec<SourceFile> = files.iter().map(|(n, t)| SourceFile::new(*n, *t)).collect();
        scan_sources(&sources, &ScanOptions::default())
    }

    fn codes(name: &str, text: &str, code: &str) -> Vec<Finding> {
        let result = scan(&[(name, text)]);
        assert!(result.errors.is_empty(), "{:?}", result.errors);
        result
            .findings
            .into_iter()
            .filter(|f| f.rule == code)
            .collect()
    }

    /// Formats whose front ends live in this branch; the Terraform and CloudFormation examples
    /// are exercised by the registry-wide example test once those front ends are merged.
    fn testable_here(file: &str) -> bool {
        !(file.ends_with(".tf") || file.ends_with(".yaml"))
    }

    #[test]
    fn every_testable_example_fails_and_passes_as_documented() {
        let mut tested = 0;
        for rule in RULES {
            let meta = rule.meta();
            for format in meta.formats {
                assert!(
                    meta.examples.iter().any(|e| match format {
                        Format::Terraform => e.file.ends_with(".tf"),
                        Format::CloudFormation => e.file.ends_with(".yaml"),
                        Format::Dockerfile => e.file == "Dockerfile",
                        Format::AwsConfig => e.file == "credentials" || e.file == "config",
                        _ => true,
                    }),
                    "{} lacks an example for {format:?}",
                    meta.code
                );
            }
            for example in meta.examples.iter().filter(|e| testable_here(e.file)) {
                tested += 1;
                assert!(
                    !codes(example.file, example.failing, meta.code).is_empty(),
                    "{} failing {} example does not fire",
                    meta.code,
                    example.file
                );
                let passing = codes(example.file, example.passing, meta.code);
                assert!(
                    passing.is_empty(),
                    "{} passing example fires: {passing:?}",
                    meta.code
                );
            }
        }
        assert!(tested >= 9);
    }

    fn literal(context: LiteralContext, name: &str, value: &str) -> Fact {
        let file: Arc<str> = Arc::from("main.tf");
        Fact::Literal(Literal {
            at: Site::new(&file, "aws_x.y", Span::line(3)),
            context,
            name: name.into(),
            value: value.into(),
        })
    }

    fn run(facts: Vec<Fact>) -> Vec<Finding> {
        let unit = Unit {
            facts,
            ..Unit::default()
        };
        let mut out = Vec::new();
        for rule in RULES {
            rule.check(&unit, &mut out);
        }
        out
    }

    #[test]
    fn secret_by_name_leaves_ecs_and_kubernetes_to_their_own_rules() {
        for context in [
            LiteralContext::EcsEnvironment,
            LiteralContext::KubernetesEnv,
        ] {
            let found = run(vec![literal(context, "DB_PASSWORD", "hunter2hunter2")]);
            assert!(found.is_empty(), "{context:?}: {found:?}");
            // value-shape rules still fire there
            let found = run(vec![literal(context, "X", "AKIAIOSFODNN7EXAMPLE")]);
            assert_eq!(found.len(), 1);
            assert_eq!(found[0].rule, "SEC001");
            let found = run(vec![literal(context, "URL", "https://u:p4ss@h.io/")]);
            assert_eq!(found[0].rule, "SEC004");
            let found = run(vec![literal(
                context,
                "SEED",
                "q7Zt3Lx9Rk2Vb8Nw4Pm6Ys1Hd5Gf0Jc",
            )]);
            assert_eq!(found[0].rule, "SEC005");
        }
        let found = run(vec![literal(
            LiteralContext::LambdaEnvironment,
            "DB_PASSWORD",
            "changeme",
        )]);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].rule, "SEC003");
    }

    #[test]
    fn one_literal_one_finding_most_specific_first() {
        let key = "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----";
        let found = run(vec![literal(LiteralContext::Attribute, "private_key", key)]);
        assert_eq!(
            found.iter().map(|f| f.rule).collect::<Vec<_>>(),
            vec!["SEC002"]
        );
        let found = run(vec![literal(
            LiteralContext::Attribute,
            "aws_secret_access_key",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        )]);
        assert_eq!(
            found.iter().map(|f| f.rule).collect::<Vec<_>>(),
            vec!["SEC001"]
        );
        let found = run(vec![literal(
            LiteralContext::SecretString,
            "",
            "Tr0ub4dor&3",
        )]);
        assert_eq!(
            found.iter().map(|f| f.rule).collect::<Vec<_>>(),
            vec!["SEC009"]
        );
        let found = run(vec![literal(
            LiteralContext::Default,
            "password",
            "${var.x}",
        )]);
        assert!(found.is_empty());
    }

    #[test]
    fn parameters_visible_by_format() {
        let param = |file: &str, name: &str, hidden: Known<bool>, default: Known<String>| {
            let file: Arc<str> = Arc::from(file);
            Fact::Parameter(Parameter {
                at: Site::new(&file, name, Span::line(2)),
                name: name.into(),
                hidden,
                default,
            })
        };
        let cfn = run(vec![param(
            "t.yaml",
            "DBPassword",
            Known::Absent,
            Known::Absent,
        )]);
        assert_eq!(cfn.len(), 1);
        assert!(
            run(vec![param(
                "t.yaml",
                "DBPassword",
                Known::Value(true),
                Known::Absent
            )])
            .is_empty()
        );
        assert!(
            run(vec![param(
                "t.yaml",
                "DBUser",
                Known::Absent,
                Known::Absent
            )])
            .is_empty()
        );
        assert!(
            run(vec![param(
                "v.tf",
                "db_password",
                Known::Absent,
                Known::Absent
            )])
            .is_empty()
        );
        let tf = run(vec![param(
            "v.tf",
            "db_password",
            Known::Absent,
            Known::Value("hunter22".into()),
        )]);
        assert_eq!(tf.len(), 1);
        assert!(!tf[0].message.contains("hunter22"));
    }

    #[test]
    fn committed_and_copied_credential_files() {
        let result = scan(&[
            (
                "web/htpasswd",
                "admin:$apr1$DBjA3/Yx$hQnfWmZJ9kafAsHa0oekq1\n",
            ),
            (
                "web/Dockerfile",
                "FROM nginx\nCOPY htpasswd /etc/nginx/.htpasswd\nUSER nginx\n",
            ),
        ]);
        let committed: Vec<&Finding> = result
            .findings
            .iter()
            .filter(|f| f.rule == "SEC006")
            .collect();
        assert_eq!(committed.len(), 1);
        assert_eq!(committed[0].file, "web/htpasswd");
        let copied: Vec<&Finding> = result
            .findings
            .iter()
            .filter(|f| f.rule == "SEC007")
            .collect();
        assert_eq!(copied.len(), 1);
        assert_eq!(copied[0].file, "web/Dockerfile");
        assert_eq!(copied[0].line, 2);
        assert!(copied[0].message.contains("web/htpasswd"));
    }

    /// Raw secret values that appear in the examples and fixtures below.
    const RAW_SECRETS: [&str; 8] = [
        "AKIAIOSFODNN7EXAMPLE",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "changeme",
        "hQnfWmZJ9kafAsHa0oekq1",
        "9xQ2vLp7",
        "q7Zt3Lx9Rk2Vb8Nw4Pm6Ys1Hd5Gf0Jc",
        "Tr0ub4dor&3",
        "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ",
    ];

    #[test]
    fn no_finding_field_contains_a_raw_secret() {
        let mut files: Vec<(&str, &str)> = vec![
            (
                "Dockerfile",
                "FROM alpine\nENV API_TOKEN=q7Zt3Lx9Rk2Vb8Nw4Pm6Ys1Hd5Gf0Jc DB_PASSWORD=changeme\nARG AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\nENV BROKER=amqp://u:9xQ2vLp7@mq:5672/\nUSER app\n",
            ),
            (
                "home/.aws/credentials",
                "[default]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\naws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n",
            ),
        ];
        for rule in RULES {
            for e in rule
                .meta()
                .examples
                .iter()
                .filter(|e| testable_here(e.file))
            {
                files.push((e.file, e.failing));
            }
        }
        let mut total = 0;
        for (name, text) in files {
            let result = scan(&[(name, text)]);
            for f in &result.findings {
                total += 1;
                for secret in RAW_SECRETS {
                    for field in [
                        &f.message,
                        &f.resource,
                        &f.file,
                        &f.fingerprint,
                        &f.name.to_string(),
                    ] {
                        assert!(
                            !field.contains(secret),
                            "{} leaks {secret}: {field}",
                            f.rule
                        );
                    }
                }
            }
        }
        assert!(total >= 12, "only {total} findings");
    }

    /// Random text built from the pieces these front ends and rules react to, through the full
    /// pipeline under every file name they recognise: nothing may panic.
    #[test]
    fn arbitrary_input_never_panics() {
        const PIECES: [&str; 40] = [
            "FROM ",
            "RUN ",
            "COPY ",
            "ENV ",
            "ARG ",
            "USER ",
            "CMD ",
            "<<",
            "<<-",
            "EOF",
            "\"",
            "'",
            "\\",
            "`",
            "\n",
            " ",
            "[",
            "]",
            "=",
            ":",
            "$",
            "${",
            "$(",
            "@",
            "://",
            "-----BEGIN ",
            "PRIVATE KEY-----",
            "AKIA",
            "IOSFODNN7EXAMPLE",
            "é",
            "日本",
            "[default]",
            "[profile ",
            "aws_secret_access_key",
            "  ",
            "#",
            "# escape=`",
            "|",
            "curl -k",
            "$apr1$",
        ];
        let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..400 {
            let len = (next() % 60) as usize;
            let text: String = (0..len)
                .map(|_| PIECES[(next() % PIECES.len() as u64) as usize])
                .collect();
            for name in [
                "Dockerfile",
                ".aws/credentials",
                "config",
                ".env",
                "id_rsa",
                "notes",
            ] {
                let _ = scan(&[(name, text.as_str())]);
            }
        }
    }
}
