# syntax=docker/dockerfile:1.7
#
# The secret-rotator operator image.
#
#   docker build -t ghcr.io/secret-rotator/secret-rotator:0.1.0 --build-arg VERSION=0.1.0 .
#
# Stage 1 builds a release binary with the pinned toolchain and the committed Cargo.lock. Stage 2
# copies it onto distroless/cc (glibc, libgcc, CA certificates, /etc/passwd entries for `nonroot`;
# no shell, no package manager). The binary links glibc dynamically and nothing else (TLS is
# rustls with aws-lc, compiled in), so the Debian 12 builder and the Debian 12 runtime match.
#
# The image runs as UID/GID 65532 and writes nothing to its filesystem, so it runs with
# `readOnlyRootFilesystem: true`, `runAsNonRoot: true` and every capability dropped.
# NB: pin both bases by digest (`@sha256:...`) in release builds; tags move.

ARG RUST_VERSION=1.95

FROM docker.io/library/rust:${RUST_VERSION}-bookworm AS builder
WORKDIR /src
COPY . .
# Cache mounts keep the registry and the target directory between builds; the binary is copied
# out of the cache mount, which does not survive into the next stage.
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release --locked --bin secret-rotator \
    && install -D -m 0755 target/release/secret-rotator /out/secret-rotator

FROM gcr.io/distroless/cc-debian12:nonroot AS runtime
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="secret-rotator" \
      org.opencontainers.image.description="Kubernetes operator that rotates OAuth client secrets (Microsoft Entra ID) before they expire, with zero downtime" \
      org.opencontainers.image.source="https://github.com/secret-rotator/secret-rotator" \
      org.opencontainers.image.url="https://github.com/secret-rotator/secret-rotator" \
      org.opencontainers.image.documentation="https://github.com/secret-rotator/secret-rotator/blob/main/docs/install.md" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.vendor="secret-rotator" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"
COPY --from=builder --chown=0:0 --chmod=0555 /out/secret-rotator /secret-rotator
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/secret-rotator"]
CMD ["run"]
