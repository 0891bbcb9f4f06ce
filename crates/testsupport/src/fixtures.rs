//! The standard AWS fixtures, created through the SDK exactly as production code would.

use aws_config::SdkConfig;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    TimeToLiveSpecification,
};
use aws_sdk_ec2::types::{AttributeBooleanValue, ResourceType, Tag, TagSpecification};
use aws_sdk_ecs::types::{
    Compatibility, ContainerDefinition, LogConfiguration, LogDriver, NetworkMode,
};
use aws_sdk_kms::types::{KeySpec, KeyUsageType};
use aws_sdk_sqs::types::QueueAttributeName;

use crate::HarnessError;

/// What moto's ECS RunTask with `awsvpc` networking needs to exist.
#[derive(Debug, Clone)]
pub struct Network {
    pub vpc_id: String,
    pub subnet_id: String,
    pub security_group_id: String,
}

/// A VPC with DNS hostnames on, one private subnet, and a security group with no ingress.
pub async fn network(config: &SdkConfig) -> Result<Network, HarnessError> {
    let ec2 = airlock_aws::ec2(config);
    let vpc = ec2
        .create_vpc()
        .cidr_block("10.42.0.0/16")
        .tag_specifications(name_tag(ResourceType::Vpc, "airlock-test"))
        .send()
        .await
        .map_err(|e| HarnessError::aws("ec2:CreateVpc", e))?;
    let vpc_id = vpc
        .vpc()
        .and_then(|v| v.vpc_id())
        .ok_or_else(|| missing("ec2:CreateVpc", "VpcId"))?
        .to_string();
    ec2.modify_vpc_attribute()
        .vpc_id(&vpc_id)
        .enable_dns_hostnames(AttributeBooleanValue::builder().value(true).build())
        .send()
        .await
        .map_err(|e| HarnessError::aws("ec2:ModifyVpcAttribute", e))?;
    let subnet = ec2
        .create_subnet()
        .vpc_id(&vpc_id)
        .cidr_block("10.42.1.0/24")
        .availability_zone(format!("{}a", crate::REGION))
        .send()
        .await
        .map_err(|e| HarnessError::aws("ec2:CreateSubnet", e))?;
    let subnet_id = subnet
        .subnet()
        .and_then(|s| s.subnet_id())
        .ok_or_else(|| missing("ec2:CreateSubnet", "SubnetId"))?
        .to_string();
    let group = ec2
        .create_security_group()
        .vpc_id(&vpc_id)
        .group_name("airlock-test-runner")
        .description("deployment runner: egress only")
        .send()
        .await
        .map_err(|e| HarnessError::aws("ec2:CreateSecurityGroup", e))?;
    let security_group_id = group
        .group_id()
        .ok_or_else(|| missing("ec2:CreateSecurityGroup", "GroupId"))?
        .to_string();
    Ok(Network {
        vpc_id,
        subnet_id,
        security_group_id,
    })
}

/// An ECS cluster; returns its ARN.
pub async fn cluster(config: &SdkConfig, name: &str) -> Result<String, HarnessError> {
    let out = airlock_aws::ecs(config)
        .create_cluster()
        .cluster_name(name)
        .send()
        .await
        .map_err(|e| HarnessError::aws("ecs:CreateCluster", e))?;
    out.cluster()
        .and_then(|c| c.cluster_arn())
        .map(str::to_string)
        .ok_or_else(|| missing("ecs:CreateCluster", "clusterArn"))
}

