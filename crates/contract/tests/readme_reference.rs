//! README.md's annotation reference is generated from the parser's table; this keeps them equal.
//! `make readme` (UPDATE_README=1) rewrites the section.
#![allow(clippy::unwrap_used)]

#[test]
fn readme_annotation_reference_matches_the_parser_table() {
    let path = format!("{}/../../README.md", env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(&path).unwrap();
    let spliced = contract::reference::splice(&readme)
        .expect("README.md lacks the generated-reference markers");
    if std::env::var_os("UPDATE_README").is_some() {
        std::fs::write(&path, &spliced).unwrap();
        return;
    }
    assert!(
        spliced == readme,
        "README.md's annotation reference is out of date with crates/contract/src/annotations: run `make readme`"
    );
}
