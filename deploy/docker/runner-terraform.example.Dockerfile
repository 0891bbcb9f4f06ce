# An example of extending the runner image with a deployment tool: Terraform. Copy it, set the
# version and its checksum, and build it on top of your runner image:
#
#   docker build -f deploy/docker/runner.Dockerfile -t airlock-runner .
#   docker build -f deploy/docker/runner-terraform.example.Dockerfile \
#     --build-arg RUNNER_IMAGE=airlock-runner@sha256:<the digest docker build printed> \
#     --build-arg TERRAFORM_SHA256=<from terraform_1.9.8_SHA256SUMS> -t airlock-runner-terraform .
#
# The download is pinned by version and checked against its SHA-256 before it is unpacked. Take
# the checksum from HashiCorp's terraform_<version>_SHA256SUMS, after verifying that file's
# signature (terraform_<version>_SHA256SUMS.sig) with HashiCorp's published key, once, when you
# pick the version. The all-zero defaults are PLACEHOLDERS: the build fails until they are set.
#
# The tool is copied into the final image as a single static binary, owned by root and not
# writable: the final image still has no shell, no package manager and no root user, and its
# entrypoint is still `airlock run`. kubectl and helm are added the same way (see
# deploy/docker/README.md).

# The runner image, pinned by digest (an ECR repository in production).
ARG RUNNER_IMAGE=airlock-runner@sha256:0000000000000000000000000000000000000000000000000000000000000000

# curl and busybox's sha256sum and unzip, as an unprivileged user, for the download only.
FROM docker.io/curlimages/curl:8.11.1@sha256:0000000000000000000000000000000000000000000000000000000000000000 AS terraform
ARG TERRAFORM_VERSION=1.9.8
ARG TERRAFORM_SHA256=0000000000000000000000000000000000000000000000000000000000000000
WORKDIR /tmp/terraform
RUN curl --proto '=https' --tlsv1.2 -fsSL -o terraform.zip \
      "https://releases.hashicorp.com/terraform/${TERRAFORM_VERSION}/terraform_${TERRAFORM_VERSION}_linux_amd64.zip" \
    && printf '%s  terraform.zip\n' "${TERRAFORM_SHA256}" > terraform.zip.sha256 \
    && sha256sum -c terraform.zip.sha256 \
    && unzip -q terraform.zip terraform \
    && ./terraform version

#checkov:skip=CKV_DOCKER_2:a one-shot deployment task, not a service: a failing health probe would kill a deployment halfway (airlock check: DKR008, below)
#checkov:skip=CKV_DOCKER_7:the base is the runner image named by RUNNER_IMAGE, which defaults to and should stay a digest (REPO@sha256:...); checkov cannot read through the ARG
# airlock:ignore DKR008 a one-shot deployment, not a service: a failed probe would kill a deployment halfway, the job's deadline stops a hung one, and the runner's heartbeats tell CI it is alive
FROM ${RUNNER_IMAGE}
COPY --from=terraform --chown=0:0 --chmod=0555 /tmp/terraform/terraform /usr/local/bin/terraform
# Terraform writes its plugins and working files here, not in the (read-only) root filesystem:
# mount a writable volume at /work in the task definition.
ENV TF_IN_AUTOMATION=1 \
    TF_INPUT=0 \
    TF_DATA_DIR=/work/.terraform \
    TF_PLUGIN_CACHE_DIR=/work/.terraform.d/plugin-cache
WORKDIR /work
USER 65532:65532
