//! Tests of the CRD types and of the generated CustomResourceDefinitions.

use std::collections::BTreeMap;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceDefinition, CustomResourceDefinitionVersion, JSONSchemaProps,
    JSONSchemaPropsOrArray, JSONSchemaPropsOrBool,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::{Value, json};

use super::*;

fn crd_named(name: &str) -> CustomResourceDefinition {
    crds()
        .into_iter()
        .find(|c| c.metadata.name.as_deref() == Some(name))
        .unwrap()
}

fn version<'a>(
    crd: &'a CustomResourceDefinition,
    name: &str,
) -> &'a CustomResourceDefinitionVersion {
    crd.spec.versions.iter().find(|v| v.name == name).unwrap()
}

fn root(version: &CustomResourceDefinitionVersion) -> &JSONSchemaProps {
    version
        .schema
        .as_ref()
        .and_then(|s| s.open_api_v3_schema.as_ref())
        .unwrap()
}

fn prop<'a>(schema: &'a JSONSchemaProps, path: &[&str]) -> &'a JSONSchemaProps {
    path.iter().fold(schema, |s, key| {
        s.properties
            .as_ref()
            .and_then(|p| p.get(*key))
            .unwrap_or_else(|| panic!("no property {key}"))
    })
}

fn item(schema: &JSONSchemaProps) -> &JSONSchemaProps {
    match schema.items.as_ref() {
        Some(JSONSchemaPropsOrArray::Schema(s)) => s,
        other => panic!("not a single item schema: {other:?}"),
    }
}

fn rules(schema: &JSONSchemaProps) -> Vec<(String, Option<String>)> {
    schema
        .x_kubernetes_validations
        .iter()
        .flatten()
        .map(|r| (r.rule.clone(), r.message.clone()))
        .collect()
}

fn enum_values(schema: &JSONSchemaProps) -> Vec<Value> {
    schema.enum_.iter().flatten().map(|v| v.0.clone()).collect()
}

fn columns(version: &CustomResourceDefinitionVersion) -> Vec<(String, String, Option<i32>)> {
    version
        .additional_printer_columns
        .iter()
        .flatten()
        .map(|c| (c.name.clone(), c.json_path.clone(), c.priority))
        .collect()
}

/// Every schema node, depth first.
fn all_nodes(schema: &JSONSchemaProps) -> Vec<&JSONSchemaProps> {
    let mut out = vec![schema];
    for child in schema.properties.iter().flat_map(|p| p.values()) {
        out.extend(all_nodes(child));
    }
    if let Some(JSONSchemaPropsOrArray::Schema(s)) = &schema.items {
        out.extend(all_nodes(s));
    }
    if let Some(JSONSchemaPropsOrBool::Schema(s)) = &schema.additional_properties {
        out.extend(all_nodes(s));
    }
    out
}

#[test]
fn ingress_class_params_crd_has_upstream_names_and_columns() {
    let crd = crd_named("ingressclassparams.elbv2.k8s.aws");
    assert_eq!(crd.spec.group, "elbv2.k8s.aws");
    assert_eq!(crd.spec.scope, "Cluster");
    assert_eq!(crd.spec.names.kind, "IngressClassParams");
    assert_eq!(crd.spec.names.plural, "ingressclassparams");
    assert_eq!(
        crd.spec.names.singular.as_deref(),
        Some("ingressclassparam")
    );
    assert_eq!(crd.spec.names.short_names, None);
    assert_eq!(crd.spec.versions.len(), 1);
    let v = version(&crd, "v1beta1");
    assert!(v.served && v.storage);
    assert!(v.subresources.is_none(), "IngressClassParams has no status");
    let names: Vec<String> = columns(v).into_iter().map(|c| c.0).collect();
    assert_eq!(names, ["GROUP-NAME", "SCHEME", "IP-ADDRESS-TYPE", "AGE"]);
    assert_eq!(columns(v)[0].1, ".spec.group.name");
}