/// A Fargate task definition with one container named `container`; returns its ARN
/// (`family:revision`).
pub async fn fargate_task_definition(
    config: &SdkConfig,
    family: &str,
    container: &str,
) -> Result<String, HarnessError> {
    let definition = ContainerDefinition::builder()
        .name(container)
        .image(format!(
            "{}.dkr.ecr.{}.amazonaws.com/deployer@sha256:{}",
            crate::ACCOUNT_ID,
            crate::REGION,
            "0".repeat(64)
        ))
        .essential(true)
        // Fargate takes memory from the task; moto's RunTask sums the containers' and fails
        // with a Python TypeError when a container has none.
        .memory(512)
        .readonly_root_filesystem(true)
        .user("10001")
        .log_configuration(
            LogConfiguration::builder()
                .log_driver(LogDriver::Awslogs)
                .options("awslogs-group", "/airlock/test")
                .options("awslogs-region", crate::REGION)
                .options("awslogs-stream-prefix", "runner")
                .build()
                .map_err(|e| HarnessError::aws("ecs:LogConfiguration", e))?,
        )
        .build();
    let out = airlock_aws::ecs(config)
        .register_task_definition()
        .family(family)
        .requires_compatibilities(Compatibility::Fargate)
        .network_mode(NetworkMode::Awsvpc)
        .cpu("256")
        .memory("512")
        .container_definitions(definition)
        .send()
        .await
        .map_err(|e| HarnessError::aws("ecs:RegisterTaskDefinition", e))?;
    out.task_definition()
        .and_then(|t| t.task_definition_arn())
        .map(str::to_string)
        .ok_or_else(|| missing("ecs:RegisterTaskDefinition", "taskDefinitionArn"))
}

/// An SNS topic with an SQS queue subscribed with raw message delivery, as the lane uses.
#[derive(Debug, Clone)]
pub struct TopicQueue {
    pub topic_arn: String,
    pub queue_url: String,
    pub queue_arn: String,
    pub subscription_arn: String,
}

pub async fn topic_with_raw_queue(
    config: &SdkConfig,
    name: &str,
) -> Result<TopicQueue, HarnessError> {
    let sns = airlock_aws::sns(config);
    let sqs = airlock_aws::sqs(config);
    let topic_arn = sns
        .create_topic()
        .name(name)
        .send()
        .await
        .map_err(|e| HarnessError::aws("sns:CreateTopic", e))?
        .topic_arn()
        .ok_or_else(|| missing("sns:CreateTopic", "TopicArn"))?
        .to_string();
    let queue_url = sqs
        .create_queue()
        .queue_name(name)
        .send()
        .await
        .map_err(|e| HarnessError::aws("sqs:CreateQueue", e))?
        .queue_url()
        .ok_or_else(|| missing("sqs:CreateQueue", "QueueUrl"))?
        .to_string();
    let queue_arn = sqs
        .get_queue_attributes()
        .queue_url(&queue_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|e| HarnessError::aws("sqs:GetQueueAttributes", e))?
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn))
        .ok_or_else(|| missing("sqs:GetQueueAttributes", "QueueArn"))?
        .clone();
    // Real SQS refuses SNS's deliveries without this; moto does not check, we set it anyway
    // so the fixture is what production needs.
    let policy = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Service": "sns.amazonaws.com"},
            "Action": "sqs:SendMessage",
            "Resource": queue_arn,
            "Condition": {"ArnEquals": {"aws:SourceArn": topic_arn}}
        }]
    });
    sqs.set_queue_attributes()
        .queue_url(&queue_url)
        .attributes(QueueAttributeName::Policy, policy.to_string())
        .send()
        .await
        .map_err(|e| HarnessError::aws("sqs:SetQueueAttributes", e))?;
    let subscription_arn = sns
        .subscribe()
        .topic_arn(&topic_arn)
        .protocol("sqs")
        .endpoint(&queue_arn)
        .attributes("RawMessageDelivery", "true")
        .return_subscription_arn(true)
        .send()
        .await
        .map_err(|e| HarnessError::aws("sns:Subscribe", e))?
        .subscription_arn()
        .ok_or_else(|| missing("sns:Subscribe", "SubscriptionArn"))?
        .to_string();
    Ok(TopicQueue {
        topic_arn,
        queue_url,
        queue_arn,
        subscription_arn,
    })
}

