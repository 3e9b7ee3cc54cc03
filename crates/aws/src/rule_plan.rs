//! Planning the rule changes of one listener so that traffic never falls through a gap:
//! unchanged rules stay; a rule whose content is wanted at another priority is moved there
//! (one `SetRulePriorities` call); a priority whose content changes is modified in place; new
//! rules are created; only then are stale rules deleted.

use std::collections::BTreeSet;

use aws_sdk_elasticloadbalancingv2::types as elbv2;

use model::stack::{Action, RuleCondition, Transform};

use super::convert::{model_actions, model_conditions, model_transforms};
use super::normal::{normalize_actions, normalize_conditions};

/// What a rule does, in the normal form rules are compared in.
#[derive(Clone, Debug, PartialEq)]
pub struct RuleContent {
    pub actions: Vec<Action>,
    pub conditions: Vec<RuleCondition>,
    pub transforms: Vec<Transform>,
}

impl RuleContent {
    /// The content of a desired rule (its target group references resolved).
    pub fn desired(
        actions: &[Action],
        conditions: &[RuleCondition],
        transforms: &[Transform],
    ) -> Self {
        Self {
            actions: normalize_actions(actions),
            conditions: normalize_conditions(conditions),
            transforms: transforms.to_vec(),
        }
    }

    /// The content of a rule as AWS describes it; `None` when the model cannot express it.
    pub fn actual(rule: &elbv2::Rule) -> Option<Self> {
        Some(Self {
            actions: normalize_actions(&model_actions(rule.actions())?),
            conditions: normalize_conditions(&model_conditions(rule.conditions())?),
            transforms: model_transforms(rule.transforms())?,
        })
    }
}

/// An existing rule as the planner sees it.
#[derive(Clone, Debug)]
pub struct ExistingRule {
    pub priority: u32,
    pub content: Option<RuleContent>,
    /// Whether it carries our cluster and stack tags; others are never touched.
    pub owned: bool,
}

/// The changes for one listener. Indices point into the planner's inputs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RulePlan {
    /// `(desired, existing)`: already right.
    pub keep: Vec<(usize, usize)>,
    /// `(desired, existing)`: right content, moved to the desired priority; in waves (one
    /// call each) that never target a priority still held.
    pub moves: Vec<Vec<(usize, usize)>>,
    /// `(desired, existing)`: same priority, content replaced in place.
    pub modify: Vec<(usize, usize)>,
    /// Desired rules to create.
    pub create: Vec<usize>,
    /// Existing rules (ours) to delete after everything else.
    pub delete: Vec<usize>,
}

/// A desired rule whose priority is held by a rule that is not ours.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PriorityTaken {
    pub desired: usize,
    pub existing: usize,
}

pub fn plan_rules(
    desired: &[(u32, RuleContent)],
    existing: &[ExistingRule],
) -> Result<RulePlan, PriorityTaken> {
    for (d, (priority, _)) in desired.iter().enumerate() {
        if let Some(e) = existing
            .iter()
            .position(|e| !e.owned && e.priority == *priority)
        {
            return Err(PriorityTaken {
                desired: d,
                existing: e,
            });
        }
    }
    let mut plan = RulePlan::default();
    let mut free_desired: BTreeSet<usize> = (0..desired.len()).collect();
    let mut free_existing: BTreeSet<usize> = existing
        .iter()
        .enumerate()
        .filter(|(_, e)| e.owned)
        .map(|(i, _)| i)
        .collect();

    // Unchanged rules.
    for (d, (priority, content)) in desired.iter().enumerate() {
        if let Some(e) = free_existing.iter().copied().find(|&e| {
            existing[e].priority == *priority && existing[e].content.as_ref() == Some(content)
        }) {
            plan.keep.push((d, e));
            free_desired.remove(&d);
            free_existing.remove(&e);
        }
    }

    // Rules whose content is wanted at another priority.
    let mut moves: Vec<(usize, usize)> = Vec::new();
    let mut moving: BTreeSet<usize> = BTreeSet::new();
    for &d in &free_desired {
        let content = &desired[d].1;
        if let Some(e) = free_existing
            .iter()
            .copied()
            .find(|e| !moving.contains(e) && existing[*e].content.as_ref() == Some(content))
        {
            moves.push((d, e));
            moving.insert(e);
        }
    }
    // A move may only target a priority that is free or being vacated by another move.
    loop {
        let blocked = moves.iter().position(|&(d, _)| {
            free_existing
                .iter()
                .any(|&o| existing[o].priority == desired[d].0 && !moving.contains(&o))
        });
        match blocked {
            Some(i) => {
                let (_, e) = moves.remove(i);
                moving.remove(&e);
            }
            None => break,
        }
    }
    for &(d, e) in &moves {
        free_desired.remove(&d);
        free_existing.remove(&e);
    }
    plan.moves = move_waves(desired, existing, moves);

    // Priorities whose content changes, and new rules.
    for &d in &free_desired {
        match free_existing
            .iter()
            .copied()
            .find(|&e| existing[e].priority == desired[d].0)
        {
            Some(e) => {
                plan.modify.push((d, e));
                free_existing.remove(&e);
            }
            None => plan.create.push(d),
        }
    }
    plan.delete = free_existing.into_iter().collect();
    Ok(plan)
}

/// Groups moves into waves: every move of a wave targets a priority that no rule holds once
/// the earlier waves are done, so each wave is one `SetRulePriorities` call that is valid
/// however strictly the call is checked. A cycle (rules swapping priorities) cannot be
/// untangled this way and goes out as one last wave, which AWS applies atomically.
fn move_waves(
    desired: &[(u32, RuleContent)],
    existing: &[ExistingRule],
    mut moves: Vec<(usize, usize)>,
) -> Vec<Vec<(usize, usize)>> {
    let mut held: BTreeSet<u32> = existing.iter().map(|e| e.priority).collect();
    let mut waves = Vec::new();
    while !moves.is_empty() {
        let (wave, rest): (Vec<_>, Vec<_>) = moves
            .into_iter()
            .partition(|&(d, _)| !held.contains(&desired[d].0));
        if wave.is_empty() {
            waves.push(rest);
            break;
        }
        for &(d, e) in &wave {
            held.remove(&existing[e].priority);
            held.insert(desired[d].0);
        }
        waves.push(wave);
        moves = rest;
    }
    waves
}
