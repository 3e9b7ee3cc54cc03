//! The answer to the Ingress validator's group question ([`contract::group_check`]): build the
//! incoming Ingress's IngressGroup with the change in it — the same `plan` the controller and
//! the `plan` command run, over the objects the caller knows (the controller's caches in
//! `serve`, the manifests in `check`), with no AWS call — and refuse what the model refuses.
//!
//! Errors that depend on live AWS facts or on objects the webhook does not hold (subnets,
//! certificates, security groups by name, Secrets) are warnings: the controller checks them
//! again with fresh facts when it deploys. So is an error the group already had before the
//! change, so that a broken group never blocks the edits that repair it.

use std::collections::BTreeSet;
use std::sync::Arc;

use contract::annotations::PREFIX;
use contract::crd::IngressClassParams;
use contract::group_check::{GroupCheck, GroupFindings, Refusal};
use k8s_openapi::api::core::v1::{Namespace, Service};
use k8s_openapi::api::networking::v1::{Ingress, IngressClass};

use crate::ClusterFacts;
use crate::manifests::Manifests;
use crate::plan::{PlanError, plan_ingresses as plan};

/// Build error categories that depend on facts the webhook may not have yet.
const LIVE_FACT_CATEGORIES: [&str; 4] = ["subnet", "certificate", "security_group", "auth"];

/// The objects a group check reads.
pub trait GroupObjects: Send + Sync {
    /// Every Ingress known (the group's members are picked from them).
    fn ingresses(&self) -> Vec<Arc<Ingress>>;
    fn service(&self, namespace: &str, name: &str) -> Option<Arc<Service>>;
    fn ingress_classes(&self) -> Vec<Arc<IngressClass>>;
    fn ingress_class_params(&self) -> Vec<Arc<IngressClassParams>>;
    fn namespace(&self, name: &str) -> Option<Arc<Namespace>>;
}

/// A [`GroupCheck`] over some objects and the model's facts.
pub struct ModelGroupCheck<O> {
    pub objects: O,
    /// Refreshed by the controller as it learns about AWS; read at every check.
    pub facts: Arc<std::sync::RwLock<ClusterFacts>>,
}

impl<O: GroupObjects> GroupCheck for ModelGroupCheck<O> {
    fn check(&self, ingress: &Ingress, old: Option<&Ingress>) -> GroupFindings {
        let facts = self
            .facts
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        check_group(&self.objects, &facts, ingress, old)
    }

    fn check_service(
        &self,
        service: &k8s_openapi::api::core::v1::Service,
        old: Option<&k8s_openapi::api::core::v1::Service>,
    ) -> GroupFindings {
        let facts = self
            .facts
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        check_service(&facts, service, old)
    }
}

/// `service` with the NodePorts the API server is about to allocate.
fn with_allocated_node_ports(
    service: &k8s_openapi::api::core::v1::Service,
) -> k8s_openapi::api::core::v1::Service {
    /// Outside the default NodePort range: never a real allocation.
    const STAND_IN: i32 = 1;
    let mut service = service.clone();
    if let Some(spec) = service.spec.as_mut() {
        let load_balancer = spec.type_.as_deref() == Some("LoadBalancer");
        let allocates = match spec.type_.as_deref() {
            Some("NodePort") => true,
            Some("LoadBalancer") => spec.allocate_load_balancer_node_ports != Some(false),
            _ => false,
        };
        if allocates {
            for port in spec.ports.iter_mut().flatten() {
                port.node_port.get_or_insert(STAND_IN);
            }
        }
        if load_balancer && spec.external_traffic_policy.as_deref() == Some("Local") {
            spec.health_check_node_port.get_or_insert(STAND_IN);
        }
    }
    service
}

