"""Deployment, ServiceAccount, PDB, IngressClass and IngressClassParams."""

from __future__ import annotations

import helm_python as helm
import pytest

from conftest import NAMESPACE

# Flags the chart passes that src/cli.rs does not declare yet (leader election is coming).
# Remove a flag from here when cli.rs gains it; the second test below says when.
PENDING_FLAGS: set[str] = set()

NON_DEFAULT = {
    "region": "eu-west-1",
    "vpcId": "vpc-0123456789abcdef0",
    "vpcTags": {"Name": "my-vpc"},
    "awsEndpointUrl": "http://127.0.0.1:5000",
    "ingressClass": "internal-alb",
    "defaultTargetType": "ip",
    "disableIngressClassAnnotation": True,
    "disableIngressGroupNameAnnotation": True,
    "externalManagedTags": ["CostCenter", "Team"],
    "enableBackendSecurityGroup": False,
    "backendSecurityGroup": "sg-0123456789abcdef0",
    "disableRestrictedSecurityGroupRules": True,
    "serviceTargetENISGTags": {"role": "pods"},
    "enableWafv2": False,
    "enableWaf": False,
    "enableShield": False,
    "extraArgs": ["--some-future-flag=1"],
    "env": {"RUST_LOG": "debug"},
    "replicaCount": 3,
    "image": {"repository": "registry.example/lbc", "tag": "v9"},
    "metricsBindPort": 9090,
}


def split_flag(arg: str) -> tuple[str, str | None]:
    name, sep, value = arg.partition("=")
    return name, (value if sep else None)


def chart_flags(rendered) -> list[tuple[str, str | None]]:
    args = rendered.args()
    assert args[0] == "serve"
    return [split_flag(a) for a in args[1:]]


@pytest.mark.parametrize("values", [{}, NON_DEFAULT, {"leaderElection": {"enabled": False}}])
def test_every_flag_is_one_the_binary_accepts(render, serve_flags, values):
    extra = set(values.get("extraArgs", []))
    for name, value in chart_flags(render(values)):
        if f"{name}={value}" in extra:
            continue
        assert name in serve_flags or name in PENDING_FLAGS, f"{name} is not a flag of `serve` in src/cli.rs"
        if name in serve_flags:
            # clap's bool flags take no value; every other flag needs one.
            assert (value is None) == serve_flags[name].is_bool, f"{name}={value}"


def test_pending_flags_are_still_pending(serve_flags):
    landed = PENDING_FLAGS & set(serve_flags)
    assert not landed, f"{sorted(landed)} now exist in src/cli.rs: remove them from PENDING_FLAGS"


def test_default_arguments(render):
    rendered = render()
    assert rendered.flag("--cluster-name") == "test-cluster"
    assert rendered.flag("--ingress-class") == "alb"
    assert rendered.flag("--default-target-type") == "instance"
    assert rendered.flag("--aws-vpc-id") == "vpc-0aaaabbbbccccdddd"
    assert rendered.flag("--webhook-bind-port") == "9443"
    assert rendered.flag("--metrics-bind-addr") == "0.0.0.0:8080"
    assert rendered.flag("--enable-leader-election") == "true"
    assert "--disable-ingress-class-annotation" not in rendered.args()
    assert "env" not in rendered.container()


def test_vpc_id_is_optional_and_the_binary_discovers_the_vpc(render, serve_flags):
    # Without vpcId or vpcTags the controller reads its VPC from instance metadata.
    rendered = render({"vpcId": ""})
    assert rendered.flag("--aws-vpc-id") is None
    assert rendered.flag("--aws-vpc-tags") is None
    assert "--aws-vpc-tags" in serve_flags and not serve_flags["--aws-vpc-tags"].is_bool


def test_vpc_tags_are_passed_sorted_by_key(render):
    rendered = render({"vpcId": "", "vpcTags": {"env": "prod", "Name": "my-vpc", "team": "a=b"}})
    assert rendered.flag("--aws-vpc-id") is None
    # Keys in byte order (upper case first), like the binary renders them back in its messages.
    assert rendered.flag("--aws-vpc-tags") == "Name=my-vpc,env=prod,team=a=b"


def test_vpc_id_and_vpc_tags_are_both_passed_and_the_binary_prefers_the_id(render):
    rendered = render({"vpcTags": {"Name": "my-vpc"}})
    assert rendered.flag("--aws-vpc-id") == "vpc-0aaaabbbbccccdddd"
    assert rendered.flag("--aws-vpc-tags") == "Name=my-vpc"


