//! Conversions between the stack's ELBv2 shapes (actions, conditions, transforms, tags) and the
//! SDK's. Actual state is read back into the model's types, so that "drifted?" is plain
//! equality of two values in the normal form of [`super::normal`].

use std::collections::BTreeMap;

use aws_sdk_elasticloadbalancingv2::types as sdk;
use serde::de::DeserializeOwned;

use model::stack::{
    Action, ActionType, AuthenticateCognitoConfig, AuthenticateOidcConfig, FixedResponseConfig,
    ForwardConfig, HttpHeaderConfig, JwtClaim, JwtValidationConfig, QueryStringConfig,
    QueryStringKeyValue, RedirectConfig, Rewrite, RewriteConfig, RuleCondition, RuleConditionField,
    StringToken, TargetGroupStickinessConfig, TargetGroupTuple, Transform, TransformType,
    ValuesConfig,
};
use model::tags::Tags;

use super::error::{DeployError, ResourceRef};
use super::resolve::literal;

/// Parses a value spelled the way AWS (and the model's serde names) spell it.
pub fn parse_enum<T: DeserializeOwned>(text: &str) -> Option<T> {
    serde_json::from_value(serde_json::Value::String(text.to_owned())).ok()
}

fn non_empty<T: Clone>(items: &[T]) -> Option<Vec<T>> {
    (!items.is_empty()).then(|| items.to_vec())
}

fn empty_action(action_type: ActionType) -> Action {
    Action {
        action_type,
        authenticate_cognito_config: None,
        authenticate_oidc_config: None,
        jwt_validation_config: None,
        fixed_response_config: None,
        redirect_config: None,
        forward_config: None,
    }
}

// ---------------------------------------------------------------------------------------------
// model → SDK

pub fn sdk_tags(tags: &Tags) -> Vec<sdk::Tag> {
    tags.iter()
        .map(|(k, v)| sdk::Tag::builder().key(k).value(v).build())
        .collect()
}

/// SDK actions, numbered in order; every target group token must be resolved already.
pub fn sdk_actions(
    actions: &[Action],
    user: &ResourceRef,
) -> Result<Vec<sdk::Action>, DeployError> {
    actions
        .iter()
        .zip(1..)
        .map(|(action, order)| sdk_action(action, order, user))
        .collect()
}

fn sdk_action(action: &Action, order: i32, user: &ResourceRef) -> Result<sdk::Action, DeployError> {
    let mut b = sdk::Action::builder()
        .r#type(sdk::ActionTypeEnum::from(action.action_type.as_str()))
        .order(order);
    if let Some(forward) = &action.forward_config {
        let tuples = forward
            .target_groups
            .iter()
            .map(|t| {
                Ok(sdk::TargetGroupTuple::builder()
                    .target_group_arn(literal(&t.target_group_arn, user, "actions.forwardConfig")?)
                    .set_weight(t.weight)
                    .build())
            })
            .collect::<Result<Vec<_>, DeployError>>()?;
        let stickiness = forward.target_group_stickiness_config.as_ref().map(|s| {
            sdk::TargetGroupStickinessConfig::builder()
                .set_enabled(s.enabled)
                .set_duration_seconds(s.duration_seconds)
                .build()
        });
        b = b.forward_config(
            sdk::ForwardActionConfig::builder()
                .set_target_groups(Some(tuples))
                .set_target_group_stickiness_config(stickiness)
                .build(),
        );
    }
    if let Some(fixed) = &action.fixed_response_config {
        b = b.fixed_response_config(
            sdk::FixedResponseActionConfig::builder()
                .status_code(&fixed.status_code)
                .set_content_type(fixed.content_type.clone())
                .set_message_body(fixed.message_body.clone())
                .build(),
        );
    }
    if let Some(r) = &action.redirect_config {
        b = b.redirect_config(
            sdk::RedirectActionConfig::builder()
                .set_host(r.host.clone())
                .set_path(r.path.clone())
                .set_port(r.port.clone())
                .set_protocol(r.protocol.clone())
                .set_query(r.query.clone())
                .status_code(sdk::RedirectActionStatusCodeEnum::from(
                    r.status_code.as_str(),
                ))
                .build(),
        );
    }
    if let Some(c) = &action.authenticate_oidc_config {
        b =
            b.authenticate_oidc_config(
                sdk::AuthenticateOidcActionConfig::builder()
                    .issuer(&c.issuer)
                    .authorization_endpoint(&c.authorization_endpoint)
                    .token_endpoint(&c.token_endpoint)
                    .user_info_endpoint(&c.user_info_endpoint)
                    .client_id(&c.client_id)
                    .client_secret(&c.client_secret)
                    .set_authentication_request_extra_params(
                        (!c.authentication_request_extra_params.is_empty()).then(|| {
                            c.authentication_request_extra_params
                                .clone()
                                .into_iter()
                                .collect()
                        }),
                    )
                    .set_on_unauthenticated_request(c.on_unauthenticated_request.map(|o| {
                        sdk::AuthenticateOidcActionConditionalBehaviorEnum::from(o.as_str())
                    }))
                    .set_scope(c.scope.clone())
                    .set_session_cookie_name(c.session_cookie_name.clone())
                    .set_session_timeout(c.session_timeout)
                    .build(),
            );
    }
    if let Some(c) = &action.authenticate_cognito_config {
        b = b.authenticate_cognito_config(
            sdk::AuthenticateCognitoActionConfig::builder()
                .user_pool_arn(&c.user_pool_arn)
                .user_pool_client_id(&c.user_pool_client_id)
                .user_pool_domain(&c.user_pool_domain)
                .set_authentication_request_extra_params(
                    (!c.authentication_request_extra_params.is_empty()).then(|| {
                        c.authentication_request_extra_params
                            .clone()
                            .into_iter()
                            .collect()
                    }),
                )
                .set_on_unauthenticated_request(c.on_unauthenticated_request.map(|o| {
                    sdk::AuthenticateCognitoActionConditionalBehaviorEnum::from(o.as_str())
                }))
                .set_scope(c.scope.clone())
                .set_session_cookie_name(c.session_cookie_name.clone())
                .set_session_timeout(c.session_timeout)
                .build(),
        );
    }
    if let Some(c) = &action.jwt_validation_config {
        let claims = c
            .additional_claims
            .iter()
            .map(|claim| {
                sdk::JwtValidationActionAdditionalClaim::builder()
                    .format(sdk::JwtValidationActionAdditionalClaimFormatEnum::from(
                        claim.format.as_str(),
                    ))
                    .name(&claim.name)
                    .set_values(Some(claim.values.clone()))
                    .build()
            })
            .collect::<Vec<_>>();
        b = b.jwt_validation_config(
            sdk::JwtValidationActionConfig::builder()
                .jwks_endpoint(&c.jwks_endpoint)
                .issuer(&c.issuer)
                .set_additional_claims(non_empty(&claims))
                .build(),
        );
    }
    Ok(b.build())
}

