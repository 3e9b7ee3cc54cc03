//! In-memory stand-ins for the backends and the Kubernetes writes, plus object builders, for
//! tests and benchmarks. A shared [`Journal`] records every call in order, so a test can check
//! that a finalizer was added before the deployer ran.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use k8s_openapi::api::core::v1::{PodCondition, Secret};
use k8s_openapi::api::networking::v1::{
    HTTPIngressPath, HTTPIngressRuleValue, Ingress, IngressBackend, IngressLoadBalancerStatus,
    IngressRule, IngressServiceBackend, IngressSpec, ServiceBackendPort,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use serde_json::json;
use webhook::crd::TargetGroupBinding;

use crate::controller::backends::{
    BackendError, BoxFuture, BuildRequest, DeployReport, StackBuilder, StackDeployer,
    TargetRegistrar,
};
use crate::controller::events::EventSpec;
use crate::controller::keys::ObjKey;
use crate::controller::kube_ops::{KubeOps, ObjectRefs, OpError};
use crate::controller::targets::{Target, TargetHealth, TargetState};
use crate::model::stack::Stack;
use crate::model::tags::target_group_binding_labels;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// An ordered record of calls, shared by the fakes.
#[derive(Clone, Debug, Default)]
pub struct Journal(Arc<Mutex<Vec<String>>>);

impl Journal {
    pub fn push(&self, entry: impl Into<String>) {
        lock(&self.0).push(entry.into());
    }

    /// Every entry so far.
    pub fn entries(&self) -> Vec<String> {
        lock(&self.0).clone()
    }

    /// Entries starting with `prefix`.
    pub fn matching(&self, prefix: &str) -> Vec<String> {
        lock(&self.0)
            .iter()
            .filter(|e| e.starts_with(prefix))
            .cloned()
            .collect()
    }

    /// Position of the first entry starting with `prefix`.
    pub fn position(&self, prefix: &str) -> Option<usize> {
        lock(&self.0).iter().position(|e| e.starts_with(prefix))
    }

    pub fn clear(&self) {
        lock(&self.0).clear();
    }
}

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
            for svc in crate::controller::index::referenced_services(&member.ingress) {
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
            if stack.is_empty() {
                self.journal.push(format!("delete {}", stack.id));
                lock(&self.stacks).remove(&stack.id);
                return Ok(DeployReport::default());
            }
            self.journal.push(format!("deploy {}", stack.id));
            lock(&self.stacks).insert(stack.id.clone(), stack.clone());
            Ok(DeployReport {
                dns_name: Some(Self::dns_name(&stack.id)),
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
                crate::controller::backends::NOT_FOUND,
                format!("target group {arn} not found"),
            ))
        } else {
            Ok(())
        }
    }
}

