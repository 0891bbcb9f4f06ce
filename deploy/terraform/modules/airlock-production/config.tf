# The dispatcher's TOML configuration (crates/dispatch/src/config.rs), written from this
# module's own resources and the job allowlist, into a SecureString parameter.
#
# Terraform has no TOML encoder. Every string goes through jsonencode: a JSON string is a
# valid TOML basic string with the same value (JSON's escapes, \uXXXX included, are TOML's).

locals {
  job_sections = [
    for name, job in var.jobs : join("\n", concat(
      [
        "",
        "[dispatch.jobs.${jsonencode(name)}]",
        "cluster = ${jsonencode(aws_ecs_cluster.lane.arn)}",
        "task_definition = ${jsonencode(local.task_definition_pin)}",
        "container = ${jsonencode(local.container_name)}",
        "subnets = ${jsonencode(var.subnet_ids)}",
        "security_groups = ${jsonencode([aws_security_group.runner.id])}",
        "assign_public_ip = ${var.assign_public_ip}",
        "feedback_queue_url = ${jsonencode(aws_sqs_queue.feedback.url)}",
        "repositories = ${jsonencode(job.repositories)}",
        "image_required = ${job.image_required}",
        "timeout_secs = ${job.timeout_secs}",
      ],
      job.ecr_gate_severity == "" ? [] : [
        "[dispatch.jobs.${jsonencode(name)}.ecr_gate]",
        "severity = ${jsonencode(job.ecr_gate_severity)}",
      ],
      flatten([
        for param, schema in job.params : concat(
          ["[dispatch.jobs.${jsonencode(name)}.params.${param}]"],
          length(schema.enum) > 0 ? ["enum = ${jsonencode(schema.enum)}"] : [],
          schema.pattern != "" ? ["pattern = ${jsonencode(schema.pattern)}"] : [],
          schema.max_len > 0 ? ["max_len = ${schema.max_len}"] : [],
        )
      ]),
    ))
  ]

  dispatch_config = join("\n", concat(
    [
      "# Written by deploy/terraform/modules/airlock-production; edit the module's inputs instead.",
      "[dispatch]",
      "table = ${jsonencode(aws_dynamodb_table.lane.name)}",
      "lock_grace_secs = ${var.lock_grace_secs}",
      "",
      "[dispatch.keys]",
      "${jsonencode(var.signing_key_arn)} = ${jsonencode(var.signing_public_key_pem)}",
    ],
    local.job_sections,
    [""],
  ))
}

resource "aws_ssm_parameter" "dispatch_config" {
  name        = local.config_parameter
  description = "airlock dispatcher configuration (TOML): trusted keys and the job allowlist"
  type        = "SecureString"
  key_id      = aws_kms_key.lane.arn
  # A Standard parameter holds 4 KB; a long allowlist needs the Advanced tier (8 KB).
  tier  = length(local.dispatch_config) > 4096 ? "Advanced" : "Standard"
  value = local.dispatch_config
  tags  = var.tags
}
