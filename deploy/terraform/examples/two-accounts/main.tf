# Both halves of the lane, one per account. Each module's inputs are the other's outputs:
# Terraform orders the resources (CI's role, then the production key that names it, then
# the topic CI's policy names), so one apply creates both.

module "ci" {
  source = "../../modules/airlock-ci"
  providers = {
    aws = aws.ci
  }

  key_administrator_arns = [var.ci_admin_role_arn]
  github_repository      = var.github_repository
  github_branch          = "main"

  topic_arn          = module.production.topic_arn
  topic_kms_key_arn  = module.production.topic_kms_key_arn
  feedback_queue_arn = module.production.feedback_queue_arn
}

module "production" {
  source = "../../modules/airlock-production"
  providers = {
    aws = aws.production
  }

  key_administrator_arns = [var.production_admin_role_arn]
  ci_role_arn            = module.ci.ci_role_arn
  signing_key_arn        = module.ci.signing_key_arn
  signing_public_key_pem = module.ci.signing_public_key_pem

  dispatcher_package = var.dispatcher_package
  runner_image       = var.runner_image
  runner_command     = ["/opt/deploy/deploy.sh"]
  task_policy_arns   = [var.deploy_policy_arn]

  vpc_id     = var.vpc_id
  subnet_ids = var.subnet_ids

  jobs = {
    web = {
      timeout_secs      = 1800
      repositories      = [var.app_repository]
      image_required    = true
      ecr_gate_severity = "high"
      params = {
        ENVIRONMENT = {
          enum    = ["staging", "prod"]
          pattern = ""
          max_len = 0
        }
        VERSION = {
          enum    = []
          pattern = "v[0-9]+\\.[0-9]+\\.[0-9]+"
          max_len = 32
        }
      }
    }
  }
}
