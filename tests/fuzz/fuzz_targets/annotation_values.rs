//! Any values for up to three annotations of the table: the per-key check (`check_all`, what
//! the webhook reports) and the typed parses (what the model reads) never panic, and a key is
//! reported exactly when a typed parse rejects it.
#![no_main]

use std::collections::{BTreeMap, BTreeSet};

use contract::annotations::{
    ANNOTATIONS, Annotations, BackendAnnotations, IngressAnnotations, PREFIX, check_all,
};
use libfuzzer_sys::fuzz_target;

/// A key parameter for each templated family.
fn param(suffix: &str) -> &'static str {
    match suffix {
        "listener-attributes." => "HTTPS-443",
        "target-control-port." => "my-svc.8080",
        _ => "my-svc",
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    // Values separated by NUL bytes; each goes to another key of the table.
    let mut annotations = Annotations::new();
    for (i, value) in text.split('\0').take(3).enumerate() {
        let spec = &ANNOTATIONS[(usize::from(pick) + i * 31) % ANNOTATIONS.len()];
        let key = if spec.templated {
            format!("{PREFIX}{}{}", spec.suffix, param(spec.suffix))
        } else {
            format!("{PREFIX}{}", spec.suffix)
        };
        annotations.insert(key, value.to_owned());
    }
    let reported: BTreeSet<String> = check_all(&annotations)
        .errors
        .into_iter()
        .map(|e| e.key)
        .collect();
    let mut typed: BTreeSet<String> = BTreeSet::new();
    if let Err(errors) = IngressAnnotations::parse(&annotations) {
        typed.extend(errors.into_iter().map(|e| e.key));
    }
    if let Err(errors) = BackendAnnotations::parse(&BTreeMap::new(), &annotations) {
        typed.extend(errors.into_iter().map(|e| e.key));
    }
    assert_eq!(
        reported, typed,
        "check_all and the typed parses disagree on {annotations:?}"
    );
});
