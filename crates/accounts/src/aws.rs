//! The AWS adapter: the credentials of the standard chain, STS GetCallerIdentity, IAM
//! ListAccountAliases and CreateAccountAlias, through the AWS SDK for Rust.
//!
//! The credentials are resolved once and every call, and the command `guard` runs, uses
//! exactly those: what was checked is what is used.

use std::ffi::{OsStr, OsString};

use airlock_aws::SdkConfig;
use airlock_aws::aws_credential_types::Credentials;
use airlock_aws::aws_credential_types::provider::ProvideCredentials;
use airlock_aws::aws_sdk_iam;
use airlock_aws::aws_sdk_sts;
use airlock_aws::aws_sdk_sts::error::ProvideErrorMetadata;
use airlock_aws::aws_smithy_types::error::display::DisplayErrorContext;

use crate::identity::Identity;

/// An AWS call that failed, with the operation and AWS's error code when there is one.
#[derive(Debug, thiserror::Error)]
pub enum AwsError {
    #[error("no AWS credentials could be resolved: {0}")]
    NoCredentials(String),
    #[error("{operation} failed: {message}")]
    Call {
        operation: &'static str,
        code: Option<String>,
        message: String,
    },
}

fn call_error<E>(operation: &'static str, error: aws_sdk_sts::error::SdkError<E>) -> AwsError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let code = error
        .as_service_error()
        .and_then(|e| e.code())
        .map(str::to_string);
    AwsError::Call {
        operation,
        code,
        message: DisplayErrorContext(&error).to_string(),
    }
}

/// Error codes that mean "not allowed", as opposed to "failed".
fn is_denied(code: Option<&str>) -> bool {
    matches!(
        code,
        Some("AccessDenied" | "AccessDeniedException" | "UnauthorizedOperation")
    )
}

pub struct AwsAccounts {
    config: SdkConfig,
}

impl AwsAccounts {
    pub fn new(config: SdkConfig) -> Self {
        AwsAccounts { config }
    }

    /// The endpoint override in use, if any (it is part of the prompt cache's key).
    pub fn endpoint(&self) -> Option<&str> {
        self.config.endpoint_url()
    }

    pub fn region(&self) -> Option<String> {
        self.config.region().map(|r| r.as_ref().to_string())
    }

    /// Resolves the credentials once, from the profile or the standard chain.
    pub async fn credentials(&self) -> Result<Credentials, AwsError> {
        let provider = self.config.credentials_provider().ok_or_else(|| {
            AwsError::NoCredentials("the SDK configuration has no credentials provider".into())
        })?;
        provider
            .provide_credentials()
            .await
            .map_err(|e| AwsError::NoCredentials(DisplayErrorContext(&e).to_string()))
    }

    fn sts(&self, credentials: &Credentials) -> aws_sdk_sts::Client {
        let conf = aws_sdk_sts::config::Builder::from(&self.config)
            .credentials_provider(credentials.clone())
            .build();
        aws_sdk_sts::Client::from_conf(conf)
    }

    fn iam(&self, credentials: &Credentials) -> aws_sdk_iam::Client {
        let conf = aws_sdk_iam::config::Builder::from(&self.config)
            .credentials_provider(credentials.clone())
            .build();
        aws_sdk_iam::Client::from_conf(conf)
    }

    /// GetCallerIdentity, then ListAccountAliases. A role that may not list aliases still
    /// gets its identity, with the denial recorded in place of the alias.
    pub async fn identity(&self, credentials: &Credentials) -> Result<Identity, AwsError> {
        let caller = self
            .sts(credentials)
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| call_error("sts:GetCallerIdentity", e))?;
        let (Some(account), Some(arn)) = (caller.account(), caller.arn()) else {
            return Err(AwsError::Call {
                operation: "sts:GetCallerIdentity",
                code: None,
                message: "the answer has no Account or Arn".into(),
            });
        };
        let mut identity = Identity {
            account: account.to_string(),
            arn: arn.to_string(),
            user_id: caller.user_id().unwrap_or_default().to_string(),
            alias: None,
            alias_error: None,
        };
        match self.iam(credentials).list_account_aliases().send().await {
            Ok(out) => identity.alias = out.account_aliases().first().cloned(),
            Err(e) => {
                let error = call_error("iam:ListAccountAliases", e);
                match &error {
                    AwsError::Call { code, .. } if is_denied(code.as_deref()) => {
                        identity.alias_error = Some(error.to_string());
                    }
                    _ => return Err(error),
                }
            }
        }
        Ok(identity)
    }

    /// CreateAccountAlias. The caller has validated the name against the convention.
    pub async fn create_alias(
        &self,
        credentials: &Credentials,
        name: &str,
    ) -> Result<(), AwsError> {
        self.iam(credentials)
            .create_account_alias()
            .account_alias(name)
            .send()
            .await
            .map_err(|e| call_error("iam:CreateAccountAlias", e))?;
        Ok(())
    }
}