/// The NLB stack of a Service built as the controller would (no AWS call, no existing NLB):
/// what the Service itself asks for and cannot be built is refused, unless the stored
/// version already failed the same way; what depends on live AWS facts is a warning. Errors of
/// the annotations alone are the validator's, not repeated here.
pub fn check_service(
    facts: &ClusterFacts,
    service: &k8s_openapi::api::core::v1::Service,
    old: Option<&k8s_openapi::api::core::v1::Service>,
) -> GroupFindings {
    use crate::service::{ServiceBuildError, ServiceInputs, build_service};
    let mut facts = facts.clone();
    // Resolved (or created) by the controller before a build.
    if facts.enable_backend_security_group && facts.backend_security_group.is_none() {
        facts.backend_security_group = Some("sg-backend-resolved-at-deploy".to_owned());
    }
    let selection = facts.service_selection();
    // The API server allocates NodePorts (and the health-check node port) after admission:
    // stand-ins for the ones it will allocate, so only a Service that asks for none fails.
    let service = &with_allocated_node_ports(service);
    let old = old.map(with_allocated_node_ports);
    let old = old.as_ref();
    let build = |svc| {
        build_service(&ServiceInputs {
            service: svc,
            facts: &facts,
            selection: &selection,
            existing_lb: None,
        })
    };
    let mut findings = GroupFindings::default();
    let error = match build(service) {
        Ok(_) | Err(ServiceBuildError::Annotations(_)) => return findings,
        Err(error) => error,
    };
    match &error {
        ServiceBuildError::Spec(message) => {
            let before = old.and_then(|o| build(o).err());
            if before.as_ref() == Some(&error) {
                findings.warnings.push(format!(
                    "the Service already fails, not because of this change: {message}"
                ));
            } else {
                findings.refusals.push(Refusal {
                    category: error.category(),
                    message: message.clone(),
                });
            }
        }
        // Offline with no subnets known at all there is nothing to say about them.
        ServiceBuildError::Subnets(_) if facts.subnets.is_empty() => {}
        other => findings.warnings.push(format!(
            "{other} (checked again with live AWS facts when the NLB is deployed)"
        )),
    }
    findings
}

fn key(ingress: &Ingress) -> (String, String) {
    (
        ingress
            .metadata
            .namespace
            .clone()
            .unwrap_or_else(|| "default".to_owned()),
        ingress.metadata.name.clone().unwrap_or_default(),
    )
}

/// What decides an Ingress's group, cheaply, to pick the candidate members: the
/// IngressClassParams' group, else the `group.name` annotation, else the Ingress itself.
#[derive(Debug, PartialEq, Eq)]
enum Hint<'a> {
    Params(String),
    Annotation(&'a str),
    Implicit(&'a str, &'a str),
}

fn group_hint<'a>(
    ingress: &'a Ingress,
    classes: &[Arc<IngressClass>],
    params: &[Arc<IngressClassParams>],
) -> Hint<'a> {
    let class_params = ingress
        .spec
        .as_ref()
        .and_then(|s| s.ingress_class_name.as_deref())
        .and_then(|name| {
            classes
                .iter()
                .find(|c| c.metadata.name.as_deref() == Some(name))
        })
        .and_then(|class| class.spec.as_ref()?.parameters.as_ref())
        .and_then(|p| {
            params
                .iter()
                .find(|x| x.metadata.name.as_deref() == Some(p.name.as_str()))
        })
        .and_then(|p| p.spec.group.as_ref().map(|g| g.name.clone()));
    if let Some(group) = class_params {
        return Hint::Params(group);
    }
    let annotations = ingress.metadata.annotations.as_ref();
    if let Some(group) = annotations.and_then(|a| {
        a.iter()
            .find(|(k, _)| k.strip_prefix(PREFIX) == Some("group.name"))
            .map(|(_, v)| v)
    }) {
        return Hint::Annotation(group);
    }
    Hint::Implicit(
        ingress.metadata.namespace.as_deref().unwrap_or("default"),
        ingress.metadata.name.as_deref().unwrap_or_default(),
    )
}

/// The plan of the group `incoming` belongs to, with `incoming` (when given) in place of the
/// stored version of the same Ingress: the first build error, if any.
fn build(
    objects: &dyn GroupObjects,
    facts: &ClusterFacts,
    hint: &Hint<'_>,
    target: &(String, String),
    incoming: Option<&Ingress>,
) -> Option<PlanError> {
    let classes = objects.ingress_classes();
    let params = objects.ingress_class_params();
    let mut manifests = Manifests::default();
    for stored in objects.ingresses() {
        if group_hint(&stored, &classes, &params) == *hint && key(&stored) != *target {
            manifests.ingresses.push((*stored).clone());
        }
    }
    manifests.ingresses.extend(incoming.cloned());
    let mut services = BTreeSet::new();
    let mut namespaces = BTreeSet::new();
    for ingress in &manifests.ingresses {
        let (namespace, _) = key(ingress);
        let spec = ingress.spec.as_ref();
        let backends = spec
            .and_then(|s| s.default_backend.as_ref())
            .into_iter()
            .chain(
                spec.and_then(|s| s.rules.as_ref())
                    .into_iter()
                    .flatten()
                    .flat_map(|r| r.http.iter().flat_map(|h| h.paths.iter()))
                    .map(|p| &p.backend),
            );
        for backend in backends {
            if let Some(service) = &backend.service {
                services.insert((namespace.clone(), service.name.clone()));
            }
        }
        namespaces.insert(namespace);
    }
    manifests.services = services
        .iter()
        .filter_map(|(ns, name)| objects.service(ns, name))
        .map(|s| (*s).clone())
        .collect();
    manifests.namespaces = namespaces
        .iter()
        .filter_map(|ns| objects.namespace(ns))
        .map(|n| (*n).clone())
        .collect();
    manifests.ingress_classes = classes.iter().map(|c| (**c).clone()).collect();
    manifests.ingress_class_params = params.iter().map(|p| (**p).clone()).collect();
    plan(&manifests, facts).err()
}

