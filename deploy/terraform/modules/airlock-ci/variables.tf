# The CI account's half of the lane. Every variable whose wrong value would open a hole has a
# validation: a bad value stops `terraform plan` before anything is created.

variable "role_name" {
  description = "Name of the role CI assumes to run `airlock deploy`."
  type        = string
  default     = "airlock-ci"

  validation {
    condition     = can(regex("^[A-Za-z0-9+=,.@_-]{1,64}$", var.role_name))
    error_message = "The role_name must be 1 to 64 of A-Z a-z 0-9 + = , . @ _ - (IAM's role name rule)."
  }
}

variable "role_path" {
  description = "IAM path of CI's role."
  type        = string
  default     = "/airlock/"

  validation {
    condition     = can(regex("^/([A-Za-z0-9+=,.@_-]+/)*$", var.role_path))
    error_message = "The role_path must start and end with / (for example /airlock/)."
  }
}

variable "max_session_duration" {
  description = "Longest CI session on the role, in seconds. A deploy step is short; so is a stolen session."
  type        = number
  default     = 3600

  validation {
    condition     = var.max_session_duration >= 900 && var.max_session_duration <= 3600
    error_message = "The max_session_duration must be between 900 and 3600 seconds: CI's sessions stay short."
  }
}

variable "permissions_boundary_arn" {
  description = "Optional permissions boundary for CI's role (a managed policy ARN), or empty."
  type        = string
  default     = ""

  validation {
    condition     = var.permissions_boundary_arn == "" || can(regex("^arn:aws[a-z-]*:iam::([0-9]{12}|aws):policy/[A-Za-z0-9+=,.@_/-]+$", var.permissions_boundary_arn))
    error_message = "The permissions_boundary_arn must be empty or an IAM managed policy ARN."
  }
}

variable "topic_arn" {
  description = "The lane's request topic in the production account (output topic_arn of airlock-production)."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,256}$", var.topic_arn))
    error_message = "The topic_arn must be one SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME), without wildcards."
  }
}

variable "topic_kms_key_arn" {
  description = "The production key that encrypts the topic (output topic_kms_key_arn of airlock-production): publishing to an encrypted topic needs kms:GenerateDataKey and kms:Decrypt on it."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[0-9a-f-]{36}$", var.topic_kms_key_arn))
    error_message = "The topic_kms_key_arn must be one KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID), not an alias or a wildcard."
  }
}

variable "feedback_queue_arn" {
  description = "The lane's feedback queue in the production account (output feedback_queue_arn of airlock-production)."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:sqs:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,80}$", var.feedback_queue_arn))
    error_message = "The feedback_queue_arn must be one SQS queue ARN (arn:aws:sqs:REGION:ACCOUNT:NAME), without wildcards."
  }
}

variable "key_administrator_arns" {
  description = "Principals that administer the signing key (and so must include whoever applies this module): they can change and delete the key, never sign with it. Not CI's role."
  type        = list(string)

  validation {
    condition = length(var.key_administrator_arns) > 0 && alltrue([
      for arn in var.key_administrator_arns :
      can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:(role|user)/[A-Za-z0-9+=,.@_/-]+$", arn))
    ])
    error_message = "The key_administrator_arns must list at least one IAM role or user ARN, without wildcards and not an account root."
  }
}

variable "public_key_reader_arns" {
  description = "Principals that may read the signing key's public key (kms:GetPublicKey, kms:DescribeKey) to configure the dispatcher, besides CI's role."
  type        = list(string)
  default     = []

  validation {
    condition = alltrue([
      for arn in var.public_key_reader_arns :
      can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:(role|user)/[A-Za-z0-9+=,.@_/-]+$", arn))
    ])
    error_message = "The public_key_reader_arns must be IAM role or user ARNs, without wildcards and not an account root."
  }
}

variable "key_deletion_window_in_days" {
  description = "Days between scheduling the signing key's deletion and its deletion."
  type        = number
  default     = 30

  validation {
    condition     = var.key_deletion_window_in_days >= 7 && var.key_deletion_window_in_days <= 30
    error_message = "The key_deletion_window_in_days must be between 7 and 30 (KMS's range)."
  }
}

variable "github_repository" {
  description = "OWNER/REPO whose GitHub Actions workflows may assume CI's role through OIDC, or empty for no GitHub trust."
  type        = string
  default     = ""

  validation {
    condition     = var.github_repository == "" || can(regex("^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", var.github_repository))
    error_message = "The github_repository must be empty or exactly OWNER/REPO, without wildcards."
  }
}

variable "github_branch" {
  description = "The branch whose workflows may assume the role (subject repo:OWNER/REPO:ref:refs/heads/BRANCH). Ignored when github_environment is set."
  type        = string
  default     = "main"

  validation {
    condition     = can(regex("^[A-Za-z0-9_.][A-Za-z0-9_./-]{0,254}$", var.github_branch)) && !can(regex("\\.\\.", var.github_branch))
    error_message = "The github_branch must be one branch name, without wildcards (* ?) or '..'."
  }
}

variable "github_environment" {
  description = "A GitHub environment (with its own protection rules) whose jobs may assume the role (subject repo:OWNER/REPO:environment:NAME), or empty to trust the branch."
  type        = string
  default     = ""

  validation {
    condition     = var.github_environment == "" || can(regex("^[A-Za-z0-9_.-]{1,255}$", var.github_environment))
    error_message = "The github_environment must be empty or one environment name, without wildcards."
  }
}

variable "create_github_oidc_provider" {
  description = "Create the account's GitHub OIDC provider (an account has at most one per URL: set false and give github_oidc_provider_arn when it exists already)."
  type        = bool
  default     = true
}

variable "github_oidc_provider_arn" {
  description = "The existing GitHub OIDC provider, when create_github_oidc_provider is false."
  type        = string
  default     = ""

  validation {
    condition     = var.github_oidc_provider_arn == "" || can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:oidc-provider/token\\.actions\\.githubusercontent\\.com$", var.github_oidc_provider_arn))
    error_message = "The github_oidc_provider_arn must be empty or the ARN of the token.actions.githubusercontent.com OIDC provider."
  }
}

variable "trusted_role_arns" {
  description = "Roles of other CI systems (a Jenkins agent's or GitLab runner's instance role) that may assume CI's role."
  type        = list(string)
  default     = []

  validation {
    condition = alltrue([
      for arn in var.trusted_role_arns :
      can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]+$", arn))
    ])
    error_message = "The trusted_role_arns must be IAM role ARNs, without wildcards and not an account root."
  }
}

variable "tags" {
  description = "Tags for every resource that takes them."
  type        = map(string)
  default     = {}
}
