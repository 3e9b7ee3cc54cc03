# The controller image: one static-enough binary on distroless (glibc, libgcc; no shell),
# running as an unprivileged user. `make image` builds it with docker or podman.
#
# Build stage: the same toolchain as the project (rust-version in Cargo.toml), release profile.
FROM docker.io/library/rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY webhook ./webhook
COPY examples ./examples
COPY benches ./benches
COPY tests ./tests
RUN cargo build --release --locked --bin aws-load-balancer-controller \
 && cp target/release/aws-load-balancer-controller /aws-load-balancer-controller

# Runtime: what `ldd` lists for the binary (libc, libm, libgcc_s) and nothing else.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /aws-load-balancer-controller /controller
USER 65532:65532
ENTRYPOINT ["/controller"]
CMD ["serve"]
