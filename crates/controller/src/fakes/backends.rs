//! In-memory model builder, stack deployer and target registrar.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Mutex;

use serde_json::json;

use super::{Journal, lock};
use crate::backends::{
    AssumeRole, BackendError, BoxFuture, BuildRequest, DeployReport, StackBuilder, StackDeployer,
    TargetRegistrar,
};
use crate::targets::{Target, TargetHealth, TargetState};
use model::stack::Stack;
use model::tags::target_group_binding_labels;

/// A builder that makes a small stack: one HTTP listener on port 80 per group and one target
/// group (with its binding) per referenced Service port that exists. Failures can be queued.
#[derive(Default)]
pub struct FakeBuilder {
    pub journal: Journal,
    failures: Mutex<VecDeque<BackendError>>,
}

impl FakeBuilder {
    pub fn new(journal: Journal) -> Self {
        Self {
            journal,
            failures: Mutex::default(),
        }
    }

    /// The next build fails with `error`.
    pub fn fail_next(&self, error: BackendError) {
        lock(&self.failures).push_back(error);
    }

    /// The stack the fake builds for a request.
    pub fn stack_for(request: &BuildRequest<'_>) -> Result<Stack, BackendError> {
        let id = request.members.id.to_string();
        if request.members.active.is_empty() {
            return Ok(Stack::new(id));
        }
        let mut listeners = serde_json::Map::new();
        listeners.insert(
            "80".into(),
            json!({"spec": {
                "loadBalancerARN": {"$ref": "#/resources/AWS::ElasticLoadBalancingV2::LoadBalancer/LoadBalancer/status/loadBalancerARN"},
                "port": 80, "protocol": "HTTP"}}),
        );
        let mut groups = serde_json::Map::new();
        let mut bindings = serde_json::Map::new();
        let labels = target_group_binding_labels(&request.members.id);
        for member in &request.members.active {
            let ns = member
                .ingress
                .metadata
                .namespace
                .clone()
                .unwrap_or_default();
            let ing = member.ingress.metadata.name.clone().unwrap_or_default();
            for svc in crate::index::referenced_services(&member.ingress) {
                if !request.services.contains_key(&(ns.clone(), svc.clone())) {
                    continue;
                }
                let tg_id = format!("{ns}/{ing}-{svc}:80");
                let name = format!("k8s-{}-{}", short(&ns), short(&format!("{ing}{svc}")));
                groups.insert(
                    tg_id.clone(),
                    json!({"spec": {"name": name, "targetType": "ip", "port": 80, "protocol": "HTTP"}}),
                );
                bindings.insert(
                    tg_id.clone(),
                    json!({"spec": {"template": {
                        "metadata": {"namespace": ns, "name": name, "labels": labels},
                        "spec": {
                            "targetGroupARN": {"$ref": format!("#/resources/AWS::ElasticLoadBalancingV2::TargetGroup/{tg_id}/status/targetGroupARN")},
                            "targetType": "ip",
                            "serviceRef": {"name": svc, "port": 80}
                        }}}}),
                );
            }
        }
        let value = json!({"id": id, "resources": {
            "AWS::ElasticLoadBalancingV2::Listener": listeners,
            "AWS::ElasticLoadBalancingV2::TargetGroup": groups,
            "K8S::ElasticLoadBalancingV2::TargetGroupBinding": bindings,
        }});
        serde_json::from_value(value).map_err(|e| BackendError::new("build_model", e.to_string()))
    }
}

fn short(text: &str) -> String {
    text.chars()
        .filter(char::is_ascii_alphanumeric)
        .take(16)
        .collect()
}

impl StackBuilder for FakeBuilder {
    fn build<'a>(
        &'a self,
        request: BuildRequest<'a>,
    ) -> BoxFuture<'a, Result<Stack, BackendError>> {
        Box::pin(async move {
            self.journal.push(format!("build {}", request.members.id));
            if let Some(error) = lock(&self.failures).pop_front() {
                return Err(error);
            }
            Self::stack_for(&request)
        })
    }
}

/// The pure Service model builder over fixed facts (no existing load balancer lookup).
pub struct PureServiceBuilder {
    pub journal: Journal,
    pub facts: model::ClusterFacts,
    pub selection: contract::service::Selection,
}

impl crate::backends::ServiceStackBuilder for PureServiceBuilder {
    fn build_service<'a>(
        &'a self,
        service: &'a k8s_openapi::api::core::v1::Service,
    ) -> BoxFuture<'a, Result<Stack, BackendError>> {
        Box::pin(async move {
            self.journal.push(format!(
                "build-service {}",
                model::service::stack_id(service)
            ));
            model::service::build_service(&model::service::ServiceInputs {
                service,
                facts: &self.facts,
                selection: &self.selection,
                existing_lb: None,
            })
            .map_err(|e| BackendError::new(e.category(), e.to_string()).with_source(e))
        })
    }
}

/// A deployer that keeps the deployed stacks in memory.
#[derive(Default)]
pub struct FakeDeployer {
    pub journal: Journal,
    stacks: Mutex<BTreeMap<String, Stack>>,
    failures: Mutex<VecDeque<BackendError>>,
}

impl FakeDeployer {
    pub fn new(journal: Journal) -> Self {
        Self {
            journal,
            ..Self::default()
        }
    }

    pub fn fail_next(&self, error: BackendError) {
        lock(&self.failures).push_back(error);
    }

    /// The stacks that exist (non-empty deploys), by ID.
    pub fn stacks(&self) -> BTreeMap<String, Stack> {
        lock(&self.stacks).clone()
    }

