//! `actions.${name}` and `transforms.${name}`: JSON rule actions and transforms referenced from
//! Ingress backends (`service.port.name: use-annotation`).

use super::json::{Field, IntOrString, Shape, decode, leaf};
use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize};

/// `fixedResponseConfig`: return a fixed HTTP response.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FixedResponseConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_body: Option<String>,
    #[serde(default)]
    pub status_code: String,
}

/// `redirectConfig`: redirect the request.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RedirectConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// `HTTP_301` or `HTTP_302`.
    #[serde(default)]
    pub status_code: String,
}

/// One weighted destination of a forward action: a target group by ARN or name, or a Service port.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetGroupTuple {
    #[serde(
        rename = "targetGroupARN",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub target_group_arn: Option<String>,
    #[serde(
        rename = "targetGroupName",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub target_group_name: Option<String>,
    #[serde(
        rename = "serviceName",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub service_name: Option<String>,
    /// A numeric string is normalised to a number, as upstream does.
    #[serde(
        rename = "servicePort",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub service_port: Option<IntOrString>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<i32>,
}

/// Target group stickiness of a forward action.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetGroupStickinessConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_seconds: Option<i32>,
}

/// `forwardConfig`: forward to one or more target groups.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ForwardConfig {
    #[serde(default)]
    pub target_groups: Vec<TargetGroupTuple>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_group_stickiness_config: Option<TargetGroupStickinessConfig>,
}

/// A validated `actions.${name}` annotation. The simplified forward schema (`targetGroupARN` /
/// `targetGroupName` at the top) is normalised into a one-entry [`ForwardConfig`].
///
/// Serialises like the annotation: `{"type": "redirect", "redirectConfig": {...}}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    FixedResponse(FixedResponseConfig),
    Redirect(RedirectConfig),
    Forward(ForwardConfig),
}

impl Action {
    /// The upstream action type name.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::FixedResponse(_) => "fixed-response",
            Self::Redirect(_) => "redirect",
            Self::Forward(_) => "forward",
        }
    }
}

impl Serialize for Action {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(2))?;
        map.serialize_entry("type", self.type_name())?;
        match self {
            Self::FixedResponse(c) => map.serialize_entry("fixedResponseConfig", c)?,
            Self::Redirect(c) => map.serialize_entry("redirectConfig", c)?,
            Self::Forward(c) => map.serialize_entry("forwardConfig", c)?,
        }
        map.end()
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawAction {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(rename = "targetGroupARN", default)]
    target_group_arn: Option<String>,
    #[serde(default)]
    target_group_name: Option<String>,
    #[serde(default)]
    fixed_response_config: Option<FixedResponseConfig>,
    #[serde(default)]
    redirect_config: Option<RedirectConfig>,
    #[serde(default)]
    forward_config: Option<ForwardConfig>,
}

const TARGET_GROUP_TUPLE: &[Field] = &[
    leaf("targetGroupARN"),
    leaf("targetGroupName"),
    leaf("serviceName"),
    leaf("servicePort"),
    leaf("weight"),
];

const ACTION: Shape = Shape::Struct(&[
    leaf("type"),
    leaf("targetGroupARN"),
    leaf("targetGroupName"),
    Field {
        name: "fixedResponseConfig",
        shape: Shape::Struct(&[leaf("contentType"), leaf("messageBody"), leaf("statusCode")]),
    },
    Field {
        name: "redirectConfig",
        shape: Shape::Struct(&[
            leaf("host"),
            leaf("path"),
            leaf("port"),
            leaf("protocol"),
            leaf("query"),
            leaf("statusCode"),
        ]),
    },
    Field {
        name: "forwardConfig",
        shape: Shape::Struct(&[
            Field {
                name: "targetGroups",
                shape: Shape::List(&Shape::Struct(TARGET_GROUP_TUPLE)),
            },
            Field {
                name: "targetGroupStickinessConfig",
                shape: Shape::Struct(&[leaf("enabled"), leaf("durationSeconds")]),
            },
        ]),
    },
]);

fn validate_status_code(code: &str, allowed_first: &[u8]) -> bool {
    code.len() == 3
        && code.bytes().all(|b| b.is_ascii_digit())
        && code
            .bytes()
            .next()
            .is_some_and(|b| allowed_first.contains(&b))
}

fn validate_tuple(tuple: &TargetGroupTuple) -> Result<(), String> {
    let by_target_group = tuple.target_group_arn.is_some() || tuple.target_group_name.is_some();
    if !by_target_group && tuple.service_name.is_none() {
        return Err("missing serviceName or targetGroupARN/targetGroupName".to_owned());
    }
    if by_target_group && tuple.service_name.is_some() {
        return Err(
            "either serviceName or targetGroupARN/targetGroupName can be specified".to_owned(),
        );
    }
    if tuple.service_name.is_some() && tuple.service_port.is_none() {
        return Err("missing servicePort".to_owned());
    }
    Ok(())
}

fn validate_forward(mut config: ForwardConfig) -> Result<ForwardConfig, String> {
    if config.target_groups.is_empty() {
        return Err("targetGroups cannot be empty".to_owned());
    }
    for tuple in &config.target_groups {
        validate_tuple(tuple).map_err(|e| format!("invalid TargetGroupTuple: {e}"))?;
    }
    if config.target_groups.len() > 1 && config.target_groups.iter().any(|t| t.weight.is_none()) {
        return Err("weight must be set when route to multiple target groups".to_owned());
    }
    for tuple in &mut config.target_groups {
        tuple.service_port = tuple.service_port.take().map(IntOrString::normalized);
    }
    Ok(config)
}

