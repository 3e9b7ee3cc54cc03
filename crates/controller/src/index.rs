//! The group index: which IngressGroup each Ingress belongs to, which groups it is leaving, and
//! which groups each Service (and OIDC Secret) feeds.
//!
//! Pure and synchronous: the watches feed it Ingress changes (and class / params / namespace
//! changes through [`GroupIndex::reclassify`]); each call returns the groups whose reconcile is
//! due. A Service change looks up [`GroupIndex::groups_for_service`], so a Service enqueues
//! every group that references it without scanning all Ingresses.
//!
//! Membership follows upstream: an Ingress being deleted or not ours has no group; otherwise
//! IngressClassParams `group.name` beats the `group.name` annotation, which beats the implicit
//! group `namespace/name`. An Ingress is an *inactive* member of every group whose finalizer it
//! carries but no longer resolves to.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use contract::annotations::PREFIX;
use contract::class::{ClassError, Classification, classify};
use contract::cluster::ClusterView;
use contract::crd::IngressClassParams;
use k8s_openapi::api::networking::v1::Ingress;

use crate::keys::ObjKey;
use model::group::{GroupId, GroupNameError};

/// Why an Ingress's group cannot be determined.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MembershipError {
    #[error("Ingress has invalid IngressClass configuration: {0}")]
    Class(ClassError),
    #[error("invalid group name {name:?}: {error}")]
    GroupName { name: String, error: GroupNameError },
}

impl MembershipError {
    /// A stable category for metrics and events.
    pub fn category(&self) -> &'static str {
        match self {
            Self::Class(error) => error.category(),
            Self::GroupName { .. } => "group_name",
        }
    }
}

/// Where one Ingress stands.
#[derive(Clone, Debug)]
pub enum Membership {
    /// Not ours, or being deleted.
    None,
    /// An active member of `group`, with its class's parameters.
    Member {
        group: GroupId,
        params: Option<Arc<IngressClassParams>>,
    },
    /// Ours, but its group cannot be resolved.
    Invalid(MembershipError),
}

impl Membership {
    /// The group it is an active member of.
    pub fn group(&self) -> Option<&GroupId> {
        match self {
            Self::Member { group, .. } => Some(group),
            Self::None | Self::Invalid(_) => None,
        }
    }

    /// What a reconcile depends on: the group and the parameters' identity and version.
    fn fingerprint(
        &self,
    ) -> (
        Option<&GroupId>,
        Option<(&str, &str)>,
        Option<&MembershipError>,
    ) {
        match self {
            Self::None => (None, None, None),
            Self::Member { group, params } => (
                Some(group),
                params.as_ref().map(|p| {
                    (
                        p.metadata.name.as_deref().unwrap_or_default(),
                        p.metadata.resource_version.as_deref().unwrap_or_default(),
                    )
                }),
                None,
            ),
            Self::Invalid(error) => (None, None, Some(error)),
        }
    }
}

/// One Ingress and what the index derived from it.
#[derive(Clone, Debug)]
pub struct IngressEntry {
    pub ingress: Arc<Ingress>,
    pub membership: Membership,
    /// The groups whose finalizer it carries.
    pub finalizer_groups: BTreeSet<GroupId>,
    /// Services it references (rules, default backend, forward actions), in its namespace.
    pub services: BTreeSet<ObjKey>,
    /// Secrets it references (OIDC client credentials), in its namespace.
    pub secrets: BTreeSet<ObjKey>,
}

impl IngressEntry {
    /// The groups this Ingress touches: the one it is a member of and those it is leaving.
    pub fn groups(&self) -> BTreeSet<GroupId> {
        let mut groups = self.finalizer_groups.clone();
        groups.extend(self.membership.group().cloned());
        groups
    }
}

/// An active member of a group.
#[derive(Clone, Debug)]
pub struct ActiveMember {
    pub ingress: Arc<Ingress>,
    pub params: Option<Arc<IngressClassParams>>,
}

/// Everything the index knows about one group.
#[derive(Clone, Debug)]
pub struct GroupMembers {
    pub id: GroupId,
    /// Active members, in key order (the builder sorts them by `group.order`).
    pub active: Vec<ActiveMember>,
    /// Ingresses carrying the group's finalizer that no longer belong to it.
    pub inactive: Vec<Arc<Ingress>>,
    /// Services the active members reference.
    pub services: BTreeSet<ObjKey>,
    /// Secrets the active members reference.
    pub secrets: BTreeSet<ObjKey>,
}

