//! Per-key exponential backoff with jitter (kube-runtime has none built in).
//!
//! The n-th consecutive failure of a key waits `initial * 2^(n-1)`, capped at `max`, then
//! jittered into `[d/2, d]` so that many keys failing together (an AWS outage) do not retry in
//! lockstep. A success forgets the key.

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hash};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Backoff settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BackoffPolicy {
    pub initial: Duration,
    pub max: Duration,
}

impl Default for BackoffPolicy {
    /// Upstream's limits: 5 ms up to 1000 s.
    fn default() -> Self {
        Self {
            initial: Duration::from_millis(5),
            max: Duration::from_secs(1000),
        }
    }
}

impl BackoffPolicy {
    /// The un-jittered delay after `failures` consecutive failures (1-based).
    pub fn ceiling(&self, failures: u32) -> Duration {
        let exp = failures.saturating_sub(1).min(63);
        let factor = 1u64.checked_shl(exp).unwrap_or(u64::MAX);
        let nanos = u64::try_from(self.initial.as_nanos())
            .unwrap_or(u64::MAX)
            .saturating_mul(factor);
        Duration::from_nanos(nanos).min(self.max)
    }
}

/// Failure counts per key, and the delays they earn.
#[derive(Debug)]
pub struct Backoff<K> {
    policy: BackoffPolicy,
    failures: HashMap<K, u32>,
    seed: RandomState,
    counter: AtomicU64,
}

impl<K: Eq + Hash + Clone> Backoff<K> {
    pub fn new(policy: BackoffPolicy) -> Self {
        Self {
            policy,
            failures: HashMap::new(),
            seed: RandomState::new(),
            counter: AtomicU64::new(0),
        }
    }

    /// Records a failure of `key`; returns how long to wait before retrying it.
    pub fn fail(&mut self, key: &K) -> Duration {
        let count = self.failures.entry(key.clone()).or_insert(0);
        *count = count.saturating_add(1);
        let ceiling = self.policy.ceiling(*count);
        self.jitter(ceiling)
    }

    /// Forgets `key` after a success.
    pub fn succeed(&mut self, key: &K) {
        self.failures.remove(key);
    }

    /// Consecutive failures of `key`.
    pub fn failures(&self, key: &K) -> u32 {
        self.failures.get(key).copied().unwrap_or(0)
    }

    /// A delay in `[d/2, d]`.
    fn jitter(&self, d: Duration) -> Duration {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let random = self.seed.hash_one(n);
        let half = d / 2;
        let span = u64::try_from((d - half).as_nanos()).unwrap_or(u64::MAX);
        let extra = if span == 0 { 0 } else { random % (span + 1) };
        half + Duration::from_nanos(extra)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceiling_doubles_and_caps() {
        let p = BackoffPolicy {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(60),
        };
        let got: Vec<u64> = (1..=8).map(|n| p.ceiling(n).as_secs()).collect();
        assert_eq!(got, [1, 2, 4, 8, 16, 32, 60, 60]);
        assert_eq!(p.ceiling(1000), Duration::from_secs(60));
        assert_eq!(
            BackoffPolicy::default().ceiling(1),
            Duration::from_millis(5)
        );
    }

    #[test]
    fn delays_are_jittered_within_bounds_and_reset_on_success() {
        let mut b = Backoff::new(BackoffPolicy {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(100),
        });
        let mut seen = std::collections::BTreeSet::new();
        for n in 1..=6u32 {
            let d = b.fail(&"g");
            let ceiling = Duration::from_secs(1 << (n - 1));
            assert!(d >= ceiling / 2 && d <= ceiling, "{n}: {d:?}");
            seen.insert(d);
        }
        assert_eq!(b.failures(&"g"), 6);
        assert!(seen.len() > 1, "jitter varies");
        b.succeed(&"g");
        assert_eq!(b.failures(&"g"), 0);
        assert!(b.fail(&"g") <= Duration::from_secs(1));
        // Keys are independent.
        assert!(b.fail(&"other") <= Duration::from_secs(1));
    }
}