    /// The DNS name the fake gives a stack.
    pub fn dns_name(stack_id: &str) -> String {
        format!(
            "k8s-{}-0123456789.us-west-2.elb.amazonaws.com",
            short(stack_id).to_ascii_lowercase()
        )
    }

    /// The ARN the fake gives a target group.
    pub fn target_group_arn(name: &str) -> String {
        format!(
            "arn:aws:elasticloadbalancing:us-west-2:123456789012:targetgroup/{name}/0123456789abcdef"
        )
    }
}

impl StackDeployer for FakeDeployer {
    fn deploy<'a>(&'a self, stack: &'a Stack) -> BoxFuture<'a, Result<DeployReport, BackendError>> {
        Box::pin(async move {
            if let Some(error) = lock(&self.failures).pop_front() {
                self.journal.push(format!("deploy-failed {}", stack.id));
                return Err(error);
            }
            // A Service's stack `ns/x` is not the IngressGroup `ns/x`.
            let key = match stack.kind {
                model::stack::StackKind::Ingress => stack.id.clone(),
                model::stack::StackKind::Service => format!("service:{}", stack.id),
            };
            if stack.is_empty() {
                self.journal.push(format!("delete {key}"));
                lock(&self.stacks).remove(&key);
                return Ok(DeployReport::default());
            }
            self.journal.push(format!("deploy {key}"));
            lock(&self.stacks).insert(key, stack.clone());
            Ok(DeployReport {
                dns_name: Some(Self::dns_name(&stack.id)),
                frontend_dns_name: stack
                    .resources
                    .load_balancers
                    .contains_key(model::stack::resource_id::FRONTEND_NLB)
                    .then(|| Self::dns_name(&format!("{}-nlb", stack.id))),
                target_group_arns: stack
                    .resources
                    .target_groups
                    .iter()
                    .map(|(id, tg)| (id.clone(), Self::target_group_arn(&tg.spec.name)))
                    .collect(),
                security_group_ids: stack
                    .resources
                    .security_groups
                    .keys()
                    .map(|id| (id.clone(), "sg-0123456789abcdef0".to_owned()))
                    .collect(),
            })
        })
    }
}

/// Targets per target group, in memory; every registered target reports `healthy` unless
/// set otherwise.
#[derive(Default)]
pub struct FakeRegistrar {
    pub journal: Journal,
    groups: Mutex<HashMap<String, BTreeMap<Target, TargetState>>>,
    missing: Mutex<BTreeSet<String>>,
}

impl FakeRegistrar {
    pub fn new(journal: Journal) -> Self {
        Self {
            journal,
            ..Self::default()
        }
    }

    pub fn targets(&self, arn: &str) -> BTreeSet<Target> {
        lock(&self.groups)
            .get(arn)
            .map(|g| g.keys().cloned().collect())
            .unwrap_or_default()
    }

    pub fn set_state(&self, arn: &str, target: &Target, state: TargetState) {
        if let Some(t) = lock(&self.groups)
            .get_mut(arn)
            .and_then(|g| g.get_mut(target))
        {
            *t = state;
        }
    }

    /// The target group no longer exists in AWS.
    pub fn remove_group(&self, arn: &str) {
        lock(&self.groups).remove(arn);
        lock(&self.missing).insert(arn.to_owned());
    }

    fn check(&self, arn: &str) -> Result<(), BackendError> {
        if lock(&self.missing).contains(arn) {
            Err(BackendError::new(
                crate::backends::NOT_FOUND,
                format!("target group {arn} not found"),
            ))
        } else {
            Ok(())
        }
    }
}

/// ` as <role>` in journal entries of calls made in an assumed role.
fn as_role(role: Option<&AssumeRole>) -> String {
    role.map(|r| format!(" as {}", r.role_arn))
        .unwrap_or_default()
}

impl TargetRegistrar for FakeRegistrar {
    fn describe<'a>(
        &'a self,
        arn: &'a str,
        role: Option<&'a AssumeRole>,
    ) -> BoxFuture<'a, Result<Vec<TargetHealth>, BackendError>> {
        Box::pin(async move {
            self.journal
                .push(format!("describe {arn}{}", as_role(role)));
            self.check(arn)?;
            Ok(lock(&self.groups)
                .get(arn)
                .into_iter()
                .flatten()
                .map(|(t, s)| TargetHealth::new(t.clone(), s.clone()))
                .collect())
        })
    }

    fn register<'a>(
        &'a self,
        arn: &'a str,
        role: Option<&'a AssumeRole>,
        targets: &'a [Target],
    ) -> BoxFuture<'a, Result<(), BackendError>> {
        Box::pin(async move {
            self.journal
                .push(format!("register {arn} {}{}", targets.len(), as_role(role)));
            self.check(arn)?;
            let mut groups = lock(&self.groups);
            let group = groups.entry(arn.to_owned()).or_default();
            for t in targets {
                group.insert(t.clone(), TargetState::Healthy);
            }
            Ok(())
        })
    }

    fn deregister<'a>(
        &'a self,
        arn: &'a str,
        role: Option<&'a AssumeRole>,
        targets: &'a [Target],
    ) -> BoxFuture<'a, Result<(), BackendError>> {
        Box::pin(async move {
            self.journal.push(format!(
                "deregister {arn} {}{}",
                targets.len(),
                as_role(role)
            ));
            self.check(arn)?;
            if let Some(group) = lock(&self.groups).get_mut(arn) {
                for t in targets {
                    group.remove(t);
                }
            }
            Ok(())
        })
    }
}
