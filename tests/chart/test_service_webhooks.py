"""The Service webhooks of the chart: the mutator (`mservice`, upstream's values) and the
annotation validator (`vservice`, ours), against what the server serves."""

from __future__ import annotations

import re

import pytest

from conftest import CHART_DIR

MUTATE = "/mutate-v1-service"
VALIDATE = "/validate-v1-service"
NOT_SELF = {"key": "app.kubernetes.io/name", "operator": "NotIn", "values": ["aws-load-balancer-controller"]}
CORE_SERVICES = {"apiGroups": [""], "apiVersions": ["v1"], "resources": ["services"]}


def hooks(rendered):
    return {hook["name"]: (kind, hook) for kind, hook in rendered.webhooks()}


def test_both_service_webhooks_are_registered_by_default(render, server_endpoints):
    by_name = hooks(render())
    for name, path, kind in [
        ("mservice.elbv2.k8s.aws", MUTATE, "MutatingWebhookConfiguration"),
        ("vservice.elbv2.k8s.aws", VALIDATE, "ValidatingWebhookConfiguration"),
    ]:
        got_kind, hook = by_name[name]
        assert got_kind == kind
        assert hook["clientConfig"]["service"]["path"] == path
        assert server_endpoints.names[path] == name
        assert hook["failurePolicy"] == "Fail"
        assert hook["sideEffects"] == "None"
        assert hook["admissionReviewVersions"] == ["v1"]
        # The controller's own Services are never sent (the webhook Service exists before the
        # webhook can answer).
        assert hook["objectSelector"]["matchExpressions"][0] == NOT_SELF


def test_mutator_defaults_are_upstreams(render):
    _, hook = hooks(render())["mservice.elbv2.k8s.aws"]
    assert hook["rules"] == [{**CORE_SERVICES, "operations": ["CREATE"]}]
    assert hook["objectSelector"] == {"matchExpressions": [NOT_SELF]}
    assert "namespaceSelector" not in hook


def test_mutator_is_only_sent_load_balancer_services(render):
    _, hook = hooks(render())["mservice.elbv2.k8s.aws"]
    (condition,) = hook["matchConditions"]
    assert condition["expression"] == (
        "has(object.spec) && has(object.spec.type) && object.spec.type == 'LoadBalancer'"
    )
    # [] gives upstream's registration: every Service is sent.
    _, hook = hooks(render({"serviceMutatorWebhookConfig": {"matchConditions": []}}))["mservice.elbv2.k8s.aws"]
    assert "matchConditions" not in hook


def test_mutator_values_flow_through(render):
    extra = {"key": "team", "operator": "In", "values": ["web"]}
    namespaces = [{"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": ["kube-system"]}]
    _, hook = hooks(render({"serviceMutatorWebhookConfig": {
        "failurePolicy": "Ignore",
        "operations": ["CREATE", "UPDATE"],
        "objectSelector": {"matchExpressions": [extra], "matchLabels": {"lb": "aws"}},
        "namespaceSelectors": namespaces,
    }}))["mservice.elbv2.k8s.aws"]
    assert hook["failurePolicy"] == "Ignore"
    assert hook["rules"] == [{**CORE_SERVICES, "operations": ["CREATE", "UPDATE"]}]
    assert hook["objectSelector"] == {"matchExpressions": [NOT_SELF, extra], "matchLabels": {"lb": "aws"}}
    assert hook["namespaceSelector"] == {"matchExpressions": namespaces}


def test_mutator_selectors_may_be_null_as_upstream_values_files_leave_them(render):
    _, hook = hooks(render({"serviceMutatorWebhookConfig": {
        "objectSelector": {"matchExpressions": None, "matchLabels": None},
        "namespaceSelectors": None,
    }}))["mservice.elbv2.k8s.aws"]
    assert hook["objectSelector"] == {"matchExpressions": [NOT_SELF]}
    assert "namespaceSelector" not in hook


def test_empty_operations_are_refused_by_the_schema(chart):
    import helm_python as helm

    with pytest.raises(helm.HelmError):
        chart.render({"clusterName": "c", "serviceMutatorWebhookConfig": {"operations": []}},
                     name="x", namespace="kube-system")
    with pytest.raises(helm.HelmError):
        chart.render({"clusterName": "c", "serviceMutatorWebhookConfig": {"operations": ["PATCH"]}},
                     name="x", namespace="kube-system")


def test_validator_is_scoped_to_services_that_could_be_ours(render):
    _, hook = hooks(render())["vservice.elbv2.k8s.aws"]
    assert hook["rules"] == [{**CORE_SERVICES, "operations": ["CREATE", "UPDATE"]}]
    assert hook["objectSelector"] == {"matchExpressions": [NOT_SELF]}
    (condition,) = hook["matchConditions"]
    expression = " ".join(condition["expression"].split())
    # One condition (conditions are ANDed): a LoadBalancer, or any class, or an NLB annotation.
    assert expression == (
        "(has(object.spec) && has(object.spec.type) && object.spec.type == 'LoadBalancer') || "
        "(has(object.spec) && has(object.spec.loadBalancerClass)) || "
        "(has(object.metadata.annotations) && object.metadata.annotations.exists(k, "
        "k.startsWith('service.beta.kubernetes.io/aws-load-balancer-')))"
    )
    # Balanced parentheses and quotes: a malformed expression would make the API server refuse
    # the whole configuration (the e2e suite also installs it on a real one).
    depth = 0
    for char in expression:
        depth += {"(": 1, ")": -1}.get(char, 0)
        assert depth >= 0
    assert depth == 0 and expression.count("'") % 2 == 0
    assert re.search(r"\bhas\(object\.metadata\.annotations\) && object\.metadata\.annotations\.exists", expression)


def test_validator_options(render):
    _, hook = hooks(render({"serviceValidatorWebhookConfig": {"failurePolicy": "Ignore"}}))["vservice.elbv2.k8s.aws"]
    assert hook["failurePolicy"] == "Ignore"


def test_disabling_removes_each_webhook_alone(render):
    by_name = hooks(render({"enableServiceMutatorWebhook": False}))
    assert "mservice.elbv2.k8s.aws" not in by_name
    assert "vservice.elbv2.k8s.aws" in by_name
    assert "mpod.elbv2.k8s.aws" in by_name
    by_name = hooks(render({"serviceValidatorWebhookConfig": {"enabled": False}}))
    assert "vservice.elbv2.k8s.aws" not in by_name
    assert "mservice.elbv2.k8s.aws" in by_name
    assert "vingress.elbv2.k8s.aws" in by_name
    by_name = hooks(render({"enableServiceMutatorWebhook": False, "serviceValidatorWebhookConfig": {"enabled": False}}))
    assert not any("service" in name for name in by_name)


def test_load_balancer_class_reaches_the_flag_only_when_set(render, serve_flags):
    assert "--load-balancer-class" in serve_flags
    assert render().flag("--load-balancer-class") is None
    assert render({"loadBalancerClass": "example.com/nlb"}).flag("--load-balancer-class") == "example.com/nlb"


def test_values_file_documents_the_service_webhooks():
    lines = (CHART_DIR / "values.yaml").read_text().splitlines()
    for key in ("enableServiceMutatorWebhook:", "serviceMutatorWebhookConfig:",
                "serviceValidatorWebhookConfig:", "loadBalancerClass:"):
        (at,) = [i for i, line in enumerate(lines) if line.startswith(key)]
        above = lines[at - 1]
        assert above.startswith("#"), f"{key} has no comment in values.yaml"
        assert "No effect" not in above, f"{key}: {above}"
