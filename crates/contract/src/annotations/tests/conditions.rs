use super::{ingress, ingress_error};
use crate::annotations::{
    HttpHeaderConfig, PlainValuesConfig, QueryStringConfig, QueryStringKeyValuePair, RuleCondition,
    RuleConditionField, ValuesConfig,
};

fn conditions(raw: &str) -> Vec<RuleCondition> {
    ingress(&[("conditions.svc", raw)])
        .conditions
        .remove("svc")
        .expect("present")
}

fn strings(values: &[&str]) -> Vec<String> {
    values.iter().map(|v| (*v).to_owned()).collect()
}

#[test]
fn documented_conditions() {
    let host = conditions(
        r#"[{"field":"host-header","hostHeaderConfig":{"values":["anno.example.com"]}}]"#,
    );
    assert_eq!(host[0].field, RuleConditionField::HostHeader);
    assert_eq!(
        host[0].host_header_config,
        Some(ValuesConfig {
            values: strings(&["anno.example.com"]),
            regex_values: vec![]
        })
    );

    let path =
        conditions(r#"[{"field":"path-pattern","pathPatternConfig":{"values":["/anno/path2"]}}]"#);
    assert_eq!(
        path[0]
            .path_pattern_config
            .as_ref()
            .map(|c| c.values.clone()),
        Some(strings(&["/anno/path2"]))
    );

    let header = conditions(
        r#"[{"field":"http-header","httpHeaderConfig":{"httpHeaderName": "HeaderName", "values":["HeaderValue1", "HeaderValue2"]}}]"#,
    );
    assert_eq!(
        header[0].http_header_config,
        Some(HttpHeaderConfig {
            http_header_name: "HeaderName".to_owned(),
            values: strings(&["HeaderValue1", "HeaderValue2"]),
            regex_values: vec![],
        })
    );

    // "Values" capitalised, as in the upstream docs
    let method = conditions(
        r#"[{"field":"http-request-method","httpRequestMethodConfig":{"Values":["GET", "HEAD"]}}]"#,
    );
    assert_eq!(
        method[0].http_request_method_config,
        Some(PlainValuesConfig {
            values: strings(&["GET", "HEAD"])
        })
    );

    let query = conditions(
        r#"[{"field":"query-string","queryStringConfig":{"values":[{"key":"paramA","value":"valueA1"},{"value":"valueA2"}]}}]"#,
    );
    assert_eq!(
        query[0].query_string_config,
        Some(QueryStringConfig {
            values: vec![
                QueryStringKeyValuePair {
                    key: Some("paramA".to_owned()),
                    value: "valueA1".to_owned()
                },
                QueryStringKeyValuePair {
                    key: None,
                    value: "valueA2".to_owned()
                },
            ],
        })
    );

    // "sourceIpConfig", as in the upstream docs, matches the sourceIPConfig field
    let source = conditions(
        r#"[{"field":"source-ip","sourceIpConfig":{"values":["192.168.0.0/16", "172.16.0.0/16"]}}]"#,
    );
    assert_eq!(
        source[0].source_ip_config,
        Some(PlainValuesConfig {
            values: strings(&["192.168.0.0/16", "172.16.0.0/16"])
        })
    );
    assert_eq!(
        serde_json::to_value(&source[0]).expect("ser")["sourceIPConfig"]["values"][1],
        "172.16.0.0/16"
    );

    let several = conditions(
        r#"[{"field":"http-header","httpHeaderConfig":{"httpHeaderName": "HeaderName", "values":["HeaderValue"]}},{"field":"query-string","queryStringConfig":{"values":[{"key":"paramA","value":"valueA"}]}},{"field":"query-string","queryStringConfig":{"values":[{"key":"paramB","value":"valueB"}]}}]"#,
    );
    assert_eq!(several.len(), 3);

    let regex = conditions(
        r#"[{"field":"host-header","hostHeaderConfig":{"regexValues":["^.*\\.example\\.com$"]}}]"#,
    );
    assert_eq!(
        regex[0]
            .host_header_config
            .as_ref()
            .map(|c| c.regex_values.len()),
        Some(1)
    );
    assert_eq!(conditions("[]"), vec![]);
}

#[test]
fn condition_errors() {
    let cases: &[(&str, &str)] = &[
        (r#"[{"field":"host-header"}]"#, "missing hostHeaderConfig"),
        (
            r#"[{"field":"host-header","hostHeaderConfig":{}}]"#,
            "invalid hostHeaderConfig: values or regexValues must be specified",
        ),
        (
            r#"[{"field":"host-header","hostHeaderConfig":{"values":["a"],"regexValues":["b"]}}]"#,
            "invalid hostHeaderConfig: precisely one of values and regexValues can be specified",
        ),
        (
            r#"[{"field":"path-pattern","pathPatternConfig":{"values":["/a"],"regexValues":["^/b"]}}]"#,
            "invalid pathPatternConfig: precisely one of values and regexValues can be specified",
        ),
        (
            r#"[{"field":"http-header","httpHeaderConfig":{"httpHeaderName":"h"}}]"#,
            "invalid httpHeaderConfig: values or regexValues must be specified",
        ),
        (
            r#"[{"field":"http-request-method","httpRequestMethodConfig":{"values":[]}}]"#,
            "invalid httpRequestMethodConfig: values cannot be empty",
        ),
        (
            r#"[{"field":"query-string","queryStringConfig":{"values":[]}}]"#,
            "invalid queryStringConfig: Values cannot be empty",
        ),
        (
            r#"[{"field":"query-string","queryStringConfig":{"values":[{"key":"k"}]}}]"#,
            "invalid queryStringConfig: value cannot be empty",
        ),
        (
            r#"[{"field":"source-ip","sourceIPConfig":{"values":[]}}]"#,
            "invalid sourceIPConfig: values cannot be empty",
        ),
        (
            r#"[{"field":"source-ip","sourceIPConfig":{"values":["10.0.0.1"]}}]"#,
            "invalid sourceIPConfig: invalid CIDR address: 10.0.0.1",
        ),
        (r#"[{"field":"source-ip"}]"#, "missing sourceIPConfig"),
        (
            r#"[{"field":"cookie"}]"#,
            "unknown condition field \"cookie\", want host-header, http-header, http-request-method, path-pattern, query-string or source-ip",
        ),
    ];
    for (raw, want) in cases {
        assert_eq!(ingress_error("conditions.svc", raw), *want, "{raw}");
    }
    assert!(
        ingress_error("conditions.svc", r#"{"field":"host-header"}"#).starts_with("invalid JSON: ")
    );
}