fn validate_action(raw: RawAction) -> Result<Action, String> {
    match raw.kind.as_str() {
        "fixed-response" => {
            let config = raw
                .fixed_response_config
                .ok_or("missing FixedResponseConfig")?;
            if config.status_code.is_empty() {
                return Err("invalid FixedResponseConfig: statusCode is required".to_owned());
            }
            if !validate_status_code(&config.status_code, b"245") {
                return Err(format!(
                    "invalid FixedResponseConfig: statusCode must be a 2XX, 4XX or 5XX code: {}",
                    config.status_code
                ));
            }
            Ok(Action::FixedResponse(config))
        }
        "redirect" => {
            let config = raw.redirect_config.ok_or("missing RedirectConfig")?;
            if config.status_code.is_empty() {
                return Err("invalid RedirectConfig: statusCode is required".to_owned());
            }
            if !matches!(config.status_code.as_str(), "HTTP_301" | "HTTP_302") {
                return Err(format!(
                    "invalid RedirectConfig: statusCode must be HTTP_301 or HTTP_302: {}",
                    config.status_code
                ));
            }
            Ok(Action::Redirect(config))
        }
        "forward" => {
            let simplified = raw.target_group_arn.is_some() || raw.target_group_name.is_some();
            let config = match (simplified, raw.forward_config) {
                (false, None) => {
                    return Err(
                        "missing ForwardConfig or TargetGroupARN/TargetGroupName".to_owned()
                    );
                }
                (true, Some(_)) => {
                    return Err(
                        "either ForwardConfig or TargetGroupARN/TargetGroupName can be specified"
                            .to_owned(),
                    );
                }
                (true, None) => ForwardConfig {
                    target_groups: vec![TargetGroupTuple {
                        target_group_arn: raw.target_group_arn,
                        target_group_name: raw.target_group_name,
                        ..TargetGroupTuple::default()
                    }],
                    target_group_stickiness_config: None,
                },
                (false, Some(config)) => config,
            };
            validate_forward(config)
                .map(Action::Forward)
                .map_err(|e| format!("invalid ForwardConfig: {e}"))
        }
        other => Err(format!("unknown action type: {other}")),
    }
}

/// Parses and validates one `actions.${name}` annotation value.
pub fn parse_action(raw: &str) -> Result<Action, String> {
    validate_action(decode(raw, &ACTION)?)
}

/// The rewrite rules of a transform.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RewriteConfigObject {
    #[serde(default)]
    pub rewrites: Vec<RewriteConfig>,
}

/// One regex rewrite.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RewriteConfig {
    #[serde(default)]
    pub regex: String,
    #[serde(default)]
    pub replace: String,
}

/// A validated entry of `transforms.${name}`. Serialises like the annotation:
/// `{"type": "url-rewrite", "urlRewriteConfig": {"rewrites": [...]}}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Transform {
    HostHeaderRewrite(RewriteConfigObject),
    UrlRewrite(RewriteConfigObject),
}

impl Serialize for Transform {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(2))?;
        match self {
            Self::HostHeaderRewrite(c) => {
                map.serialize_entry("type", "host-header-rewrite")?;
                map.serialize_entry("hostHeaderRewriteConfig", c)?;
            }
            Self::UrlRewrite(c) => {
                map.serialize_entry("type", "url-rewrite")?;
                map.serialize_entry("urlRewriteConfig", c)?;
            }
        }
        map.end()
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawTransform {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    host_header_rewrite_config: Option<RewriteConfigObject>,
    #[serde(default)]
    url_rewrite_config: Option<RewriteConfigObject>,
}

const REWRITES: Shape = Shape::Struct(&[Field {
    name: "rewrites",
    shape: Shape::List(&Shape::Struct(&[leaf("regex"), leaf("replace")])),
}]);

const TRANSFORMS: Shape = Shape::List(&Shape::Struct(&[
    leaf("type"),
    Field {
        name: "hostHeaderRewriteConfig",
        shape: REWRITES,
    },
    Field {
        name: "urlRewriteConfig",
        shape: REWRITES,
    },
]));

fn validate_transform(raw: RawTransform) -> Result<Transform, String> {
    let (config, name, make): (_, _, fn(RewriteConfigObject) -> Transform) = match raw.kind.as_str()
    {
        "host-header-rewrite" => (
            raw.host_header_rewrite_config,
            "hostHeaderRewriteConfig",
            Transform::HostHeaderRewrite,
        ),
        "url-rewrite" => (
            raw.url_rewrite_config,
            "urlRewriteConfig",
            Transform::UrlRewrite,
        ),
        other => return Err(format!("unknown transform type: {other}")),
    };
    let config = config.ok_or_else(|| format!("missing {name}"))?;
    if config.rewrites.is_empty() {
        return Err(format!("{name}.rewrites cannot be empty"));
    }
    Ok(make(config))
}

/// Parses and validates one `transforms.${name}` annotation value (a JSON list).
pub fn parse_transforms(raw: &str) -> Result<Vec<Transform>, String> {
    let raw: Vec<RawTransform> = decode(raw, &TRANSFORMS)?;
    raw.into_iter().map(validate_transform).collect()
}
