//! What each TargetGroupBinding's target group held after the last `DescribeTargetHealth`, kept
//! up to date with the registrations made since: an EndpointSlice change then costs only its
//! RegisterTargets / DeregisterTargets calls. An entry is trusted for [`REGISTERED_TTL`] (so a
//! target removed outside the controller is put back within that time), never when a pod waits
//! for its readiness gate (that needs AWS's health), and is dropped on any failure.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use crate::keys::ObjKey;
use crate::targets::{Target, TargetDiff, TargetHealth, TargetState};

/// How long a described target list is trusted without describing again.
pub const REGISTERED_TTL: Duration = Duration::from_secs(300);

#[derive(Clone, Debug)]
struct Known {
    arn: String,
    targets: Vec<TargetHealth>,
    described: Instant,
}

/// The registered targets of each binding, as last described and changed; cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct RegisteredTargets {
    inner: Arc<Mutex<HashMap<ObjKey, Known>>>,
}

impl RegisteredTargets {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ObjKey, Known>> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The targets of `key`'s group `arn`, if described less than [`REGISTERED_TTL`] ago.
    pub fn get(&self, key: &ObjKey, arn: &str) -> Option<Vec<TargetHealth>> {
        self.lock()
            .get(key)
            .filter(|k| k.arn == arn && k.described.elapsed() < REGISTERED_TTL)
            .map(|k| k.targets.clone())
    }

    /// What a describe just returned.
    pub fn described(&self, key: &ObjKey, arn: &str, targets: &[TargetHealth]) {
        self.lock().insert(
            key.clone(),
            Known {
                arn: arn.to_owned(),
                targets: targets.to_vec(),
                described: Instant::now(),
            },
        );
    }

    /// `diff` was applied to the group: the known list follows (its age stays that of the
    /// describe it came from).
    pub fn applied(&self, key: &ObjKey, arn: &str, diff: &TargetDiff) {
        let mut all = self.lock();
        let Some(known) = all.get_mut(key).filter(|k| k.arn == arn) else {
            return;
        };
        let gone: BTreeSet<&Target> = diff.deregister.iter().collect();
        known.targets.retain(|h| !gone.contains(&h.target));
        known.targets.extend(
            diff.register
                .iter()
                .map(|t| TargetHealth::new(t.clone(), TargetState::Initial)),
        );
    }

    /// Forget `key`: the next reconcile describes.
    pub fn forget(&self, key: &ObjKey) {
        self.lock().remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn entries_follow_changes_and_expire() {
        let memory = RegisteredTargets::default();
        let key = ObjKey::new("ns", "tgb");
        let a = Target::new("10.0.0.1", 80);
        let b = Target::new("10.0.0.2", 80);
        assert_eq!(memory.get(&key, "arn:1"), None);
        memory.described(
            &key,
            "arn:1",
            &[TargetHealth::new(a.clone(), TargetState::Healthy)],
        );
        memory.applied(
            &key,
            "arn:1",
            &TargetDiff {
                register: vec![b.clone()],
                deregister: vec![a.clone()],
            },
        );
        let known: Vec<Target> = memory
            .get(&key, "arn:1")
            .expect("fresh")
            .into_iter()
            .map(|h| h.target)
            .collect();
        assert_eq!(known, [b]);
        // Another target group (the binding was pointed elsewhere) is not this one.
        assert_eq!(memory.get(&key, "arn:2"), None);
        tokio::time::advance(REGISTERED_TTL).await;
        assert_eq!(memory.get(&key, "arn:1"), None, "expired");
        memory.described(&key, "arn:1", &[]);
        memory.forget(&key);
        assert_eq!(memory.get(&key, "arn:1"), None, "forgotten");
    }
}
