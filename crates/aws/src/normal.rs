//! The normal form desired and actual ELBv2 values are compared in. Normalising fills in what
//! AWS fills in (redirect placeholders, authentication defaults, forward weights), ignores what
//! AWS never returns (the OIDC client secret), and sorts what has no order (condition values,
//! weighted target groups).

use std::collections::BTreeMap;

use model::stack::{
    Action, Attribute, OnUnauthenticatedRequest, RuleCondition, TargetGroupStickinessConfig,
    ValuesConfig,
};

/// AWS's defaults for authenticate actions.
const DEFAULT_AUTH_SCOPE: &str = "openid";
const DEFAULT_AUTH_SESSION_COOKIE: &str = "AWSELBAuthSessionCookie";
const DEFAULT_AUTH_SESSION_TIMEOUT: i64 = 604_800;

/// Actions in the form they are compared in.
pub fn normalize_actions(actions: &[Action]) -> Vec<Action> {
    actions.iter().map(normalize_action).collect()
}

fn normalize_action(action: &Action) -> Action {
    let mut a = action.clone();
    if let Some(forward) = &mut a.forward_config {
        let single = forward.target_groups.len() == 1;
        for tuple in &mut forward.target_groups {
            tuple.weight = if single {
                None
            } else {
                Some(tuple.weight.unwrap_or(1))
            };
        }
        forward
            .target_groups
            .sort_by(|x, y| x.target_group_arn.cmp(&y.target_group_arn));
        forward.target_group_stickiness_config = match &forward.target_group_stickiness_config {
            Some(s) if s.enabled == Some(true) => Some(TargetGroupStickinessConfig {
                enabled: Some(true),
                duration_seconds: s.duration_seconds,
            }),
            _ => None,
        };
    }
    if let Some(fixed) = &mut a.fixed_response_config
        && fixed.message_body.as_deref() == Some("")
    {
        fixed.message_body = None;
    }
    if let Some(r) = &mut a.redirect_config {
        let fill = |v: &mut Option<String>, default: &str| {
            if v.as_deref().is_none_or(str::is_empty) {
                *v = Some(default.to_owned());
            }
        };
        fill(&mut r.host, "#{host}");
        fill(&mut r.path, "/#{path}");
        fill(&mut r.port, "#{port}");
        fill(&mut r.protocol, "#{protocol}");
        fill(&mut r.query, "#{query}");
    }
    if let Some(c) = &mut a.authenticate_oidc_config {
        // AWS never returns the secret; a changed secret is not visible as drift.
        c.client_secret.clear();
        c.on_unauthenticated_request
            .get_or_insert(OnUnauthenticatedRequest::Authenticate);
        c.scope.get_or_insert_with(|| DEFAULT_AUTH_SCOPE.to_owned());
        c.session_cookie_name
            .get_or_insert_with(|| DEFAULT_AUTH_SESSION_COOKIE.to_owned());
        c.session_timeout
            .get_or_insert(DEFAULT_AUTH_SESSION_TIMEOUT);
    }
    if let Some(c) = &mut a.authenticate_cognito_config {
        c.on_unauthenticated_request
            .get_or_insert(OnUnauthenticatedRequest::Authenticate);
        c.scope.get_or_insert_with(|| DEFAULT_AUTH_SCOPE.to_owned());
        c.session_cookie_name
            .get_or_insert_with(|| DEFAULT_AUTH_SESSION_COOKIE.to_owned());
        c.session_timeout
            .get_or_insert(DEFAULT_AUTH_SESSION_TIMEOUT);
    }
    a
}

/// Conditions in the form they are compared in: values sorted, conditions sorted.
pub fn normalize_conditions(conditions: &[RuleCondition]) -> Vec<RuleCondition> {
    let sort_values = |v: &mut ValuesConfig| {
        v.values.sort();
        v.regex_values.sort();
    };
    let mut out: Vec<RuleCondition> = conditions
        .iter()
        .map(|c| {
            let mut c = c.clone();
            [
                &mut c.host_header_config,
                &mut c.path_pattern_config,
                &mut c.http_request_method_config,
                &mut c.source_ip_config,
            ]
            .into_iter()
            .flatten()
            .for_each(sort_values);
            if let Some(h) = &mut c.http_header_config {
                h.values.sort();
                h.regex_values.sort();
            }
            if let Some(q) = &mut c.query_string_config {
                q.values
                    .sort_by(|x, y| (&x.key, &x.value).cmp(&(&y.key, &y.value)));
            }
            c
        })
        .collect();
    out.sort_by_cached_key(|c| serde_json::to_string(c).unwrap_or_default());
    out
}

/// The desired attributes whose value AWS does not have yet. Attributes the stack does not
/// mention are left as AWS has them (never reset).
pub fn changed_attributes(
    desired: &[Attribute],
    actual: &BTreeMap<String, String>,
) -> Vec<Attribute> {
    let mut wanted: BTreeMap<&str, &str> = BTreeMap::new();
    for attribute in desired {
        // A later duplicate key wins, as it would in the API call.
        wanted.insert(&attribute.key, &attribute.value);
    }
    wanted
        .into_iter()
        .filter(|(k, v)| actual.get(*k).map(String::as_str) != Some(*v))
        .map(|(k, v)| Attribute {
            key: k.to_owned(),
            value: v.to_owned(),
        })
        .collect()
}
