//! Every JSON-valued annotation parser, straight on arbitrary text (deeply nested JSON
//! included): listen-ports, actions, conditions, transforms, auth (Cognito, OIDC, JWT
//! validation), mutual authentication, tags and other string maps, inbound CIDRs. None panics;
//! an accepted value parses the same way twice.
#![no_main]

use contract::annotations::{ANNOTATIONS, PREFIX};
use libfuzzer_sys::fuzz_target;

/// The JSON-valued keys (and the string-map ones), by suffix.
const KEYS: [&str; 12] = [
    "listen-ports",
    "actions.",
    "conditions.",
    "transforms.",
    "auth-idp-cognito",
    "auth-idp-oidc",
    "jwt-validation",
    "mutual-authentication",
    "tags",
    "load-balancer-attributes",
    "inbound-cidrs",
    "frontend-nlb-listener-port-mapping",
];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let Ok(value) = std::str::from_utf8(rest) else {
        return;
    };
    let suffix = KEYS[usize::from(pick) % KEYS.len()];
    let Some(spec) = ANNOTATIONS.iter().find(|s| s.suffix == suffix) else {
        panic!("{PREFIX}{suffix} is not in the annotation table");
    };
    let param = match suffix {
        "actions." | "conditions." | "transforms." => "my-svc",
        _ => "",
    };
    let first = spec.check(param, value);
    assert_eq!(first, spec.check(param, value), "not deterministic");
});