impl GroupMembers {
    /// Every Ingress of the group, active ones first.
    pub fn all_ingresses(&self) -> impl Iterator<Item = &Arc<Ingress>> {
        self.active
            .iter()
            .map(|m| &m.ingress)
            .chain(self.inactive.iter())
    }
}

/// A group whose members cannot be loaded: one Ingress carrying its finalizer has an
/// unresolvable class or group. Reconciling it anyway could delete what that Ingress still
/// routes to, so the group waits until the Ingress is fixed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("Ingress {ingress}: {error}")]
pub struct LoadError {
    pub ingress: ObjKey,
    pub error: MembershipError,
}

/// The index of every Ingress the watch has seen.
#[derive(Debug, Default)]
pub struct GroupIndex {
    ingress_class: String,
    ingresses: HashMap<ObjKey, IngressEntry>,
    /// Group → Ingresses that are active members or carry its finalizer.
    groups: HashMap<GroupId, BTreeSet<ObjKey>>,
    /// Service → groups referencing it, with a count of referencing Ingresses.
    by_service: HashMap<ObjKey, BTreeMap<GroupId, usize>>,
    /// Secret → groups referencing it, with a count of referencing Ingresses.
    by_secret: HashMap<ObjKey, BTreeMap<GroupId, usize>>,
}

impl GroupIndex {
    /// An empty index for `--ingress-class`.
    pub fn new(ingress_class: impl Into<String>) -> Self {
        Self {
            ingress_class: ingress_class.into(),
            ..Self::default()
        }
    }

    /// How many Ingresses the index holds.
    pub fn len(&self) -> usize {
        self.ingresses.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ingresses.is_empty()
    }

    /// The entry of one Ingress.
    pub fn entry(&self, key: &ObjKey) -> Option<&IngressEntry> {
        self.ingresses.get(key)
    }

    /// Every group with at least one active member or finalized Ingress, sorted.
    pub fn groups(&self) -> BTreeSet<GroupId> {
        self.groups.keys().cloned().collect()
    }

