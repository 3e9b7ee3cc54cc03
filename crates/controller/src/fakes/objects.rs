//! Builders for the Kubernetes objects tests feed the controller.

use k8s_openapi::api::networking::v1::{
    HTTPIngressPath, HTTPIngressRuleValue, Ingress, IngressBackend, IngressLoadBalancerStatus,
    IngressRule, IngressServiceBackend, IngressSpec, ServiceBackendPort,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};

/// Builds an Ingress for tests.
#[derive(Clone, Debug)]
pub struct IngressBuilder(Ingress);

impl IngressBuilder {
    pub fn new(namespace: &str, name: &str) -> Self {
        Self(Ingress {
            metadata: ObjectMeta {
                namespace: Some(namespace.into()),
                name: Some(name.into()),
                uid: Some(format!("uid-{namespace}-{name}")),
                resource_version: Some("1".into()),
                ..ObjectMeta::default()
            },
            spec: Some(IngressSpec::default()),
            status: None,
        })
    }

    pub fn class(mut self, class: &str) -> Self {
        self.0.spec.get_or_insert_default().ingress_class_name = Some(class.into());
        self
    }

    pub fn legacy_class(self, class: &str) -> Self {
        self.annotation("kubernetes.io/ingress.class", class)
    }

    pub fn group(self, group: &str) -> Self {
        self.annotation("alb.ingress.kubernetes.io/group.name", group)
    }

    pub fn annotation(mut self, key: &str, value: &str) -> Self {
        self.0
            .metadata
            .annotations
            .get_or_insert_default()
            .insert(key.into(), value.into());
        self
    }

    /// A rule `/<service>` routing to `service:port`.
    pub fn backend(mut self, service: &str, port: i32) -> Self {
        let path = HTTPIngressPath {
            path: Some(format!("/{service}")),
            path_type: "Prefix".into(),
            backend: IngressBackend {
                service: Some(IngressServiceBackend {
                    name: service.into(),
                    port: Some(ServiceBackendPort {
                        number: Some(port),
                        name: None,
                    }),
                }),
                resource: None,
            },
        };
        let rules = self
            .0
            .spec
            .get_or_insert_default()
            .rules
            .get_or_insert_default();
        match rules.first_mut().and_then(|r| r.http.as_mut()) {
            Some(http) => http.paths.push(path),
            None => rules.push(IngressRule {
                host: None,
                http: Some(HTTPIngressRuleValue { paths: vec![path] }),
            }),
        }
        self
    }

    pub fn finalizer(mut self, finalizer: &str) -> Self {
        self.0
            .metadata
            .finalizers
            .get_or_insert_default()
            .push(finalizer.into());
        self
    }

    pub fn deleting(mut self) -> Self {
        self.0.metadata.deletion_timestamp = Some(Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH));
        self
    }

    pub fn status(mut self, status: IngressLoadBalancerStatus) -> Self {
        self.0.status = Some(k8s_openapi::api::networking::v1::IngressStatus {
            load_balancer: Some(status),
        });
        self
    }

    pub fn build(self) -> Ingress {
        self.0
    }
}
