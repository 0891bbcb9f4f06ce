# The production account's half of the lane. Every variable whose wrong value would open a
# hole has a validation: a bad value stops `terraform plan` before anything is created.

variable "name" {
  description = "Prefix of every name: NAME-lane (topic, table), NAME-feedback (queue), NAME-dispatch (function, role), NAME-deploy (task family), NAME (cluster)."
  type        = string
  default     = "airlock"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,30}[a-z0-9]$", var.name))
    error_message = "The name must be 2 to 32 of a-z 0-9 -, start with a letter and not end with - (it prefixes role, queue and function names)."
  }
}

variable "ci_role_arn" {
  description = "CI's role in the CI account (output ci_role_arn of airlock-ci): the only principal that may publish requests and read feedback."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]{1,64}$", var.ci_role_arn))
    error_message = "The ci_role_arn must be one IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME): not an account root, not a user, no wildcards."
  }
}

variable "signing_key_arn" {
  description = "CI's signing key (output signing_key_arn of airlock-ci): the dispatcher trusts requests signed by it only."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[0-9a-f-]{36}$", var.signing_key_arn))
    error_message = "The signing_key_arn must be one KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID), not an alias."
  }
}

variable "signing_public_key_pem" {
  description = "The signing key's public key in PEM (output signing_public_key_pem of airlock-ci, or `aws kms get-public-key`)."
  type        = string

  validation {
    condition     = can(regex("^-----BEGIN PUBLIC KEY-----\\n[A-Za-z0-9+/=\\n]+-----END PUBLIC KEY-----\\n?$", var.signing_public_key_pem))
    error_message = "The signing_public_key_pem must be one PEM public key (-----BEGIN PUBLIC KEY----- ... -----END PUBLIC KEY-----), never a private key."
  }
}

variable "key_administrator_arns" {
  description = "Principals that administer the lane's KMS key (and so must include whoever applies this module). They can change and delete the key; they read data only through the lane's services."
  type        = list(string)

  validation {
    condition = length(var.key_administrator_arns) > 0 && alltrue([
      for arn in var.key_administrator_arns :
      can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:(role|user)/[A-Za-z0-9+=,.@_/-]+$", arn))
    ])
    error_message = "The key_administrator_arns must list at least one IAM role or user ARN, without wildcards and not an account root."
  }
}

variable "dispatcher_package" {
  description = "Path of the dispatcher's zip, as scripts/package-dispatcher.sh writes it (dist/airlock-dispatch-VERSION-provided-al2023-ARCH.zip)."
  type        = string

  validation {
    condition     = can(regex("\\.zip$", var.dispatcher_package))
    error_message = "The dispatcher_package must be the path of a .zip (scripts/package-dispatcher.sh)."
  }
}

variable "dispatcher_architecture" {
  description = "The architecture the dispatcher's package was built for (package-dispatcher.sh --arch)."
  type        = string
  default     = "x86_64"

  validation {
    condition     = contains(["x86_64", "arm64"], var.dispatcher_architecture)
    error_message = "The dispatcher_architecture must be x86_64 or arm64."
  }
}

variable "dispatcher_reserved_concurrency" {
  description = "Reserved concurrency of the dispatcher: a ceiling on what a flood of requests can cost, and a floor no other function can take away."
  type        = number
  default     = 5

  validation {
    condition     = var.dispatcher_reserved_concurrency >= 1 && var.dispatcher_reserved_concurrency <= 100 && floor(var.dispatcher_reserved_concurrency) == var.dispatcher_reserved_concurrency
    error_message = "The dispatcher_reserved_concurrency must be a whole number from 1 to 100 (0 would stop the lane, -1 would remove the ceiling)."
  }
}

variable "dispatcher_memory_mb" {
  description = "Memory of the dispatcher function, in MB."
  type        = number
  default     = 256

  validation {
    condition     = var.dispatcher_memory_mb >= 128 && var.dispatcher_memory_mb <= 10240
    error_message = "The dispatcher_memory_mb must be between 128 and 10240 (Lambda's range)."
  }
}