#[test]
fn ingress_class_params_schema_carries_the_validations() {
    let crd = crd_named("ingressclassparams.elbv2.k8s.aws");
    let spec = prop(root(version(&crd, "v1beta1")), &["spec"]);
    assert_eq!(
        rules(spec),
        [(
            "!(has(self.prefixListsIDs) && has(self.PrefixListsIDs))".to_string(),
            Some("cannot specify both 'prefixListsIDs' and 'PrefixListsIDs' fields".to_string())
        )]
    );
    let subnets = prop(spec, &["subnets"]);
    assert_eq!(
        rules(subnets),
        [(SUBNETS_RULE.to_string(), Some(SUBNETS_MESSAGE.to_string()))]
    );
    let ids = prop(subnets, &["ids"]);
    assert_eq!(ids.min_items, Some(1));
    assert_eq!(item(ids).pattern.as_deref(), Some("subnet-[0-9a-f]+"));
    let tags = prop(subnets, &["tags"]);
    match &tags.additional_properties {
        Some(JSONSchemaPropsOrBool::Schema(s)) => assert_eq!(s.type_.as_deref(), Some("array")),
        other => panic!("tags map: {other:?}"),
    }
    assert_eq!(
        enum_values(prop(spec, &["scheme"])),
        [json!("internal"), json!("internet-facing")]
    );
    assert_eq!(
        enum_values(prop(spec, &["ipAddressType"])),
        [
            json!("ipv4"),
            json!("dualstack"),
            json!("dualstack-without-public-ipv4")
        ]
    );
    assert_eq!(
        enum_values(prop(spec, &["targetType"])),
        [json!("instance"), json!("ip")]
    );
    let listener = item(prop(spec, &["listeners"]));
    assert_eq!(
        enum_values(prop(listener, &["protocol"])),
        [json!("HTTP"), json!("HTTPS")]
    );
    assert_eq!(
        prop(spec, &["sslRedirectPort"]).type_.as_deref(),
        Some("string")
    );
    for (path, required) in [
        (vec!["group"], vec!["name"]),
        (vec!["minimumLoadBalancerCapacity"], vec!["capacityUnits"]),
    ] {
        assert_eq!(
            prop(spec, &path).required.clone().unwrap_or_default(),
            required
        );
    }
    for list in ["tags", "loadBalancerAttributes"] {
        assert_eq!(
            item(prop(spec, &[list]))
                .required
                .clone()
                .unwrap_or_default(),
            ["key", "value"]
        );
    }
    for field in [
        "PrefixListsIDs",
        "prefixListsIDs",
        "inboundCIDRs",
        "ipamConfiguration",
        "namespaceSelector",
    ] {
        prop(spec, &[field]);
    }
}

#[test]
fn target_group_binding_crd_merges_both_versions() {
    let crd = crd_named("targetgroupbindings.elbv2.k8s.aws");
    assert_eq!(crd.spec.scope, "Namespaced");
    assert_eq!(
        crd.spec.names.singular.as_deref(),
        Some("targetgroupbinding")
    );
    assert_eq!(crd.spec.names.short_names, None);
    let names: Vec<&str> = crd.spec.versions.iter().map(|v| v.name.as_str()).collect();
    assert_eq!(names, ["v1alpha1", "v1beta1"]);
    let alpha = version(&crd, "v1alpha1");
    let beta = version(&crd, "v1beta1");
    assert!(alpha.served && !alpha.storage);
    assert!(beta.served && beta.storage);
    for v in [alpha, beta] {
        assert!(
            v.subresources
                .as_ref()
                .and_then(|s| s.status.as_ref())
                .is_some()
        );
        assert_eq!(
            columns(v),
            [
                (
                    "SERVICE-NAME".to_string(),
                    ".spec.serviceRef.name".to_string(),
                    None
                ),
                (
                    "SERVICE-PORT".to_string(),
                    ".spec.serviceRef.port".to_string(),
                    None
                ),
                (
                    "TARGET-TYPE".to_string(),
                    ".spec.targetType".to_string(),
                    None
                ),
                (
                    "ARN".to_string(),
                    ".spec.targetGroupARN".to_string(),
                    Some(1)
                ),
                (
                    "NAME".to_string(),
                    ".spec.targetGroupName".to_string(),
                    Some(2)
                ),
                (
                    "AGE".to_string(),
                    ".metadata.creationTimestamp".to_string(),
                    None
                ),
            ]
        );
        let spec = prop(root(v), &["spec"]);
        assert_eq!(spec.required.clone().unwrap_or_default(), ["serviceRef"]);
        assert_eq!(rules(spec).len(), 3);
        let status = prop(root(v), &["status"]);
        prop(status, &["observedGeneration"]);
        assert_eq!(
            prop(status, &["conditions"])
                .x_kubernetes_list_type
                .as_deref(),
            Some("map")
        );
    }
    let beta_only = [
        "nodeSelector",
        "ipAddressType",
        "vpcID",
        "targetGroupProtocol",
    ];
    let alpha_spec = prop(root(alpha), &["spec"]);
    let beta_spec = prop(root(beta), &["spec"]);
    for field in beta_only {
        assert!(
            alpha_spec.properties.as_ref().unwrap().get(field).is_none(),
            "{field}"
        );
        prop(beta_spec, &[field]);
    }
    assert_eq!(
        enum_values(prop(beta_spec, &["targetGroupProtocol"])),
        TargetGroupProtocol::ALL.map(|p| json!(p.as_str()))
    );
    let port = item(prop(beta_spec, &["networking", "ingress"]));
    assert_eq!(port.required.clone().unwrap_or_default(), ["from", "ports"]);
    let ports = item(prop(port, &["ports"]));
    assert_eq!(
        enum_values(prop(ports, &["protocol"])),
        [json!("TCP"), json!("UDP")]
    );
    assert_eq!(
        prop(ports, &["port"]).x_kubernetes_int_or_string,
        Some(true)
    );
}

