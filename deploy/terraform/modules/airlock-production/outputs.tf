# What the CI side needs (the names match the CloudFormation stack's outputs in snake_case:
# TopicArn, FeedbackQueueUrl, FeedbackQueueArn, Region, DispatcherFunctionName, TaskLogGroup).

output "topic_arn" {
  description = "The lane's request topic: AIRLOCK_LANE_TOPIC_ARN in CI."
  value       = aws_sns_topic.requests.arn
}

output "feedback_queue_url" {
  description = "The lane's feedback queue: AIRLOCK_LANE_FEEDBACK_QUEUE_URL in CI."
  value       = aws_sqs_queue.feedback.url
}

output "feedback_queue_arn" {
  description = "The feedback queue's ARN, for CI's role (airlock-ci's feedback_queue_arn)."
  value       = aws_sqs_queue.feedback.arn
}

output "region" {
  description = "The lane's region ([lane] region in CI)."
  value       = local.region
}

output "dispatcher_function_name" {
  description = "The dispatcher Lambda function."
  value       = aws_lambda_function.dispatcher.function_name
}

output "task_log_group" {
  description = "The log group holding every deployment's full output, in the production account."
  value       = aws_cloudwatch_log_group.task.name
}

output "topic_kms_key_arn" {
  description = "The key that encrypts the topic, for CI's role (airlock-ci's topic_kms_key_arn)."
  value       = aws_kms_key.lane.arn
}

output "cluster_arn" {
  description = "The ECS cluster the deployment tasks run in."
  value       = aws_ecs_cluster.lane.arn
}

output "task_definition" {
  description = "The pinned task definition (family:revision) every job runs."
  value       = local.task_definition_pin
}

output "dispatch_config_parameter" {
  description = "The SSM parameter holding the dispatcher's configuration."
  value       = aws_ssm_parameter.dispatch_config.name
}