def test_backend_security_group_settings(render):
    # On by default, and said so explicitly: the binary's default could change, the chart's not.
    rendered = render()
    assert rendered.flag("--enable-backend-security-group") == "true"
    assert rendered.flag("--backend-security-group") is None
    assert rendered.flag("--disable-restricted-sg-rules") is None
    rendered = render({"backendSecurityGroup": "sg-0123456789abcdef0",
                       "disableRestrictedSecurityGroupRules": True})
    assert rendered.flag("--backend-security-group") == "sg-0123456789abcdef0"
    assert rendered.flag("--disable-restricted-sg-rules") == "true"
    assert render({"enableBackendSecurityGroup": False}).flag("--enable-backend-security-group") == "false"


def test_service_target_eni_sg_tags_are_passed_sorted_by_key(render, serve_flags):
    flag = "--service-target-eni-security-group-tags"
    assert flag in serve_flags and not serve_flags[flag].is_bool
    assert render().flag(flag) is None
    rendered = render({"serviceTargetENISGTags": {"team": "web", "Role": "pods", "env": "a=b"}})
    # Keys in byte order (upper case first); values may hold "=" (the binary splits at the first).
    assert rendered.flag(flag) == "Role=pods,env=a=b,team=web"


@pytest.mark.parametrize(
    ("tags", "where"),
    [
        (["role=pods"], "/serviceTargetENISGTags"),
        ({"role": "a,b"}, "/serviceTargetENISGTags/role"),
        ({"role": 3}, "/serviceTargetENISGTags/role"),
        ({"a=b": "c"}, "invalid propertyName 'a=b'"),
        ({"a,b": "c"}, "invalid propertyName 'a,b'"),
    ],
)
def test_service_target_eni_sg_tags_schema_refuses_what_the_flag_cannot_carry(render, tags, where):
    with pytest.raises(helm.HelmValuesError) as failure:
        render({"serviceTargetENISGTags": tags})
    assert where in str(failure.value)


def test_addon_settings_are_passed_explicitly(render):
    # WAFv2, WAF Classic and Shield add-ons are on unless turned off; "off" must reach the binary.
    rendered = render()
    for flag in ("--enable-wafv2", "--enable-waf", "--enable-shield"):
        assert rendered.flag(flag) == "true", flag
    rendered = render({"enableWafv2": False, "enableShield": False})
    assert rendered.flag("--enable-wafv2") == "false"
    assert rendered.flag("--enable-waf") == "true"
    assert rendered.flag("--enable-shield") == "false"
    assert render({"enableWaf": False}).flag("--enable-waf") == "false"


def test_leader_election_off_is_passed_explicitly(render):
    # The binary elects a leader unless told otherwise, so "off" must reach it as a value.
    rendered = render({"leaderElection": {"enabled": False}})
    assert rendered.flag("--enable-leader-election") == "false"
    assert rendered.flag("--leader-election-id") is None


def test_non_default_arguments_and_environment(render):
    rendered = render(NON_DEFAULT)
    assert rendered.flag("--ingress-class") == "internal-alb"
    assert rendered.flag("--default-target-type") == "ip"
    assert rendered.flag("--aws-vpc-id") == "vpc-0123456789abcdef0"
    assert rendered.flag("--external-managed-tags") == "CostCenter,Team"
    assert rendered.flag("--metrics-bind-addr") == "0.0.0.0:9090"
    assert "--disable-ingress-class-annotation" in rendered.args()
    assert "--disable-ingress-group-name-annotation" in rendered.args()
    assert rendered.args()[-1] == "--some-future-flag=1"
    env = {e["name"]: e["value"] for e in rendered.container()["env"]}
    assert env == {"AWS_REGION": "eu-west-1", "AWS_ENDPOINT_URL": "http://127.0.0.1:5000", "RUST_LOG": "debug"}
    assert rendered.container()["image"] == "registry.example/lbc:v9"
    assert rendered.one("Deployment")["spec"]["replicas"] == 3
    # The probes follow the metrics port.
    ports = {p["name"]: p["containerPort"] for p in rendered.container()["ports"]}
    assert ports[rendered.container()["livenessProbe"]["httpGet"]["port"]] == 9090


def test_image_tag_defaults_to_app_version(chart, render):
    assert render().container()["image"] == f"aws-load-balancer-controller:{chart.metadata['appVersion']}"


def test_cert_dir_argument_is_the_mount_path(render):
    rendered = render()
    mounts = {m["name"]: m for m in rendered.container()["volumeMounts"]}
    assert mounts["webhook-cert"]["mountPath"] == rendered.flag("--webhook-cert-dir")
    assert mounts["webhook-cert"]["readOnly"] is True


def test_probes_hit_live_and_ready_on_the_metrics_port(render):
    rendered = render()
    container = rendered.container()
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    metrics_port = int(rendered.flag("--metrics-bind-addr").rsplit(":", 1)[1])
    for probe, path in (("livenessProbe", "/live"), ("readinessProbe", "/ready")):
        get = container[probe]["httpGet"]
        assert get["path"] == path
        assert ports[get["port"]] == metrics_port


