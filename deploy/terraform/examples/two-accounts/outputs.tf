# What the CI side needs, one output each, under the names `airlock lane config
# --terraform-output` reads:
#   terraform output -json | airlock lane config --terraform-output - -o airlock.toml

output "topic_arn" {
  description = "The request topic in the production account ([lane] topic_arn)."
  value       = module.production.topic_arn
}

output "feedback_queue_url" {
  description = "The feedback queue in the production account ([lane] feedback_queue_url)."
  value       = module.production.feedback_queue_url
}

output "feedback_queue_arn" {
  description = "The feedback queue's ARN (CI's role may receive from it and nothing else)."
  value       = module.production.feedback_queue_arn
}

output "signing_key_arn" {
  description = "CI's signing key in the CI account ([lane] signing_key_id)."
  value       = module.ci.signing_key_arn
}

output "region" {
  description = "The production region ([lane] region)."
  value       = module.production.region
}

output "ci_role_arn" {
  description = "The role CI assumes (GitHub OIDC) before airlock deploy."
  value       = module.ci.ci_role_arn
}

output "dispatcher_function_name" {
  description = "The dispatcher Lambda; its log group holds one line per decision."
  value       = module.production.dispatcher_function_name
}

output "task_log_group" {
  description = "Every deployment's full output, kept in the production account."
  value       = module.production.task_log_group
}
