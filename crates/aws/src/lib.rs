//! The one place where airlock builds AWS SDK configuration and clients.
//!
//! Everything goes through [`aws_config`]'s standard chain, so the settings users already
//! know work unchanged for every command: profiles (`AWS_PROFILE`, `--profile`), region,
//! credentials (environment, SSO, `credential_process`, IMDS, container credentials) and
//! endpoint overrides (`AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_<SERVICE>`, and `endpoint_url`
//! in a profile). That last part is what lets users and tests point airlock at moto or
//! LocalStack with no flag of our own.
//!
//! Service clients are behind one cargo feature each, so a crate pulls in only the SDK
//! crates it talks to; the scanner pulls in none.
#![forbid(unsafe_code)]

use std::time::Duration;

pub use aws_config::SdkConfig;
use aws_config::{BehaviorVersion, Region, timeout::TimeoutConfig};

/// What a user may set on the command line; everything else comes from the standard chain.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AwsOptions {
    /// A named profile from the shared config/credentials files (overrides `AWS_PROFILE`).
    pub profile: Option<String>,
    /// A region (overrides `AWS_REGION` and the profile's region).
    pub region: Option<String>,
    /// An endpoint for every service (overrides `AWS_ENDPOINT_URL`). Service-specific
    /// `AWS_ENDPOINT_URL_<SERVICE>` variables still win over the environment's general one.
    pub endpoint_url: Option<String>,
}

/// The environment variables the SDKs' default credential chains read, in the order they
/// win: static keys, profiles, IRSA's web identity, and an outer container-credentials
/// setting (the relative URI wins over the full one, an inline token over nothing). A
/// command that must use one given set of credentials loses all of these.
pub const CREDENTIAL_VARIABLES: &[&str] = &[
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
    "AWS_ROLE_SESSION_NAME",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
];

/// Connect timeout: a production endpoint answers a TCP handshake in well under this, so a
/// longer wait means a black-holed route that retrying will fix sooner than waiting.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Loads the shared SDK configuration from the standard chain, with `options` layered on top.
pub async fn load(options: &AwsOptions) -> SdkConfig {
    // Retries stay as the chain says (standard mode, 3 attempts, unless AWS_MAX_ATTEMPTS,
    // AWS_RETRY_MODE or the profile say otherwise): throttling, 5xx, connection errors and
    // timeouts are retried with exponential backoff and full jitter.
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).timeout_config(
        TimeoutConfig::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .build(),
    );
    if let Some(profile) = &options.profile {
        loader = loader.profile_name(profile);
    }
    if let Some(region) = &options.region {
        loader = loader.region(Region::new(region.clone()));
    }
    if let Some(endpoint) = &options.endpoint_url {
        loader = loader.endpoint_url(endpoint);
    }
    loader.load().await
}

/// An SQS client for long polling. A receive with `WaitTimeSeconds=20` legitimately takes 20 s,
/// so the attempt timeout must be longer than the wait; without any attempt timeout a long
/// poll whose connection silently dies hangs forever (awslabs/aws-sdk-rust#1094).
#[cfg(feature = "sqs")]
pub fn sqs_long_poll(config: &SdkConfig, wait: Duration) -> aws_sdk_sqs::Client {
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .operation_attempt_timeout(wait + Duration::from_secs(10))
        .build();
    let conf = aws_sdk_sqs::config::Builder::from(config)
        .timeout_config(timeouts)
        .build();
    aws_sdk_sqs::Client::from_conf(conf)
}

macro_rules! client_constructors {
    ($($feature:literal, $name:ident, $krate:ident;)*) => {$(
        #[doc = concat!("A `", stringify!($krate), "` client on the shared configuration.")]
        #[cfg(feature = $feature)]
        pub fn $name(config: &SdkConfig) -> $krate::Client {
            $krate::Client::new(config)
        }
    )*};
}

client_constructors! {
    "sns", sns, aws_sdk_sns;
    "sqs", sqs, aws_sdk_sqs;
    "sts", sts, aws_sdk_sts;
    "kms", kms, aws_sdk_kms;
    "dynamodb", dynamodb, aws_sdk_dynamodb;
    "ecs", ecs, aws_sdk_ecs;
    "iam", iam, aws_sdk_iam;
    "ec2", ec2, aws_sdk_ec2;
    "ecr", ecr, aws_sdk_ecr;
    "ssm", ssm, aws_sdk_ssm;
    "cloudformation", cloudformation, aws_sdk_cloudformation;
    "lambda", lambda, aws_sdk_lambda;
    "s3", s3, aws_sdk_s3;
}

/// Re-exported so adapters can name the SDK types through one path.
pub use aws_credential_types;
#[cfg(feature = "cloudformation")]
pub use aws_sdk_cloudformation;
/// The service crates, re-exported so adapters name request and error types (batch entries,
/// `SdkError`, `Blob`) from the same SDK versions the clients above were built with.
#[cfg(feature = "dynamodb")]
pub use aws_sdk_dynamodb;
#[cfg(feature = "ec2")]
pub use aws_sdk_ec2;
#[cfg(feature = "ecr")]
pub use aws_sdk_ecr;
#[cfg(feature = "ecs")]
pub use aws_sdk_ecs;
#[cfg(feature = "iam")]
pub use aws_sdk_iam;
#[cfg(feature = "kms")]
pub use aws_sdk_kms;
#[cfg(feature = "lambda")]
pub use aws_sdk_lambda;
#[cfg(feature = "s3")]
pub use aws_sdk_s3;
#[cfg(feature = "sns")]
pub use aws_sdk_sns;
#[cfg(feature = "sqs")]
pub use aws_sdk_sqs;
#[cfg(feature = "ssm")]
pub use aws_sdk_ssm;
#[cfg(feature = "sts")]
pub use aws_sdk_sts;
/// Re-exported so adapters format SDK errors with their whole chain (`DisplayErrorContext`).
pub use aws_smithy_types;

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn explicit_options_override_the_chain() {
        let config = load(&AwsOptions {
            profile: None,
            region: Some("eu-west-3".into()),
            endpoint_url: Some("http://127.0.0.1:9".into()),
        })
        .await;
        assert_eq!(
            config.region().map(|r| r.as_ref().to_string()),
            Some("eu-west-3".into())
        );
        assert_eq!(config.endpoint_url(), Some("http://127.0.0.1:9"));
    }
}
