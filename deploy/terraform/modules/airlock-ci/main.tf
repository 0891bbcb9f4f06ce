# airlock-ci: the CI account's half of the deploy lane. The signing key (its private half never
# leaves KMS) and the role CI assumes, which can sign with that key, publish to the lane's
# topic and read the lane's feedback queue, and nothing else.

locals {
  github_trusted = var.github_repository != ""
  github_subject = var.github_environment != "" ? "repo:${var.github_repository}:environment:${var.github_environment}" : "repo:${var.github_repository}:ref:refs/heads/${var.github_branch}"
  github_provider_arn = local.github_trusted ? (
    var.create_github_oidc_provider ? aws_iam_openid_connect_provider.github[0].arn : var.github_oidc_provider_arn
  ) : ""
  # The topic's region: SNS calls KMS on the publisher's behalf from there.
  topic_region = element(split(":", var.topic_arn), 3)
}

resource "aws_iam_openid_connect_provider" "github" {
  count = local.github_trusted && var.create_github_oidc_provider ? 1 : 0

  url            = "https://token.actions.githubusercontent.com"
  client_id_list = ["sts.amazonaws.com"]
  # IAM trusts GitHub's certificate authority for this URL; older provider versions still
  # require a thumbprint list, and these are GitHub's published intermediate thumbprints.
  thumbprint_list = [
    "6938fd4d98bab03faadb97b34396831e3780aea1",
    "1c58a3a8518e8759bf075b76b750d4f2df264fcd",
  ]
  tags = var.tags
}

data "aws_iam_policy_document" "ci_trust" {
  dynamic "statement" {
    for_each = local.github_trusted ? [local.github_subject] : []
    content {
      sid     = "GitHubActionsOfOneRepositoryAndRef"
      effect  = "Allow"
      actions = ["sts:AssumeRoleWithWebIdentity"]
      principals {
        type        = "Federated"
        identifiers = [local.github_provider_arn]
      }
      condition {
        test     = "StringEquals"
        variable = "token.actions.githubusercontent.com:aud"
        values   = ["sts.amazonaws.com"]
      }
      # StringEquals, not StringLike: one repository and one branch or environment, exactly.
      condition {
        test     = "StringEquals"
        variable = "token.actions.githubusercontent.com:sub"
        values   = [statement.value]
      }
    }
  }

  dynamic "statement" {
    for_each = length(var.trusted_role_arns) > 0 ? [var.trusted_role_arns] : []
    content {
      sid     = "NamedCiRoles"
      effect  = "Allow"
      actions = ["sts:AssumeRole"]
      principals {
        type        = "AWS"
        identifiers = statement.value
      }
    }
  }
}

resource "aws_iam_role" "ci" {
  name                 = var.role_name
  path                 = var.role_path
  description          = "airlock deploy: signs requests and publishes them to the production lane; no production rights"
  assume_role_policy   = data.aws_iam_policy_document.ci_trust.json
  max_session_duration = var.max_session_duration
  permissions_boundary = var.permissions_boundary_arn == "" ? null : var.permissions_boundary_arn
  tags                 = var.tags
}

data "aws_iam_policy_document" "signing_key" {
  # checkov:skip=CKV_AWS_109:a key policy's Resource "*" is this key alone, and every statement names its principals
  # checkov:skip=CKV_AWS_111:a key policy's Resource "*" is this key alone, and every statement names its principals
  # checkov:skip=CKV_AWS_356:a key policy's Resource "*" is this key alone (KMS allows nothing else there)
  # No statement gives kms:* to the account root: delegating the key to IAM would let any
  # principal of this account that can edit IAM policies grant itself kms:Sign.
  statement {
    sid    = "AdministersTheKeyButNeverSigns"
    effect = "Allow"
    actions = [
      "kms:CancelKeyDeletion",
      "kms:CreateAlias",
      "kms:DeleteAlias",
      "kms:DescribeKey",
      "kms:DisableKey",
      "kms:EnableKey",
      "kms:GetKeyPolicy",
      "kms:GetPublicKey",
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

  statement {
    sid       = "CiSignsRequestDigestsOnly"
    effect    = "Allow"
    actions   = ["kms:Sign"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = [aws_iam_role.ci.arn]
    }
    condition {
      test     = "StringEquals"
      variable = "kms:SigningAlgorithm"
      values   = ["ECDSA_SHA_256"]
    }
    condition {
      test     = "StringEquals"
      variable = "kms:MessageType"
      values   = ["DIGEST"]
    }
  }

  statement {
    sid       = "ReadThePublicKey"
    effect    = "Allow"
    actions   = ["kms:GetPublicKey", "kms:DescribeKey"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = concat([aws_iam_role.ci.arn], var.public_key_reader_arns)
    }
  }
}

resource "aws_kms_key" "signing" {
  description              = "airlock lane: signs deploy requests (ECDSA P-256)"
  customer_master_key_spec = "ECC_NIST_P256"
  key_usage                = "SIGN_VERIFY"
  deletion_window_in_days  = var.key_deletion_window_in_days
  # KMS does not rotate asymmetric keys: a new key is a new entry in the dispatcher's
  # [dispatch.keys], then the old one is removed.
  enable_key_rotation = false
  policy              = data.aws_iam_policy_document.signing_key.json
  tags                = var.tags
}

resource "aws_kms_alias" "signing" {
  name          = "alias/${var.role_name}-signing"
  target_key_id = aws_kms_key.signing.key_id
}

data "aws_iam_policy_document" "ci" {
  statement {
    sid       = "PublishSignedRequestsToLaneTopic"
    effect    = "Allow"
    actions   = ["sns:Publish"]
    resources = [var.topic_arn]
  }

  # The topic is encrypted with a production key: SNS encrypts each message under a data key
  # it asks KMS for on the publisher's behalf.
  statement {
    sid       = "EncryptRequestsForTheTopicThroughSnsOnly"
    effect    = "Allow"
    actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
    resources = [var.topic_kms_key_arn]
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["sns.${local.topic_region}.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "kms:EncryptionContext:aws:sns:topicArn"
      values   = [var.topic_arn]
    }
  }

  statement {
    sid       = "FollowFeedbackQueue"
    effect    = "Allow"
    actions   = ["sqs:ReceiveMessage", "sqs:DeleteMessage"]
    resources = [var.feedback_queue_arn]
  }

  statement {
    sid       = "SignRequestDigestsWithLaneKey"
    effect    = "Allow"
    actions   = ["kms:Sign"]
    resources = [aws_kms_key.signing.arn]
    condition {
      test     = "StringEquals"
      variable = "kms:SigningAlgorithm"
      values   = ["ECDSA_SHA_256"]
    }
    condition {
      test     = "StringEquals"
      variable = "kms:MessageType"
      values   = ["DIGEST"]
    }
  }

  # `airlock lane doctor` compares this key's public half with the dispatcher's.
  statement {
    sid       = "ReadOwnPublicKey"
    effect    = "Allow"
    actions   = ["kms:GetPublicKey"]
    resources = [aws_kms_key.signing.arn]
  }
}

resource "aws_iam_role_policy" "ci" {
  name   = "airlock-deploy"
  role   = aws_iam_role.ci.id
  policy = data.aws_iam_policy_document.ci.json
}

# The dispatcher verifies signatures with the public key in its configuration, never calling
# KMS: this hands it over.
data "aws_kms_public_key" "signing" {
  key_id = aws_kms_key.signing.arn
}
