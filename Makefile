# Two commands on a fresh machine: `make run` and `make test`.
SHELL := /bin/bash
CARGO ?= cargo
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: all build test fmt-check clippy unit crds readme bench run e2e venv cluster image clean

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
bench: venv
	$(CARGO) bench -p webhook --bench admission
	$(CARGO) bench -p aws-load-balancer-controller --bench model
	$(CARGO) bench -p aws-load-balancer-controller --bench group_check
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(CARGO) bench -p aws-load-balancer-controller --bench deploy
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(CARGO) bench -p aws-load-balancer-controller --bench controller
	bin=$$(bash tests/cluster/build.sh) && PATH="$(CURDIR)/$(VENV)/bin:$$PATH" TESTCLUSTER_BIN="$$bin" \
	  $(CARGO) bench -p aws-load-balancer-controller --bench endpoints_e2e

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