/// Build the group of `ingress` with it in it; refuse the errors the change brings.
pub fn check_group(
    objects: &dyn GroupObjects,
    facts: &ClusterFacts,
    ingress: &Ingress,
    old: Option<&Ingress>,
) -> GroupFindings {
    let mut findings = GroupFindings::default();
    // The backend security group is found or created at deploy time; its ID does not change
    // what the model refuses.
    let mut facts = facts.clone();
    if facts.enable_backend_security_group && facts.backend_security_group.is_none() {
        facts.backend_security_group = Some("sg-backend-resolved-at-deploy".to_owned());
    }
    let facts = &facts;
    let classes = objects.ingress_classes();
    let params = objects.ingress_class_params();
    let hint = group_hint(ingress, &classes, &params);
    let target = key(ingress);
    let Some(error) = build(objects, facts, &hint, &target, Some(ingress)) else {
        return findings;
    };
    let error = match error {
        // Class problems are the validator's to report, for this Ingress; another member's
        // broken class is the controller's.
        // Services are not part of an IngressGroup's check.
        PlanError::Class { .. } | PlanError::Service { .. } => return findings,
        PlanError::Build { .. } => error,
    };
    let category = error.category();
    if LIVE_FACT_CATEGORIES.contains(&category) {
        // Offline with no subnets known at all there is nothing to say about them.
        if !(category == "subnet" && facts.subnets.is_empty()) {
            findings.warnings.push(format!(
                "{error} (checked again with live AWS facts when the group is deployed)"
            ));
        }
        return findings;
    }
    // Did the group fail the same way before this change?
    let before = build(objects, facts, &hint, &target, old);
    if before
        .as_ref()
        .is_some_and(|b| b.to_string() == error.to_string())
    {
        findings.warnings.push(format!(
            "the group already fails, not because of this change: {error}"
        ));
        return findings;
    }
    findings.refusals.push(Refusal {
        category,
        message: error.to_string(),
    });
    findings
}

/// The manifests of `check` as the objects of a group check.
impl GroupObjects for Manifests {
    fn ingresses(&self) -> Vec<Arc<Ingress>> {
        self.ingresses.iter().cloned().map(Arc::new).collect()
    }

    fn service(&self, namespace: &str, name: &str) -> Option<Arc<Service>> {
        self.services
            .iter()
            .find(|s| {
                s.metadata.namespace.as_deref().unwrap_or("default") == namespace
                    && s.metadata.name.as_deref() == Some(name)
            })
            .cloned()
            .map(Arc::new)
    }

    fn ingress_classes(&self) -> Vec<Arc<IngressClass>> {
        self.ingress_classes.iter().cloned().map(Arc::new).collect()
    }

    fn ingress_class_params(&self) -> Vec<Arc<IngressClassParams>> {
        self.ingress_class_params
            .iter()
            .cloned()
            .map(Arc::new)
            .collect()
    }