/// The environment of the command `guard` runs: the parent's without any other source of
/// credentials ([`airlock_aws::CREDENTIAL_VARIABLES`] and the container-credentials
/// settings), with the checked credentials as environment keys, which every SDK's chain
/// takes first, and the region when one is known.
pub fn child_environment(
    parent: impl IntoIterator<Item = (OsString, OsString)>,
    credentials: &Credentials,
    region: Option<&str>,
) -> Vec<(OsString, OsString)> {
    let also_removed = [
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
    ];
    let mut env: Vec<(OsString, OsString)> = parent
        .into_iter()
        .filter(|(name, _)| {
            !airlock_aws::CREDENTIAL_VARIABLES
                .iter()
                .chain(also_removed.iter())
                .any(|r| OsStr::new(r) == name)
                && !(region.is_some() && (name == "AWS_REGION" || name == "AWS_DEFAULT_REGION"))
        })
        .collect();
    env.push((
        "AWS_ACCESS_KEY_ID".into(),
        credentials.access_key_id().into(),
    ));
    env.push((
        "AWS_SECRET_ACCESS_KEY".into(),
        credentials.secret_access_key().into(),
    ));
    if let Some(token) = credentials.session_token() {
        env.push(("AWS_SESSION_TOKEN".into(), token.into()));
    }
    if let Some(region) = region {
        env.push(("AWS_REGION".into(), region.into()));
        env.push(("AWS_DEFAULT_REGION".into(), region.into()));
    }
    env
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test's panic is its failure report
mod tests {
    use super::*;

    #[test]
    fn the_command_gets_the_checked_credentials_and_nothing_else() {
        let credentials = Credentials::new(
            "ASIAEXAMPLECHECKED01",
            "fake-secret-for-tests",
            Some("fake-session-token".into()),
            None,
            "test",
        );
        let parent = [
            ("PATH", "/usr/bin"),
            ("AWS_PROFILE", "prod-website-admin"),
            ("AWS_ACCESS_KEY_ID", "AKIAEXAMPLEOTHER0001"),
            ("AWS_WEB_IDENTITY_TOKEN_FILE", "/var/run/token"),
            (
                "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                "http://127.0.0.1:9911/v1/credentials",
            ),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:5000"),
        ]
        .map(|(k, v)| (OsString::from(k), OsString::from(v)));
        let env = child_environment(parent, &credentials, Some("eu-west-1"));
        let get = |k: &str| {
            let all: Vec<&OsString> = env.iter().filter(|(n, _)| n == k).map(|(_, v)| v).collect();
            assert!(all.len() <= 1, "{k} set twice");
            all.first().map(|v| v.to_string_lossy().into_owned())
        };
        assert_eq!(get("PATH").as_deref(), Some("/usr/bin"));
        assert_eq!(
            get("AWS_ENDPOINT_URL").as_deref(),
            Some("http://127.0.0.1:5000")
        );
        assert_eq!(
            get("AWS_ACCESS_KEY_ID").as_deref(),
            Some("ASIAEXAMPLECHECKED01")
        );
        assert_eq!(
            get("AWS_SESSION_TOKEN").as_deref(),
            Some("fake-session-token")
        );
        assert_eq!(get("AWS_REGION").as_deref(), Some("eu-west-1"));
        assert_eq!(get("AWS_DEFAULT_REGION").as_deref(), Some("eu-west-1"));
        for gone in [
            "AWS_PROFILE",
            "AWS_WEB_IDENTITY_TOKEN_FILE",
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        ] {
            assert_eq!(get(gone), None, "{gone}");
        }
    }
}
