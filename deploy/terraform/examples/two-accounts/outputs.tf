# Everything `airlock deploy` needs in CI ([lane] in airlock.toml, or the AIRLOCK_LANE_*
# variables), and the role CI assumes.

output "lane" {
  description = "The CI side's [lane] settings."
  value = {
    topic_arn          = module.production.topic_arn
    feedback_queue_url = module.production.feedback_queue_url
    signing_key_id     = module.ci.signing_key_arn
    region             = module.production.region
  }
}

output "ci_role_arn" {
  description = "The role CI assumes (GitHub OIDC) before airlock deploy."
  value       = module.ci.ci_role_arn
}

output "task_log_group" {
  description = "Every deployment's full output, kept in the production account."
  value       = module.production.task_log_group
}
