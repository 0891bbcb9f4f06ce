# The `airlock` command-line tool as an image: every capability (check, deploy, run, agent,
# accounts, whoami, guard), on distroless, non-root, with no shell.
#
#   docker build -t airlock .
#   docker run --rm -v "$PWD:/src:ro" -w /src airlock check .
#   docker run --rm -e AWS_REGION -e AWS_ACCESS_KEY_ID -e AWS_SECRET_ACCESS_KEY \
#     -e AWS_SESSION_TOKEN airlock deploy --job web --param VERSION=v1.2.3
#
# BuildKit (the default builder since Docker 23) is needed for the cache mounts. The runner and
# the agent have their own images in deploy/docker/, with their entrypoints.
#
# Base images are pinned by digest, the same two as deploy/docker/agent.Dockerfile. The all-zero
# digests are PLACEHOLDERS and the build fails until they are replaced: look the real ones up
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
# --locked: exactly the dependency versions reviewed in Cargo.lock. The target dir is a cache
# mount, so the binary is copied out in the same step.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p airlock-cli \
    && install -D -m 0555 target/release/airlock /out/airlock

# cc: glibc, libgcc_s and CA certificates (TLS to AWS), nothing else.
# airlock:ignore DKR008 a command-line tool that runs one command and exits: there is no service whose health a probe could tell
FROM gcr.io/distroless/cc-debian12:nonroot@sha256:0000000000000000000000000000000000000000000000000000000000000000
# Owned by root and not writable by the user the tool runs as.
COPY --from=build /out/airlock /usr/local/bin/airlock
# The image's `nonroot` user, numerically, so that Kubernetes' runAsNonRoot can verify it.
USER 65532:65532
WORKDIR /home/nonroot
ENTRYPOINT ["/usr/local/bin/airlock"]
CMD ["--help"]
