# What CI reaches across the account boundary: the request topic (publish only) and the
# feedback queue (receive and delete only). And the dispatcher's table.

resource "aws_sns_topic" "requests" {
  name              = local.topic_name
  kms_master_key_id = aws_kms_key.lane.arn
  tags              = var.tags
}

data "aws_iam_policy_document" "requests" {
  statement {
    sid       = "OnlyCiPublishes"
    effect    = "Allow"
    actions   = ["sns:Publish"]
    resources = [local.topic_arn]
    principals {
      type        = "AWS"
      identifiers = [var.ci_role_arn]
    }
  }

  # SNS does not tell the dispatcher who published: this deny and the signature are the two
  # controls on what reaches it. It binds production principals that hold sns:* too.
  statement {
    sid       = "NobodyElsePublishes"
    effect    = "Deny"
    actions   = ["sns:Publish"]
    resources = [local.topic_arn]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "ArnNotEquals"
      variable = "aws:PrincipalArn"
      values   = [var.ci_role_arn]
    }
  }

  statement {
    sid       = "TlsOnly"
    effect    = "Deny"
    actions   = ["sns:Publish"]
    resources = [local.topic_arn]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }

  statement {
    sid       = "NoSubscriptionsFromOtherAccounts"
    effect    = "Deny"
    actions   = ["sns:Subscribe"]
    resources = [local.topic_arn]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "StringNotEquals"
      variable = "aws:PrincipalAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_sns_topic_policy" "requests" {
  arn    = aws_sns_topic.requests.arn
  policy = data.aws_iam_policy_document.requests.json
}

# Feedback: SSE-SQS, whose AWS-owned key needs no KMS rights of CI, the dispatcher or the
# runner. Messages of an earlier deployment expire with the retention; the short visibility
# timeout lets a message one follower skipped reach the follower it belongs to soon.
resource "aws_sqs_queue" "feedback_dlq" {
  name                      = "${local.feedback_queue_name}-dlq"
  sqs_managed_sse_enabled   = true
  message_retention_seconds = 1209600
  tags                      = var.tags
}

resource "aws_sqs_queue" "feedback" {
  name                       = local.feedback_queue_name
  sqs_managed_sse_enabled    = true
  message_retention_seconds  = var.feedback_retention_seconds
  visibility_timeout_seconds = 10
  receive_wait_time_seconds  = 20
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.feedback_dlq.arn
    # Followers leave other requests' messages alone, so a message is received many times
    # before its own follower takes it.
    maxReceiveCount = 100
  })
  tags = var.tags
}

resource "aws_sqs_queue_redrive_allow_policy" "feedback_dlq" {
  queue_url = aws_sqs_queue.feedback_dlq.id
  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = [aws_sqs_queue.feedback.arn]
  })
}

data "aws_iam_policy_document" "feedback" {
  statement {
    sid       = "CiFollowsTheFeedback"
    effect    = "Allow"
    actions   = ["sqs:ReceiveMessage", "sqs:DeleteMessage"]
    resources = [aws_sqs_queue.feedback.arn]
    principals {
      type        = "AWS"
      identifiers = [var.ci_role_arn]
    }
  }

  statement {
    sid       = "DispatcherAndRunnerSend"
    effect    = "Allow"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.feedback.arn]
    principals {
      type        = "AWS"
      identifiers = [aws_iam_role.dispatcher.arn, aws_iam_role.task.arn]
    }
  }

  # Feedback is not signed: whoever can send writes what CI prints and the exit code it
  # reports. So nobody else may, whatever their identity policy says.
  statement {
    sid       = "NobodyElseSends"
    effect    = "Deny"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.feedback.arn]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "ArnNotEquals"
      variable = "aws:PrincipalArn"
      values   = [local.dispatcher_role_arn, local.task_role_arn]
    }
  }

  # Whoever receives can hide a deployment's output or its exit code from CI.
  statement {
    sid       = "NobodyElseReceivesOrDeletes"
    effect    = "Deny"
    actions   = ["sqs:ReceiveMessage", "sqs:DeleteMessage"]
    resources = [aws_sqs_queue.feedback.arn]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "ArnNotEquals"
      variable = "aws:PrincipalArn"
      values   = [var.ci_role_arn]
    }
  }

  statement {
    sid       = "TlsOnly"
    effect    = "Deny"
    actions   = ["sqs:*"]
    resources = [aws_sqs_queue.feedback.arn]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_sqs_queue_policy" "feedback" {
  queue_url = aws_sqs_queue.feedback.id
  policy    = data.aws_iam_policy_document.feedback.json
}

# Nonces, request ids, the lane lock and task owners: string key `pk`, TTL on `ttl`.
resource "aws_dynamodb_table" "lane" {
  name                        = local.table_name
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "pk"
  deletion_protection_enabled = true

  attribute {
    name = "pk"
    type = "S"
  }

  ttl {
    attribute_name = "ttl"
    enabled        = true
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = aws_kms_key.lane.arn
  }

  tags = var.tags
}
