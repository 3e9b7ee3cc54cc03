"""RBAC: the exact grants, no wildcards, nothing broader than upstream's chart."""

from __future__ import annotations

from conftest import NAMESPACE

# (apiGroup, resource, verb) the controller gets cluster-wide by default.
EXPECTED_CLUSTER = {
    *(("networking.k8s.io", "ingresses", v) for v in ("get", "list", "watch", "patch", "update")),
    *(("networking.k8s.io", "ingresses/status", v) for v in ("patch", "update")),
    *(("networking.k8s.io", "ingressclasses", v) for v in ("get", "list", "watch")),
    *(("", r, v) for r in ("services", "endpoints", "pods", "nodes", "namespaces") for v in ("get", "list", "watch")),
    ("", "pods/status", "patch"),
    # The NLB controller: the Service finalizer and status.loadBalancer.
    ("", "services", "patch"),
    ("", "services/status", "patch"),
    *(("discovery.k8s.io", "endpointslices", v) for v in ("get", "list", "watch")),
    # The controller records events.k8s.io/v1 Events (kube-rs style), not core/v1 ones.
    *(("events.k8s.io", "events", v) for v in ("create", "patch")),
    *(("elbv2.k8s.aws", "targetgroupbindings", v)
      for v in ("get", "list", "watch", "create", "update", "patch", "delete")),
    *(("elbv2.k8s.aws", "targetgroupbindings/status", v) for v in ("patch", "update")),
    *(("elbv2.k8s.aws", "ingressclassparams", v) for v in ("get", "list", "watch")),
}
SECRETS = {("", "secrets", v) for v in ("get", "list", "watch")}

# Upstream's chart (helm/aws-load-balancer-controller/templates/rbac.yaml), the parts that concern
# the resources this controller touches. Ours must stay inside it.
UPSTREAM_CLUSTER = {
    *(("", r, v) for r in ("endpoints", "namespaces", "nodes", "pods") for v in ("get", "list", "watch")),
    *(("", "events", v) for v in ("create", "patch")),
    # The same Event objects through their other API group: not a broader grant.
    *(("events.k8s.io", "events", v) for v in ("create", "patch")),
    *(("", r, v) for r in ("pods/status", "services/status") for v in ("patch", "update")),
    *(("", "services", v) for v in ("get", "list", "patch", "update", "watch")),
    *(("", "configmaps", v) for v in ("create", "delete", "get", "update")),
    *(("discovery.k8s.io", "endpointslices", v) for v in ("get", "list", "watch")),
    *(("elbv2.k8s.aws", "ingressclassparams", v) for v in ("get", "list", "watch")),
    *(("elbv2.k8s.aws", "targetgroupbindings", v)
      for v in ("create", "delete", "get", "list", "patch", "update", "watch")),
    *(("elbv2.k8s.aws", "targetgroupbindings/status", v) for v in ("patch", "update")),
    *((g, "ingresses", v) for g in ("extensions", "networking.k8s.io")
      for v in ("get", "list", "patch", "update", "watch")),
    *((g, "ingresses/status", v) for g in ("extensions", "networking.k8s.io") for v in ("patch", "update")),
    *(("networking.k8s.io", "ingressclasses", v) for v in ("get", "list", "watch")),
    *SECRETS,  # only with clusterSecretsPermissions.allowAllSecrets
}


def grants(role: dict) -> set[tuple]:
    """Flatten rules to (group, resource, verb, resourceName or None)."""
    out = set()
    for rule in role["rules"]:
        names = rule.get("resourceNames") or [None]
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                for verb in rule["verbs"]:
                    for name in names:
                        out.add((group, resource, verb, name))
    return out


def unnamed(triples: set[tuple]) -> set[tuple]:
    assert all(t[3] is None for t in triples), "unexpected resourceNames in a ClusterRole"
    return {t[:3] for t in triples}


def test_cluster_role_is_exactly_the_expected_set(render):
    role = render().one("ClusterRole")
    assert unnamed(grants(role)) == EXPECTED_CLUSTER


def test_cluster_role_is_no_broader_than_upstream(render):
    role = render({"clusterSecretsPermissions": {"allowAllSecrets": True}}).one("ClusterRole")
    assert unnamed(grants(role)) <= UPSTREAM_CLUSTER


def test_no_wildcards_and_no_non_resource_urls(render):
    rendered = render({"clusterSecretsPermissions": {"allowAllSecrets": True}})
    for role in rendered.all("ClusterRole") + rendered.all("Role"):
        for rule in role["rules"]:
            assert "nonResourceURLs" not in rule
            for key in ("apiGroups", "resources", "verbs", "resourceNames"):
                assert not any("*" in item for item in rule.get(key, [])), (role["metadata"]["name"], rule)


def test_secrets_only_on_request(render):
    role = render({"clusterSecretsPermissions": {"allowAllSecrets": True}}).one("ClusterRole")
    assert unnamed(grants(role)) == EXPECTED_CLUSTER | SECRETS


def test_leader_election_role_is_one_lease_in_the_release_namespace(render):
    rendered = render({"leaderElection": {"id": "my-leader"}}, namespace="lbc")
    role = rendered.one("Role")
    assert role["metadata"]["namespace"] == "lbc"
    assert grants(role) == {
        ("coordination.k8s.io", "leases", "create", None),
        ("coordination.k8s.io", "leases", "get", "my-leader"),
        ("coordination.k8s.io", "leases", "update", "my-leader"),
        ("coordination.k8s.io", "leases", "patch", "my-leader"),
    }
    # The lease the role allows is the one the controller is told to use, where it is told to.
    assert rendered.flag("--leader-election-id") == "my-leader"
    assert rendered.flag("--leader-election-namespace") == "lbc"


def test_bindings_connect_the_roles_to_the_controller_service_account(render):
    rendered = render({"serviceAccount": {"name": "lbc-sa"}})
    account = rendered.one("ServiceAccount", "lbc-sa")
    assert rendered.one("Deployment")["spec"]["template"]["spec"]["serviceAccountName"] == "lbc-sa"
    for binding_kind, role_kind in (("ClusterRoleBinding", "ClusterRole"), ("RoleBinding", "Role")):
        binding = rendered.one(binding_kind)
        role = rendered.one(role_kind)
        assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind,
                                      "name": role["metadata"]["name"]}
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": account["metadata"]["name"],
                                        "namespace": NAMESPACE}]
        if binding_kind == "RoleBinding":
            assert binding["metadata"]["namespace"] == role["metadata"]["namespace"] == NAMESPACE


def test_switches(render):
    assert render({"leaderElection": {"enabled": False}}).all("Role") == []
    off = render({"rbac": {"create": False}})
    for kind in ("ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"):
        assert off.all(kind) == []