pub fn sdk_conditions(conditions: &[RuleCondition]) -> Vec<sdk::RuleCondition> {
    conditions.iter().map(sdk_condition).collect()
}

fn sdk_condition(c: &RuleCondition) -> sdk::RuleCondition {
    let mut b = sdk::RuleCondition::builder().field(c.field.as_str());
    if let Some(v) = &c.host_header_config {
        b = b.host_header_config(
            sdk::HostHeaderConditionConfig::builder()
                .set_values(non_empty(&v.values))
                .set_regex_values(non_empty(&v.regex_values))
                .build(),
        );
    }
    if let Some(v) = &c.path_pattern_config {
        b = b.path_pattern_config(
            sdk::PathPatternConditionConfig::builder()
                .set_values(non_empty(&v.values))
                .set_regex_values(non_empty(&v.regex_values))
                .build(),
        );
    }
    if let Some(h) = &c.http_header_config {
        b = b.http_header_config(
            sdk::HttpHeaderConditionConfig::builder()
                .http_header_name(&h.http_header_name)
                .set_values(non_empty(&h.values))
                .set_regex_values(non_empty(&h.regex_values))
                .build(),
        );
    }
    if let Some(v) = &c.http_request_method_config {
        b = b.http_request_method_config(
            sdk::HttpRequestMethodConditionConfig::builder()
                .set_values(Some(v.values.clone()))
                .build(),
        );
    }
    if let Some(q) = &c.query_string_config {
        let pairs = q
            .values
            .iter()
            .map(|kv| {
                sdk::QueryStringKeyValuePair::builder()
                    .set_key(kv.key.clone())
                    .value(&kv.value)
                    .build()
            })
            .collect();
        b = b.query_string_config(
            sdk::QueryStringConditionConfig::builder()
                .set_values(Some(pairs))
                .build(),
        );
    }
    if let Some(v) = &c.source_ip_config {
        b = b.source_ip_config(
            sdk::SourceIpConditionConfig::builder()
                .set_values(Some(v.values.clone()))
                .build(),
        );
    }
    b.build()
}

