//! Targets of a target group, their health, and the difference between desired and
//! registered targets (pure).

use std::collections::BTreeSet;
use std::fmt;

/// Most targets sent in one RegisterTargets / DeregisterTargets call. The API reference sets
/// no per-call maximum; upstream sends chunks of 200, which keeps each request small and a
/// throttled retry cheap.
pub const MAX_TARGETS_PER_CALL: usize = 200;

/// A target: an instance ID or IP address, always with an explicit port.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Target {
    pub id: String,
    pub port: i32,
}

impl Target {
    pub fn new(id: impl Into<String>, port: i32) -> Self {
        Self {
            id: id.into(),
            port,
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.id, self.port)
    }
}

/// A target's state as ELBv2 reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TargetState {
    Initial,
    Healthy,
    Unhealthy,
    UnhealthyDraining,
    Unused,
    Draining,
    Unavailable,
    Other(String),
}

impl TargetState {
    /// Parses the API's spelling (`healthy`, `unhealthy.draining`, ...).
    pub fn from_wire(value: &str) -> Self {
        match value {
            "initial" => Self::Initial,
            "healthy" => Self::Healthy,
            "unhealthy" => Self::Unhealthy,
            "unhealthy.draining" => Self::UnhealthyDraining,
            "unused" => Self::Unused,
            "draining" => Self::Draining,
            "unavailable" => Self::Unavailable,
            other => Self::Other(other.to_owned()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Self::Initial => "initial",
            Self::Healthy => "healthy",
            Self::Unhealthy => "unhealthy",
            Self::UnhealthyDraining => "unhealthy.draining",
            Self::Unused => "unused",
            Self::Draining => "draining",
            Self::Unavailable => "unavailable",
            Self::Other(other) => other,
        }
    }
}

/// One registered target and its health.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetHealth {
    pub target: Target,
    pub state: TargetState,
    /// The API's reason code (e.g. `Target.ResponseCodeMismatch`).
    pub reason: Option<String>,
    pub description: Option<String>,
}

impl TargetHealth {
    pub fn new(target: Target, state: TargetState) -> Self {
        Self {
            target,
            state,
            reason: None,
            description: None,
        }
    }
}

/// What to change in a target group.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TargetDiff {
    pub register: Vec<Target>,
    pub deregister: Vec<Target>,
}

impl TargetDiff {
    pub fn is_empty(&self) -> bool {
        self.register.is_empty() && self.deregister.is_empty()
    }
}

/// The targets to register (desired, not registered) and to deregister (registered, not
/// desired). Draining targets are on their way out: they count as not registered, so a
/// draining target that is desired again is registered again, and none is deregistered twice.
pub fn diff(desired: &BTreeSet<Target>, current: &[TargetHealth]) -> TargetDiff {
    let registered: BTreeSet<&Target> = current
        .iter()
        .filter(|t| t.state != TargetState::Draining)
        .map(|t| &t.target)
        .collect();
    TargetDiff {
        register: desired
            .iter()
            .filter(|t| !registered.contains(t))
            .cloned()
            .collect(),
        deregister: registered
            .into_iter()
            .filter(|t| !desired.contains(*t))
            .cloned()
            .collect(),
    }
}

/// Splits targets into API-sized batches.
pub fn batches(targets: &[Target]) -> std::slice::Chunks<'_, Target> {
    targets.chunks(MAX_TARGETS_PER_CALL)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(id: &str, port: i32) -> Target {
        Target::new(id, port)
    }

    #[test]
    fn diff_sends_only_the_difference() {
        let desired: BTreeSet<Target> = [t("10.0.0.1", 80), t("10.0.0.2", 80), t("10.0.0.3", 8080)]
            .into_iter()
            .collect();
        let current = vec![
            TargetHealth::new(t("10.0.0.1", 80), TargetState::Healthy),
            // Same IP, other port: a different target.
            TargetHealth::new(t("10.0.0.3", 80), TargetState::Healthy),
            TargetHealth::new(t("10.0.0.9", 80), TargetState::Unhealthy),
            // Draining and desired again: register again; draining and not desired: leave it.
            TargetHealth::new(t("10.0.0.2", 80), TargetState::Draining),
            TargetHealth::new(t("10.0.0.8", 80), TargetState::Draining),
        ];
        let d = diff(&desired, &current);
        assert_eq!(d.register, [t("10.0.0.2", 80), t("10.0.0.3", 8080)]);
        assert_eq!(d.deregister, [t("10.0.0.3", 80), t("10.0.0.9", 80)]);
        assert!(!d.is_empty());
    }

    #[test]
    fn diff_of_equal_sets_is_empty() {
        let desired: BTreeSet<Target> = [t("i-1", 30080)].into_iter().collect();
        let current = vec![TargetHealth::new(t("i-1", 30080), TargetState::Initial)];
        assert!(diff(&desired, &current).is_empty());
    }

    #[test]
    fn batches_respect_the_call_limit() {
        let targets: Vec<Target> = (0..450)
            .map(|i| t(&format!("10.0.{}.{}", i / 250, i % 250), 80))
            .collect();
        let sizes: Vec<usize> = batches(&targets).map(<[Target]>::len).collect();
        assert_eq!(sizes, [200, 200, 50]);
        assert_eq!(batches(&[]).count(), 0);
    }

    #[test]
    fn target_states_round_trip() {
        for wire in [
            "initial",
            "healthy",
            "unhealthy",
            "unhealthy.draining",
            "unused",
            "draining",
            "unavailable",
            "x",
        ] {
            assert_eq!(TargetState::from_wire(wire).as_str(), wire);
        }
    }
}
