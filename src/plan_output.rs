//! Human-readable rendering of planned stacks: one line per resource.

use std::fmt::Write as _;

use serde_json::Value;

use model::stack::Stack;

/// A table of every resource of every stack, grouped by stack.
pub fn table(stacks: &[Stack]) -> String {
    let mut out = String::new();
    for stack in stacks {
        let value = serde_json::to_value(stack).unwrap_or(Value::Null);
        let resources = value.get("resources").and_then(Value::as_object);
        let count: usize = resources
            .map(|r| {
                r.values()
                    .filter_map(Value::as_object)
                    .map(|m| m.len())
                    .sum()
            })
            .unwrap_or(0);
        let owner = match stack.kind {
            model::stack::StackKind::Ingress => "IngressGroup",
            model::stack::StackKind::Service => "Service",
        };
        let _ = writeln!(out, "{owner} {} ({count} resources)", stack.id);
        if count == 0 {
            let _ = writeln!(
                out,
                "  (nothing: every AWS resource of this {} is to be deleted)",
                match stack.kind {
                    model::stack::StackKind::Ingress => "group",
                    model::stack::StackKind::Service => "Service",
                }
            );
        }
        for (kind, by_id) in resources.into_iter().flatten() {
            let short = kind.rsplit("::").next().unwrap_or(kind);
            for (id, resource) in by_id.as_object().into_iter().flatten() {
                let spec = resource.get("spec").unwrap_or(&Value::Null);
                let _ = writeln!(out, "  {short:<20} {id:<28} {}", summary(short, spec));
            }
        }
        out.push('\n');
    }
    out
}

fn summary(kind: &str, spec: &Value) -> String {
    let s = |key: &str| spec.get(key).map(scalar).unwrap_or_default();
    match kind {
        "LoadBalancer" => {
            let subnets: Vec<String> = spec
                .get("subnetMapping")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|m| m.get("subnetID").map(scalar))
                .collect();
            let kind = if s("type") == "network" {
                " network"
            } else {
                ""
            };
            format!(
                "{}{kind} {} {} subnets=[{}]",
                s("name"),
                s("scheme"),
                s("ipAddressType"),
                subnets.join(",")
            )
        }
        "Listener" => {
            let certs = spec
                .get("certificates")
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            let actions = action_summary(spec.get("defaultActions"));
            let mut line = format!("{} {} default: {actions}", s("protocol"), s("port"));
            if certs > 0 {
                let _ = write!(line, " certificates={certs} sslPolicy={}", s("sslPolicy"));
            }
            line
        }
        "ListenerRule" => {
            let conditions: Vec<String> = spec
                .get("conditions")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(condition_summary)
                .collect();
            format!(
                "priority {} if {} then {}",
                s("priority"),
                conditions.join(" and "),
                action_summary(spec.get("actions"))
            )
        }
        "TargetGroup" => format!(
            "{} {} {}:{} health {}",
            s("name"),
            s("targetType"),
            s("protocol"),
            s("port"),
            spec.pointer("/healthCheckConfig/path")
                .map(scalar)
                .unwrap_or_default()
        ),
        "SecurityGroup" => {
            let rules = spec
                .get("ingress")
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            format!("{} inbound rules={rules}", s("groupName"))
        }
        "TargetGroupBinding" => {
            let service = spec.pointer("/template/spec/serviceRef/name").map(scalar);
            let port = spec.pointer("/template/spec/serviceRef/port").map(scalar);
            match (service, port) {
                (Some(service), Some(port)) => format!("service {service}:{port}"),
                _ => String::new(),
            }
        }
        _ => String::new(),
    }
}

fn action_summary(actions: Option<&Value>) -> String {
    let parts: Vec<String> = actions
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|a| {
            let kind = a.get("type").map(scalar).unwrap_or_default();
            match kind.as_str() {
                "fixed-response" => format!(
                    "fixed-response {}",
                    a.pointer("/fixedResponseConfig/statusCode")
                        .map(scalar)
                        .unwrap_or_default()
                ),
                "redirect" => format!(
                    "redirect {}",
                    a.pointer("/redirectConfig/statusCode")
                        .map(scalar)
                        .unwrap_or_default()
                ),
                "forward" => {
                    let groups = a
                        .pointer("/forwardConfig/targetGroups")
                        .and_then(Value::as_array)
                        .map_or(0, Vec::len);
                    format!("forward to {groups} target group(s)")
                }
                other => other.to_string(),
            }
        })
        .collect();
    parts.join(", ")
}

fn condition_summary(condition: &Value) -> String {
    let field = condition.get("field").map(scalar).unwrap_or_default();
    let values: Vec<String> = condition
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(k, _)| k.ends_with("Config"))
        .flat_map(|(_, config)| {
            config
                .get("values")
                .or_else(|| config.get("regexValues"))
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        })
        .map(|v| scalar(&v))
        .collect();
    format!("{field} in [{}]", values.join(","))
}

fn scalar(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        Value::Object(map) if map.contains_key("$ref") => "<ref>".to_string(),
        other => other.to_string(),
    }
}
