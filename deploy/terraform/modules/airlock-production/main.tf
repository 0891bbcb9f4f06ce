# airlock-production: the production account's half of the deploy lane. What CI may reach
# (the request topic, the feedback queue) and everything CI cannot choose: the dispatcher
# that checks each request, the task it starts, that task's role, network and image.

data "aws_caller_identity" "current" {}
data "aws_region" "current" {}
data "aws_partition" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  region     = data.aws_region.current.name
  partition  = data.aws_partition.current.partition

  topic_name          = "${var.name}-lane"
  feedback_queue_name = "${var.name}-feedback"
  table_name          = "${var.name}-lane"
  function_name       = "${var.name}-dispatch"
  cluster_name        = var.name
  task_family         = "${var.name}-deploy"
  container_name      = "deploy"
  dispatcher_role     = "${var.name}-dispatch"
  task_role           = "${var.name}-deploy-task"
  execution_role      = "${var.name}-deploy-execution"
  config_parameter    = "/airlock/${var.name}/dispatch/config"

  # The ARNs the policies name, built from names so that no policy waits for the resource it
  # protects (and the key policy can name roles that trust it).
  topic_arn            = "arn:${local.partition}:sns:${local.region}:${local.account_id}:${local.topic_name}"
  dispatcher_role_arn  = "arn:${local.partition}:iam::${local.account_id}:role/${local.dispatcher_role}"
  task_role_arn        = "arn:${local.partition}:iam::${local.account_id}:role/${local.task_role}"
  config_parameter_arn = "arn:${local.partition}:ssm:${local.region}:${local.account_id}:parameter${local.config_parameter}"
  dispatcher_log_group = "/aws/lambda/${local.function_name}"
  task_log_group       = "/airlock/${var.name}/deploy"
  log_group_arns = [
    "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:${local.dispatcher_log_group}",
    "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:${local.task_log_group}",
  ]
}

# One customer managed key for the lane's data at rest: the request topic, the table, the
# dispatcher's configuration and both log groups.
data "aws_iam_policy_document" "lane_key" {
  # checkov:skip=CKV_AWS_109:a key policy's Resource "*" is this key alone, and every statement names its principals
  # checkov:skip=CKV_AWS_111:a key policy's Resource "*" is this key alone, and every statement names its principals
  # checkov:skip=CKV_AWS_356:a key policy's Resource "*" is this key alone (KMS allows nothing else there)
  # No statement gives kms:* to the account root: the key is used only through the lane's
  # services, by the principals named here.
  statement {
    sid    = "AdministersTheKeyButReadsNothing"
    effect = "Allow"
    actions = [
      "kms:CancelKeyDeletion",
      "kms:CreateAlias",
      "kms:DeleteAlias",
      "kms:DescribeKey",
      "kms:DisableKey",
      "kms:DisableKeyRotation",
      "kms:EnableKey",
      "kms:EnableKeyRotation",
      "kms:GetKeyPolicy",
      "kms:GetKeyRotationStatus",
      "kms:ListGrants",
      "kms:ListKeyPolicies",
      "kms:ListResourceTags",
      "kms:PutKeyPolicy",
      "kms:RevokeGrant",
      "kms:ScheduleKeyDeletion",
      "kms:TagResource",
      "kms:UntagResource",
      "kms:UpdateAlias",
      "kms:UpdateKeyDescription",
    ]
    # In a key policy, "*" is the key itself.
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = var.key_administrator_arns
    }
  }

  # Creating the table, the topic and the SecureString parameter encrypts under the key on
  # the creator's behalf; reading the parameter back (terraform refresh) decrypts it.
  statement {
    sid       = "AdministratorsCreateLaneResourcesThroughTheirServices"
    effect    = "Allow"
    actions   = ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey*", "kms:CreateGrant", "kms:DescribeKey"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = var.key_administrator_arns
    }
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values = [
        "dynamodb.${local.region}.amazonaws.com",
        "sns.${local.region}.amazonaws.com",
        "ssm.${local.region}.amazonaws.com",
      ]
    }
  }

  statement {
    sid       = "CiPublishesEncryptedRequestsThroughSns"
    effect    = "Allow"
    actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = [var.ci_role_arn]
    }
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["sns.${local.region}.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "kms:EncryptionContext:aws:sns:topicArn"
      values   = [local.topic_arn]
    }
  }

  statement {
    sid       = "DispatcherUsesTheTableThroughDynamoDb"
    effect    = "Allow"
    actions   = ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = [aws_iam_role.dispatcher.arn]
    }
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["dynamodb.${local.region}.amazonaws.com"]
    }
  }

  statement {
    sid       = "DispatcherReadsItsConfigurationThroughSsm"
    effect    = "Allow"
    actions   = ["kms:Decrypt"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = [aws_iam_role.dispatcher.arn]
    }
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["ssm.${local.region}.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "kms:EncryptionContext:PARAMETER_ARN"
      values   = [local.config_parameter_arn]
    }
  }

  statement {
    sid       = "CloudWatchLogsEncryptsTheLaneLogGroups"
    effect    = "Allow"
    actions   = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["logs.${local.region}.amazonaws.com"]
    }
    condition {
      test     = "ArnEquals"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = local.log_group_arns
    }
  }
}

resource "aws_kms_key" "lane" {
  description             = "airlock lane ${var.name}: requests, table, dispatcher configuration and logs"
  deletion_window_in_days = 30
  enable_key_rotation     = true
  policy                  = data.aws_iam_policy_document.lane_key.json
  tags                    = var.tags
}

resource "aws_kms_alias" "lane" {
  name          = "alias/${var.name}-lane"
  target_key_id = aws_kms_key.lane.key_id
}
