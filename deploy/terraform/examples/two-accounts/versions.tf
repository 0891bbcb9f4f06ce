terraform {
  required_version = ">= 1.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.0"
    }
  }
}

# One provider per account. Each assumes a role that administers the lane in its account;
# the same role is the key administrator of that account's key.
provider "aws" {
  alias  = "ci"
  region = var.region

  assume_role {
    role_arn = var.ci_admin_role_arn
  }

  allowed_account_ids = [var.ci_account_id]
}

provider "aws" {
  alias  = "production"
  region = var.region

  assume_role {
    role_arn = var.production_admin_role_arn
  }

  allowed_account_ids = [var.production_account_id]
}
