//! [`FakeSecurityGroups`]: target ENIs and their security groups in memory.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use super::{Journal, lock};
use crate::backends::{BackendError, BoxFuture};

/// One security group of [`FakeSecurityGroups`].
#[derive(Clone, Debug, Default)]
struct FakeGroup {
    tags: BTreeMap<String, String>,
    rules: BTreeSet<model::sg_rules::Permission>,
}

/// ENIs and security groups in memory, behaving like EC2 where it matters: authorising a rule
/// that exists (whatever its description) or revoking one that does not fails the call.
#[derive(Default)]
pub struct FakeSecurityGroups {
    pub journal: Journal,
    enis: Mutex<BTreeMap<(crate::networking::TargetMode, String), crate::networking::Eni>>,
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
        mode: crate::networking::TargetMode,
        target: &str,
        eni: &str,
        groups: &[&str],
    ) {
        lock(&self.enis).insert(
            (mode, target.to_owned()),
            crate::networking::Eni {
                id: eni.to_owned(),
                security_groups: groups.iter().map(|g| (*g).to_owned()).collect(),
            },
        );
    }

    /// Adds a rule directly (someone else's rule, or one left from an earlier run).
    pub fn add_rule(&self, group: &str, rule: model::sg_rules::Permission) {
        lock(&self.groups)
            .entry(group.to_owned())
            .or_default()
            .rules
            .insert(rule);
    }

    /// The inbound rules of a group.
    pub fn rules(&self, group: &str) -> BTreeSet<model::sg_rules::Permission> {
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

fn same_rule(a: &model::sg_rules::Permission, b: &model::sg_rules::Permission) -> bool {
    (&a.protocol, a.from_port, a.to_port, &a.source)
        == (&b.protocol, b.from_port, b.to_port, &b.source)
}

impl crate::networking::TargetSecurityGroups for FakeSecurityGroups {
    fn enis<'a>(
        &'a self,
        mode: crate::networking::TargetMode,
        ids: &'a [String],
    ) -> BoxFuture<'a, Result<BTreeMap<String, crate::networking::Eni>, BackendError>> {
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
    ) -> BoxFuture<'a, Result<crate::networking::TagsByGroup, BackendError>> {
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
    ) -> BoxFuture<'a, Result<crate::networking::RulesByGroup, BackendError>> {
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
        permissions: &'a [model::sg_rules::Permission],
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
                    crate::backends::NOT_FOUND,
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
        permissions: &'a [model::sg_rules::Permission],
    ) -> BoxFuture<'a, Result<(), BackendError>> {
        Box::pin(async move {
            self.journal
                .push(format!("revoke {group_id} {}", permissions.len()));
            let mut groups = lock(&self.groups);
            let group = groups.get_mut(group_id).ok_or_else(|| {
                BackendError::new(
                    crate::backends::NOT_FOUND,
                    format!("security group {group_id} not found"),
                )
            })?;
            if !permissions
                .iter()
                .all(|p| group.rules.iter().any(|r| same_rule(p, r)))
            {
                return Err(BackendError::new(
                    crate::backends::NOT_FOUND,
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
