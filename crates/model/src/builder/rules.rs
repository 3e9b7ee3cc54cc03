//! Listener rules: one per Ingress path, members in group order, paths Exact first, then Prefix
//! by descending length, then the rest; conditions from host, path and `conditions.<name>`;
//! upstream's redirect optimisation; priorities 1..N per listener.

use std::collections::BTreeSet;

use contract::annotations::{
    RuleCondition as AnnotationCondition, RuleConditionField as AnnotationField,
    Transform as AnnotationTransform,
};
use k8s_openapi::api::networking::v1::{HTTPIngressPath, Ingress};

use super::Task;
use super::backend::EnhancedBackend;
use super::errors::BuildError;
use super::port_config::PortConfig;
use crate::stack::{
    Action, ActionType, HttpHeaderConfig, ListenerRuleSpec, Protocol, QueryStringConfig,
    QueryStringKeyValue, Ref, Rewrite, RewriteConfig, RuleCondition, RuleConditionField, Transform,
    TransformType, ValuesConfig, resource_id,
};
use crate::tags::{self, Tags};

/// A rule before it gets its priority.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Rule {
    pub conditions: Vec<RuleCondition>,
    pub actions: Vec<Action>,
    pub transforms: Vec<Transform>,
    /// The tags template of the member's rules, when rules are tagged.
    pub tags: Option<std::rc::Rc<Tags>>,
}

/// Paths in evaluation order: Exact, then Prefix by descending length (stable), then
/// ImplementationSpecific (or no type) in spec order.
fn sort_paths<'p>(
    ingress: &str,
    paths: &'p [HTTPIngressPath],
) -> Result<Vec<&'p HTTPIngressPath>, BuildError> {
    let (mut exact, mut prefix, mut rest) = (Vec::new(), Vec::new(), Vec::new());
    for path in paths {
        match path.path_type.as_str() {
            "Exact" => exact.push(path),
            "Prefix" => prefix.push(path),
            "ImplementationSpecific" | "" => rest.push(path),
            _ => {
                return Err(BuildError::rule(
                    ingress,
                    format!(
                        "unknown pathType for path {}",
                        path.path.as_deref().unwrap_or_default()
                    ),
                ));
            }
        }
    }
    prefix.sort_by_key(|p| std::cmp::Reverse(p.path.as_deref().map_or(0, str::len)));
    exact.extend(prefix);
    exact.extend(rest);
    Ok(exact)
}

/// ELBv2 path patterns of one Ingress path: `(values, regex values)`.
fn path_patterns(
    ingress: &str,
    path: &str,
    path_type: &str,
    use_regex: bool,
) -> Result<(Vec<String>, Vec<String>), BuildError> {
    let wildcard = |p: &str| p.contains(['*', '?']);
    match path_type {
        "Exact" => {
            if wildcard(path) {
                return Err(BuildError::rule(
                    ingress,
                    format!("exact path shouldn't contain wildcards: {path}"),
                ));
            }
            Ok((vec![path.to_owned()], Vec::new()))
        }
        "Prefix" => {
            if path == "/" {
                return Ok((vec!["/*".to_owned()], Vec::new()));
            }
            if wildcard(path) {
                return Err(BuildError::rule(
                    ingress,
                    format!("prefix path shouldn't contain wildcards: {path}"),
                ));
            }
            let trimmed = path.strip_suffix('/').unwrap_or(path);
            Ok((vec![trimmed.to_owned(), format!("{trimmed}/*")], Vec::new()))
        }
        _ if use_regex => {
            // Kubernetes paths start with '/', regular expressions need not.
            let regex: String = path.chars().skip(1).collect();
            Ok((Vec::new(), vec![regex]))
        }
        _ => Ok((vec![path.to_owned()], Vec::new())),
    }
}

fn values_config(values: Vec<String>, regex_values: Vec<String>) -> ValuesConfig {
    ValuesConfig {
        values,
        regex_values,
    }
}