impl TargetRegistrar for FakeRegistrar {
    fn describe<'a>(
        &'a self,
        arn: &'a str,
    ) -> BoxFuture<'a, Result<Vec<TargetHealth>, BackendError>> {
        Box::pin(async move {
            self.journal.push(format!("describe {arn}"));
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
        targets: &'a [Target],
    ) -> BoxFuture<'a, Result<(), BackendError>> {
        Box::pin(async move {
            self.journal
                .push(format!("register {arn} {}", targets.len()));
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
        targets: &'a [Target],
    ) -> BoxFuture<'a, Result<(), BackendError>> {
        Box::pin(async move {
            self.journal
                .push(format!("deregister {arn} {}", targets.len()));
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

/// Records Kubernetes writes in the journal instead of sending them.
#[derive(Default)]
pub struct RecordingOps {
    pub journal: Journal,
    pub secrets: Mutex<HashMap<ObjKey, Secret>>,
    /// Every TargetGroupBinding applied, in order.
    pub applied_bindings: Mutex<Vec<TargetGroupBinding>>,
    not_leader: AtomicBool,
    failures: Mutex<HashMap<&'static str, VecDeque<String>>>,
}

impl RecordingOps {
    pub fn new(journal: Journal) -> Self {
        Self {
            journal,
            ..Self::default()
        }
    }

    /// Writes fail with [`OpError::NotLeader`] while `leader` is false.
    pub fn set_leader(&self, leader: bool) {
        self.not_leader.store(!leader, Ordering::SeqCst);
    }

    /// The next call of `op` (`add_finalizer`, `status`, ...) fails with a 500 `message`.
    pub fn fail_next(&self, op: &'static str, message: impl Into<String>) {
        lock(&self.failures)
            .entry(op)
            .or_default()
            .push_back(message.into());
    }

    fn record(&self, op: &'static str, entry: String) -> Result<(), OpError> {
        if self.not_leader.load(Ordering::SeqCst) {
            return Err(OpError::NotLeader);
        }
        if let Some(message) = lock(&self.failures)
            .get_mut(op)
            .and_then(VecDeque::pop_front)
        {
            self.journal.push(format!("{entry} FAILED"));
            return Err(OpError::Kube(kube::Error::Api(Box::new(
                kube::core::Status::failure(&message, "InternalError").with_code(500),
            ))));
        }
        self.journal.push(entry);
        Ok(())
    }
}

impl KubeOps for RecordingOps {
    fn add_finalizer<'a>(
        &'a self,
        object: &'a ObjectRefs,
        finalizer: &'a str,
    ) -> BoxFuture<'a, Result<(), OpError>> {
        let done = object.finalizers.iter().any(|f| f == finalizer);
        Box::pin(async move {
            if done {
                return Ok(());
            }
            self.record(
                "add_finalizer",
                format!("add-finalizer {} {finalizer}", object.key),
            )
        })
    }

    fn remove_finalizer<'a>(
        &'a self,
        object: &'a ObjectRefs,
        finalizer: &'a str,
    ) -> BoxFuture<'a, Result<(), OpError>> {
        let present = object.finalizers.iter().any(|f| f == finalizer);
        Box::pin(async move {
            if !present {
                return Ok(());
            }
            self.record(
                "remove_finalizer",
                format!("remove-finalizer {} {finalizer}", object.key),
            )
        })
    }

    fn apply_ingress_status<'a>(
        &'a self,
        ingress: &'a Ingress,
        status: &'a IngressLoadBalancerStatus,
    ) -> BoxFuture<'a, Result<(), OpError>> {
        Box::pin(async move {
            let key = ObjKey::of(ingress).unwrap_or_else(|| ObjKey::new("", ""));
            let host = status
                .ingress
                .iter()
                .flatten()
                .filter_map(|i| i.hostname.clone())
                .collect::<Vec<_>>()
                .join(",");
            self.record("status", format!("status {key} {host}"))
        })
    }

    fn publish<'a>(
        &'a self,
        object: &'a ObjectRefs,
        event: &'a EventSpec,
    ) -> BoxFuture<'a, Result<(), OpError>> {
        Box::pin(async move {
            self.record(
                "event",
                format!(
                    "event {} {} {} {}",
                    object.key,
                    event.type_.as_str(),
                    event.reason,
                    event.note
                ),
            )
        })
    }

    fn get_secret<'a>(&'a self, key: &'a ObjKey) -> BoxFuture<'a, Result<Option<Secret>, OpError>> {
        Box::pin(async move { Ok(lock(&self.secrets).get(key).cloned()) })
    }

    fn apply_binding<'a>(
        &'a self,
        binding: &'a TargetGroupBinding,
    ) -> BoxFuture<'a, Result<(), OpError>> {
        Box::pin(async move {
            let key = ObjKey::of(binding).unwrap_or_else(|| ObjKey::new("", ""));
            let arn = binding.spec.target_group_arn.clone().unwrap_or_default();
            self.record("apply_binding", format!("apply-binding {key} {arn}"))?;
            lock(&self.applied_bindings).push(binding.clone());
            Ok(())
        })
    }

    fn delete_binding<'a>(&'a self, key: &'a ObjKey) -> BoxFuture<'a, Result<(), OpError>> {
        Box::pin(async move { self.record("delete_binding", format!("delete-binding {key}")) })
    }

    fn binding_observed<'a>(
        &'a self,
        key: &'a ObjKey,
        generation: i64,
    ) -> BoxFuture<'a, Result<(), OpError>> {
        Box::pin(
            async move { self.record("binding_observed", format!("observed {key} {generation}")) },
        )
    }

    fn set_pod_condition<'a>(
        &'a self,
        key: &'a ObjKey,
        condition: &'a PodCondition,
    ) -> BoxFuture<'a, Result<(), OpError>> {
        Box::pin(async move {
            self.record(
                "pod_condition",
                format!(
                    "pod-condition {key} {} {}",
                    condition.type_, condition.status
                ),
            )
        })
    }
}

