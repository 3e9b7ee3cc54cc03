"""The webhook configurations against what the server really serves (webhook/src/admission.rs)."""

from __future__ import annotations

from conftest import NAMESPACE

POD_PATH = "/mutate-v1-pod"
ALL_ON = {"podMutatorWebhookConfig": {"enabled": True}}
NOT_SELF = {"key": "app.kubernetes.io/name", "operator": "NotIn", "values": ["aws-load-balancer-controller"]}


def by_name(rendered):
    return {hook["name"]: (kind, hook) for kind, hook in rendered.webhooks()}


def test_every_registered_path_is_served(render, server_endpoints):
    for kind, hook in render().webhooks():
        assert hook["clientConfig"]["service"]["path"] in server_endpoints.paths, hook["name"]


def test_every_served_path_is_registered_by_default(render, server_endpoints):
    registered = {hook["clientConfig"]["service"]["path"] for _, hook in render().webhooks()}
    assert server_endpoints.paths <= registered


def test_webhook_names_match_the_server(render, server_endpoints):
    for _, hook in render(ALL_ON).webhooks():
        path = hook["clientConfig"]["service"]["path"]
        if path in server_endpoints.names:
            assert hook["name"] == server_endpoints.names[path], path


def test_pod_mutator_is_on_by_default_exactly_when_the_server_serves_it(chart, render, server_endpoints):
    served = POD_PATH in server_endpoints.paths
    assert chart.values["podMutatorWebhookConfig"]["enabled"] == served, (
        "the chart registers /mutate-v1-pod by default iff webhook/src/admission.rs serves it; "
        "flip podMutatorWebhookConfig.enabled in values.yaml"
    )
    paths = {hook["clientConfig"]["service"]["path"] for _, hook in render(ALL_ON).webhooks()}
    # With it switched on, the only path the server may not (yet) know is the pod mutator's.
    assert paths - server_endpoints.paths <= {POD_PATH}


def test_mutating_and_validating_paths_sit_in_the_right_configuration(render):
    for kind, hook in render(ALL_ON).webhooks():
        path = hook["clientConfig"]["service"]["path"]
        if kind == "MutatingWebhookConfiguration":
            assert path.startswith("/mutate-"), hook["name"]
        else:
            assert path.startswith("/validate-"), hook["name"]


def test_configurations_keep_upstream_names_and_point_at_the_webhook_service(render):
    rendered = render(ALL_ON)
    service = rendered.one("Service", "aws-load-balancer-webhook-service")
    assert service["metadata"]["namespace"] == NAMESPACE
    ports = {p["port"]: p for p in service["spec"]["ports"]}
    for kind in ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"):
        assert rendered.one(kind)["metadata"]["name"] == "aws-load-balancer-webhook"
    for _, hook in rendered.webhooks():
        target = hook["clientConfig"]["service"]
        assert target["name"] == service["metadata"]["name"]
        assert target["namespace"] == NAMESPACE
        assert target["port"] in ports


def test_service_reaches_the_webhook_port_of_the_controller_pods(render):
    rendered = render({"webhookBindPort": 10443})
    service = rendered.one("Service", "aws-load-balancer-webhook-service")
    (port,) = service["spec"]["ports"]
    assert port["port"] == 443
    container = rendered.container()
    by_port_name = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert by_port_name[port["targetPort"]] == 10443
    assert rendered.flag("--webhook-bind-port") == "10443"
    pod_labels = rendered.one("Deployment")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()


def test_common_settings(render):
    for _, hook in render(ALL_ON).webhooks():
        assert hook["sideEffects"] == "None", hook["name"]
        assert hook["admissionReviewVersions"] == ["v1"], hook["name"]
        assert hook["timeoutSeconds"] == 10, hook["name"]
    for _, hook in render({"webhookConfig": {"timeoutSeconds": 5}}).webhooks():
        assert hook["timeoutSeconds"] == 5, hook["name"]


def test_ingress_webhooks(render):
    hooks = by_name(render())
    # Upstream has no Ingress mutator, and neither do we (defaults are derived, never frozen).
    assert "mingress.elbv2.k8s.aws" not in hooks
    for name, kind in [
        ("vingress.elbv2.k8s.aws", "ValidatingWebhookConfiguration"),
    ]:
        got_kind, hook = hooks[name]
        assert got_kind == kind
        assert hook["matchPolicy"] == "Equivalent"
        assert hook["failurePolicy"] == "Fail"
        assert hook["rules"] == [{
            "apiGroups": ["networking.k8s.io"],
            "apiVersions": ["v1"],
            "operations": ["CREATE", "UPDATE"],
            "resources": ["ingresses"],
        }]
        assert "objectSelector" not in hook and "namespaceSelector" not in hook


