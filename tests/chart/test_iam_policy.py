"""The IAM policy shipped beside the chart: creates need the cluster tag in the request, changes
and deletes need it on the resource, and nothing is granted by wildcard action. The one
exception: rules on the targets' security groups (node or pod ENI groups, which the cluster's
own tooling created and tagged, not this controller), as upstream grants them."""

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
        if statement.get("Sid") == TARGET_RULES_SID:
            continue
        granted = guarded & set(statement["Action"])
        if not granted:
            continue
        seen |= granted
        condition = statement.get("Condition", {})
        assert condition.get("Null", {}).get(f"aws:ResourceTag/{CLUSTER_TAG}") == "false", granted
    assert seen == guarded


TARGET_RULES_SID = "TargetSecurityGroupRules"


def test_only_ingress_rules_on_target_groups_are_granted_without_the_tag():
    """TargetGroupBinding networking adds and removes rules on groups we did not create; that
    statement grants exactly those two actions, nothing that deletes or re-tags."""
    exceptions = [s for s in statements() if s.get("Sid") == TARGET_RULES_SID]
    assert len(exceptions) == 1
    assert sorted(exceptions[0]["Action"]) == [
        "ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupIngress"]
    for statement in statements():
        if statement.get("Sid") == TARGET_RULES_SID or "Condition" in statement:
            continue
        mutating = [a for a in statement["Action"]
                    if a.startswith("ec2:") and not a.split(":")[1].startswith("Describe")]
        assert not mutating, f"unconditioned EC2 changes outside {TARGET_RULES_SID}: {mutating}"