/// The conditions of one rule: annotation conditions other than host and path first (in
/// annotation order), then one host-header and one path-pattern condition; `/*` when nothing
/// else constrains the rule.
fn rule_conditions(
    ingress: &str,
    host: Option<&str>,
    path: (Vec<String>, Vec<String>),
    extra: &[AnnotationCondition],
) -> Result<Vec<RuleCondition>, BuildError> {
    let (mut host_values, mut host_regex) = (Vec::new(), Vec::new());
    if let Some(host) = host.filter(|h| !h.is_empty()) {
        host_values.push(host.to_owned());
    }
    let (mut path_values, mut path_regex) = path;
    let mut conditions = Vec::new();
    for condition in extra {
        match condition.field {
            AnnotationField::HostHeader => {
                if let Some(c) = &condition.host_header_config {
                    host_values.extend(c.values.iter().cloned());
                    host_regex.extend(c.regex_values.iter().cloned());
                }
            }
            AnnotationField::PathPattern => {
                if let Some(c) = &condition.path_pattern_config {
                    path_values.extend(c.values.iter().cloned());
                    path_regex.extend(c.regex_values.iter().cloned());
                }
            }
            AnnotationField::HttpHeader => {
                if let Some(c) = &condition.http_header_config {
                    conditions.push(RuleCondition::http_header(HttpHeaderConfig {
                        http_header_name: c.http_header_name.clone(),
                        values: c.values.clone(),
                        regex_values: c.regex_values.clone(),
                    }));
                }
            }
            AnnotationField::HttpRequestMethod => {
                if let Some(c) = &condition.http_request_method_config {
                    conditions.push(RuleCondition::http_request_method(ValuesConfig::values(
                        c.values.iter().cloned(),
                    )));
                }
            }
            AnnotationField::QueryString => {
                if let Some(c) = &condition.query_string_config {
                    conditions.push(RuleCondition::query_string(QueryStringConfig {
                        values: c
                            .values
                            .iter()
                            .map(|kv| QueryStringKeyValue {
                                key: kv.key.clone(),
                                value: kv.value.clone(),
                            })
                            .collect(),
                    }));
                }
            }
            AnnotationField::SourceIp => {
                if let Some(c) = &condition.source_ip_config {
                    conditions.push(RuleCondition::source_ip(ValuesConfig::values(
                        c.values.iter().cloned(),
                    )));
                }
            }
        }
    }
    if !host_values.is_empty() && !host_regex.is_empty() {
        return Err(BuildError::rule(
            ingress,
            format!(
                "host condition must specify exactly one of Values and RegexValues, got both Values {} and RegexValues {}",
                super::errors::go_list(&host_values),
                super::errors::go_list(&host_regex)
            ),
        ));
    }
    if !path_values.is_empty() && !path_regex.is_empty() {
        return Err(BuildError::rule(
            ingress,
            format!(
                "path condition must specify exactly one of Values and RegexValues, got both Values {} and RegexValues {}",
                super::errors::go_list(&path_values),
                super::errors::go_list(&path_regex)
            ),
        ));
    }
    if !host_values.is_empty() || !host_regex.is_empty() {
        conditions.push(RuleCondition::host_header(values_config(
            host_values,
            host_regex,
        )));
    }
    if !path_values.is_empty() || !path_regex.is_empty() {
        conditions.push(RuleCondition::path_pattern(values_config(
            path_values,
            path_regex,
        )));
    }
    if conditions.is_empty() {
        conditions.push(RuleCondition::path_pattern(ValuesConfig::values(["/*"])));
    }
    Ok(conditions)
}

fn transforms(backend: &EnhancedBackend) -> Vec<Transform> {
    let rewrites = |c: &contract::annotations::RewriteConfigObject| RewriteConfig {
        rewrites: c
            .rewrites
            .iter()
            .map(|r| Rewrite {
                regex: r.regex.clone(),
                replace: r.replace.clone(),
            })
            .collect(),
    };
    backend
        .transforms
        .iter()
        .map(|t| match t {
            AnnotationTransform::HostHeaderRewrite(c) => Transform {
                transform_type: TransformType::HostHeaderRewrite,
                host_header_rewrite_config: Some(rewrites(c)),
                url_rewrite_config: None,
            },
            AnnotationTransform::UrlRewrite(c) => Transform {
                transform_type: TransformType::UrlRewrite,
                host_header_rewrite_config: None,
                url_rewrite_config: Some(rewrites(c)),
            },
        })
        .collect()
}

impl<'a> Task<'a> {
    pub(crate) fn build_rules(
        &mut self,
        port: u16,
        config: &PortConfig,
        ssl_redirect: Option<u16>,
    ) -> Result<(), BuildError> {
        if ssl_redirect.is_some() && config.protocol == Protocol::Http {
            return Ok(());
        }
        let mut rules = Vec::new();
        for &index in &config.members {
            let member = self.member(index)?;
            let key = member.key.clone();
            let use_regex = member.parsed.use_regex_path_match == Some(true);
            let rule_tags = if self.facts.features.listener_rules_tagging {
                let user =
                    tags::member_tags(&member.tag_sources(), &self.facts.external_managed_tags)?;
                Some(std::rc::Rc::new(self.with_stack_tags(
                    &tags::with_default_tags(
                        &user,
                        &self.facts.default_tags,
                        self.facts.features.enable_default_tags_low_priority,
                    ),
                )))
            } else {
                None
            };
            let ingress: &'a Ingress = member.ingress;
            let ingress_rules = ingress.spec.as_ref().and_then(|s| s.rules.as_deref());
            for ingress_rule in ingress_rules.unwrap_or_default() {
                let Some(http) = &ingress_rule.http else {
                    continue;
                };
                for path in sort_paths(&key, &http.paths)? {
                    let backend = self.enhanced_backend(index, &path.backend)?;
                    let path_value = path.path.as_deref().unwrap_or_default();
                    let patterns = if path_value.is_empty() {
                        (Vec::new(), Vec::new())
                    } else {
                        path_patterns(&key, path_value, &path.path_type, use_regex)?
                    };
                    let conditions = rule_conditions(
                        &key,
                        ingress_rule.host.as_deref(),
                        patterns,
                        &backend.conditions,
                    )?;
                    let actions = self.build_actions(index, config.protocol, &backend)?;
                    rules.push(Rule {
                        conditions,
                        actions,
                        transforms: transforms(&backend),
                        tags: rule_tags.clone(),
                    });
                }
            }
        }
        let rules = optimize(port, config.protocol, rules);
        for (position, rule) in rules.into_iter().enumerate() {
            let priority = u32::try_from(position + 1).map_err(|_| BuildError::Internal {
                message: "too many rules".to_owned(),
            })?;
            let id = resource_id::listener_rule(port, priority);
            let tags = match &rule.tags {
                Some(template) => self.resource_tags(template, &id),
                None => Tags::new(),
            };
            self.pending_rules.push((
                id,
                Box::new(ListenerRuleSpec {
                    listener_arn: Ref::listener_arn(port).into(),
                    priority,
                    actions: rule.actions,
                    conditions: rule.conditions,
                    transforms: rule.transforms,
                    tags,
                }),
            ));
        }
        Ok(())
    }
}