/// One security group of [`FakeSecurityGroups`].
#[derive(Clone, Debug, Default)]
struct FakeGroup {
    tags: BTreeMap<String, String>,
    rules: BTreeSet<crate::deploy::sg_rules::Permission>,
}

/// ENIs and security groups in memory, behaving like EC2 where it matters: authorising a rule
/// that exists (whatever its description) or revoking one that does not fails the call.
#[derive(Default)]
pub struct FakeSecurityGroups {
    pub journal: Journal,
    enis: Mutex<
        BTreeMap<
            (crate::controller::networking::TargetMode, String),
            crate::controller::networking::Eni,
        >,
    >,
    groups: Mutex<BTreeMap<String, FakeGroup>>,
    fail_authorize: Mutex<Option<BackendError>>,
}

impl FakeSecurityGroups {
    pub fn new(journal: Journal) -> Self {
        Self {
            journal,
            ..Self::default()
        }
    }

    /// Adds a security group with tags.
    pub fn add_group(&self, id: &str, tags: &[(&str, &str)]) {
        lock(&self.groups).insert(
            id.to_owned(),
            FakeGroup {
                tags: tags
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
                rules: BTreeSet::new(),
            },
        );
    }

    /// Removes a security group (and its rules).
    pub fn remove_group(&self, id: &str) {
        lock(&self.groups).remove(id);
    }

    /// Puts the target `target` (pod IP or instance ID) on ENI `eni` with `groups`.
    pub fn add_eni(
        &self,
        mode: crate::controller::networking::TargetMode,
        target: &str,
        eni: &str,
        groups: &[&str],
    ) {
        lock(&self.enis).insert(
            (mode, target.to_owned()),
            crate::controller::networking::Eni {
                id: eni.to_owned(),
                security_groups: groups.iter().map(|g| (*g).to_owned()).collect(),
            },
        );
    }

    /// Adds a rule directly (someone else's rule, or one left from an earlier run).
    pub fn add_rule(&self, group: &str, rule: crate::deploy::sg_rules::Permission) {
        lock(&self.groups)
            .entry(group.to_owned())
            .or_default()
            .rules
            .insert(rule);
    }

    /// The inbound rules of a group.
    pub fn rules(&self, group: &str) -> BTreeSet<crate::deploy::sg_rules::Permission> {
        lock(&self.groups)
            .get(group)
            .map(|g| g.rules.clone())
            .unwrap_or_default()
    }

    /// Makes the next authorize call fail with `error`.
    pub fn fail_next_authorize(&self, error: BackendError) {
        *lock(&self.fail_authorize) = Some(error);
    }
}

fn same_rule(
    a: &crate::deploy::sg_rules::Permission,
    b: &crate::deploy::sg_rules::Permission,
) -> bool {
    (&a.protocol, a.from_port, a.to_port, &a.source)
        == (&b.protocol, b.from_port, b.to_port, &b.source)
}

