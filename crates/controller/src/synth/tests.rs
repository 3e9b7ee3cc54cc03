use std::collections::BTreeMap;

use serde_json::json;

use super::*;

fn stack() -> Stack {
    serde_json::from_value(json!({
        "id": "g",
        "resources": {
            "AWS::ElasticLoadBalancingV2::Listener": {
                "443": {"spec": {"loadBalancerARN": "arn:lb", "port": 443, "protocol": "HTTPS"}},
                "80": {"spec": {"loadBalancerARN": "arn:lb", "port": 80, "protocol": "HTTP"}}
            },
            "K8S::ElasticLoadBalancingV2::TargetGroupBinding": {
                "ns/ing-svc:80": {"spec": {"template": {
                    "metadata": {"namespace": "ns", "name": "k8s-ns-svc-0123456789", "labels": {"ingress.k8s.aws/stack": "g"}},
                    "spec": {
                        "targetGroupARN": {"$ref": "#/resources/AWS::ElasticLoadBalancingV2::TargetGroup/ns/ing-svc:80/status/targetGroupARN"},
                        "targetType": "ip",
                        "serviceRef": {"name": "svc", "port": 80},
                        "networking": {"ingress": [{
                            "from": [{"securityGroup": {"groupID": {"$ref": "#/resources/AWS::EC2::SecurityGroup/ManagedLBSecurityGroup/status/groupID"}}}],
                            "ports": [{"protocol": "TCP", "port": 8080}]
                        }]}
                    }
                }}}
            }
        }
    }))
    .expect("stack fixture")
}

#[test]
fn status_lists_lowercased_host_and_sorted_ports() {
    let status = desired_status("K8S-G-ABC.us-west-2.ELB.amazonaws.com", &stack());
    let value = serde_json::to_value(&status).expect("encodes");
    assert_eq!(
        value,
        json!({"ingress": [{
            "hostname": "k8s-g-abc.us-west-2.elb.amazonaws.com",
            "ports": [{"port": 80, "protocol": "TCP"}, {"port": 443, "protocol": "TCP"}]
        }]})
    );
    let current = IngressStatus {
        load_balancer: Some(status.clone()),
    };
    assert!(status_matches(Some(&current), &status));
    assert!(!status_matches(None, &status));
    let other = desired_status("other.elb.amazonaws.com", &stack());
    assert!(!status_matches(Some(&current), &other));
}

#[test]
fn bindings_get_resolved_arns_and_security_groups() {
    let report = DeployReport {
        dns_name: Some("x".into()),
        frontend_dns_name: None,
        target_group_arns: BTreeMap::from([("ns/ing-svc:80".to_string(), "arn:tg/1".to_string())]),
        security_group_ids: BTreeMap::from([(
            "ManagedLBSecurityGroup".to_string(),
            "sg-1".to_string(),
        )]),
    };
    let bindings = desired_bindings(&stack(), &report).expect("resolves");
    assert_eq!(bindings.len(), 1);
    let b = &bindings[0];
    assert_eq!(b.metadata.namespace.as_deref(), Some("ns"));
    assert_eq!(b.metadata.name.as_deref(), Some("k8s-ns-svc-0123456789"));
    assert_eq!(b.spec.target_group_arn.as_deref(), Some("arn:tg/1"));
    let value = serde_json::to_value(&b.spec).expect("encodes");
    assert_eq!(
        value["networking"]["ingress"][0]["from"][0]["securityGroup"]["groupID"],
        "sg-1"
    );
    assert_eq!(
        b.metadata
            .labels
            .as_ref()
            .and_then(|l| l.get("ingress.k8s.aws/stack"))
            .map(String::as_str),
        Some("g")
    );
}

#[test]
fn unresolved_reference_names_the_binding_and_pointer() {
    let report = DeployReport::default();
    let err = desired_bindings(&stack(), &report).expect_err("unresolved");
    let text = err.to_string();
    assert!(
        text.starts_with("TargetGroupBinding ns/ing-svc:80: reference #/resources/"),
        "{text}"
    );
}

#[test]
fn a_frontend_nlb_is_a_second_status_entry_without_its_listener_ports() {
    let mut stack = stack();
    let nlb_listener: model::stack::ListenerSpec = serde_json::from_value(json!({
        "loadBalancerARN": {"$ref": "#/resources/AWS::ElasticLoadBalancingV2::LoadBalancer/FrontendNlb/status/loadBalancerARN"},
        "port": 9090, "protocol": "TCP"
    }))
    .expect("listener");
    stack
        .add_listener_with_id("FrontendNlb-ls-TCP-9090", nlb_listener)
        .expect("added");
    let status = desired_status_with_frontend(
        "alb.elb.amazonaws.com",
        Some("K8S-G-NLB.elb.us-west-2.amazonaws.com"),
        &stack,
    );
    assert_eq!(
        serde_json::to_value(&status).expect("encodes"),
        json!({"ingress": [
            {"hostname": "alb.elb.amazonaws.com",
             "ports": [{"port": 80, "protocol": "TCP"}, {"port": 443, "protocol": "TCP"}]},
            {"hostname": "k8s-g-nlb.elb.us-west-2.amazonaws.com"}
        ]})
    );
    let without = desired_status("alb.elb.amazonaws.com", &stack);
    let current = IngressStatus {
        load_balancer: Some(without.clone()),
    };
    assert!(
        !status_matches(Some(&current), &status),
        "the NLB entry is missing"
    );
}