    /// The groups whose members reference the Service `key`.
    pub fn groups_for_service(&self, key: &ObjKey) -> BTreeSet<GroupId> {
        self.by_service
            .get(key)
            .map(|groups| groups.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Every Secret some indexed Ingress references.
    pub fn referenced_secrets(&self) -> BTreeSet<ObjKey> {
        self.by_secret.keys().cloned().collect()
    }

    /// The groups whose members reference the Secret `key`.
    pub fn groups_for_secret(&self, key: &ObjKey) -> BTreeSet<GroupId> {
        self.by_secret
            .get(key)
            .map(|groups| groups.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Adds or updates an Ingress; returns the groups to reconcile. An update that changes
    /// neither annotations, spec, deletion state nor the groups the Ingress touches (e.g. our
    /// own status write) returns nothing.
    pub fn apply(&mut self, ingress: Arc<Ingress>, view: &dyn ClusterView) -> BTreeSet<GroupId> {
        let Some(key) = ObjKey::of(ingress.as_ref()) else {
            return BTreeSet::new();
        };
        let entry = self.derive(ingress, view);
        let new_groups = entry.groups();
        let relevant = match self.ingresses.get(&key) {
            None => true,
            Some(old) => {
                let (a, b) = (&old.ingress.metadata, &entry.ingress.metadata);
                a.annotations != b.annotations
                    || old.ingress.spec != entry.ingress.spec
                    || a.deletion_timestamp.is_some() != b.deletion_timestamp.is_some()
                    || old.groups() != new_groups
                    || old.membership.fingerprint() != entry.membership.fingerprint()
            }
        };
        let old_groups = self
            .remove_entry(&key)
            .map(|e| e.groups())
            .unwrap_or_default();
        self.insert_entry(key, entry);
        if relevant {
            old_groups.union(&new_groups).cloned().collect()
        } else {
            BTreeSet::new()
        }
    }

    /// Forgets a deleted Ingress; returns the groups it touched.
    pub fn delete(&mut self, key: &ObjKey) -> BTreeSet<GroupId> {
        self.remove_entry(key)
            .map(|e| e.groups())
            .unwrap_or_default()
    }

    /// Replaces the whole content (after a watch restart); returns the groups to reconcile:
    /// those of new, changed and vanished Ingresses.
    pub fn replace(
        &mut self,
        ingresses: impl IntoIterator<Item = Arc<Ingress>>,
        view: &dyn ClusterView,
    ) -> BTreeSet<GroupId> {
        let mut seen = BTreeSet::new();
        let mut affected = BTreeSet::new();
        for ingress in ingresses {
            if let Some(key) = ObjKey::of(ingress.as_ref()) {
                seen.insert(key);
            }
            affected.extend(self.apply(ingress, view));
        }
        let gone: Vec<ObjKey> = self
            .ingresses
            .keys()
            .filter(|k| !seen.contains(*k))
            .cloned()
            .collect();
        for key in gone {
            affected.extend(self.delete(&key));
        }
        affected
    }

    /// Re-derives every Ingress after an IngressClass, IngressClassParams or Namespace change;
    /// returns the groups whose membership or parameters changed.
    pub fn reclassify(&mut self, view: &dyn ClusterView) -> BTreeSet<GroupId> {
        let ingresses: Vec<Arc<Ingress>> =
            self.ingresses.values().map(|e| e.ingress.clone()).collect();
        let mut affected = BTreeSet::new();
        for ingress in ingresses {
            affected.extend(self.apply(ingress, view));
        }
        affected
    }

    /// The members of one group.
    pub fn load(&self, group: &GroupId) -> Result<GroupMembers, LoadError> {
        let mut members = GroupMembers {
            id: group.clone(),
            active: Vec::new(),
            inactive: Vec::new(),
            services: BTreeSet::new(),
            secrets: BTreeSet::new(),
        };
        let Some(keys) = self.groups.get(group) else {
            return Ok(members);
        };
        for key in keys {
            let Some(entry) = self.ingresses.get(key) else {
                continue;
            };
            match &entry.membership {
                Membership::Member { group: g, params } if g == group => {
                    members.active.push(ActiveMember {
                        ingress: entry.ingress.clone(),
                        params: params.clone(),
                    });
                    members.services.extend(entry.services.iter().cloned());
                    members.secrets.extend(entry.secrets.iter().cloned());
                }
                Membership::Invalid(error) => {
                    return Err(LoadError {
                        ingress: key.clone(),
                        error: error.clone(),
                    });
                }
                Membership::Member { .. } | Membership::None => {
                    members.inactive.push(entry.ingress.clone());
                }
            }
        }
        Ok(members)
    }

    fn derive(&self, ingress: Arc<Ingress>, view: &dyn ClusterView) -> IngressEntry {
        let namespace = ingress.metadata.namespace.clone().unwrap_or_default();
        let name = ingress.metadata.name.clone().unwrap_or_default();
        let finalizer_groups = ingress
            .metadata
            .finalizers
            .iter()
            .flatten()
            .filter_map(|f| GroupId::from_finalizer(f, &namespace, &name))
            .collect();
        let membership = membership(&ingress, view, &self.ingress_class);
        let services = referenced_services(&ingress)
            .into_iter()
            .map(|svc| ObjKey::new(namespace.clone(), svc))
            .collect();
        let secrets = referenced_secrets(&ingress)
            .into_iter()
            .map(|secret| ObjKey::new(namespace.clone(), secret))
            .collect();
        IngressEntry {
            ingress,
            membership,
            finalizer_groups,
            services,
            secrets,
        }
    }

    fn insert_entry(&mut self, key: ObjKey, entry: IngressEntry) {
        let groups = entry.groups();
        for group in &groups {
            self.groups
                .entry(group.clone())
                .or_default()
                .insert(key.clone());
        }
        if let Some(group) = entry.membership.group() {
            for svc in &entry.services {
                *self
                    .by_service
                    .entry(svc.clone())
                    .or_default()
                    .entry(group.clone())
                    .or_default() += 1;
            }
            for secret in &entry.secrets {
                *self
                    .by_secret
                    .entry(secret.clone())
                    .or_default()
                    .entry(group.clone())
                    .or_default() += 1;
            }
        }
        self.ingresses.insert(key, entry);
    }

    fn remove_entry(&mut self, key: &ObjKey) -> Option<IngressEntry> {
        let entry = self.ingresses.remove(key)?;
        for group in entry.groups() {
            if let Some(keys) = self.groups.get_mut(&group) {
                keys.remove(key);
                if keys.is_empty() {
                    self.groups.remove(&group);
                }
            }
        }
        if let Some(group) = entry.membership.group() {
            release(&mut self.by_service, &entry.services, group);
            release(&mut self.by_secret, &entry.secrets, group);
        }
        Some(entry)
    }
}

fn release(
    map: &mut HashMap<ObjKey, BTreeMap<GroupId, usize>>,
    keys: &BTreeSet<ObjKey>,
    group: &GroupId,
) {
    for key in keys {
        let Some(groups) = map.get_mut(key) else {
            continue;
        };
        if let Some(count) = groups.get_mut(group) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                groups.remove(group);
            }
        }
        if groups.is_empty() {
            map.remove(key);
        }
    }
}

/// The group of one Ingress (see the module docs for the precedence).
pub fn membership(ingress: &Ingress, view: &dyn ClusterView, ingress_class: &str) -> Membership {
    if ingress.metadata.deletion_timestamp.is_some() {
        return Membership::None;
    }
    let config = match classify(ingress, view, ingress_class, true) {
        Ok(Classification::NotOurs) => return Membership::None,
        Ok(Classification::Ours(config)) => config,
        Err(error) => return Membership::Invalid(MembershipError::Class(error)),
    };
    let params = config.params;
    let explicit = params
        .as_ref()
        .and_then(|p| p.spec.group.as_ref())
        .map(|g| g.name.clone())
        .or_else(|| annotation(ingress, "group.name").map(str::to_owned));
    let group = match explicit {
        None => GroupId::implicit(
            ingress.metadata.namespace.clone().unwrap_or_default(),
            ingress.metadata.name.clone().unwrap_or_default(),
        ),
        Some(name) => match GroupId::explicit(name.clone()) {
            Ok(group) => group,
            Err(error) => return Membership::Invalid(MembershipError::GroupName { name, error }),
        },
    };
    Membership::Member { group, params }
}

fn annotation<'a>(ingress: &'a Ingress, suffix: &str) -> Option<&'a str> {
    ingress
        .metadata
        .annotations
        .as_ref()?
        .iter()
        .find(|(k, _)| k.strip_prefix(PREFIX) == Some(suffix))
        .map(|(_, v)| v.as_str())
}

