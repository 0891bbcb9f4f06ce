# The dispatcher: a provided.al2023 Lambda function (the `bootstrap` of
# scripts/package-dispatcher.sh) subscribed to the request topic and to ECS's STOPPED events
# of the tasks it started. Its role is deploy/policies/dispatcher.json made concrete.

locals {
  task_definition_arn = aws_ecs_task_definition.runner.arn
  # The pin the dispatcher's configuration and its RunTask permission share.
  task_definition_pin = "${aws_ecs_task_definition.runner.family}:${aws_ecs_task_definition.runner.revision}"
  task_arns           = "arn:${local.partition}:ecs:${local.region}:${local.account_id}:task/${local.cluster_name}/*"

  repositories = distinct(flatten([for job in values(var.jobs) : job.repositories]))
  # ACCOUNT.dkr.ecr.REGION.amazonaws.com/NAME -> arn:PARTITION:ecr:REGION:ACCOUNT:repository/NAME
  repository_arns = [
    for url in local.repositories : format(
      "arn:%s:ecr:%s:%s:repository/%s",
      local.partition,
      regex("^[0-9]{12}\\.dkr\\.ecr\\.([a-z0-9-]+)\\.", url)[0],
      regex("^([0-9]{12})\\.", url)[0],
      regex("^[^/]+/(.+)$", url)[0],
    )
  ]
}

data "aws_iam_policy_document" "dispatcher_trust" {
  statement {
    sid     = "LambdaRunsTheDispatcher"
    effect  = "Allow"
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "dispatcher" {
  name               = local.dispatcher_role
  description        = "airlock dispatcher: checks signed requests and starts the pinned deployment task"
  assume_role_policy = data.aws_iam_policy_document.dispatcher_trust.json
  tags               = var.tags
}

data "aws_iam_policy_document" "dispatcher" {
  statement {
    sid       = "RunPinnedTaskDefinitionInLaneCluster"
    effect    = "Allow"
    actions   = ["ecs:RunTask"]
    resources = [local.task_definition_arn]
    condition {
      test     = "ArnEquals"
      variable = "ecs:cluster"
      values   = [aws_ecs_cluster.lane.arn]
    }
  }

  statement {
    sid       = "StopTasksInLaneCluster"
    effect    = "Allow"
    actions   = ["ecs:StopTask"]
    resources = [local.task_arns]
    condition {
      test     = "ArnEquals"
      variable = "ecs:cluster"
      values   = [aws_ecs_cluster.lane.arn]
    }
  }

  statement {
    sid       = "TagTasksOnlyWhileRunTaskCreatesThem"
    effect    = "Allow"
    actions   = ["ecs:TagResource"]
    resources = [local.task_arns]
    condition {
      test     = "StringEquals"
      variable = "ecs:CreateAction"
      values   = ["RunTask"]
    }
  }

  statement {
    sid       = "PassDeployRolesToEcsTasksOnly"
    effect    = "Allow"
    actions   = ["iam:PassRole"]
    resources = [aws_iam_role.task.arn, aws_iam_role.execution.arn]
    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["ecs-tasks.amazonaws.com"]
    }
  }

  statement {
    sid       = "SendDispatcherEventsToFeedbackQueue"
    effect    = "Allow"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.feedback.arn]
  }

  statement {
    sid = "NonceAndLaneLockTable"
    actions = [
      "dynamodb:GetItem",
      "dynamodb:PutItem",
      "dynamodb:UpdateItem",
      "dynamodb:DeleteItem",
    ]
    effect    = "Allow"
    resources = [aws_dynamodb_table.lane.arn]
  }

  dynamic "statement" {
    for_each = length(local.repository_arns) > 0 ? [local.repository_arns] : []
    content {
      sid       = "EcrGateReadsDigestAndScanFindings"
      effect    = "Allow"
      actions   = ["ecr:DescribeImages", "ecr:DescribeImageScanFindings"]
      resources = statement.value
    }
  }

  statement {
    sid       = "ReadDispatcherConfig"
    effect    = "Allow"
    actions   = ["ssm:GetParameter"]
    resources = [aws_ssm_parameter.dispatch_config.arn]
  }

  statement {
    sid       = "DecryptDispatcherConfigThroughSsmOnly"
    effect    = "Allow"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.lane.arn]
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
    sid       = "WriteOwnLogStreams"
    effect    = "Allow"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.dispatcher.arn}:*"]
  }

  # Not in dispatcher.json, which assumes no failure destination: Lambda sends a failed
  # asynchronous invocation's event there with the function's own role.
  statement {
    sid       = "SendFailedInvocationsToFailureQueue"
    effect    = "Allow"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.dispatcher_failures.arn]
  }
}