#[test]
fn target_group_binding_rules_are_the_documented_ones() {
    let crd = crd_named("targetgroupbindings.elbv2.k8s.aws");
    let spec = prop(root(version(&crd, "v1beta1")), &["spec"]);
    assert_eq!(
        rules(spec),
        [
            (
                ARN_OR_NAME_RULE.to_string(),
                Some(ARN_OR_NAME_MESSAGE.to_string())
            ),
            (
                ARN_IMMUTABLE_RULE.to_string(),
                Some(ARN_IMMUTABLE_MESSAGE.to_string())
            ),
            (
                TARGET_TYPE_IMMUTABLE_RULE.to_string(),
                Some(TARGET_TYPE_IMMUTABLE_MESSAGE.to_string())
            ),
        ]
    );
    // The transition rules must read the previous object.
    assert!(ARN_IMMUTABLE_RULE.contains("oldSelf.targetGroupARN"));
    assert!(TARGET_TYPE_IMMUTABLE_RULE.contains("oldSelf.targetType"));
}

#[test]
fn schemas_have_no_nullable_and_no_null_enum_values() {
    for crd in crds() {
        for v in &crd.spec.versions {
            for node in all_nodes(root(v)) {
                assert_eq!(node.nullable, None);
                assert!(!enum_values(node).contains(&Value::Null));
            }
        }
    }
}

#[test]
fn file_names_follow_kubebuilder() {
    let names: Vec<String> = crds().iter().map(file_name).collect();
    assert_eq!(
        names,
        [
            "elbv2.k8s.aws_ingressclassparams.yaml",
            "elbv2.k8s.aws_targetgroupbindings.yaml"
        ]
    );
}

#[test]
fn render_is_stable_and_reads_back() {
    for crd in crds() {
        let first = render(&crd).unwrap();
        assert_eq!(
            first,
            render(
                &crds()
                    .into_iter()
                    .find(|c| c.metadata.name == crd.metadata.name)
                    .unwrap()
            )
            .unwrap()
        );
        assert!(first.starts_with("# Generated"));
        let back: CustomResourceDefinition = serde_yaml::from_str(&first).unwrap();
        assert_eq!(back, crd);
    }
}

/// Parse YAML, check it survives a trip through the Rust type unchanged, and return the object.
fn round_trip<K: serde::de::DeserializeOwned + serde::Serialize>(yaml: &str) -> K {
    let input: Value = serde_yaml::from_str(yaml).unwrap();
    let typed: K = serde_json::from_value(input.clone()).unwrap();
    assert_eq!(serde_json::to_value(&typed).unwrap(), input);
    typed
}

