//! [`Ports`] on the AWS SDK: DynamoDB for nonces, lane locks and task owners (one table, string
//! key `pk`, TTL attribute `ttl`), ECS for tasks, ECR for the image gate, SQS for feedback, SSM
//! for the configuration.
//!
//! Items, by key:
//! - `nonce#<nonce>`: `request_id`, `kind`, `decided`; written only if absent.
//! - `request#<id>`: `nonce`, `accepted`; a deploy's id is written once, so no other request
//!   can reuse it.
//! - `lock#<lane>`: `request_id`, `actor`, `since`, `lease_until`, `cluster`, `task_arn`; taken
//!   only if absent, expired, or already this request's.
//! - `task#<task ARN>`: `request_id`, `lane`, `container`: whom a stopped task belonged to.

use std::collections::HashMap;

use airlock_aws::aws_sdk_dynamodb::types::AttributeValue;
use airlock_aws::aws_sdk_ecr::types::ImageIdentifier;
use airlock_aws::aws_sdk_ecs::types::{
    AssignPublicIp, AwsVpcConfiguration, ContainerOverride, KeyValuePair, LaunchType,
    NetworkConfiguration, Tag, TaskOverride,
};
use airlock_protocol::ImageRef;

use airlock_admission::audit::AuditRecord;
use airlock_admission::ports::{
    ImageScan, LaneLock, Launch, LockOutcome, NonceClaim, NonceOutcome, PortError, Ports,
    RunTaskOutcome, TaskOwner,
};

use crate::config::Job;
use crate::dispatcher::{TaskSpec, emit_audit};

/// How long lock and task records outlive their lease (for the audit trail in the table).
const RECORD_RETENTION_SECS: i64 = 7 * 24 * 3600;

#[derive(Clone)]
pub struct AwsPorts {
    table: String,
    dynamodb: airlock_aws::aws_sdk_dynamodb::Client,
    ecs: airlock_aws::aws_sdk_ecs::Client,
    ecr: airlock_aws::aws_sdk_ecr::Client,
    sqs: airlock_aws::aws_sdk_sqs::Client,
}

impl AwsPorts {
    pub fn new(config: &airlock_aws::SdkConfig, table: &str) -> AwsPorts {
        AwsPorts {
            table: table.to_string(),
            dynamodb: airlock_aws::dynamodb(config),
            ecs: airlock_aws::ecs(config),
            ecr: airlock_aws::ecr(config),
            sqs: airlock_aws::sqs(config),
        }
    }

    async fn get(&self, operation: &'static str, pk: &str) -> Result<Option<Item>, PortError> {
        let out = self
            .dynamodb
            .get_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| port_error(operation, e))?;
        Ok(out.item.map(Item))
    }

    /// Puts an item only if no item has its key; `Ok(false)` when one had.
    async fn put_new(
        &self,
        operation: &'static str,
        item: HashMap<String, AttributeValue>,
    ) -> Result<bool, PortError> {
        let result = self
            .dynamodb
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(port_error(operation, e)),
        }
    }

    async fn set_true(
        &self,
        operation: &'static str,
        pk: &str,
        attribute: &str,
    ) -> Result<(), PortError> {
        self.dynamodb
            .update_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .update_expression("SET #a = :t")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#a", attribute)
            .expression_attribute_values(":t", AttributeValue::Bool(true))
            .send()
            .await
            .map(|_| ())
            .or_else(|e| {
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception())
                {
                    Ok(())
                } else {
                    Err(port_error(operation, e))
                }
            })
    }
}

/// A DynamoDB item with typed getters.
struct Item(HashMap<String, AttributeValue>);

impl Item {
    fn text(&self, key: &str) -> String {
        self.0
            .get(key)
            .and_then(|v| v.as_s().ok())
            .cloned()
            .unwrap_or_default()
    }

    fn opt_text(&self, key: &str) -> Option<String> {
        self.0.get(key).and_then(|v| v.as_s().ok()).cloned()
    }

    fn flag(&self, key: &str) -> bool {
        self.0
            .get(key)
            .and_then(|v| v.as_bool().ok())
            .copied()
            .unwrap_or(false)
    }

    fn number(&self, key: &str) -> i64 {
        self.0
            .get(key)
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    }
}

fn s(text: &str) -> AttributeValue {
    AttributeValue::S(text.to_string())
}

fn n(number: i64) -> AttributeValue {
    AttributeValue::N(number.to_string())
}