pub fn sdk_transforms(transforms: &[Transform]) -> Vec<sdk::RuleTransform> {
    let rewrites = |c: &RewriteConfig| {
        c.rewrites
            .iter()
            .map(|r| {
                sdk::RewriteConfig::builder()
                    .regex(&r.regex)
                    .replace(&r.replace)
                    .build()
            })
            .collect::<Vec<_>>()
    };
    transforms
        .iter()
        .map(|t| {
            let mut b = sdk::RuleTransform::builder()
                .r#type(sdk::TransformTypeEnum::from(t.transform_type.as_str()));
            if let Some(c) = &t.host_header_rewrite_config {
                b = b.host_header_rewrite_config(
                    sdk::HostHeaderRewriteConfig::builder()
                        .set_rewrites(Some(rewrites(c)))
                        .build(),
                );
            }
            if let Some(c) = &t.url_rewrite_config {
                b = b.url_rewrite_config(
                    sdk::UrlRewriteConfig::builder()
                        .set_rewrites(Some(rewrites(c)))
                        .build(),
                );
            }
            b.build()
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// SDK → model

pub fn model_tags(tags: &[sdk::Tag]) -> Tags {
    tags.iter()
        .filter_map(|t| {
            Some((
                t.key()?.to_owned(),
                t.value().unwrap_or_default().to_owned(),
            ))
        })
        .collect()
}

/// Actions as the model spells them, in AWS's order; `None` when AWS returned something the
/// model cannot express (which then never equals a desired action).
pub fn model_actions(actions: &[sdk::Action]) -> Option<Vec<Action>> {
    let mut sorted: Vec<&sdk::Action> = actions.iter().collect();
    sorted.sort_by_key(|a| a.order().unwrap_or(i32::MAX));
    sorted.into_iter().map(model_action).collect()
}

fn btree(map: Option<&std::collections::HashMap<String, String>>) -> BTreeMap<String, String> {
    map.map(|m| m.clone().into_iter().collect())
        .unwrap_or_default()
}

fn model_action(a: &sdk::Action) -> Option<Action> {
    let action_type: ActionType = parse_enum(a.r#type()?.as_str())?;
    let mut out = empty_action(action_type);
    match action_type {
        ActionType::Forward => {
            let forward = match a.forward_config() {
                Some(f) if !f.target_groups().is_empty() => ForwardConfig {
                    target_groups: f
                        .target_groups()
                        .iter()
                        .map(|t| {
                            Some(TargetGroupTuple {
                                target_group_arn: StringToken::Literal(
                                    t.target_group_arn()?.to_owned(),
                                ),
                                weight: t.weight(),
                            })
                        })
                        .collect::<Option<_>>()?,
                    target_group_stickiness_config: f.target_group_stickiness_config().map(|s| {
                        TargetGroupStickinessConfig {
                            enabled: s.enabled(),
                            duration_seconds: s.duration_seconds(),
                        }
                    }),
                },
                _ => ForwardConfig {
                    target_groups: vec![TargetGroupTuple {
                        target_group_arn: StringToken::Literal(a.target_group_arn()?.to_owned()),
                        weight: None,
                    }],
                    target_group_stickiness_config: None,
                },
            };
            out.forward_config = Some(forward);
        }
        ActionType::FixedResponse => {
            let c = a.fixed_response_config()?;
            out.fixed_response_config = Some(FixedResponseConfig {
                content_type: c.content_type().map(str::to_owned),
                message_body: c.message_body().map(str::to_owned),
                status_code: c.status_code()?.to_owned(),
            });
        }
        ActionType::Redirect => {
            let c = a.redirect_config()?;
            out.redirect_config = Some(RedirectConfig {
                host: c.host().map(str::to_owned),
                path: c.path().map(str::to_owned),
                port: c.port().map(str::to_owned),
                protocol: c.protocol().map(str::to_owned),
                query: c.query().map(str::to_owned),
                status_code: c.status_code()?.as_str().to_owned(),
            });
        }
        ActionType::AuthenticateOidc => {
            let c = a.authenticate_oidc_config()?;
            out.authenticate_oidc_config = Some(AuthenticateOidcConfig {
                issuer: c.issuer()?.to_owned(),
                authorization_endpoint: c.authorization_endpoint()?.to_owned(),
                token_endpoint: c.token_endpoint()?.to_owned(),
                user_info_endpoint: c.user_info_endpoint()?.to_owned(),
                client_id: c.client_id().unwrap_or_default().to_owned(),
                client_secret: c.client_secret().unwrap_or_default().to_owned(),
                authentication_request_extra_params: btree(c.authentication_request_extra_params()),
                on_unauthenticated_request: match c.on_unauthenticated_request() {
                    Some(o) => Some(parse_enum(o.as_str())?),
                    None => None,
                },
                scope: c.scope().map(str::to_owned),
                session_cookie_name: c.session_cookie_name().map(str::to_owned),
                session_timeout: c.session_timeout(),
            });
        }
        ActionType::AuthenticateCognito => {
            let c = a.authenticate_cognito_config()?;
            out.authenticate_cognito_config = Some(AuthenticateCognitoConfig {
                user_pool_arn: c.user_pool_arn()?.to_owned(),
                user_pool_client_id: c.user_pool_client_id()?.to_owned(),
                user_pool_domain: c.user_pool_domain()?.to_owned(),
                authentication_request_extra_params: btree(c.authentication_request_extra_params()),
                on_unauthenticated_request: match c.on_unauthenticated_request() {
                    Some(o) => Some(parse_enum(o.as_str())?),
                    None => None,
                },
                scope: c.scope().map(str::to_owned),
                session_cookie_name: c.session_cookie_name().map(str::to_owned),
                session_timeout: c.session_timeout(),
            });
        }
        ActionType::JwtValidation => {
            let c = a.jwt_validation_config()?;
            out.jwt_validation_config = Some(JwtValidationConfig {
                jwks_endpoint: c.jwks_endpoint()?.to_owned(),
                issuer: c.issuer()?.to_owned(),
                additional_claims: c
                    .additional_claims()
                    .iter()
                    .map(|claim| {
                        Some(JwtClaim {
                            format: claim.format()?.as_str().to_owned(),
                            name: claim.name()?.to_owned(),
                            values: claim.values().to_vec(),
                        })
                    })
                    .collect::<Option<_>>()?,
            });
        }
    }
    Some(out)
}

fn values_config(config_values: Option<(&[String], &[String])>, legacy: &[String]) -> ValuesConfig {
    match config_values {
        Some((values, regex_values)) => ValuesConfig {
            values: values.to_vec(),
            regex_values: regex_values.to_vec(),
        },
        None => ValuesConfig::values(legacy.iter().cloned()),
    }
}

/// Conditions as the model spells them; `None` when one cannot be expressed.
pub fn model_conditions(conditions: &[sdk::RuleCondition]) -> Option<Vec<RuleCondition>> {
    conditions.iter().map(model_condition).collect()
}

fn model_condition(c: &sdk::RuleCondition) -> Option<RuleCondition> {
    let field: RuleConditionField = parse_enum(c.field()?)?;
    let legacy = c.values();
    Some(match field {
        RuleConditionField::HostHeader => RuleCondition::host_header(values_config(
            c.host_header_config()
                .map(|h| (h.values(), h.regex_values())),
            legacy,
        )),
        RuleConditionField::PathPattern => RuleCondition::path_pattern(values_config(
            c.path_pattern_config()
                .map(|p| (p.values(), p.regex_values())),
            legacy,
        )),
        RuleConditionField::HttpHeader => {
            let h = c.http_header_config()?;
            RuleCondition::http_header(HttpHeaderConfig {
                http_header_name: h.http_header_name()?.to_owned(),
                values: h.values().to_vec(),
                regex_values: h.regex_values().to_vec(),
            })
        }
        RuleConditionField::HttpRequestMethod => RuleCondition::http_request_method(values_config(
            c.http_request_method_config()
                .map(|m| (m.values(), &[][..])),
            legacy,
        )),
        RuleConditionField::QueryString => {
            let q = c.query_string_config()?;
            RuleCondition::query_string(QueryStringConfig {
                values: q
                    .values()
                    .iter()
                    .map(|kv| {
                        Some(QueryStringKeyValue {
                            key: kv.key().map(str::to_owned),
                            value: kv.value()?.to_owned(),
                        })
                    })
                    .collect::<Option<_>>()?,
            })
        }
        RuleConditionField::SourceIp => RuleCondition::source_ip(values_config(
            c.source_ip_config().map(|s| (s.values(), &[][..])),
            legacy,
        )),
    })
}

/// Transforms as the model spells them; `None` when one cannot be expressed.
pub fn model_transforms(transforms: &[sdk::RuleTransform]) -> Option<Vec<Transform>> {
    let rewrites = |rs: &[sdk::RewriteConfig]| {
        rs.iter()
            .map(|r| {
                Some(Rewrite {
                    regex: r.regex()?.to_owned(),
                    replace: r.replace()?.to_owned(),
                })
            })
            .collect::<Option<Vec<_>>>()
            .map(|rewrites| RewriteConfig { rewrites })
    };
    transforms
        .iter()
        .map(|t| {
            let transform_type: TransformType = parse_enum(t.r#type()?.as_str())?;
            Some(Transform {
                transform_type,
                host_header_rewrite_config: match t.host_header_rewrite_config() {
                    Some(c) => Some(rewrites(c.rewrites())?),
                    None => None,
                },
                url_rewrite_config: match t.url_rewrite_config() {
                    Some(c) => Some(rewrites(c.rewrites())?),
                    None => None,
                },
            })
        })
        .collect()
}