resource "aws_iam_role_policy" "dispatcher" {
  name   = "airlock-dispatch"
  role   = aws_iam_role.dispatcher.id
  policy = data.aws_iam_policy_document.dispatcher.json
}

resource "aws_cloudwatch_log_group" "dispatcher" {
  name              = local.dispatcher_log_group
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.lane.arn
  tags              = var.tags
}

# Events whose invocations failed after Lambda's retries: kept for two weeks to be looked at.
resource "aws_sqs_queue" "dispatcher_failures" {
  name                      = "${local.function_name}-failures"
  sqs_managed_sse_enabled   = true
  message_retention_seconds = 1209600
  tags                      = var.tags
}

resource "aws_lambda_function" "dispatcher" {
  # checkov:skip=CKV_AWS_50:X-Ray would add tracing rights outside dispatcher.json; each decision is already one audit line in the retained, encrypted log group
  # checkov:skip=CKV_AWS_116:failed invocations go to an on-failure destination (aws_lambda_function_event_invoke_config), which records more than a dead-letter queue
  # checkov:skip=CKV_AWS_117:the dispatcher calls only AWS APIs; in a VPC it would need network-interface rights and endpoints, and gain nothing
  # checkov:skip=CKV_AWS_173:the environment holds only a parameter name, a hash and a log level, nothing secret
  # checkov:skip=CKV_AWS_272:the package is built by scripts/package-dispatcher.sh and pinned by source_code_hash; code signing needs a Signer profile this module does not assume
  function_name                  = local.function_name
  description                    = "airlock dispatcher: checks signed deploy requests and starts the pinned task"
  role                           = aws_iam_role.dispatcher.arn
  runtime                        = "provided.al2023"
  handler                        = "bootstrap"
  architectures                  = [var.dispatcher_architecture]
  filename                       = var.dispatcher_package
  source_code_hash               = filebase64sha256(var.dispatcher_package)
  memory_size                    = var.dispatcher_memory_mb
  timeout                        = var.dispatcher_timeout_seconds
  reserved_concurrent_executions = var.dispatcher_reserved_concurrency

  environment {
    variables = {
      AIRLOCK_DISPATCH_CONFIG_SSM = aws_ssm_parameter.dispatch_config.name
      # The configuration is read once per cold start: a new hash here makes Lambda start
      # new environments, so a new task definition revision is used at once.
      AIRLOCK_DISPATCH_CONFIG_SHA256 = sha256(local.dispatch_config)
      AIRLOCK_LOG                    = "info"
    }
  }

  depends_on = [aws_cloudwatch_log_group.dispatcher, aws_iam_role_policy.dispatcher]
  tags       = var.tags
}

resource "aws_lambda_function_event_invoke_config" "dispatcher" {
  function_name          = aws_lambda_function.dispatcher.function_name
  maximum_retry_attempts = 2

  destination_config {
    on_failure {
      destination = aws_sqs_queue.dispatcher_failures.arn
    }
  }
}

resource "aws_lambda_permission" "from_topic" {
  statement_id  = "RequestsFromTheLaneTopic"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.dispatcher.function_name
  principal     = "sns.amazonaws.com"
  source_arn    = aws_sns_topic.requests.arn
}

resource "aws_sns_topic_subscription" "dispatcher" {
  topic_arn = aws_sns_topic.requests.arn
  protocol  = "lambda"
  endpoint  = aws_lambda_function.dispatcher.arn
}

resource "aws_cloudwatch_event_rule" "task_stopped" {
  name        = "${local.function_name}-task-stopped"
  description = "STOPPED events of the tasks the airlock dispatcher started: they release the lane lock"
  event_pattern = jsonencode({
    source        = ["aws.ecs"]
    "detail-type" = ["ECS Task State Change"]
    detail = {
      clusterArn = [aws_ecs_cluster.lane.arn]
      lastStatus = ["STOPPED"]
      # The dispatcher's STARTED_BY (crates/dispatch/src/dispatcher.rs).
      startedBy = ["airlock-dispatch"]
    }
  })
  tags = var.tags
}

resource "aws_cloudwatch_event_target" "task_stopped" {
  rule = aws_cloudwatch_event_rule.task_stopped.name
  arn  = aws_lambda_function.dispatcher.arn
}

resource "aws_lambda_permission" "from_task_stopped" {
  statement_id  = "TaskStoppedEvents"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.dispatcher.function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.task_stopped.arn
}