def test_ingress_webhook_options(render):
    selector = {"matchLabels": {"alb": "on"}}
    namespaces = {"matchExpressions": [{"key": "team", "operator": "Exists"}]}
    hooks = by_name(render({"webhookConfig": {
        "ingressValidationFailurePolicy": "Ignore",
        "ingressObjectSelector": selector,
        "ingressNamespaceSelector": namespaces,
    }}))
    for name in ("vingress.elbv2.k8s.aws",):
        _, hook = hooks[name]
        assert hook["failurePolicy"] == "Ignore"
        assert hook["objectSelector"] == selector
        assert hook["namespaceSelector"] == namespaces

    hooks = by_name(render({"webhookConfig": {"disableIngressValidation": True}}))
    assert "vingress.elbv2.k8s.aws" not in hooks
    assert "vtargetgroupbinding.elbv2.k8s.aws" in hooks


def test_ingress_class_params_webhook_skips_the_charts_own_object(render):
    rendered = render()
    _, hook = by_name(rendered)["vingressclassparams.elbv2.k8s.aws"]
    assert hook["failurePolicy"] == "Fail"
    assert hook["rules"][0]["resources"] == ["ingressclassparams"]
    assert hook["rules"][0]["operations"] == ["CREATE", "UPDATE"]
    assert hook["objectSelector"] == {"matchExpressions": [NOT_SELF]}
    # The chart's IngressClassParams carries the label the selector excludes.
    params = rendered.one("IngressClassParams")
    assert params["metadata"]["labels"]["app.kubernetes.io/name"] in NOT_SELF["values"]


def test_target_group_binding_webhooks(render):
    hooks = by_name(render({"webhookConfig": {"targetGroupBindingMutationFailurePolicy": "Ignore"}}))
    for name, policy in [("mtargetgroupbinding.elbv2.k8s.aws", "Ignore"), ("vtargetgroupbinding.elbv2.k8s.aws", "Fail")]:
        _, hook = hooks[name]
        assert hook["failurePolicy"] == policy
        assert hook["rules"] == [{
            "apiGroups": ["elbv2.k8s.aws"],
            "apiVersions": ["v1beta1"],
            "operations": ["CREATE", "UPDATE"],
            "resources": ["targetgroupbindings"],
        }]


def test_pod_mutator_selectors_and_policy(render):
    rendered = render(ALL_ON)
    kind, hook = by_name(rendered)["mpod.elbv2.k8s.aws"]
    assert kind == "MutatingWebhookConfiguration"
    assert hook["clientConfig"]["service"]["path"] == POD_PATH
    assert hook["failurePolicy"] == "Ignore"
    assert hook["rules"] == [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["pods"]}]
    assert hook["namespaceSelector"] == {"matchExpressions": [
        {"key": "elbv2.k8s.aws/pod-readiness-gate-inject", "operator": "In", "values": ["enabled"]}
    ]}
    assert hook["objectSelector"] == {"matchExpressions": [NOT_SELF]}
    # The exclusion really matches the controller's own pods, so it can always restart itself.
    pod_labels = rendered.one("Deployment")["spec"]["template"]["metadata"]["labels"]
    assert pod_labels[NOT_SELF["key"]] in NOT_SELF["values"]


def test_pod_mutator_options(render):
    namespaces = [{"key": "inject", "operator": "Exists"}]
    extra = {"key": "tier", "operator": "In", "values": ["web"]}
    _, hook = by_name(render({
        "podMutatorWebhookConfig": {"enabled": True, "failurePolicy": "Fail"},
        "webhookNamespaceSelectors": namespaces,
        "objectSelector": {"matchExpressions": [extra], "matchLabels": {"app": "shop"}},
    }))["mpod.elbv2.k8s.aws"]
    assert hook["failurePolicy"] == "Fail"
    assert hook["namespaceSelector"] == {"matchExpressions": namespaces}
    assert hook["objectSelector"] == {"matchExpressions": [NOT_SELF, extra], "matchLabels": {"app": "shop"}}


def test_name_override_renames_webhook_objects_and_keeps_the_self_exclusion_consistent(render):
    rendered = render({"nameOverride": "lbc", **ALL_ON})
    assert rendered.one("ValidatingWebhookConfiguration")["metadata"]["name"] == "lbc-webhook"
    rendered.one("Service", "lbc-webhook-service")
    rendered.one("Secret", "lbc-tls")
    _, hook = by_name(rendered)["mpod.elbv2.k8s.aws"]
    pod_labels = rendered.one("Deployment")["spec"]["template"]["metadata"]["labels"]
    (expression,) = hook["objectSelector"]["matchExpressions"]
    assert expression["values"] == [pod_labels["app.kubernetes.io/name"]] == ["lbc"]