/// Upstream's rule optimiser: drops redirects that would redirect to themselves, then rules
/// that an earlier redirect rule's host/path conditions already cover.
pub(crate) fn optimize(port: u16, protocol: Protocol, rules: Vec<Rule>) -> Vec<Rule> {
    let mut kept: Vec<Rule> = Vec::with_capacity(rules.len());
    // Indexes (into `kept`) of the redirect rules, the only ones that can shadow others.
    let mut redirects: Vec<usize> = Vec::new();
    for rule in rules {
        if is_infinite_redirect(port, protocol, &rule) {
            continue;
        }
        let shadowed = redirects.iter().any(|&i| {
            kept.get(i)
                .is_some_and(|earlier| is_superset(&earlier.conditions, &rule.conditions))
        });
        if !shadowed {
            if redirect_of(&rule.actions).is_some() {
                redirects.push(kept.len());
            }
            kept.push(rule);
        }
    }
    kept
}

fn redirect_of(actions: &[Action]) -> Option<&crate::stack::RedirectConfig> {
    actions
        .iter()
        .find(|a| a.action_type == ActionType::Redirect)
        .and_then(|a| a.redirect_config.as_ref())
}

/// Host and path values of the host-header and path-pattern conditions; `None` when another
/// kind of condition is present.
fn hosts_and_paths(conditions: &[RuleCondition]) -> (BTreeSet<&str>, BTreeSet<&str>, bool) {
    let (mut hosts, mut paths, mut only_host_path) = (BTreeSet::new(), BTreeSet::new(), true);
    for condition in conditions {
        match (
            condition.field,
            &condition.host_header_config,
            &condition.path_pattern_config,
        ) {
            (RuleConditionField::HostHeader, Some(c), _) => {
                hosts.extend(c.values.iter().map(String::as_str));
            }
            (RuleConditionField::PathPattern, _, Some(c)) => {
                paths.extend(c.values.iter().map(String::as_str));
            }
            _ => only_host_path = false,
        }
    }
    (hosts, paths, only_host_path)
}

fn is_infinite_redirect(port: u16, protocol: Protocol, rule: &Rule) -> bool {
    let Some(redirect) = redirect_of(&rule.actions) else {
        return false;
    };
    let (hosts, paths, _) = hosts_and_paths(&rule.conditions);
    let keeps = |value: &Option<String>, placeholder: &str, same: &dyn Fn(&str) -> bool| {
        value.as_deref().is_none_or(|v| v == placeholder || same(v))
    };
    keeps(&redirect.host, "#{host}", &|h| hosts.contains(h))
        && keeps(&redirect.path, "/#{path}", &|p| paths.contains(p))
        && keeps(&redirect.port, "#{port}", &|p| p == port.to_string())
        && keeps(&redirect.protocol, "#{protocol}", &|p| {
            p == protocol.as_str()
        })
        && keeps(&redirect.query, "#{query}", &|_| false)
}

/// Whether `earlier`'s host/path conditions match everything `later`'s do.
fn is_superset(earlier: &[RuleCondition], later: &[RuleCondition]) -> bool {
    let (earlier_hosts, earlier_paths, only_host_path) = hosts_and_paths(earlier);
    if !only_host_path {
        return false;
    }
    let (later_hosts, later_paths, _) = hosts_and_paths(later);
    let hosts = earlier_hosts.is_empty()
        || (!later_hosts.is_empty() && earlier_hosts.is_superset(&later_hosts));
    let paths = earlier_paths.is_empty()
        || earlier_paths.contains("/*")
        || (!later_paths.is_empty() && earlier_paths.is_superset(&later_paths));
    hosts && paths
}
