//! `conditions.${name}`: extra JSON rule conditions for the paths routed to a backend.

use super::json::{Field, Shape, decode, leaf};
use super::primitives::{Cidr, string_enum};
use serde::{Deserialize, Serialize};

string_enum! {
    /// The request field a rule condition matches.
    pub enum RuleConditionField as "condition field" {
        HostHeader = "host-header",
        HttpHeader = "http-header",
        HttpRequestMethod = "http-request-method",
        PathPattern = "path-pattern",
        QueryString = "query-string",
        SourceIp = "source-ip",
    }
}

/// Values or regex values (exactly one of them non-empty).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ValuesConfig {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub regex_values: Vec<String>,
}

/// `httpHeaderConfig`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpHeaderConfig {
    #[serde(default)]
    pub http_header_name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub regex_values: Vec<String>,
}

/// `httpRequestMethodConfig` and `sourceIPConfig`: plain values.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlainValuesConfig {
    #[serde(default)]
    pub values: Vec<String>,
}

/// One `key=value` (or bare value) to find in the query string.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueryStringKeyValuePair {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(default)]
    pub value: String,
}

/// `queryStringConfig`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueryStringConfig {
    #[serde(default)]
    pub values: Vec<QueryStringKeyValuePair>,
}

/// A validated rule condition. Only the config matching `field` is required; upstream's JSON
/// field names are kept when serialising (`sourceIPConfig`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleCondition {
    pub field: RuleConditionField,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_header_config: Option<ValuesConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_header_config: Option<HttpHeaderConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_request_method_config: Option<PlainValuesConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path_pattern_config: Option<ValuesConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query_string_config: Option<QueryStringConfig>,
    #[serde(rename = "sourceIPConfig", skip_serializing_if = "Option::is_none")]
    pub source_ip_config: Option<PlainValuesConfig>,
    /// AWS's condition-level values (passed through; upstream ignores them).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<String>>,
    /// AWS's condition-level regex values (passed through; upstream ignores them).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub regex_values: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawRuleCondition {
    #[serde(default)]
    field: String,
    #[serde(default)]
    host_header_config: Option<ValuesConfig>,
    #[serde(default)]
    http_header_config: Option<HttpHeaderConfig>,
    #[serde(default)]
    http_request_method_config: Option<PlainValuesConfig>,
    #[serde(default)]
    path_pattern_config: Option<ValuesConfig>,
    #[serde(default)]
    query_string_config: Option<QueryStringConfig>,
    #[serde(rename = "sourceIPConfig", default)]
    source_ip_config: Option<PlainValuesConfig>,
    #[serde(default)]
    values: Option<Vec<String>>,
    #[serde(default)]
    regex_values: Option<Vec<String>>,
}

const VALUES_AND_REGEX: Shape = Shape::Struct(&[leaf("values"), leaf("regexValues")]);
const PLAIN_VALUES: Shape = Shape::Struct(&[leaf("values")]);

const CONDITIONS: Shape = Shape::List(&Shape::Struct(&[
    leaf("field"),
    Field {
        name: "hostHeaderConfig",
        shape: VALUES_AND_REGEX,
    },
    Field {
        name: "httpHeaderConfig",
        shape: Shape::Struct(&[leaf("httpHeaderName"), leaf("values"), leaf("regexValues")]),
    },
    Field {
        name: "httpRequestMethodConfig",
        shape: PLAIN_VALUES,
    },
    Field {
        name: "pathPatternConfig",
        shape: VALUES_AND_REGEX,
    },
    Field {
        name: "queryStringConfig",
        shape: Shape::Struct(&[Field {
            name: "values",
            shape: Shape::List(&Shape::Struct(&[leaf("key"), leaf("value")])),
        }]),
    },
    Field {
        name: "sourceIPConfig",
        shape: PLAIN_VALUES,
    },
    leaf("values"),
    leaf("regexValues"),
]));

fn exactly_one(values: &[String], regex_values: &[String]) -> Result<(), String> {
    match (values.is_empty(), regex_values.is_empty()) {
        (true, true) => Err("values or regexValues must be specified".to_owned()),
        (false, false) => {
            Err("precisely one of values and regexValues can be specified".to_owned())
        }
        _ => Ok(()),
    }
}

fn non_empty(values: &[String]) -> Result<(), String> {
    if values.is_empty() {
        Err("values cannot be empty".to_owned())
    } else {
        Ok(())
    }
}

fn require<'c, T>(config: &'c Option<T>, name: &str) -> Result<&'c T, String> {
    config.as_ref().ok_or_else(|| format!("missing {name}"))
}

fn validate_config(raw: &RawRuleCondition, field: RuleConditionField) -> Result<(), String> {
    use RuleConditionField as F;
    let (name, check) = match field {
        F::HostHeader => {
            let c = require(&raw.host_header_config, "hostHeaderConfig")?;
            ("hostHeaderConfig", exactly_one(&c.values, &c.regex_values))
        }
        F::PathPattern => {
            let c = require(&raw.path_pattern_config, "pathPatternConfig")?;
            ("pathPatternConfig", exactly_one(&c.values, &c.regex_values))
        }
        F::HttpHeader => {
            let c = require(&raw.http_header_config, "httpHeaderConfig")?;
            ("httpHeaderConfig", exactly_one(&c.values, &c.regex_values))
        }
        F::HttpRequestMethod => {
            let c = require(&raw.http_request_method_config, "httpRequestMethodConfig")?;
            ("httpRequestMethodConfig", non_empty(&c.values))
        }
        F::QueryString => {
            let c = require(&raw.query_string_config, "queryStringConfig")?;
            let check = if c.values.is_empty() {
                Err("Values cannot be empty".to_owned())
            } else if c.values.iter().any(|pair| pair.value.is_empty()) {
                Err("value cannot be empty".to_owned())
            } else {
                Ok(())
            };
            ("queryStringConfig", check)
        }
        F::SourceIp => {
            let c = require(&raw.source_ip_config, "sourceIPConfig")?;
            let check = non_empty(&c.values).and_then(|()| {
                c.values
                    .iter()
                    .try_for_each(|v| v.parse::<Cidr>().map(drop))
            });
            ("sourceIPConfig", check)
        }
    };
    check.map_err(|e| format!("invalid {name}: {e}"))
}

fn validate_condition(raw: RawRuleCondition) -> Result<RuleCondition, String> {
    let field: RuleConditionField = raw.field.parse().map_err(|e| format!("{e}"))?;
    validate_config(&raw, field)?;
    Ok(RuleCondition {
        field,
        host_header_config: raw.host_header_config,
        http_header_config: raw.http_header_config,
        http_request_method_config: raw.http_request_method_config,
        path_pattern_config: raw.path_pattern_config,
        query_string_config: raw.query_string_config,
        source_ip_config: raw.source_ip_config,
        values: raw.values,
        regex_values: raw.regex_values,
    })
}

/// Parses and validates one `conditions.${name}` annotation value (a JSON list).
pub fn parse_conditions(raw: &str) -> Result<Vec<RuleCondition>, String> {
    let raw: Vec<RawRuleCondition> = decode(raw, &CONDITIONS)?;
    raw.into_iter().map(validate_condition).collect()
}
