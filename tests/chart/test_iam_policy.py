"""The IAM policy shipped beside the chart: creates need the cluster tag in the request, changes
and deletes need it on the resource, and nothing is granted by wildcard action."""

import json
import pathlib

POLICY = pathlib.Path(__file__).resolve().parents[2] / "charts" / "iam-policy.json"
CLUSTER_TAG = "elbv2.k8s.aws/cluster"


def statements():
    return json.loads(POLICY.read_text())["Statement"]


def test_no_wildcard_actions():
    for statement in statements():
        for action in statement["Action"]:
            service, _, name = action.partition(":")
            assert name and name != "*", action
            if name.endswith("*"):
                assert name.startswith("Describe"), f"only Describe* may be a prefix: {action}"


def test_creates_require_the_cluster_tag_in_the_request():
    creates = {"elasticloadbalancing:CreateLoadBalancer", "elasticloadbalancing:CreateTargetGroup",
               "ec2:CreateSecurityGroup"}
    for statement in statements():
        granted = creates & set(statement["Action"])
        if granted:
            condition = statement.get("Condition", {})
            assert condition.get("Null", {}).get(f"aws:RequestTag/{CLUSTER_TAG}") == "false", granted


def test_changes_and_deletes_require_the_cluster_tag_on_the_resource():
    guarded = {"elasticloadbalancing:DeleteLoadBalancer", "elasticloadbalancing:DeleteTargetGroup",
               "elasticloadbalancing:ModifyTargetGroup", "elasticloadbalancing:RegisterTargets",
               "ec2:DeleteSecurityGroup", "ec2:AuthorizeSecurityGroupIngress",
               "ec2:RevokeSecurityGroupIngress"}
    seen = set()
    for statement in statements():
        granted = guarded & set(statement["Action"])
        if not granted:
            continue
        seen |= granted
        condition = statement.get("Condition", {})
        assert condition.get("Null", {}).get(f"aws:ResourceTag/{CLUSTER_TAG}") == "false", granted
    assert seen == guarded
