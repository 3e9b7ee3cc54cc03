//! The field-by-field differences the deploy steps act on, in the form a [`ResourceDiff`]
//! reports them. Each step decides "modify or not" by whether its list of changes is empty, so
//! the dry run and the deploy cannot disagree.
//!
//! [`ResourceDiff`]: super::diff::ResourceDiff

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_elasticloadbalancingv2::types as elbv2;
use serde::Serialize;

use model::stack::{Attribute, HealthCheckConfig, int_or_string};
use model::tags::Tags;

use super::diff::FieldChange;
use super::rule_plan::RuleContent;
use super::sg_rules::{Permission, PermissionPlan, Source};
use super::tags::TagDiff;

/// Compact JSON of a value, for fields whose values are structures (actions, conditions).
pub fn json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

/// A change when the spec names a value and AWS has another; nothing when the spec leaves the
/// field to AWS.
pub fn wanted<T: ToString + PartialEq>(
    out: &mut Vec<FieldChange>,
    field: &str,
    wanted: Option<T>,
    actual: Option<T>,
) {
    if let Some(w) = wanted
        && Some(&w) != actual.as_ref()
    {
        out.push(FieldChange::new(
            field,
            actual.map(|a| a.to_string()),
            Some(w.to_string()),
        ));
    }
}

/// A set-valued field (security groups, subnets) as one sorted, comma-separated value.
pub fn set_change(field: &str, actual: &BTreeSet<&str>, wanted: &BTreeSet<&str>) -> FieldChange {
    let join = |s: &BTreeSet<&str>| s.iter().copied().collect::<Vec<_>>().join(",");
    FieldChange::values(field, join(actual), join(wanted))
}

/// The health-check settings the spec names that differ from the target group's.
pub fn health_check_changes(hc: &HealthCheckConfig, tg: &elbv2::TargetGroup) -> Vec<FieldChange> {
    let mut out = Vec::new();
    wanted(
        &mut out,
        "healthCheckPort",
        hc.port.as_ref().map(int_or_string),
        tg.health_check_port().map(str::to_owned),
    );
    wanted(
        &mut out,
        "healthCheckProtocol",
        hc.protocol.map(|p| p.as_str()),
        tg.health_check_protocol().map(|p| p.as_str()),
    );
    wanted(
        &mut out,
        "healthCheckPath",
        hc.path.as_deref(),
        tg.health_check_path(),
    );
    wanted(
        &mut out,
        "healthCheckIntervalSeconds",
        hc.interval_seconds,
        tg.health_check_interval_seconds(),
    );
    wanted(
        &mut out,
        "healthCheckTimeoutSeconds",
        hc.timeout_seconds,
        tg.health_check_timeout_seconds(),
    );
    wanted(
        &mut out,
        "healthyThresholdCount",
        hc.healthy_threshold_count,
        tg.healthy_threshold_count(),
    );
    wanted(
        &mut out,
        "unhealthyThresholdCount",
        hc.unhealthy_threshold_count,
        tg.unhealthy_threshold_count(),
    );
    if let Some(m) = &hc.matcher {
        let actual = tg.matcher();
        wanted(
            &mut out,
            "matcher.httpCode",
            m.http_code.as_deref(),
            actual.and_then(|x| x.http_code()),
        );
        wanted(
            &mut out,
            "matcher.grpcCode",
            m.grpc_code.as_deref(),
            actual.and_then(|x| x.grpc_code()),
        );
    }
    out
}

/// Attributes as `attributes.<key>` changes; `changed` comes from
/// [`changed_attributes`](super::normal::changed_attributes).
pub fn attribute_fields(
    changed: &[Attribute],
    actual: &BTreeMap<String, String>,
) -> Vec<FieldChange> {
    changed
        .iter()
        .map(|a| {
            FieldChange::new(
                format!("attributes.{}", a.key),
                actual.get(&a.key).cloned(),
                Some(a.value.clone()),
            )
        })
        .collect()
}

/// Tag changes as `tags.<key>` changes.
pub fn tag_fields(diff: &TagDiff, actual: &Tags) -> Vec<FieldChange> {
    let added = diff.add.iter().map(|(k, v)| {
        FieldChange::new(format!("tags.{k}"), actual.get(k).cloned(), Some(v.clone()))
    });
    let removed = diff
        .remove
        .iter()
        .map(|k| FieldChange::new(format!("tags.{k}"), actual.get(k).cloned(), None));
    added.chain(removed).collect()
}

fn describe_permission(p: &Permission) -> String {
    let ports = match (p.from_port, p.to_port) {
        (Some(from), Some(to)) if from == to => format!(" {from}"),
        (Some(from), Some(to)) => format!(" {from}-{to}"),
        _ => String::new(),
    };
    let source = match &p.source {
        Source::Ipv4(c) | Source::Ipv6(c) | Source::PrefixList(c) | Source::Group(c) => c,
    };
    let protocol = if p.protocol == "-1" {
        "all"
    } else {
        p.protocol.as_str()
    };
    let description = if p.description.is_empty() {
        String::new()
    } else {
        format!(" ({})", p.description)
    };
    format!("{protocol}{ports} from {source}{description}")
}

/// Inbound rules to revoke and to authorise, as `ingress` changes.
pub fn permission_fields(plan: &PermissionPlan) -> Vec<FieldChange> {
    let revoked = plan
        .revoke
        .iter()
        .map(|p| FieldChange::new("ingress", Some(describe_permission(p)), None));
    let authorized = plan
        .authorize_first
        .iter()
        .chain(&plan.authorize_after_revoke)
        .map(|p| FieldChange::new("ingress", None, Some(describe_permission(p))));
    revoked.chain(authorized).collect()
}

/// The parts of a rule whose content changes in place.
pub fn rule_content_fields(actual: Option<&RuleContent>, wanted: &RuleContent) -> Vec<FieldChange> {
    let Some(actual) = actual else {
        return vec![FieldChange::new(
            "actions",
            Some("(not expressible in the model)".to_owned()),
            Some(json(&wanted.actions)),
        )];
    };
    let mut out = Vec::new();
    if actual.actions != wanted.actions {
        out.push(FieldChange::values(
            "actions",
            json(&actual.actions),
            json(&wanted.actions),
        ));
    }
    if actual.conditions != wanted.conditions {
        out.push(FieldChange::values(
            "conditions",
            json(&actual.conditions),
            json(&wanted.conditions),
        ));
    }
    if actual.transforms != wanted.transforms {
        out.push(FieldChange::values(
            "transforms",
            json(&actual.transforms),
            json(&wanted.transforms),
        ));
    }
    out
}
