output "signing_key_arn" {
  description = "The signing key: AIRLOCK_LANE_SIGNING_KEY_ID in CI, and the key of [dispatch.keys] in the dispatcher's configuration."
  value       = aws_kms_key.signing.arn
}

output "signing_public_key_pem" {
  description = "The signing key's public half (PEM), for the dispatcher's [dispatch.keys]."
  value       = data.aws_kms_public_key.signing.public_key_pem
}

output "ci_role_arn" {
  description = "The role CI assumes to run airlock deploy."
  value       = aws_iam_role.ci.arn
}

output "github_oidc_provider_arn" {
  description = "The GitHub OIDC provider the role trusts, or empty."
  value       = local.github_provider_arn
}
