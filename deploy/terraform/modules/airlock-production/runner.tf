# The runner: one Fargate task definition whose entrypoint is `airlock run`, its two roles,
# its log group (the production account's own record of every deployment), the cluster and
# the security group RunTask puts it in.

locals {
  # ACCOUNT.dkr.ecr.REGION.amazonaws.com/NAME@sha256:...: the execution role may pull from that
  # one repository. An image elsewhere needs no ECR rights (and no registry credentials here).
  runner_ecr = regexall("^([0-9]{12})\\.dkr\\.ecr\\.([a-z0-9-]+)\\.amazonaws\\.com/([^@]+)@", var.runner_image)
  runner_repository_arns = [
    for match in local.runner_ecr : "arn:${local.partition}:ecr:${match[1]}:${match[0]}:repository/${match[2]}"
  ]
}

resource "aws_ecs_cluster" "lane" {
  name = local.cluster_name

  setting {
    name  = "containerInsights"
    value = "enabled"
  }

  tags = var.tags
}

resource "aws_cloudwatch_log_group" "task" {
  name              = local.task_log_group
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.lane.arn
  tags              = var.tags
}

data "aws_iam_policy_document" "ecs_tasks_trust" {
  statement {
    sid     = "EcsTasksOfThisAccountOnly"
    effect  = "Allow"
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "execution" {
  name               = local.execution_role
  description        = "airlock runner's task execution role: pulls the runner image, writes the task's logs"
  assume_role_policy = data.aws_iam_policy_document.ecs_tasks_trust.json
  tags               = var.tags
}

data "aws_iam_policy_document" "execution" {
  statement {
    sid       = "WriteTheTaskLogGroup"
    effect    = "Allow"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.task.arn}:*"]
  }

  dynamic "statement" {
    for_each = length(local.runner_repository_arns) > 0 ? [local.runner_repository_arns] : []
    content {
      sid       = "PullTheRunnerImage"
      effect    = "Allow"
      actions   = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
      resources = statement.value
    }
  }

  dynamic "statement" {
    for_each = length(local.runner_repository_arns) > 0 ? [1] : []
    content {
      sid     = "LogInToEcr"
      effect  = "Allow"
      actions = ["ecr:GetAuthorizationToken"]
      # GetAuthorizationToken has no resource-level permissions.
      resources = ["*"]
    }
  }
}

resource "aws_iam_role_policy" "execution" {
  name   = "airlock-runner-execution"
  role   = aws_iam_role.execution.id
  policy = data.aws_iam_policy_document.execution.json
}

resource "aws_iam_role" "task" {
  name                 = local.task_role
  description          = "airlock runner's task role: the deployment's production rights"
  assume_role_policy   = data.aws_iam_policy_document.ecs_tasks_trust.json
  permissions_boundary = var.task_permissions_boundary_arn == "" ? null : var.task_permissions_boundary_arn
  tags                 = var.tags
}

resource "aws_iam_role_policy_attachment" "task" {
  for_each   = toset(var.task_policy_arns)
  role       = aws_iam_role.task.name
  policy_arn = each.value
}

data "aws_iam_policy_document" "task" {
  statement {
    sid       = "RunnerSendsOutputToFeedbackQueue"
    effect    = "Allow"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.feedback.arn]
  }
}

resource "aws_iam_role_policy" "task" {
  name   = "airlock-runner-feedback"
  role   = aws_iam_role.task.id
  policy = data.aws_iam_policy_document.task.json
}

resource "aws_ecs_task_definition" "runner" {
  family                   = local.task_family
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.runner_cpu
  memory                   = var.runner_memory_mb
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.task.arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }

  # The root filesystem is read-only; the job writes to this task-local scratch space.
  volume {
    name = "scratch"
  }

  container_definitions = jsonencode([
    {
      name      = local.container_name
      image     = var.runner_image
      essential = true
      # The task's memory as the container's hard limit too: the job can use all of it and
      # no more.
      memory = var.runner_memory_mb
      # `airlock run` is the runner; what follows `--` is the deployment.
      entryPoint             = ["airlock", "run", "--"]
      command                = var.runner_command
      user                   = var.runner_user
      readonlyRootFilesystem = true
      privileged             = false
      environment = [
        { name = "HOME", value = "/scratch" },
        { name = "TMPDIR", value = "/scratch" },
      ]
      mountPoints = [
        { sourceVolume = "scratch", containerPath = "/scratch", readOnly = false },
      ]
      linuxParameters = {
        initProcessEnabled = true
        capabilities       = { drop = ["ALL"] }
      }
      logConfiguration = {
        logDriver = "awslogs"
        options = {
          awslogs-group         = aws_cloudwatch_log_group.task.name
          awslogs-region        = local.region
          awslogs-stream-prefix = "deploy"
        }
      }
    }
  ])

  tags = var.tags
}

resource "aws_security_group" "runner" {
  # checkov:skip=CKV2_AWS_5:RunTask attaches it: the dispatcher's configuration names it for every job
  name        = "${var.name}-runner"
  description = "airlock runner tasks: no inbound, outbound HTTPS only"
  vpc_id      = var.vpc_id

  egress {
    description = "HTTPS to AWS APIs and the image registry"
    protocol    = "tcp"
    from_port   = 443
    to_port     = 443
    cidr_blocks = var.egress_cidrs
  }

  tags = var.tags
}
