use super::{ingress, ingress_error};
use crate::annotations::{
    AdvertiseTrustStoreCaNames, ListenPort, ListenerKey, MutualAuthentication,
    MutualAuthenticationMode, Protocol,
};
use std::collections::BTreeMap;

fn port(protocol: Protocol, port: u16) -> ListenPort {
    ListenPort { protocol, port }
}

#[test]
fn listen_ports_examples() {
    let cases: &[(&str, &[ListenPort])] = &[
        (r#"[{"HTTP": 80}]"#, &[port(Protocol::Http, 80)]),
        (r#"[{"HTTPS":443}]"#, &[port(Protocol::Https, 443)]),
        (
            r#"[{"HTTP": 80}, {"HTTPS": 443}]"#,
            &[port(Protocol::Http, 80), port(Protocol::Https, 443)],
        ),
        (
            r#"[{"HTTP": 80}, {"HTTPS": 443}, {"HTTP": 8080}, {"HTTPS": 8443}]"#,
            &[
                port(Protocol::Http, 80),
                port(Protocol::Https, 443),
                port(Protocol::Http, 8080),
                port(Protocol::Https, 8443),
            ],
        ),
        // several ports in one object, duplicates collapse, sorted by port
        (
            r#"[{"HTTPS": 8443, "HTTP": 80}, {"HTTP": 80}]"#,
            &[port(Protocol::Http, 80), port(Protocol::Https, 8443)],
        ),
    ];
    for (raw, want) in cases {
        assert_eq!(
            ingress(&[("listen-ports", raw)]).listen_ports.as_deref(),
            Some(*want),
            "{raw}"
        );
    }
}

#[test]
fn listen_ports_errors() {
    let cases: &[(&str, &str)] = &[
        (
            r#"[{"HTTP": 0}]"#,
            "listen port must be within [1, 65535]: 0",
        ),
        (
            r#"[{"HTTPS": 65536}]"#,
            "listen port must be within [1, 65535]: 65536",
        ),
        (
            r#"[{"HTTP": -1}]"#,
            "listen port must be within [1, 65535]: -1",
        ),
        (
            r#"[{"http": 80}]"#,
            "listen protocol must be within [HTTP, HTTPS]: http",
        ),
        (
            r#"[{"TCP": 80}]"#,
            "listen protocol must be within [HTTP, HTTPS]: TCP",
        ),
        ("[]", "empty listen-ports configuration: []"),
        ("[{}]", "empty listen-ports configuration: [{}]"),
        (
            r#"[{"HTTP": 80}, {"HTTPS": 80}]"#,
            "conflicting protocols for listen port 80: HTTP | HTTPS",
        ),
    ];
    for (raw, want) in cases {
        assert_eq!(ingress_error("listen-ports", raw), *want, "{raw}");
    }
    for raw in [
        r#"[{"HTTP": "80"}]"#,
        r#"[{"HTTP": 80.0}]"#,
        r#"{"HTTP": 80}"#,
        "80",
        "[{\"HTTP\": 80}",
    ] {
        let message = ingress_error("listen-ports", raw);
        assert!(
            message.starts_with("failed to parse listen-ports configuration: invalid JSON:"),
            "{message}"
        );
    }
}

#[test]
fn inbound_cidrs() {
    let got = ingress(&[("inbound-cidrs", "10.0.0.0/24, 2001:db8::/32,")])
        .inbound_cidrs
        .expect("present");
    let rendered: Vec<String> = got.iter().map(ToString::to_string).collect();
    assert_eq!(rendered, ["10.0.0.0/24", "2001:db8::/32"]);
    assert_eq!(
        ingress_error("inbound-cidrs", "10.0.0.0/24,10.0.0.1"),
        "invalid CIDR address: 10.0.0.1"
    );
}

#[test]
fn listener_attributes_family() {
    let got = ingress(&[
        (
            "listener-attributes.HTTPS-443",
            "routing.http.response.server.enabled=false",
        ),
        ("listener-attributes.HTTP-80", "a=b"),
    ])
    .listener_attributes;
    let https = ListenerKey {
        protocol: Protocol::Https,
        port: 443,
    };
    let http = ListenerKey {
        protocol: Protocol::Http,
        port: 80,
    };
    assert_eq!(got.len(), 2);
    assert_eq!(
        got[&https]
            .get("routing.http.response.server.enabled")
            .map(String::as_str),
        Some("false")
    );
    assert_eq!(
        got[&http],
        BTreeMap::from([("a".to_owned(), "b".to_owned())])
    );
    assert_eq!(https.to_string(), "HTTPS-443");
    assert_eq!(
        serde_json::to_value(&got).expect("ser")["HTTP-80"]["a"],
        "b"
    );

    for param in [
        "https-443",
        "HTTPS",
        "HTTPS-0",
        "HTTPS-0443",
        "TCP-80",
        "HTTPS-443-1",
        "",
    ] {
        let message = ingress_error(&format!("listener-attributes.{param}"), "a=b");
        assert_eq!(
            message,
            format!(
                "listener attributes key must be listener-attributes.<HTTP|HTTPS>-<port>, got listener-attributes.{param}"
            )
        );
    }
    assert!(ingress_error("listener-attributes.HTTPS-443", "novalue").contains("has no '='"));
}

#[test]
fn mutual_authentication_examples() {
    let raw = r#"[{"port": 443, "mode": "off"}, {"port": 8443, "mode": "verify", "trustStore": "arn:aws:elasticloadbalancing:trustStoreArn", "advertiseTrustStoreCaNames": "on", "ignoreClientCertificateExpiry": true}, {"Port": 9443, "Mode": "passthrough"}]"#;
    let got = ingress(&[("mutual-authentication", raw)])
        .mutual_authentication
        .expect("present");
    assert_eq!(
        got,
        vec![
            MutualAuthentication {
                port: 443,
                mode: MutualAuthenticationMode::Off,
                trust_store: None,
                ignore_client_certificate_expiry: None,
                advertise_trust_store_ca_names: None,
            },
            MutualAuthentication {
                port: 8443,
                mode: MutualAuthenticationMode::Verify,
                trust_store: Some("arn:aws:elasticloadbalancing:trustStoreArn".to_owned()),
                ignore_client_certificate_expiry: Some(true),
                advertise_trust_store_ca_names: Some(AdvertiseTrustStoreCaNames::On),
            },
            MutualAuthentication {
                port: 9443,
                mode: MutualAuthenticationMode::Passthrough,
                trust_store: None,
                ignore_client_certificate_expiry: None,
                advertise_trust_store_ca_names: None,
            },
        ]
    );
    let json = serde_json::to_value(&got[1]).expect("ser");
    assert_eq!(
        json["trustStore"],
        "arn:aws:elasticloadbalancing:trustStoreArn"
    );
    assert_eq!(json["advertiseTrustStoreCaNames"], "on");
}

#[test]
fn mutual_authentication_errors() {
    let cases: &[(&str, &str)] = &[
        (
            r#"[{"port": 0, "mode": "off"}]"#,
            "listen port must be within [1, 65535]: 0",
        ),
        (
            r#"[{"mode": "off"}]"#,
            "listen port must be within [1, 65535]: 0",
        ),
        (
            r#"[{"port": 443}]"#,
            "mutualAuthentication mode cannot be empty for port 443",
        ),
        (
            r#"[{"port": 443, "mode": "strict"}]"#,
            "mutualAuthentication mode value must be among [off, passthrough, verify] for port 443 : strict",
        ),
        (
            r#"[{"port": 443, "mode": "verify"}]"#,
            "trustStore is required when mutualAuthentication mode is verify for port 443",
        ),
        (
            r#"[{"port": 443, "mode": "verify", "trustStore": ""}]"#,
            "trustStore is required when mutualAuthentication mode is verify for port 443",
        ),
        (
            r#"[{"port": 443, "mode": "off", "trustStore": "ts"}]"#,
            "Mutual Authentication mode off does not support trustStore for port 443",
        ),
        (
            r#"[{"port": 443, "mode": "passthrough", "ignoreClientCertificateExpiry": false}]"#,
            "Mutual Authentication mode passthrough does not support ignoring client certificate expiry for port 443",
        ),
        (
            r#"[{"port": 800, "mode": "off", "advertiseTrustStoreCaNames": "on"}]"#,
            "Mutual Authentication mode off does not support advertiseTrustStoreCaNames for port 800",
        ),
        (
            r#"[{"port": 800, "mode": "verify", "trustStore": "truststore", "advertiseTrustStoreCaNames": "foo"}]"#,
            "advertiseTrustStoreCaNames only supports the values \"on\" and \"off\" got value foo for port 800",
        ),
        (
            r#"[{"port": 443, "mode": "off"}, {"port": 443, "mode": "passthrough"}]"#,
            "mutualAuthentication is configured more than once for port 443",
        ),
    ];
    for (raw, want) in cases {
        assert_eq!(ingress_error("mutual-authentication", raw), *want, "{raw}");
    }
}