/// Names of the Services an Ingress routes to: rule backends, the default backend, and the
/// `serviceName`s of forward actions in `actions.*` annotations.
pub fn referenced_services(ingress: &Ingress) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    if let Some(spec) = &ingress.spec {
        let default = spec.default_backend.iter();
        let paths = spec
            .rules
            .iter()
            .flatten()
            .filter_map(|r| r.http.as_ref())
            .flat_map(|h| h.paths.iter())
            .map(|p| &p.backend);
        for backend in default.chain(paths) {
            if let Some(svc) = &backend.service {
                names.insert(svc.name.clone());
            }
        }
    }
    for (key, value) in ingress.metadata.annotations.iter().flatten() {
        if key
            .strip_prefix(PREFIX)
            .is_some_and(|s| s.starts_with("actions."))
        {
            collect_strings(value, "serviceName", &mut names);
        }
    }
    names
}

/// Names of the Secrets an Ingress references (`auth-idp-oidc` `secretName`).
pub fn referenced_secrets(ingress: &Ingress) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    if let Some(value) = annotation(ingress, "auth-idp-oidc") {
        collect_strings(value, "secretName", &mut names);
    }
    names
}

/// Every string under `field` anywhere in a JSON document; nothing when it is not JSON (the
/// builder reports malformed annotations).
fn collect_strings(json: &str, field: &str, out: &mut BTreeSet<String>) {
    fn walk(value: &serde_json::Value, field: &str, out: &mut BTreeSet<String>) {
        match value {
            serde_json::Value::Object(map) => {
                for (k, v) in map {
                    match v {
                        serde_json::Value::String(s) if k == field && !s.is_empty() => {
                            out.insert(s.clone());
                        }
                        _ => walk(v, field, out),
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter().for_each(|v| walk(v, field, out)),
            _ => {}
        }
    }
    if let Ok(value) = serde_json::from_str::<serde_json::Value>(json) {
        walk(&value, field, out);
    }
}

#[cfg(test)]
mod tests;