    fn namespace(&self, name: &str) -> Option<Arc<Namespace>> {
        self.namespaces
            .iter()
            .find(|n| n.metadata.name.as_deref() == Some(name))
            .cloned()
            .map(Arc::new)
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    const FACTS: &str = r#"
apiVersion: plan.elbv2.k8s.aws/v1
kind: ClusterFacts
clusterName: demo
vpcId: vpc-0demo
subnets:
  - {id: subnet-0a, az: us-west-2a, vpcId: vpc-0demo, availableIps: 4000, tags: {kubernetes.io/role/internal-elb: "1"}}
  - {id: subnet-0b, az: us-west-2b, vpcId: vpc-0demo, availableIps: 4000, tags: {kubernetes.io/role/internal-elb: "1"}}
---
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: {name: alb}
spec: {controller: ingress.k8s.aws/alb}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec: {type: NodePort, ports: [{port: 80, nodePort: 30080}]}
"#;

    fn ingress(name: &str, annotations: &str, port: u16) -> String {
        format!(
            "---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {{name: {name}, namespace: shop, annotations: {{{annotations}}}}}\n\
             spec: {{ingressClassName: alb, rules: [{{http: {{paths: [{{path: /{name}, pathType: Prefix, \
             backend: {{service: {{name: web, port: {{number: {port}}}}}}}}}]}}}}]}}\n"
        )
    }

    /// The stored objects (`stored` Ingresses) and the facts.
    fn world(stored: &[String]) -> (Manifests, ClusterFacts) {
        let mut manifests = Manifests::default();
        manifests
            .add_documents(
                Path::new("facts.yaml"),
                &format!("{FACTS}{}", stored.concat()),
            )
            .expect("manifests");
        let base = ClusterFacts::new("demo", "vpc-0demo");
        let facts = crate::facts::overlay(&base, &manifests.cluster_facts).expect("facts");
        (manifests, facts)
    }

    fn parse(text: &str) -> Ingress {
        let mut m = Manifests::default();
        m.add_documents(Path::new("i.yaml"), text)
            .expect("an Ingress");
        m.ingresses.remove(0)
    }

    const GROUP: &str = "alb.ingress.kubernetes.io/group.name: shared";

    #[test]
    fn a_member_conflicting_with_a_stored_one_is_refused_naming_it() {
        let (objects, facts) = world(&[ingress(
            "a",
            &format!("{GROUP}, alb.ingress.kubernetes.io/scheme: internal"),
            80,
        )]);
        let b = parse(&ingress(
            "b",
            &format!("{GROUP}, alb.ingress.kubernetes.io/scheme: internet-facing"),
            80,
        ));
        let found = check_group(&objects, &facts, &b, None);
        assert_eq!(found.refusals.len(), 1, "{found:?}");
        let refusal = &found.refusals[0];
        assert_eq!(refusal.category, "conflict");
        assert!(
            refusal.message.contains("IngressGroup shared")
                && refusal
                    .message
                    .contains("conflicting scheme: [internal internet-facing]"),
            "{}",
            refusal.message
        );
    }

    #[test]
    fn a_member_agreeing_with_the_group_is_allowed_silently() {
        let (objects, facts) = world(&[ingress(
            "a",
            &format!("{GROUP}, alb.ingress.kubernetes.io/scheme: internal"),
            80,
        )]);
        let b = parse(&ingress(
            "b",
            &format!("{GROUP}, alb.ingress.kubernetes.io/scheme: internal"),
            80,
        ));
        assert_eq!(
            check_group(&objects, &facts, &b, None),
            GroupFindings::default()
        );
    }

    #[test]
    fn a_backend_port_the_service_lacks_is_refused() {
        let (objects, facts) = world(&[]);
        let b = parse(&ingress("b", "", 8080));
        let found = check_group(&objects, &facts, &b, None);
        assert_eq!(found.refusals.len(), 1, "{found:?}");
        assert!(
            found.refusals[0]
                .message
                .contains("unable to find port 8080 on service shop/web")
        );
    }

    #[test]
    fn an_error_the_group_had_before_does_not_block_other_changes() {
        // `a` is already broken (admitted before the group check existed); editing `b` is
        // allowed, with the group's error as a warning.
        let (objects, facts) = world(&[ingress("a", GROUP, 8080), ingress("b", GROUP, 80)]);
        let old = parse(&ingress("b", GROUP, 80));
        let new = parse(&ingress(
            "b",
            &format!("{GROUP}, alb.ingress.kubernetes.io/tags: team=web"),
            80,
        ));
        let found = check_group(&objects, &facts, &new, Some(&old));
        assert!(found.refusals.is_empty(), "{found:?}");
        assert!(
            found
                .warnings
                .iter()
                .any(|w| w.contains("already fails") && w.contains("port 8080")),
            "{found:?}"
        );
    }

    #[test]
    fn errors_that_depend_on_live_facts_are_warnings() {
        let (objects, facts) = world(&[]);
        let https = parse(&ingress(
            "b",
            r#"alb.ingress.kubernetes.io/listen-ports: '[{"HTTPS": 443}]'"#,
            80,
        ));
        let found = check_group(&objects, &facts, &https, None);
        assert!(found.refusals.is_empty(), "{found:?}");
        assert!(
            found
                .warnings
                .iter()
                .any(|w| w.contains("certificate") && w.contains("live AWS facts")),
            "{found:?}"
        );
    }

    #[test]
    fn other_groups_are_not_built() {
        // A broken Ingress of another group does not matter.
        let (objects, facts) = world(&[ingress(
            "other",
            "alb.ingress.kubernetes.io/group.name: elsewhere",
            8080,
        )]);
        let b = parse(&ingress("b", GROUP, 80));
        assert_eq!(
            check_group(&objects, &facts, &b, None),
            GroupFindings::default()
        );
    }
}