variable "dispatcher_timeout_seconds" {
  description = "Timeout of one dispatcher invocation, in seconds."
  type        = number
  default     = 30

  validation {
    condition     = var.dispatcher_timeout_seconds >= 3 && var.dispatcher_timeout_seconds <= 900
    error_message = "The dispatcher_timeout_seconds must be between 3 and 900."
  }
}

variable "vpc_id" {
  description = "The VPC of the runner's subnets (its security group lives there)."
  type        = string

  validation {
    condition     = can(regex("^vpc-[0-9a-f]{8}([0-9a-f]{9})?$", var.vpc_id))
    error_message = "The vpc_id must be a VPC id (vpc-0123456789abcdef0)."
  }
}

variable "subnet_ids" {
  description = "Subnets the runner's tasks start in: private subnets with a route to AWS's APIs (NAT or VPC endpoints)."
  type        = list(string)

  validation {
    condition = length(var.subnet_ids) > 0 && alltrue([
      for id in var.subnet_ids : can(regex("^subnet-[0-9a-f]{8}([0-9a-f]{9})?$", id))
    ])
    error_message = "The subnet_ids must list at least one subnet id (subnet-0123456789abcdef0)."
  }
}

variable "assign_public_ip" {
  description = "Give the runner's tasks a public IP. Leave false and use private subnets; true only for subnets whose route to the Internet is an Internet gateway."
  type        = bool
  default     = false
}

variable "egress_cidrs" {
  description = "Where the runner may connect, on TCP 443 only (AWS's APIs, the image registry)."
  type        = list(string)
  default     = ["0.0.0.0/0"]

  validation {
    condition = length(var.egress_cidrs) > 0 && alltrue([
      for cidr in var.egress_cidrs : can(cidrhost(cidr, 0)) && can(regex("^[0-9.]+/[0-9]+$", cidr))
    ])
    error_message = "The egress_cidrs must be IPv4 CIDR blocks (10.0.0.0/16)."
  }
}

variable "runner_image" {
  description = "The runner's image (deploy/docker/runner.Dockerfile or one built FROM it), pinned by digest: REGISTRY/REPO@sha256:DIGEST."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9._:/-]*@sha256:[0-9a-f]{64}$", var.runner_image))
    error_message = "The runner_image must be pinned by digest (REGISTRY/REPO@sha256:<64 hex digits>): a tag can be moved to another image."
  }
}

variable "runner_command" {
  description = "The deployment the runner runs: `airlock run -- COMMAND...`. The job's name is in AIRLOCK_JOB and its parameters in their own variables."
  type        = list(string)

  validation {
    condition     = length(var.runner_command) > 0 && alltrue([for word in var.runner_command : word != ""])
    error_message = "The runner_command must be a non-empty list of non-empty words."
  }
}

variable "runner_user" {
  description = "The user the runner's container runs as (UID or UID:GID). Never root."
  type        = string
  default     = "10001:10001"

  validation {
    condition     = can(regex("^[1-9][0-9]{0,9}(:[1-9][0-9]{0,9})?$", var.runner_user))
    error_message = "The runner_user must be a non-zero numeric UID or UID:GID (10001:10001): not root, and not a name the image could map to root."
  }
}

variable "runner_cpu" {
  description = "Fargate CPU units of the runner's task."
  type        = number
  default     = 512

  validation {
    condition     = contains([256, 512, 1024, 2048, 4096, 8192, 16384], var.runner_cpu)
    error_message = "The runner_cpu must be one of Fargate's sizes: 256, 512, 1024, 2048, 4096, 8192, 16384."
  }
}

variable "runner_memory_mb" {
  description = "Memory of the runner's task, in MiB (Fargate pairs it with runner_cpu)."
  type        = number
  default     = 1024

  validation {
    condition     = var.runner_memory_mb >= 512 && var.runner_memory_mb <= 122880
    error_message = "The runner_memory_mb must be between 512 and 122880."
  }
}