/// A pay-per-request DynamoDB table keyed by the string `partition_key`, with TTL on
/// `ttl_attribute`; returns the table name.
pub async fn ttl_table(
    config: &SdkConfig,
    name: &str,
    partition_key: &str,
    ttl_attribute: &str,
) -> Result<String, HarnessError> {
    let ddb = airlock_aws::dynamodb(config);
    ddb.create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(partition_key)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(|e| HarnessError::aws("dynamodb:AttributeDefinition", e))?,
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name(partition_key)
                .key_type(KeyType::Hash)
                .build()
                .map_err(|e| HarnessError::aws("dynamodb:KeySchemaElement", e))?,
        )
        .send()
        .await
        .map_err(|e| HarnessError::aws("dynamodb:CreateTable", e))?;
    ddb.update_time_to_live()
        .table_name(name)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .enabled(true)
                .attribute_name(ttl_attribute)
                .build()
                .map_err(|e| HarnessError::aws("dynamodb:TimeToLiveSpecification", e))?,
        )
        .send()
        .await
        .map_err(|e| HarnessError::aws("dynamodb:UpdateTimeToLive", e))?;
    Ok(name.to_string())
}

/// A KMS asymmetric `ECC_NIST_P256` key for `SIGN_VERIFY`; returns its key ARN.
pub async fn signing_key(config: &SdkConfig) -> Result<String, HarnessError> {
    let out = airlock_aws::kms(config)
        .create_key()
        .key_spec(KeySpec::EccNistP256)
        .key_usage(KeyUsageType::SignVerify)
        .description("airlock test deploy-request signing key")
        .send()
        .await
        .map_err(|e| HarnessError::aws("kms:CreateKey", e))?;
    out.key_metadata()
        .and_then(|m| m.arn())
        .map(str::to_string)
        .ok_or_else(|| missing("kms:CreateKey", "KeyMetadata.Arn"))
}

fn name_tag(resource: ResourceType, name: &str) -> TagSpecification {
    TagSpecification::builder()
        .resource_type(resource)
        .tags(Tag::builder().key("Name").value(name).build())
        .build()
}

fn missing(operation: &str, field: &str) -> HarnessError {
    HarnessError::Aws {
        operation: operation.to_string(),
        message: format!("response has no {field}"),
    }
}

/// A standard SQS queue; returns its URL.
pub async fn queue(config: &SdkConfig, name: &str) -> Result<String, HarnessError> {
    create_queue(config, name, None).await
}

/// A standard SQS queue whose own visibility timeout is `visibility` (whole seconds), as the
/// lane's stacks set it; returns its URL.
pub async fn queue_with_visibility(
    config: &SdkConfig,
    name: &str,
    visibility: std::time::Duration,
) -> Result<String, HarnessError> {
    create_queue(config, name, Some(visibility)).await
}

async fn create_queue(
    config: &SdkConfig,
    name: &str,
    visibility: Option<std::time::Duration>,
) -> Result<String, HarnessError> {
    let mut create = airlock_aws::sqs(config).create_queue().queue_name(name);
    if let Some(visibility) = visibility {
        create = create.attributes(
            QueueAttributeName::VisibilityTimeout,
            visibility.as_secs().to_string(),
        );
    }
    create
        .send()
        .await
        .map_err(|e| HarnessError::aws("sqs:CreateQueue", e))?
        .queue_url()
        .map(str::to_string)
        .ok_or_else(|| missing("sqs:CreateQueue", "QueueUrl"))
}

/// How many messages `queue_url` holds, visible or received and not yet deleted: zero means
/// nothing was left behind.
pub async fn messages_in(config: &SdkConfig, queue_url: &str) -> Result<usize, HarnessError> {
    let counts = [
        QueueAttributeName::ApproximateNumberOfMessages,
        QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
    ];
    let out = airlock_aws::sqs(config)
        .get_queue_attributes()
        .queue_url(queue_url)
        .set_attribute_names(Some(counts.to_vec()))
        .send()
        .await
        .map_err(|e| HarnessError::aws("sqs:GetQueueAttributes", e))?;
    let attributes = out.attributes().cloned().unwrap_or_default();
    let mut total = 0;
    for name in &counts {
        let count = attributes
            .get(name)
            .and_then(|n| n.parse::<usize>().ok())
            .ok_or_else(|| missing("sqs:GetQueueAttributes", name.as_str()))?;
        total += count;
    }
    Ok(total)
}

