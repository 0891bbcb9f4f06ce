//! The STS adapter: AssumeRole with the agent's own credentials from the standard AWS chain
//! (node role, IRSA, a profile, …).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use airlock_aws::aws_sdk_sts::{self, error::ProvideErrorMetadata, types::Tag};
use airlock_aws::aws_smithy_types::error::display::DisplayErrorContext;

use crate::clock::Clock;
use crate::config::AssumeConfig;
use crate::credentials::Issued;
use crate::source::{CredentialSource, FailureKind, FetchError};

/// One AssumeRole attempt may take this long. The agent retries on its own schedule, with
/// backoff, so a hung call must end rather than hold up the next attempt.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(10);

pub struct StsSource {
    client: aws_sdk_sts::Client,
    assume: AssumeConfig,
    clock: Arc<dyn Clock>,
}

impl StsSource {
    /// The SDK's own retries are turned off: the agent's refresher owns retrying (with
    /// backoff and jitter while it serves the still-valid credentials), and one fetch is then
    /// exactly one AssumeRole call.
    pub fn new(
        config: &airlock_aws::SdkConfig,
        assume: AssumeConfig,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let conf = aws_sdk_sts::config::Builder::from(config)
            .retry_config(aws_sdk_sts::config::retry::RetryConfig::disabled())
            .timeout_config(
                aws_sdk_sts::config::timeout::TimeoutConfig::builder()
                    .connect_timeout(airlock_aws::CONNECT_TIMEOUT)
                    .operation_attempt_timeout(CALL_TIMEOUT)
                    .build(),
            )
            .build();
        StsSource {
            client: aws_sdk_sts::Client::from_conf(conf),
            assume,
            clock,
        }
    }
}

impl CredentialSource for StsSource {
    async fn fetch(&self) -> Result<Issued, FetchError> {
        let started = self.clock.now();
        let tags: Result<Vec<Tag>, _> = self
            .assume
            .session_tags
            .iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect();
        let tags = tags.map_err(|e| FetchError::new(FailureKind::Other, e.to_string()))?;
        let duration = i32::try_from(self.assume.duration.as_secs()).unwrap_or(3600);
        let output = self
            .client
            .assume_role()
            .role_arn(self.assume.role.as_str())
            .role_session_name(&self.assume.session_name)
            .duration_seconds(duration)
            .set_tags((!tags.is_empty()).then_some(tags))
            .set_source_identity(self.assume.source_identity.clone())
            .send()
            .await
            .map_err(|e| classify(&e))?;
        let Some(credentials) = output.credentials else {
            return Err(FetchError::new(
                FailureKind::Other,
                "AssumeRole answered without credentials",
            ));
        };
        let expiration = SystemTime::try_from(credentials.expiration).map_err(|_| {
            FetchError::new(
                FailureKind::Other,
                "AssumeRole returned an unusable expiration",
            )
        })?;
        let assumed_role_arn = output.assumed_role_user.map(|u| u.arn).unwrap_or_default();
        // arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION; the role's own account otherwise.
        let account_id = assumed_role_arn
            .split(':')
            .nth(4)
            .filter(|a| a.len() == 12)
            .unwrap_or(self.assume.role.account_id())
            .to_owned();
        Ok(Issued::new(
            credentials.access_key_id,
            credentials.secret_access_key,
            credentials.session_token,
            expiration,
            started,
            assumed_role_arn,
            account_id,
        ))
    }
}

fn classify<E, R>(error: &aws_sdk_sts::error::SdkError<E, R>) -> FetchError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    use aws_sdk_sts::error::SdkError;
    let kind = match error {
        SdkError::ServiceError(service) => match service.err().code() {
            Some("Throttling" | "ThrottlingException" | "RequestLimitExceeded") => {
                FailureKind::Throttled
            }
            Some(
                "AccessDenied"
                | "AccessDeniedException"
                | "InvalidClientTokenId"
                | "ExpiredToken"
                | "RegionDisabledException",
            ) => FailureKind::Denied,
            _ => FailureKind::Other,
        },
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => FailureKind::Unavailable,
        SdkError::ResponseError(_) => FailureKind::Unavailable,
        _ => FailureKind::Other,
    };
    let message = match error {
        SdkError::ServiceError(service) => format!(
            "AssumeRole failed: {}: {}",
            service.err().code().unwrap_or("error"),
            service.err().message().unwrap_or("no message")
        ),
        other => format!("AssumeRole failed: {}", DisplayErrorContext(other)),
    };
    FetchError::new(kind, message)
}
