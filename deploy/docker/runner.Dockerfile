# The lane's runner (`airlock run`): the image of the Fargate task that the dispatcher starts.
# It holds the airlock binary on distroless and nothing else: no shell, no package manager,
# no root user. The deployment tools come from an image built FROM this one (see
# runner-terraform.example.Dockerfile and deploy/docker/README.md).
#
# Build from the workspace root (the context must hold Cargo.toml, Cargo.lock and crates/),
# with BuildKit (the default builder since Docker 23) for the cache mounts:
#
#   docker build -f deploy/docker/runner.Dockerfile -t airlock-runner .
#
# The task definition gives the job as the container's command, after `--`:
#   "command": ["--", "terraform", "apply", "-auto-approve", "-input=false"]
# and the dispatcher adds AIRLOCK_REQUEST_ID, AIRLOCK_FEEDBACK and the job's parameters to its
# environment. The runner echoes every line to its own stdout too, so the task's log group
# keeps the whole record in the production account.
#
# Base images are pinned by digest, the same two as the agent's image. The all-zero digests are
# PLACEHOLDERS and the build fails until they are replaced: look the real ones up
# (`docker buildx imagetools inspect IMAGE:TAG`) and let Renovate or Dependabot keep them
# current.

# Bookworm, like the runtime image: the binary links glibc dynamically. Keep the tag equal to
# the channel in rust-toolchain.toml.
FROM docker.io/library/rust:1.95.0-slim-bookworm@sha256:0000000000000000000000000000000000000000000000000000000000000000 AS build
# The image's own toolchain is the pinned one (rust-toolchain.toml is not copied in).
ENV RUSTUP_TOOLCHAIN=1.95.0 \
    CARGO_TERM_COLOR=never
WORKDIR /src
# Only what the build reads, so a local target/, .git or .venv never reaches the build.
COPY Cargo.toml Cargo.lock ./
COPY crates ./crates
# --locked: exactly the dependency versions reviewed in Cargo.lock. The runner needs the `aws`
# feature (SQS feedback), which is the default. The target dir is a cache mount, so the
# binary is copied out in the same step.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p airlock-cli \
    && install -D -m 0555 target/release/airlock /out/airlock

# cc: glibc, libgcc_s and CA certificates (TLS to SQS), nothing else.
#checkov:skip=CKV_DOCKER_2:a one-shot deployment task, not a service: a failing health probe would kill a deployment halfway (airlock check: DKR008, below)
# airlock:ignore DKR008 a one-shot deployment, not a service: a failed probe would kill a deployment halfway, the job's deadline stops a hung one, and the runner's heartbeats tell CI it is alive
FROM gcr.io/distroless/cc-debian12:nonroot@sha256:0000000000000000000000000000000000000000000000000000000000000000
# Owned by root and not writable: neither the job nor its user can change the runner.
COPY --from=build /out/airlock /usr/local/bin/airlock
# The image's `nonroot` user, numerically, so that ECS and Kubernetes can verify it is not 0.
USER 65532:65532
WORKDIR /home/nonroot
ENTRYPOINT ["/usr/local/bin/airlock", "run"]