const ICP_EXAMPLE: &str = r#"
apiVersion: elbv2.k8s.aws/v1beta1
kind: IngressClassParams
metadata:
  name: awesome-class
spec:
  namespaceSelector:
    matchLabels:
      team: team-a
  group:
    name: my-group
  scheme: internal
  inboundCIDRs:
    - 10.0.0.0/24
    - 2001:db8::/32
  sslPolicy: ELBSecurityPolicy-TLS13-1-2-2021-06
  sslRedirectPort: "443"
  subnets:
    tags:
      kubernetes.io/role/internal-elb:
        - "1"
      team:
        - a
        - b
  ipAddressType: dualstack-without-public-ipv4
  tags:
    - key: org
      value: my-org
  targetType: ip
  loadBalancerAttributes:
    - key: deletion_protection.enabled
      value: "true"
  listeners:
    - protocol: HTTPS
      port: 443
      listenerAttributes:
        - key: routing.http.response.server.enabled
          value: "false"
  minimumLoadBalancerCapacity:
    capacityUnits: 1000
  ipamConfiguration:
    ipv4IPAMPoolId: ipam-pool-0123456789abcdef0
  prefixListsIDs:
    - pl-00000000
  certificateArn:
    - arn:aws:acm:us-west-2:123456789012:certificate/abc
  loadBalancerName: my-alb
  wafv2AclArn: arn:aws:wafv2:us-west-2:123456789012:regional/webacl/x/y
  wafv2AclName: my-acl
"#;

#[test]
fn ingress_class_params_example_round_trips() {
    let icp: IngressClassParams = round_trip(ICP_EXAMPLE);
    let spec = &icp.spec;
    assert_eq!(
        spec.group.as_ref().map(|g| g.name.as_str()),
        Some("my-group")
    );
    assert_eq!(spec.scheme, Some(LoadBalancerScheme::Internal));
    assert_eq!(
        spec.ip_address_type,
        Some(IpAddressType::DualstackWithoutPublicIpv4)
    );
    assert_eq!(spec.target_type, Some(TargetType::Ip));
    assert_eq!(spec.ssl_redirect_port.as_deref(), Some("443"));
    assert_eq!(spec.prefix_lists(), Some(&["pl-00000000".to_string()][..]));
    let listener = &spec.listeners.as_ref().unwrap()[0];
    assert_eq!(
        (listener.protocol, listener.port),
        (Some(ListenerProtocol::Https), Some(443))
    );
    assert_eq!(
        spec.minimum_load_balancer_capacity
            .as_ref()
            .map(|c| c.capacity_units),
        Some(1000)
    );
    let tags = spec.subnets.as_ref().and_then(|s| s.tags.as_ref()).unwrap();
    assert_eq!(
        tags.get("team"),
        Some(&vec!["a".to_string(), "b".to_string()])
    );
    let selector = spec.namespace_selector.as_ref().unwrap();
    assert_eq!(
        selector.match_labels,
        Some(BTreeMap::from([("team".to_string(), "team-a".to_string())]))
    );
}

#[test]
fn legacy_prefix_lists_spelling_is_read_and_kept() {
    let icp: IngressClassParams = round_trip(
        "apiVersion: elbv2.k8s.aws/v1beta1\nkind: IngressClassParams\nmetadata: {name: x}\nspec:\n  PrefixListsIDs: [pl-1]\n  subnets:\n    ids: [subnet-0a]\n",
    );
    assert_eq!(icp.spec.prefix_lists_ids, None);
    assert_eq!(icp.spec.prefix_lists(), Some(&["pl-1".to_string()][..]));
    assert_eq!(
        icp.spec.subnets.unwrap().ids,
        Some(vec!["subnet-0a".to_string()])
    );
}

#[test]
fn unknown_enum_values_are_rejected() {
    let bad = ICP_EXAMPLE.replace("scheme: internal", "scheme: public");
    let value: Value = serde_yaml::from_str(&bad).unwrap();
    assert!(serde_json::from_value::<IngressClassParams>(value).is_err());
}

const TGB_EXAMPLE: &str = r#"
apiVersion: elbv2.k8s.aws/v1beta1
kind: TargetGroupBinding
metadata:
  name: my-tgb
  namespace: default
