//! Any values for up to three Service annotations, on a Service with fuzzed ports: the
//! admission check (what the Service webhook reports) and the model build (what the controller
//! deploys) never panic, and the build refuses the annotations exactly when the check reports
//! an error.
#![no_main]

use contract::annotations::{Annotations, SERVICE_ANNOTATIONS, SERVICE_PREFIX, check_service_annotations};
use contract::service::Selection;
use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use libfuzzer_sys::fuzz_target;
use model::service::{ServiceBuildError, ServiceInputs, build_service};

/// A key parameter for each templated family.
fn param(suffix: &str) -> &'static str {
    match suffix {
        "aws-load-balancer-listener-attributes." => "TCP-80",
        "aws-load-balancer-target-group-attributes." => "80",
        _ => "TCP-80",
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let Some((&shape, rest)) = rest.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let mut annotations = Annotations::new();
    for (i, value) in text.split('\0').take(3).enumerate() {
        let spec = &SERVICE_ANNOTATIONS[(usize::from(pick) + i * 17) % SERVICE_ANNOTATIONS.len()];
        let key = if spec.templated() {
            format!("{SERVICE_PREFIX}{}{}", spec.suffix, param(spec.suffix))
        } else {
            format!("{SERVICE_PREFIX}{}", spec.suffix)
        };
        annotations.insert(key, value.to_owned());
    }
    let report = check_service_annotations(&annotations);

    // Ports from the shape byte: one or two, TCP or UDP, named or not, node ports or not.
    let port = |n: u8| ServicePort {
        name: (shape & n != 0).then(|| format!("p{n}")),
        protocol: Some(if shape & (n << 1) != 0 { "UDP" } else { "TCP" }.to_owned()),
        port: 80 + i32::from(n),
        target_port: Some(if shape & 0x40 != 0 {
            IntOrString::String("http".to_owned())
        } else {
            IntOrString::Int(8080)
        }),
        node_port: (shape & 0x80 != 0).then_some(30080),
        ..ServicePort::default()
    };
    let mut ports = vec![port(1)];
    if shape & 0x10 != 0 {
        ports.push(port(4));
    }
    let mut service = Service::default();
    service.metadata.namespace = Some("ns".to_owned());
    service.metadata.name = Some("svc".to_owned());
    service.metadata.uid = Some("uid".to_owned());
    service.metadata.annotations = Some(annotations.clone());
    service.spec = Some(ServiceSpec {
        type_: Some("LoadBalancer".to_owned()),
        load_balancer_class: Some(contract::service::DEFAULT_LOAD_BALANCER_CLASS.to_owned()),
        ports: Some(ports),
        ..ServiceSpec::default()
    });
    let mut facts = model::ClusterFacts::new("fuzz", "vpc-1");
    facts.subnets = vec![model::subnets::Subnet {
        id: "subnet-1".to_owned(),
        az: "us-west-2a".to_owned(),
        az_id: None,
        vpc_id: "vpc-1".to_owned(),
        available_ips: 100,
        tags: [("kubernetes.io/role/internal-elb".to_owned(), String::new()),
               ("kubernetes.io/role/elb".to_owned(), String::new())].into(),
        ipv6_cidrs: vec!["2600:1f13::/64".to_owned()],
        cidr: Some("10.0.0.0/24".to_owned()),
        locale: Default::default(),
    }];
    let built = build_service(&ServiceInputs {
        service: &service,
        facts: &facts,
        selection: &Selection::default(),
        existing_lb: None,
    });
    let refused_annotations = matches!(built, Err(ServiceBuildError::Annotations(_)));
    assert_eq!(
        refused_annotations,
        !report.errors.is_empty(),
        "the check and the build disagree on {annotations:?}: {built:?}"
    );
    if let Ok(stack) = built {
        assert!(stack.dangling_refs().map(|r| r.is_empty()).unwrap_or(false), "dangling refs in {stack:?}");
    }
});