def test_hardened_pod(render):
    rendered = render()
    container = rendered.container()
    context = container["securityContext"]
    assert context["runAsNonRoot"] is True
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"] == {"drop": ["ALL"]}
    pod = rendered.one("Deployment")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["resources"]["requests"] == {"cpu": "100m", "memory": "200Mi"}
    assert container["resources"]["limits"]["memory"] == "500Mi"


def test_two_replicas_spread_over_nodes(render):
    rendered = render()
    deployment = rendered.one("Deployment")
    assert deployment["spec"]["replicas"] == 2
    (term,) = deployment["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"][
        "preferredDuringSchedulingIgnoredDuringExecution"]
    assert term["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    selector = term["podAffinityTerm"]["labelSelector"]["matchLabels"]
    assert selector == deployment["spec"]["selector"]["matchLabels"]
    assert selector.items() <= deployment["spec"]["template"]["metadata"]["labels"].items()

    custom = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": []}}}
    assert render({"affinity": custom}).one("Deployment")["spec"]["template"]["spec"]["affinity"] == custom


def test_pod_disruption_budget(render):
    rendered = render()
    pdb = rendered.one("PodDisruptionBudget")
    assert pdb["spec"]["maxUnavailable"] == 1
    assert pdb["spec"]["selector"]["matchLabels"] == rendered.one("Deployment")["spec"]["selector"]["matchLabels"]
    assert render({"podDisruptionBudget": {"minAvailable": "50%"}}).one("PodDisruptionBudget")["spec"] == {
        "minAvailable": "50%", "selector": pdb["spec"]["selector"]}
    assert render({"podDisruptionBudget": {"enabled": False}}).all("PodDisruptionBudget") == []


def test_service_account_irsa(render):
    arn = "arn:aws:iam::123456789012:role/lbc"
    account = render({"serviceAccount": {"roleArn": arn, "annotations": {"team": "net"}}}).one("ServiceAccount")
    assert account["metadata"]["annotations"] == {"eks.amazonaws.com/role-arn": arn, "team": "net"}
    assert account["metadata"]["namespace"] == NAMESPACE
    assert "annotations" not in render().one("ServiceAccount")["metadata"]
    external = render({"serviceAccount": {"create": False, "name": "existing"}})
    assert external.all("ServiceAccount") == []
    assert external.one("Deployment")["spec"]["template"]["spec"]["serviceAccountName"] == "existing"


def test_ingress_class_and_params(render):
    rendered = render()
    ingress_class = rendered.one("IngressClass", "alb")
    assert ingress_class["spec"] == {
        "controller": "ingress.k8s.aws/alb",
        "parameters": {"apiGroup": "elbv2.k8s.aws", "kind": "IngressClassParams", "name": "alb"},
    }
    assert "annotations" not in ingress_class["metadata"]
    assert rendered.one("IngressClassParams", "alb")["spec"] == {}


def test_ingress_class_params_values(render):
    spec = {"scheme": "internet-facing", "group": {"name": "shared"},
            "tags": [{"key": "owner", "value": "platform"}]}
    rendered = render({"ingressClass": "web", "ingressClassConfig": {"default": True},
                       "ingressClassParams": {"name": "web-params", "spec": spec}})
    ingress_class = rendered.one("IngressClass", "web")
    assert ingress_class["metadata"]["annotations"] == {"ingressclass.kubernetes.io/is-default-class": "true"}
    assert ingress_class["spec"]["parameters"]["name"] == "web-params"
    params = rendered.one("IngressClassParams", "web-params")
    assert params["spec"] == spec
    assert "namespace" not in params["metadata"]  # cluster-scoped


def test_ingress_class_switches(render):
    no_params = render({"ingressClassParams": {"create": False}})
    assert no_params.all("IngressClassParams") == []
    assert "parameters" not in no_params.one("IngressClass")["spec"]
    nothing = render({"createIngressClassResource": False, "ingressClassParams": {"create": False}})
    assert nothing.all("IngressClass") == [] and nothing.all("IngressClassParams") == []


def test_every_namespaced_object_is_in_the_release_namespace(render):
    cluster_scoped = {"ClusterRole", "ClusterRoleBinding", "IngressClass", "IngressClassParams",
                      "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"}
    for obj in render(namespace="lbc").objects:
        if obj["kind"] in cluster_scoped:
            assert "namespace" not in obj["metadata"], obj["kind"]
        else:
            assert obj["metadata"]["namespace"] == "lbc", obj["kind"]


def test_notes_name_the_cluster_and_the_certificate_mode(render):
    assert 'cluster "test-cluster"' in render().notes
    assert "reused on upgrade" in render().notes
    assert "cert-manager" in render({"enableCertManager": True}).notes
