//! Target groups this process created a moment ago, known to be empty: the first
//! `DescribeTargetHealth` of each (its TargetGroupBinding's first reconcile) is answered without a
//! call. An IngressGroup of 10 Ingresses creates 10 target groups, and its bindings' first
//! reconciles described each of them only to learn that nothing was registered yet.
//!
//! A target group counts as fresh from its creation until it is described, registered in or
//! deregistered from through the [`AwsRegistrar`](crate::adapters::AwsRegistrar), or
//! [`FRESH_FOR`] has passed; targets registered outside the controller within that time are
//! found by the next describe, as with the bindings' own memory of registered targets.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// How long after its creation a target group is still taken to be empty.
pub const FRESH_FOR: Duration = Duration::from_secs(300);

/// The target groups created and not yet described or changed, by ARN.
#[derive(Debug, Default)]
pub struct FreshTargetGroups {
    created: Mutex<HashMap<String, Instant>>,
}

impl FreshTargetGroups {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Instant>> {
        self.created.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A deploy created this target group.
    pub fn created(&self, arn: &str) {
        let mut created = self.lock();
        created.retain(|_, at| at.elapsed() < FRESH_FOR);
        created.insert(arn.to_owned(), Instant::now());
    }

    /// Whether the target group is still known to be empty; it is not, from now on.
    pub fn take_empty(&self, arn: &str) -> bool {
        self.lock()
            .remove(arn)
            .is_some_and(|at| at.elapsed() < FRESH_FOR)
    }

    /// Targets were registered or deregistered: no longer empty.
    pub fn changed(&self, arn: &str) {
        self.lock().remove(arn);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_created_group_is_empty_once_then_described() {
        let fresh = FreshTargetGroups::default();
        fresh.created("arn:tg");
        assert!(fresh.take_empty("arn:tg"));
        assert!(!fresh.take_empty("arn:tg"), "only the first describe");
        assert!(!fresh.take_empty("arn:other"), "never created here");
    }

    #[test]
    fn a_registration_ends_it() {
        let fresh = FreshTargetGroups::default();
        fresh.created("arn:tg");
        fresh.changed("arn:tg");
        assert!(!fresh.take_empty("arn:tg"));
    }

    #[test]
    fn an_old_creation_is_not_trusted() {
        let fresh = FreshTargetGroups::default();
        fresh.lock().insert(
            "arn:tg".into(),
            Instant::now() - FRESH_FOR - Duration::from_secs(1),
        );
        assert!(!fresh.take_empty("arn:tg"));
    }
}
