"""Lint, values schema, and render-time failures."""

from __future__ import annotations

import helm_python as helm
import pytest

from conftest import BASE_VALUES, CHART_DIR

WARNING = 2


def problems(report: dict) -> list[dict]:
    return [m for m in report["messages"] if m["severity"] >= WARNING]


def test_lint_is_clean_with_a_cluster_name():
    report = helm.lint(CHART_DIR, BASE_VALUES, strict=True, namespace="kube-system")
    assert report["errors"] == [], report
    assert problems(report) == [], report


def test_lint_is_clean_with_non_default_values():
    values = {
        **BASE_VALUES,
        "enableCertManager": True,
        "podMutatorWebhookConfig": {"enabled": True},
        "clusterSecretsPermissions": {"allowAllSecrets": True},
        "ingressClassParams": {"spec": {"scheme": "internet-facing"}},
        "podDisruptionBudget": {"minAvailable": 1},
    }
    report = helm.lint(CHART_DIR, values, strict=True, kube_version="v1.30.0")
    assert report["errors"] == [], report
    assert problems(report) == [], report


def test_lint_reports_schema_violations():
    report = helm.lint(CHART_DIR, {**BASE_VALUES, "replicaCount": "two"})
    assert any("/replicaCount" in e for e in report["errors"]), report


def test_defaults_satisfy_the_schema(chart):
    chart.validate_schema(chart.values)


def test_render_without_cluster_name_fails_with_a_clear_message(render):
    with pytest.raises(helm.HelmRenderError) as failure:
        render(base=False)
    assert "clusterName is required" in str(failure.value)


@pytest.mark.parametrize(
    ("values", "where"),
    [
        ({"replicaCount": "two"}, "/replicaCount"),
        ({"defaultTargetType": "lambda"}, "/defaultTargetType"),
        ({"webhookConfig": {"ingressValidationFailurePolicy": "fail"}}, "/webhookConfig/ingressValidationFailurePolicy"),
        ({"podMutatorWebhookConfig": {"failurePolicy": "Maybe"}}, "/podMutatorWebhookConfig/failurePolicy"),
        ({"webhookConfig": {"timeoutSeconds": 31}}, "/webhookConfig/timeoutSeconds"),
        ({"webhookBindPort": 70000}, "/webhookBindPort"),
        ({"vpcId": "my-vpc"}, "/vpcId"),
        ({"vpcTags": ["Name=my-vpc"]}, "/vpcTags"),
        ({"vpcTags": {"Name": "a,b"}}, "/vpcTags/Name"),
        ({"vpcTags": {"Name": 3}}, "/vpcTags/Name"),
        ({"vpcTags": {"a=b": "c"}}, "invalid propertyName 'a=b'"),
        ({"serviceAccount": {"roleArn": "role/alb"}}, "/serviceAccount/roleArn"),
        ({"keepTLSSecret": "yes"}, "/keepTLSSecret"),
        ({"enableCertManager": "true"}, "/enableCertManager"),
        ({"clusterName": 42}, "/clusterName"),
        ({"webhookTLS": {"cert": "not a pem"}}, "/webhookTLS/cert"),
        ({"podDisruptionBudget": {"maxUnavailable": "half"}}, "/podDisruptionBudget/maxUnavailable"),
        ({"webhookNamespaceSelectors": [{"key": "a", "operator": "Like"}]}, "/webhookNamespaceSelectors/0/operator"),
        ({"extraArgs": ["serve"]}, "/extraArgs/0"),
        ({"replicaCont": 3}, "replicaCont"),
        ({"webhookConfig": {"failurePolicy": "Fail"}}, "failurePolicy"),
    ],
)
def test_schema_rejects_bad_values_at_render(render, values, where):
    with pytest.raises(helm.HelmValuesError) as failure:
        render(values)
    assert where in str(failure.value)


def test_both_pdb_bounds_are_refused(render):
    with pytest.raises(helm.HelmRenderError) as failure:
        render({"podDisruptionBudget": {"minAvailable": 1, "maxUnavailable": 1}})
    assert "not both" in str(failure.value)


def test_ingress_class_resource_needs_a_name(render):
    with pytest.raises(helm.HelmRenderError) as failure:
        render({"ingressClass": "", "ingressClassParams": {"create": False}})
    assert "createIngressClassResource needs ingressClass" in str(failure.value)
