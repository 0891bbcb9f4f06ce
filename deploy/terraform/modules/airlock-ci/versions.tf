terraform {
  # Variable validations need 0.13; nothing newer is used, so that the validations can be
  # evaluated by any Terraform from 1.0 on.
  required_version = ">= 1.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.0"
    }
  }
}
