# Two commands on a fresh machine: `make run` and `make test`.
SHELL := /bin/bash
CARGO ?= cargo
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: all build test fmt-check clippy unit crds readme bench fuzz soak run e2e venv cluster image clean

all: build

build:
	$(CARGO) build --workspace

# Python tools used by the test harness (moto for AWS, the Helm SDK for chart tests).
$(VENV)/.stamp: requirements-test.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-test.txt
	touch $@

venv: $(VENV)/.stamp

fmt-check:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

# The test control plane (kube-apiserver + etcd + kube-controller-manager from the Kubernetes Go
# modules), built once and cached under ~/.cache/awslbc-testcluster; the tests start it themselves.
cluster:
	bash tests/cluster/build.sh

unit: venv
	bin=$$(bash tests/cluster/build.sh) && \
	  PATH="$(CURDIR)/$(VENV)/bin:$$PATH" TESTCLUSTER_BIN="$$bin" $(CARGO) test --workspace
	$(PY) -m pytest -q tests/chart

test: fmt-check clippy unit

# Regenerate crds/*.yaml from the Rust types (a test fails when they drift).
crds:
	$(CARGO) run -q -p contract --bin crdgen -- crds
	cp crds/*.yaml charts/aws-load-balancer-controller/crds/

# Regenerate README.md's annotation reference from the parser's table.
readme:
	UPDATE_README=1 $(CARGO) test -q -p contract --test readme_reference

# Figures, not assertions: admission over TLS, model build, AWS deploy against moto, controller.
# The scale bench's groups (of 10 Ingresses): 100 here, a few minutes; the issue's 1,000 take
# moto over 20 min (see README "Under stress").
SCALE_GROUPS ?= 100
bench: venv
	$(CARGO) bench -p webhook --bench admission
	$(CARGO) bench -p aws-load-balancer-controller --bench model
	$(CARGO) bench -p aws-load-balancer-controller --bench group_check
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(CARGO) bench -p aws-load-balancer-controller --bench deploy
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(CARGO) bench -p aws-load-balancer-controller --bench controller
	bin=$$(bash tests/cluster/build.sh) && PATH="$(CURDIR)/$(VENV)/bin:$$PATH" TESTCLUSTER_BIN="$$bin" \
	  $(CARGO) bench -p aws-load-balancer-controller --bench endpoints_e2e
	bin=$$(bash tests/cluster/build.sh) && PATH="$(CURDIR)/$(VENV)/bin:$$PATH" TESTCLUSTER_BIN="$$bin" \
	  env GROUPS=$(SCALE_GROUPS) $(CARGO) bench -p aws-load-balancer-controller --bench scale_e2e

# The crash soak on the real control plane and moto: 50 rounds of random Ingress changes, each
# followed by SIGKILL of the controller and a restart, then convergence and deletion checks
# (`make test` runs 5 rounds). Prints kills, leaks, duplicates and the time to converge.
SOAK_TRIALS ?= 50
SOAK_INGRESSES ?= 12
soak: venv
	bin=$$(bash tests/cluster/build.sh) && PATH="$(CURDIR)/$(VENV)/bin:$$PATH" TESTCLUSTER_BIN="$$bin" \
	  SOAK_TRIALS=$(SOAK_TRIALS) SOAK_INGRESSES=$(SOAK_INGRESSES) \
	  $(CARGO) test -p aws-load-balancer-controller --test e2e soak -- --nocapture

# libFuzzer over the annotation parsers and AdmissionReview decoding (tests/fuzz): each target
# runs FUZZ_SECONDS from the seed corpus in tests/fuzz/corpus. Needs the nightly toolchain;
# cargo-fuzz is installed into .tools/ on first use.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := annotation_values json_annotations admission_review service_annotations
CARGO_FUZZ := $(CURDIR)/.tools/bin/cargo-fuzz

$(CARGO_FUZZ):
	$(CARGO) install --quiet --locked --root $(CURDIR)/.tools cargo-fuzz

fuzz: $(CARGO_FUZZ)
	status=0; for target in $(FUZZ_TARGETS); do \
	  mkdir -p tests/fuzz/work/$$target; \
	  PATH="$(CURDIR)/.tools/bin:$$PATH" rustup run nightly cargo fuzz run --fuzz-dir tests/fuzz \
	    $$target tests/fuzz/work/$$target tests/fuzz/corpus/$$target \
	    -- -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=1024 -print_final_stats=1 \
	    > tests/fuzz/work/$$target.log 2>&1 || status=1; \
	  echo "== $$target"; \
	  grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb|Done |==[0-9]+== ERROR|SUMMARY|thread .* panicked)' \
	    tests/fuzz/work/$$target.log || true; \
	done; exit $$status

run: venv build
	$(CARGO) run -q --bin aws-load-balancer-controller -- run

# The e2e suite against the cluster in KUBECONFIG (a disposable one) instead of the test control plane.
e2e: venv
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" E2E_CLUSTER=kubeconfig $(CARGO) test --test e2e --test e2e_chart -- --test-threads=1

# The container image (Dockerfile) with docker or podman, tagged as the chart's default image.
IMAGE ?= aws-load-balancer-controller:$(shell sed -n 's/^appVersion: *"*\([^"]*\)"*/\1/p' charts/aws-load-balancer-controller/Chart.yaml)
image:
	@engine=$$(command -v docker || command -v podman) || { echo "make image needs docker or podman"; exit 1; }; \
	  $$engine build -t $(IMAGE) .

clean:
	$(CARGO) clean
	rm -rf $(VENV)