fn port_error<E>(operation: &'static str, e: E) -> PortError
where
    E: std::error::Error + Send + Sync + 'static,
{
    PortError {
        operation,
        message: airlock_aws::aws_smithy_types::error::display::DisplayErrorContext(e).to_string(),
    }
}

fn lock_from(item: &Item) -> LaneLock {
    LaneLock {
        lane: item.text("lane"),
        request_id: item.text("request_id"),
        actor: item.text("actor"),
        since: item.text("since"),
        lease_until: item.number("lease_until"),
        cluster: item.text("cluster"),
        task_arn: item.opt_text("task_arn"),
    }
}

/// `<account>.dkr.ecr.<region>.amazonaws.com/<name>` as ECR's registry id and repository name.
pub fn ecr_repository(repository: &str) -> (Option<String>, String) {
    match repository.split_once('/') {
        Some((host, name)) if host.contains(".dkr.ecr.") => {
            let account = host.split('.').next().unwrap_or_default();
            (Some(account.to_string()), name.to_string())
        }
        _ => (None, repository.to_string()),
    }
}

impl Ports for AwsPorts {
    type Job = Job;

    async fn claim_nonce(&self, claim: &NonceClaim) -> Result<NonceOutcome, PortError> {
        let pk = format!("nonce#{}", claim.nonce);
        let item = HashMap::from([
            ("pk".to_string(), s(&pk)),
            ("request_id".to_string(), s(&claim.request_id)),
            ("kind".to_string(), s(claim.kind)),
            ("decided".to_string(), AttributeValue::Bool(false)),
            ("ttl".to_string(), n(claim.ttl)),
        ]);
        if !self.put_new("dynamodb:PutItem (nonce)", item).await? {
            let earlier = self
                .get("dynamodb:GetItem (nonce)", &pk)
                .await?
                .ok_or_else(|| PortError {
                    operation: "dynamodb:GetItem (nonce)",
                    message: format!("nonce {} is taken but its record is gone", claim.nonce),
                })?;
            let same = earlier.text("request_id") == claim.request_id
                && earlier.text("kind") == claim.kind;
            return Ok(if same {
                NonceOutcome::SameRequest {
                    decided: earlier.flag("decided"),
                }
            } else {
                NonceOutcome::OtherRequest {
                    request_id: earlier.text("request_id"),
                }
            });
        }
        if claim.kind != "deploy" {
            return Ok(NonceOutcome::Fresh);
        }
        let pk = format!("request#{}", claim.request_id);
        let item = HashMap::from([
            ("pk".to_string(), s(&pk)),
            ("nonce".to_string(), s(&claim.nonce)),
            ("accepted".to_string(), AttributeValue::Bool(false)),
            ("ttl".to_string(), n(claim.ttl)),
        ]);
        if self.put_new("dynamodb:PutItem (request)", item).await? {
            return Ok(NonceOutcome::Fresh);
        }
        let earlier = self.get("dynamodb:GetItem (request)", &pk).await?;
        Ok(match earlier {
            Some(item) if item.text("nonce") == claim.nonce => NonceOutcome::Fresh,
            _ => NonceOutcome::RequestIdReused,
        })
    }

    async fn settle_nonce(&self, claim: &NonceClaim, accepted: bool) -> Result<(), PortError> {
        self.set_true(
            "dynamodb:UpdateItem (nonce)",
            &format!("nonce#{}", claim.nonce),
            "decided",
        )
        .await?;
        if accepted {
            self.set_true(
                "dynamodb:UpdateItem (request)",
                &format!("request#{}", claim.request_id),
                "accepted",
            )
            .await?;
        }
        Ok(())
    }

    async fn was_accepted(&self, request_id: &str) -> Result<bool, PortError> {
        Ok(self
            .get(
                "dynamodb:GetItem (request)",
                &format!("request#{request_id}"),
            )
            .await?
            .is_some_and(|item| item.flag("accepted")))
    }

    async fn acquire_lock(&self, lock: &LaneLock, now: i64) -> Result<LockOutcome, PortError> {
        let pk = format!("lock#{}", lock.lane);
        let mut item = HashMap::from([
            ("pk".to_string(), s(&pk)),
            ("lane".to_string(), s(&lock.lane)),
            ("request_id".to_string(), s(&lock.request_id)),
            ("actor".to_string(), s(&lock.actor)),
            ("since".to_string(), s(&lock.since)),
            ("lease_until".to_string(), n(lock.lease_until)),
            ("cluster".to_string(), s(&lock.cluster)),
            (
                "ttl".to_string(),
                n(lock.lease_until.saturating_add(RECORD_RETENTION_SECS)),
            ),
        ]);
        if let Some(task) = &lock.task_arn {
            item.insert("task_arn".to_string(), s(task));
        }
        let result = self
            .dynamodb
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(
                "attribute_not_exists(pk) OR lease_until < :now OR request_id = :me",
            )
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":me", s(&lock.request_id))
            .send()
            .await;
        match result {
            Ok(_) => Ok(LockOutcome::Acquired),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                match self.get("dynamodb:GetItem (lock)", &pk).await? {
                    Some(holder) => Ok(LockOutcome::Busy(lock_from(&holder))),
                    // Released between the two calls: the caller's retry will find it free.
                    None => Err(PortError {
                        operation: "dynamodb:PutItem (lock)",
                        message: "the lane lock changed hands during the attempt".into(),
                    }),
                }
            }
            Err(e) => Err(port_error("dynamodb:PutItem (lock)", e)),
        }
    }

    async fn lock_of(&self, lane: &str) -> Result<Option<LaneLock>, PortError> {
        Ok(self
            .get("dynamodb:GetItem (lock)", &format!("lock#{lane}"))
            .await?
            .map(|item| lock_from(&item)))
    }

    async fn attach_task(&self, lock: &LaneLock, owner: &TaskOwner) -> Result<(), PortError> {
        let item = HashMap::from([
            ("pk".to_string(), s(&format!("task#{}", owner.task_arn))),
            ("request_id".to_string(), s(&owner.request_id)),
            ("lane".to_string(), s(&owner.lane)),
            ("container".to_string(), s(&owner.container)),
            (
                "ttl".to_string(),
                n(lock.lease_until.saturating_add(RECORD_RETENTION_SECS)),
            ),
        ]);
        self.dynamodb
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| port_error("dynamodb:PutItem (task)", e))?;
        let task = lock.task_arn.clone().unwrap_or_default();
        self.dynamodb
            .update_item()
            .table_name(&self.table)
            .key("pk", s(&format!("lock#{}", lock.lane)))
            .update_expression("SET task_arn = :t")
            .condition_expression("request_id = :me")
            .expression_attribute_values(":t", s(&task))
            .expression_attribute_values(":me", s(&lock.request_id))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| port_error("dynamodb:UpdateItem (lock)", e))
    }

    async fn release_lock(&self, lane: &str, request_id: &str) -> Result<(), PortError> {
        let result = self
            .dynamodb
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(&format!("lock#{lane}")))
            .condition_expression("request_id = :me")
            .expression_attribute_values(":me", s(request_id))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // Someone else holds it now (our lease ran out and it was taken over): not ours.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(port_error("dynamodb:DeleteItem (lock)", e)),
        }
    }

    async fn task_owner(&self, task_arn: &str) -> Result<Option<TaskOwner>, PortError> {
        Ok(self
            .get("dynamodb:GetItem (task)", &format!("task#{task_arn}"))
            .await?
            .map(|item| TaskOwner {
                task_arn: task_arn.to_string(),
                request_id: item.text("request_id"),
                lane: item.text("lane"),
                container: item.text("container"),
            }))
    }

    async fn image_scan(&self, image: &ImageRef) -> Result<ImageScan, PortError> {
        let (registry, name) = ecr_repository(&image.repository);
        let id = ImageIdentifier::builder()
            .image_digest(format!("sha256:{}", image.digest))
            .build();
        let described = self
            .ecr
            .describe_images()
            .set_registry_id(registry.clone())
            .repository_name(&name)
            .image_ids(id.clone())
            .send()
            .await;
        match described {
            Ok(out) if !out.image_details().is_empty() => {}
            Ok(_) => return Ok(ImageScan::default()),
            Err(e)
                if e.as_service_error().is_some_and(|e| {
                    e.is_image_not_found_exception() || e.is_repository_not_found_exception()
                }) =>
            {
                return Ok(ImageScan::default());
            }
            Err(e) => return Err(port_error("ecr:DescribeImages", e)),
        }
        let findings = self
            .ecr
            .describe_image_scan_findings()
            .set_registry_id(registry)
            .repository_name(&name)
            .image_id(id)
            .send()
            .await;
        match findings {
            Ok(out) => Ok(ImageScan {
                exists: true,
                status: out
                    .image_scan_status()
                    .and_then(|s| s.status())
                    .map(|s| s.as_str().to_string()),
                counts: out
                    .image_scan_findings()
                    .and_then(|f| f.finding_severity_counts())
                    .map(|counts| {
                        counts
                            .iter()
                            .map(|(k, v)| (k.as_str().to_string(), i64::from(*v)))
                            .collect()
                    })
                    .unwrap_or_default(),
            }),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_scan_not_found_exception()) =>
            {
                Ok(ImageScan {
                    exists: true,
                    ..ImageScan::default()
                })
            }
            Err(e) => Err(port_error("ecr:DescribeImageScanFindings", e)),
        }
    }

    async fn run_task(&self, job: &Job, launch: &Launch) -> Result<RunTaskOutcome, PortError> {
        let spec = &TaskSpec::new(job, launch);
        let vpc = AwsVpcConfiguration::builder()
            .set_subnets(Some(spec.subnets.clone()))
            .set_security_groups(Some(spec.security_groups.clone()))
            .assign_public_ip(if spec.assign_public_ip {
                AssignPublicIp::Enabled
            } else {
                AssignPublicIp::Disabled
            })
            .build()
            .map_err(|e| port_error("ecs:RunTask (network)", e))?;
        let environment: Vec<KeyValuePair> = spec
            .environment
            .iter()
            .map(|(k, v)| KeyValuePair::builder().name(k).value(v).build())
            .collect();
        let overrides = TaskOverride::builder()
            .container_overrides(
                ContainerOverride::builder()
                    .name(&spec.container)
                    .set_environment(Some(environment))
                    .build(),
            )
            .build();
        let tags: Vec<Tag> = spec
            .tags
            .iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect();
        let result = self
            .ecs
            .run_task()
            .cluster(&spec.cluster)
            .task_definition(&spec.task_definition)
            .launch_type(LaunchType::Fargate)
            .count(1)
            .client_token(&spec.client_token)
            .started_by(&spec.started_by)
            .network_configuration(
                NetworkConfiguration::builder()
                    .awsvpc_configuration(vpc)
                    .build(),
            )
            .overrides(overrides)
            .set_tags(Some(tags))
            .send()
            .await;
        match result {
            Ok(out) => {
                if let Some(arn) = out.tasks().first().and_then(|t| t.task_arn()) {
                    return Ok(RunTaskOutcome::Started {
                        task_arn: arn.to_string(),
                    });
                }
                let reasons: Vec<String> = out
                    .failures()
                    .iter()
                    .map(|f| {
                        format!(
                            "{} ({})",
                            f.reason().unwrap_or("unknown reason"),
                            f.detail().or(f.arn()).unwrap_or("")
                        )
                    })
                    .collect();
                Ok(RunTaskOutcome::Failed {
                    reason: if reasons.is_empty() {
                        "no task and no failure in the response".into()
                    } else {
                        reasons.join("; ")
                    },
                })
            }
            Err(e) => {
                // A refusal by ECS (bad configuration, access denied, unknown cluster) will
                // not change on retry; throttling, 5xx and transport errors might. Both end
                // as `run_task_failed` (the SDK has retried), but only the first is ECS's
                // answer; the second is a failed call.
                use airlock_aws::aws_sdk_ecs::error::ProvideErrorMetadata as _;
                let status = e.raw_response().map(|r| r.status().as_u16());
                let code = e.code().unwrap_or_default().to_string();
                let refused = e.as_service_error().is_some()
                    && status.is_some_and(|s| (400..500).contains(&s))
                    && !code.contains("Throttl");
                // The follower reads this: lead with AWS's error code (`InternalFailure`,
                // `ThrottlingException`, …), which says what to do better than the prose.
                let message = match (e.code(), e.message()) {
                    (Some(code), Some(text)) => format!("{code}: {text}"),
                    (Some(code), None) => code.to_string(),
                    (None, _) => {
                        airlock_aws::aws_smithy_types::error::display::DisplayErrorContext(e)
                            .to_string()
                    }
                };
                if refused {
                    Ok(RunTaskOutcome::Failed { reason: message })
                } else {
                    Err(PortError {
                        operation: "ecs:RunTask",
                        message,
                    })
                }
            }
        }
    }

    async fn stop_task(
        &self,
        cluster: &str,
        task_arn: &str,
        reason: &str,
    ) -> Result<(), PortError> {
        self.ecs
            .stop_task()
            .cluster(cluster)
            .task(task_arn)
            .reason(reason)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| port_error("ecs:StopTask", e))
    }

    async fn send_feedback(&self, queue_url: &str, body: &str) -> Result<(), PortError> {
        self.sqs
            .send_message()
            .queue_url(queue_url)
            .message_body(body)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| port_error("sqs:SendMessage", e))
    }

    fn audit(&self, record: &AuditRecord) {
        emit_audit(record);
    }
}

/// Reads the configuration document from an SSM parameter (decrypted if it is a SecureString).
pub async fn config_from_ssm(
    config: &airlock_aws::SdkConfig,
    name: &str,
) -> Result<String, PortError> {
    let out = airlock_aws::ssm(config)
        .get_parameter()
        .name(name)
        .with_decryption(true)
        .send()
        .await
        .map_err(|e| port_error("ssm:GetParameter", e))?;
    out.parameter()
        .and_then(|p| p.value())
        .map(str::to_string)
        .ok_or_else(|| PortError {
            operation: "ssm:GetParameter",
            message: format!("parameter {name} has no value"),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ecr_repository_names_split_off_the_registry() {
        assert_eq!(
            ecr_repository("222222222222.dkr.ecr.eu-west-1.amazonaws.com/deploy/app"),
            (Some("222222222222".into()), "deploy/app".into())
        );
        assert_eq!(ecr_repository("deploy/app"), (None, "deploy/app".into()));
    }
}