spec:
  serviceRef:
    name: awesome-service
    port: 80
  targetGroupARN: arn:aws:elasticloadbalancing:us-west-2:123456789012:targetgroup/web/0123456789abcdef
  targetType: instance
  targetGroupProtocol: TCP_UDP
  ipAddressType: ipv4
  vpcID: vpc-0123456789abcdef0
  multiClusterTargetGroup: true
  nodeSelector:
    matchExpressions:
      - key: node-group
        operator: In
        values: [web]
  networking:
    ingress:
      - from:
          - securityGroup:
              groupID: sg-0123456789abcdef0
          - ipBlock:
              cidr: 10.0.0.0/16
        ports:
          - protocol: TCP
            port: 80
          - protocol: UDP
            port: http
          - {}
status:
  observedGeneration: 3
  conditions:
    - type: Ready
      status: "False"
      reason: FailedCleanup
      message: cleanup failed
      lastTransitionTime: "2024-01-01T00:00:00Z"
"#;

#[test]
fn target_group_binding_example_round_trips() {
    let tgb: TargetGroupBinding = round_trip(TGB_EXAMPLE);
    let spec = &tgb.spec;
    assert_eq!(spec.service_ref.port, IntOrString::Int(80));
    assert_eq!(spec.target_type, Some(TargetType::Instance));
    assert_eq!(
        spec.target_group_protocol,
        Some(TargetGroupProtocol::TcpUdp)
    );
    assert_eq!(spec.vpc(), Some("vpc-0123456789abcdef0"));
    assert!(spec.multi_cluster_target_group);
    let rule = &spec.networking.as_ref().unwrap().ingress.as_ref().unwrap()[0];
    assert_eq!(
        rule.from[0]
            .security_group
            .as_ref()
            .map(|g| g.group_id.as_str()),
        Some("sg-0123456789abcdef0")
    );
    assert_eq!(
        rule.from[1].ip_block.as_ref().map(|b| b.cidr.as_str()),
        Some("10.0.0.0/16")
    );
    assert_eq!(
        rule.ports[1].port,
        Some(IntOrString::String("http".to_string()))
    );
    assert_eq!(rule.ports[2], NetworkingPort::default());
    let status = tgb.status.as_ref().unwrap();
    assert_eq!(status.observed_generation, Some(3));
    assert_eq!(
        status.conditions.as_ref().unwrap()[0].reason,
        "FailedCleanup"
    );
}

#[test]
fn v1alpha1_binding_reads_with_its_smaller_field_set() {
    let tgb: v1alpha1::TargetGroupBinding = round_trip(
        "apiVersion: elbv2.k8s.aws/v1alpha1\nkind: TargetGroupBinding\nmetadata: {name: a, namespace: default}\nspec:\n  targetGroupARN: arn:x\n  targetType: ip\n  serviceRef: {name: svc, port: https}\n",
    );
    assert_eq!(tgb.spec.target_type, Some(TargetType::Ip));
    assert_eq!(
        tgb.spec.service_ref.port,
        IntOrString::String("https".to_string())
    );
}

#[test]
fn empty_strings_count_as_unset() {
    let spec = TargetGroupBindingSpec {
        target_group_arn: Some(String::new()),
        target_group_name: Some("web".to_string()),
        vpc_id: Some(String::new()),
        iam_role_arn_to_assume: Some(String::new()),
        ..Default::default()
    };
    assert_eq!(
        (spec.arn(), spec.name(), spec.vpc(), spec.assume_role()),
        (None, Some("web"), None, None)
    );
}

#[test]
fn wire_names_parse_back() {
    for p in TargetGroupProtocol::ALL {
        assert_eq!(TargetGroupProtocol::from_wire(p.as_str()), Some(p));
        assert_eq!(serde_json::to_value(p).unwrap(), json!(p.as_str()));
    }
    assert_eq!(TargetGroupProtocol::from_wire("GENEVE"), None);
    assert_eq!(TargetType::from_wire("lambda"), None);
    for t in [TargetType::Instance, TargetType::Ip] {
        assert_eq!(TargetType::from_wire(t.as_str()), Some(t));
    }
}