variable "task_policy_arns" {
  description = "Managed policies of the runner's task role: the deployment's own production rights."
  type        = list(string)

  validation {
    condition = length(var.task_policy_arns) <= 10 && alltrue([
      for arn in var.task_policy_arns :
      can(regex("^arn:aws[a-z-]*:iam::([0-9]{12}|aws):policy/[A-Za-z0-9+=,.@_/-]+$", arn))
    ])
    error_message = "The task_policy_arns must be at most 10 IAM managed policy ARNs."
  }
}

variable "task_permissions_boundary_arn" {
  description = "Optional permissions boundary of the runner's task role (a managed policy ARN), or empty."
  type        = string
  default     = ""

  validation {
    condition     = var.task_permissions_boundary_arn == "" || can(regex("^arn:aws[a-z-]*:iam::([0-9]{12}|aws):policy/[A-Za-z0-9+=,.@_/-]+$", var.task_permissions_boundary_arn))
    error_message = "The task_permissions_boundary_arn must be empty or an IAM managed policy ARN."
  }
}

variable "log_retention_days" {
  description = "Retention of the dispatcher's and the runner's log groups: the production account's record of every deployment."
  type        = number
  default     = 365

  validation {
    condition     = contains([365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "The log_retention_days must be a CloudWatch Logs retention of at least a year: 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288 or 3653."
  }
}

variable "feedback_retention_seconds" {
  description = "How long an unread feedback message stays in the queue (stale messages of an earlier deployment expire after this)."
  type        = number
  default     = 3600

  validation {
    condition     = var.feedback_retention_seconds >= 600 && var.feedback_retention_seconds <= 86400
    error_message = "The feedback_retention_seconds must be between 600 and 86400: long enough for a deployment, short enough that stale output expires."
  }
}

variable "lock_grace_secs" {
  description = "The lane lock's lease is a job's timeout plus this ([dispatch] lock_grace_secs)."
  type        = number
  default     = 300

  validation {
    condition     = var.lock_grace_secs >= 0 && var.lock_grace_secs <= 3600
    error_message = "The lock_grace_secs must be between 0 and 3600."
  }
}

variable "jobs" {
  description = <<-EOT
    The allowlist: job name => { timeout_secs, repositories (ECR repository URLs the job's image
    may come from), image_required, ecr_gate_severity ("" for no gate, else critical, high,
    medium, low or informational), params (parameter name => { enum, pattern, max_len }, as in
    [dispatch.jobs.NAME.params]; [] , "" and 0 leave that constraint out) }.
  EOT
  type = map(object({
    timeout_secs      = number
    repositories      = list(string)
    image_required    = bool
    ecr_gate_severity = string
    params = map(object({
      enum    = list(string)
      pattern = string
      max_len = number
    }))
  }))

  validation {
    condition = length(var.jobs) > 0 && alltrue([
      for name, job in var.jobs :
      can(regex("^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$", name)) &&
      job.timeout_secs > 0 && job.timeout_secs <= 86400 &&
      contains(["", "critical", "high", "medium", "low", "informational"], job.ecr_gate_severity) &&
      (!job.image_required || length(job.repositories) > 0) &&
      (job.ecr_gate_severity == "" || length(job.repositories) > 0) &&
      alltrue([
        for repository in job.repositories :
        can(regex("^[0-9]{12}\\.dkr\\.ecr\\.[a-z0-9-]+\\.amazonaws\\.com/[a-z0-9][a-z0-9._/-]*$", repository))
      ]) &&
      alltrue([
        for param in keys(job.params) :
        can(regex("^[A-Z_][A-Z0-9_]*$", param)) && !can(regex("^AIRLOCK_", param))
      ])
    ])
    error_message = "Each job needs a name of A-Z a-z 0-9 _ . - (up to 64), a timeout_secs from 1 to 86400, an ecr_gate_severity of \"\", critical, high, medium, low or informational, ECR repository URLs without tag or digest (ACCOUNT.dkr.ecr.REGION.amazonaws.com/NAME; at least one when image_required or a gate is set), and parameter names of A-Z 0-9 _ not starting with AIRLOCK_."
  }
}

variable "tags" {
  description = "Tags for every resource that takes them."
  type        = map(string)
  default     = {}
}
