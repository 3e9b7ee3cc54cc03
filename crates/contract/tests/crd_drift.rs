//! The CRD YAML committed under `crds/` must be exactly what the Rust types generate.

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

#[test]
fn committed_crds_match_the_types() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../crds");
    let mut stale = Vec::new();
    for crd in contract::crd::crds() {
        let file = contract::crd::file_name(&crd);
        let expected = contract::crd::render(&crd).expect("CRD renders to YAML");
        match std::fs::read_to_string(dir.join(&file)) {
            Ok(committed) if committed == expected => {}
            Ok(_) => stale.push(format!("crds/{file} differs from the Rust types")),
            Err(error) => stale.push(format!("crds/{file} cannot be read: {error}")),
        }
    }
    assert!(
        stale.is_empty(),
        "{}; run `make crds` to regenerate",
        stale.join("; ")
    );
}