impl crate::controller::networking::TargetSecurityGroups for FakeSecurityGroups {
    fn enis<'a>(
        &'a self,
        mode: crate::controller::networking::TargetMode,
        ids: &'a [String],
    ) -> BoxFuture<'a, Result<BTreeMap<String, crate::controller::networking::Eni>, BackendError>>
    {
        Box::pin(async move {
            self.journal.push(format!("enis {mode:?} {}", ids.len()));
            let enis = lock(&self.enis);
            Ok(ids
                .iter()
                .filter_map(|id| Some((id.clone(), enis.get(&(mode, id.clone()))?.clone())))
                .collect())
        })
    }

    fn tags<'a>(
        &'a self,
        group_ids: &'a [String],
    ) -> BoxFuture<'a, Result<crate::controller::networking::TagsByGroup, BackendError>> {
        Box::pin(async move {
            self.journal.push(format!("tags {}", group_ids.join(",")));
            let groups = lock(&self.groups);
            Ok(group_ids
                .iter()
                .filter_map(|id| Some((id.clone(), groups.get(id)?.tags.clone())))
                .collect())
        })
    }

    fn ingress<'a>(
        &'a self,
        group_ids: &'a [String],
    ) -> BoxFuture<'a, Result<crate::controller::networking::RulesByGroup, BackendError>> {
        Box::pin(async move {
            self.journal
                .push(format!("ingress {}", group_ids.join(",")));
            let groups = lock(&self.groups);
            Ok(group_ids
                .iter()
                .filter_map(|id| Some((id.clone(), groups.get(id)?.rules.clone())))
                .collect())
        })
    }

    fn cluster_groups(&self) -> BoxFuture<'_, Result<Vec<String>, BackendError>> {
        Box::pin(async move {
            self.journal.push("cluster-groups");
            Ok(lock(&self.groups)
                .iter()
                .filter(|(_, g)| {
                    g.tags.iter().any(|(k, v)| {
                        k.starts_with("kubernetes.io/cluster/") && (v == "owned" || v == "shared")
                    })
                })
                .map(|(id, _)| id.clone())
                .collect())
        })
    }

    fn authorize<'a>(
        &'a self,
        group_id: &'a str,
        permissions: &'a [crate::deploy::sg_rules::Permission],
    ) -> BoxFuture<'a, Result<(), BackendError>> {
        Box::pin(async move {
            self.journal
                .push(format!("authorize {group_id} {}", permissions.len()));
            if let Some(error) = lock(&self.fail_authorize).take() {
                return Err(error);
            }
            let mut groups = lock(&self.groups);
            let group = groups.get_mut(group_id).ok_or_else(|| {
                BackendError::new(
                    crate::controller::backends::NOT_FOUND,
                    format!("security group {group_id} not found"),
                )
            })?;
            if permissions
                .iter()
                .any(|p| group.rules.iter().any(|r| same_rule(p, r)))
            {
                return Err(BackendError::new(
                    "conflict",
                    format!("InvalidPermission.Duplicate on {group_id}"),
                ));
            }
            group.rules.extend(permissions.iter().cloned());
            Ok(())
        })
    }

    fn revoke<'a>(
        &'a self,
        group_id: &'a str,
        permissions: &'a [crate::deploy::sg_rules::Permission],
    ) -> BoxFuture<'a, Result<(), BackendError>> {
        Box::pin(async move {
            self.journal
                .push(format!("revoke {group_id} {}", permissions.len()));
            let mut groups = lock(&self.groups);
            let group = groups.get_mut(group_id).ok_or_else(|| {
                BackendError::new(
                    crate::controller::backends::NOT_FOUND,
                    format!("security group {group_id} not found"),
                )
            })?;
            if !permissions
                .iter()
                .all(|p| group.rules.iter().any(|r| same_rule(p, r)))
            {
                return Err(BackendError::new(
                    crate::controller::backends::NOT_FOUND,
                    format!("InvalidPermission.NotFound on {group_id}"),
                ));
            }
            group
                .rules
                .retain(|r| !permissions.iter().any(|p| same_rule(p, r)));
            Ok(())
        })
    }
}
