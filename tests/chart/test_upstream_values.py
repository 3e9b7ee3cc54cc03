"""An upstream values file, written the way upstream's README and values.yaml tell users to,
installs unchanged: the schema accepts it (while still refusing typos), and every value with a
flag reaches the controller's arguments, which the binary declares."""

from __future__ import annotations

import yaml

from conftest import NAMESPACE, parse_manifests

# Upstream chart keys as users set them (helm/aws-load-balancer-controller/values.yaml).
UPSTREAM_VALUES = yaml.safe_load("""
clusterName: my-cluster
region: us-west-2
vpcId: vpc-0123456789abcdef0
serviceAccount:
  create: true
  name: aws-load-balancer-controller
  annotations:
    eks.amazonaws.com/role-arn: arn:aws:iam::111122223333:role/AmazonEKSLoadBalancerControllerRole
replicaCount: 2
revisionHistoryLimit: 5
updateStrategy: {type: RollingUpdate, rollingUpdate: {maxSurge: 1, maxUnavailable: 1}}
deploymentAnnotations: {team: platform}
serviceAnnotations: {team: platform}
additionalLabels: {cost-center: lb}
configureDefaultAffinity: true
hostNetwork: true
dnsPolicy: ClusterFirstWithHostNet
extraVolumeMounts:
  - {name: aws-iam-token, mountPath: /var/run/secrets/eks.amazonaws.com/serviceaccount, readOnly: true}
extraVolumes:
  - name: aws-iam-token
    projected:
      sources: [{serviceAccountToken: {audience: sts.amazonaws.com, expirationSeconds: 86400, path: token}}]
defaultTags: {environment: prod, owner: platform}
controllerConfig:
  featureGates: {EnableIPTargetType: true, ALBSingleSubnet: false, NLBHealthCheckAdvancedConfig: true}
logLevel: debug
syncPeriod: 10h0m0s
watchNamespace: ""
awsApiEndpoints: ec2=https://ec2.us-west-2.amazonaws.com
awsApiThrottle: ["Elastic Load Balancing v2:RegisterTargets|DeregisterTargets=4:20"]
awsMaxRetries: 5
ingressMaxConcurrentReconciles: 5
targetgroupbindingMaxConcurrentReconciles: 6
targetgroupbindingMaxExponentialBackoffDelay: 600s
tolerateNonExistentBackendService: false
tolerateNonExistentBackendAction: false
defaultSSLPolicy: ELBSecurityPolicy-TLS13-1-2-2021-06
enablePodReadinessGateInject: true
enableEndpointSlices: true
serviceMaxConcurrentReconciles: 3
enableServiceMutatorWebhook: false
serviceMutatorWebhookConfig:
  failurePolicy: Fail
  objectSelector: {matchExpressions: [], matchLabels: {}}
  operations: [CREATE, UPDATE]
loadBalancerClass: service.k8s.aws/nlb
metricsBindAddr: ":9090"
serviceMonitor: {enabled: true, additionalLabels: {release: prometheus}, interval: 30s}
""")


def test_an_upstream_values_file_renders_and_its_values_reach_the_flags(render, serve_flags):
    rendered = render(UPSTREAM_VALUES, base=False)
    for expected in [
        "--feature-gates=ALBSingleSubnet=false,EnableIPTargetType=true,NLBHealthCheckAdvancedConfig=true",
        "--default-tags=environment=prod,owner=platform",
        "--log-level=debug",
        "--sync-period=10h0m0s",
        "--aws-api-endpoints=ec2=https://ec2.us-west-2.amazonaws.com",
        "--aws-api-throttle=Elastic Load Balancing v2:RegisterTargets|DeregisterTargets=4:20",
        "--aws-max-retries=5",
        "--ingress-max-concurrent-reconciles=5",
        "--service-max-concurrent-reconciles=3",
        "--targetgroupbinding-max-concurrent-reconciles=6",
        "--targetgroupbinding-max-exponential-backoff-delay=600s",
        "--tolerate-non-existent-backend-service=false",
        "--tolerate-non-existent-backend-action=false",
        "--default-ssl-policy=ELBSecurityPolicy-TLS13-1-2-2021-06",
        "--enable-pod-readiness-gate-inject=true",
        "--enable-endpoint-slices=true",
        "--metrics-bind-addr=:9090",
        "--load-balancer-class=service.k8s.aws/nlb",
    ]:
        assert expected in rendered.args(), (expected, rendered.args())
    # An empty watchNamespace (upstream: all namespaces) passes nothing.
    assert rendered.flag("--watch-namespace") is None
    for arg in rendered.args()[1:]:
        name = arg.split("=", 1)[0]
        assert name in serve_flags, f"the chart passes {name}, which the binary does not declare"

    hooks = {hook["name"] for _, hook in rendered.webhooks()}
    assert "mservice.elbv2.k8s.aws" not in hooks, "enableServiceMutatorWebhook: false"
    deployment = rendered.one("Deployment")
    assert deployment["spec"]["revisionHistoryLimit"] == 5
    assert deployment["spec"]["strategy"]["type"] == "RollingUpdate"
    assert deployment["metadata"]["annotations"] == {"team": "platform"}
    assert deployment["metadata"]["labels"]["cost-center"] == "lb"
    pod = deployment["spec"]["template"]["spec"]
    assert pod["hostNetwork"] is True and pod["dnsPolicy"] == "ClusterFirstWithHostNet"
    assert any(v["name"] == "aws-iam-token" for v in pod["volumes"])
    assert any(m["name"] == "aws-iam-token" for m in rendered.container()["volumeMounts"])
    assert rendered.one("Service", "aws-load-balancer-webhook-service")["metadata"]["annotations"] == {"team": "platform"}
    monitor = rendered.one("ServiceMonitor")
    assert monitor["metadata"]["labels"]["release"] == "prometheus"
    assert monitor["spec"]["endpoints"][0]["interval"] == "30s"


def test_unset_upstream_values_pass_no_flag(render):
    args = render().args()
    for flag in ["--feature-gates", "--default-tags", "--log-level", "--sync-period", "--aws-max-retries",
                 "--watch-namespace", "--default-ssl-policy", "--tolerate-non-existent-backend-service"]:
        assert not any(a.startswith(flag + "=") for a in args), (flag, args)
    assert not render().all("ServiceMonitor")


def test_typos_are_still_refused(chart):
    import helm_python as helm
    import pytest

    with pytest.raises(helm.HelmError):
        chart.render({**UPSTREAM_VALUES, "logLevle": "debug"}, name="x", namespace=NAMESPACE)
    with pytest.raises(helm.HelmError):
        chart.render({**UPSTREAM_VALUES, "controllerConfig": {"featureGate": {}}}, name="x", namespace=NAMESPACE)


def test_notes_name_only_the_values_without_effect(render):
    notes = render(UPSTREAM_VALUES, base=False).notes
    # The Service controller exists: its concurrency is a flag now, not a note.
    assert "serviceMaxConcurrentReconciles" not in notes, notes
    # The AWS client values take effect now.
    assert "awsApiThrottle" not in notes and "awsApiEndpoints" not in notes, notes
    assert "enableEndpointSlices" not in notes, notes
    off = render({**UPSTREAM_VALUES, "enableEndpointSlices": False}, base=False).notes
    assert "enableEndpointSlices=false" in off, off
