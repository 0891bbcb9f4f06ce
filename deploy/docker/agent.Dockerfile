# The credential agent (`airlock agent`): one binary on distroless, with no shell, no package
# manager and no root user, so a compromise of the process has nothing to work with.
#
# Build from the workspace root (the context must hold Cargo.toml, Cargo.lock and crates/),
# with BuildKit (the default builder since Docker 23) for the cache mounts:
#
#   docker build -f deploy/docker/agent.Dockerfile -t airlock-agent .
#
# Base images are pinned by digest so every build starts from the same bytes. The all-zero
# digests are PLACEHOLDERS and the build fails until they are replaced: look the real ones up
# (`docker buildx imagetools inspect IMAGE:TAG`) and let Renovate or Dependabot keep them
# current.

# Bookworm, like the runtime image: the binary links glibc dynamically, and one built against
# a newer Debian's glibc does not start on debian12. Keep the tag equal to the channel in
# rust-toolchain.toml.
FROM docker.io/library/rust:1.95.0-slim-bookworm@sha256:0000000000000000000000000000000000000000000000000000000000000000 AS build
# The image's own toolchain is the pinned one. Naming it overrides rust-toolchain.toml, which
# is not copied in anyway, so rustup does not fetch rustfmt and clippy for a release build.
ENV RUSTUP_TOOLCHAIN=1.95.0 \
    CARGO_TERM_COLOR=never
WORKDIR /src
# Only what the build reads, so a local target/, .git or .venv never reaches the build steps
# or the cache.
COPY Cargo.toml Cargo.lock ./
COPY crates ./crates
# --locked: exactly the dependency versions reviewed in Cargo.lock, or fail. The target dir is
# a cache mount, so the binary is copied out in the same step.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p airlock-cli \
    && install -D -m 0555 target/release/airlock /out/airlock

# cc: glibc, libgcc_s and CA certificates (for TLS to STS), nothing else.
FROM gcr.io/distroless/cc-debian12:nonroot@sha256:0000000000000000000000000000000000000000000000000000000000000000
# Owned by root and not writable: the agent cannot be modified by the user it runs as.
COPY --from=build /out/airlock /usr/local/bin/airlock
# The image's `nonroot` user, numerically, so that Kubernetes' runAsNonRoot can verify it.
USER 65532:65532
# Only the health listener (/healthz, /readyz, /metrics; no credentials). The credentials
# endpoint (9911) is not exposed on purpose: it listens on 127.0.0.1 only and serves the
# containers of its own pod or task, never the network.
EXPOSE 9912
# Liveness for Docker and for ECS container health checks: `airlock agent probe` asks
# /healthz, which never depends on STS, so an STS outage does not get the container replaced
# while it still serves valid credentials. For an ECS `dependsOn: HEALTHY` that should mean
# "credentials held", give the task definition `airlock agent probe --ready` instead.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["/usr/local/bin/airlock", "agent", "probe", "--url", "http://127.0.0.1:9912/healthz"]
ENTRYPOINT ["/usr/local/bin/airlock", "agent"]
CMD ["--log-format", "json", "--health-listen", "0.0.0.0:9912"]
