variable "region" {
  description = "The lane's region (both halves live in it)."
  type        = string
  default     = "eu-west-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]$", var.region))
    error_message = "The region must be an AWS region name (eu-west-1)."
  }
}

variable "ci_account_id" {
  description = "The CI account: it holds the signing key and CI's role, and nothing of production."
  type        = string

  validation {
    condition     = can(regex("^[0-9]{12}$", var.ci_account_id))
    error_message = "The ci_account_id must be 12 digits."
  }
}

variable "production_account_id" {
  description = "The production account: it holds the lane, the dispatcher and the deployment task."
  type        = string

  validation {
    condition     = can(regex("^[0-9]{12}$", var.production_account_id))
    error_message = "The production_account_id must be 12 digits."
  }
}

variable "ci_admin_role_arn" {
  description = "The role Terraform assumes in the CI account (it administers the signing key)."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]+$", var.ci_admin_role_arn))
    error_message = "The ci_admin_role_arn must be an IAM role ARN."
  }
}

variable "production_admin_role_arn" {
  description = "The role Terraform assumes in the production account (it administers the lane's key)."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]+$", var.production_admin_role_arn))
    error_message = "The production_admin_role_arn must be an IAM role ARN."
  }
}

variable "github_repository" {
  description = "OWNER/REPO whose main-branch workflows deploy."
  type        = string
}

variable "dispatcher_package" {
  description = "The zip written by scripts/package-dispatcher.sh."
  type        = string
}

variable "runner_image" {
  description = "The runner image, pinned by digest."
  type        = string
}

variable "vpc_id" {
  description = "The production VPC the runner's tasks start in."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets of that VPC."
  type        = list(string)
}

variable "app_repository" {
  description = "The ECR repository (URL, no tag) of the application image the job deploys."
  type        = string
}

variable "deploy_policy_arn" {
  description = "The managed policy with the deployment's own production rights."
  type        = string
}
