//! Admission cost of the Ingress webhook's group check: building the IngressGroup of an
//! incoming Ingress (a 10-member group) among 1,000 other Ingresses of other groups, as the
//! webhook does from the controller's caches on every CREATE/UPDATE. Prints p50 / p99 over
//! repeated checks of an UPDATE; the goal is a p99 well under a millisecond. No assertions.
//!
//! Run with `cargo bench --bench group_check`.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_load_balancer_controller::manifests::Manifests;
use contract::crd::IngressClassParams;
use k8s_openapi::api::core::v1::{Namespace, Service};
use k8s_openapi::api::networking::v1::{Ingress, IngressClass};
use model::ClusterFacts;
use model::group_check::{GroupObjects, check_group};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const MEMBERS: usize = 10;
const OTHERS: usize = 1000;
const RUNS: usize = 2000;

/// An Ingress of `group` routing `/<name><suffix>` to Service `web`.
fn ingress(name: &str, group: &str, suffix: &str) -> String {
    format!(
        "---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: {name}\n  namespace: shop\n  annotations:\n    alb.ingress.kubernetes.io/group.name: {group}\n    alb.ingress.kubernetes.io/tags: team=web\nspec:\n  ingressClassName: alb\n  rules:\n  - host: {name}.example.com\n    http:\n      paths:\n      - {{path: /{name}{suffix}, pathType: Prefix, backend: {{service: {{name: web, port: {{number: 80}}}}}}}}\n"
    )
}

/// Shared objects, as the controller's caches hand them out (`Arc`s, no deep copies).
struct Cached {
    ingresses: Vec<Arc<Ingress>>,
    services: Vec<Arc<Service>>,
    classes: Vec<Arc<IngressClass>>,
}

impl GroupObjects for Cached {
    fn ingresses(&self) -> Vec<Arc<Ingress>> {
        self.ingresses.clone()
    }

    fn service(&self, namespace: &str, name: &str) -> Option<Arc<Service>> {
        self.services
            .iter()
            .find(|s| {
                s.metadata.namespace.as_deref() == Some(namespace)
                    && s.metadata.name.as_deref() == Some(name)
            })
            .cloned()
    }

    fn ingress_classes(&self) -> Vec<Arc<IngressClass>> {
        self.classes.clone()
    }

    fn ingress_class_params(&self) -> Vec<Arc<IngressClassParams>> {
        Vec::new()
    }

    fn namespace(&self, _name: &str) -> Option<Arc<Namespace>> {
        None
    }
}

fn main() {
    let mut text = String::from(
        "apiVersion: plan.elbv2.k8s.aws/v1\nkind: ClusterFacts\nclusterName: bench\nvpcId: vpc-1\nbackendSecurityGroup: sg-backend\nsubnets:\n- {id: subnet-a, az: us-west-2a, vpcId: vpc-1, availableIps: 4000, tags: {kubernetes.io/role/internal-elb: \"1\"}}\n- {id: subnet-b, az: us-west-2b, vpcId: vpc-1, availableIps: 4000, tags: {kubernetes.io/role/internal-elb: \"1\"}}\n---\napiVersion: networking.k8s.io/v1\nkind: IngressClass\nmetadata: {name: alb}\nspec: {controller: ingress.k8s.aws/alb}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: shop}\nspec: {type: NodePort, ports: [{port: 80, nodePort: 30080}]}\n",
    );
    for i in 0..MEMBERS {
        text.push_str(&ingress(&format!("member-{i}"), "shared", ""));
    }
    for i in 0..OTHERS {
        text.push_str(&ingress(
            &format!("other-{i}"),
            &format!("other-{}", i % 100),
            "",
        ));
    }
    let mut objects = Manifests::default();
    objects
        .add_documents(Path::new("bench.yaml"), &text)
        .expect("bench manifests");
    let facts = model::facts::overlay(&ClusterFacts::new("bench", "vpc-1"), &objects.cluster_facts)
        .expect("facts");
    let mut parsed = Manifests::default();
    parsed
        .add_documents(Path::new("new.yaml"), &ingress("member-0", "shared", "-v2"))
        .expect("the incoming Ingress");
    let new = parsed.ingresses.remove(0);
    let old = objects
        .ingresses
        .iter()
        .find(|i| i.metadata.name.as_deref() == Some("member-0"))
        .cloned()
        .expect("the stored member");

    let objects = Cached {
        ingresses: objects.ingresses.iter().cloned().map(Arc::new).collect(),
        services: objects.services.iter().cloned().map(Arc::new).collect(),
        classes: objects
            .ingress_classes
            .iter()
            .cloned()
            .map(Arc::new)
            .collect(),
    };
    let findings = check_group(&objects, &facts, &new, Some(&old));
    assert!(findings.refusals.is_empty(), "{findings:?}");
    let mut times: Vec<Duration> = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let start = Instant::now();
        std::hint::black_box(check_group(&objects, &facts, &new, Some(&old)));
        times.push(start.elapsed());
    }
    times.sort();
    let at = |p: f64| times[((times.len() - 1) as f64 * p) as usize];
    println!(
        "group check, {MEMBERS}-member group among {OTHERS} other Ingresses, {RUNS} UPDATE checks:"
    );
    println!(
        "  p50 {:?}  p99 {:?}  max {:?}  (goal: p99 well under 1 ms)",
        at(0.50),
        at(0.99),
        times.last().copied().unwrap_or_default()
    );
}