/// The production side of a lane as CI sees it: the request topic (with a queue to read what
/// was published), the feedback queue, and the signing key with its public key.
#[derive(Debug, Clone)]
pub struct LaneEndpoints {
    pub requests: TopicQueue,
    pub feedback_url: String,
    pub key_id: String,
    /// The signing key's public key, DER (SubjectPublicKeyInfo), as KMS returns it.
    pub public_key_der: Vec<u8>,
}

/// Creates `lane-requests` (topic and raw queue), `lane-feedback` and a P-256 signing key.
pub async fn lane_endpoints(config: &SdkConfig) -> Result<LaneEndpoints, HarnessError> {
    let requests = topic_with_raw_queue(config, "lane-requests").await?;
    let feedback_url = queue(config, "lane-feedback").await?;
    let key_id = signing_key(config).await?;
    let public_key_der = airlock_aws::kms(config)
        .get_public_key()
        .key_id(&key_id)
        .send()
        .await
        .map_err(|e| HarnessError::aws("kms:GetPublicKey", e))?
        .public_key()
        .map(|blob| blob.as_ref().to_vec())
        .ok_or_else(|| missing("kms:GetPublicKey", "PublicKey"))?;
    Ok(LaneEndpoints {
        requests,
        feedback_url,
        key_id,
        public_key_der,
    })
}

/// Where the dispatcher starts deployment tasks: a network, the `airlock-prod` cluster and
/// the `airlock-deploy` Fargate task definition (container `deploy`), pinned.
#[derive(Debug, Clone)]
pub struct DeployTarget {
    pub network: Network,
    pub cluster_arn: String,
    pub task_definition: String,
}

pub async fn deploy_target(config: &SdkConfig) -> Result<DeployTarget, HarnessError> {
    Ok(DeployTarget {
        network: network(config).await?,
        cluster_arn: cluster(config, "airlock-prod").await?,
        task_definition: fargate_task_definition(config, "airlock-deploy", "deploy").await?,
    })
}

/// Waits up to `timeout` for the next message on `queue_url` (long polls of 1 s), deletes it,
/// and returns its body: how a test plays the consumer of a queue.
pub async fn take_message(
    config: &SdkConfig,
    queue_url: &str,
    timeout: std::time::Duration,
) -> Result<String, HarnessError> {
    let sqs = airlock_aws::sqs(config);
    let deadline = std::time::Instant::now() + timeout;
    while std::time::Instant::now() < deadline {
        let received = sqs
            .receive_message()
            .queue_url(queue_url)
            .wait_time_seconds(1)
            .send()
            .await
            .map_err(|e| HarnessError::aws("sqs:ReceiveMessage", e))?;
        let Some(message) = received.messages().first() else {
            continue;
        };
        sqs.delete_message()
            .queue_url(queue_url)
            .set_receipt_handle(message.receipt_handle().map(str::to_string))
            .send()
            .await
            .map_err(|e| HarnessError::aws("sqs:DeleteMessage", e))?;
        return Ok(message.body().unwrap_or_default().to_string());
    }
    Err(missing(
        "sqs:ReceiveMessage",
        &format!("message on {queue_url} within {}s", timeout.as_secs()),
    ))
}

/// ECS's view of one task.
pub async fn describe_task(
    config: &SdkConfig,
    cluster: &str,
    task_arn: &str,
) -> Result<aws_sdk_ecs::types::Task, HarnessError> {
    airlock_aws::ecs(config)
        .describe_tasks()
        .cluster(cluster)
        .tasks(task_arn)
        .send()
        .await
        .map_err(|e| HarnessError::aws("ecs:DescribeTasks", e))?
        .tasks()
        .first()
        .cloned()
        .ok_or_else(|| missing("ecs:DescribeTasks", "the task"))
}
