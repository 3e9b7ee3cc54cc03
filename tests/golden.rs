//! Golden tests of the model builder: every `tests/golden/<case>/` holds manifests
//! (`input.yaml`), optional facts overrides (`facts.yaml`, merged over `tests/golden/facts.yaml`)
//! and the expected outcome of `plan`: the stacks as JSON (`expected.json`) or the error as
//! `<category>: <message>` (`expected-error.txt`).
//!
//! `UPDATE_GOLDEN=1 cargo test --test golden` rewrites the expected files; review each one by eye
//! against the manifests and facts before accepting it.

#![allow(clippy::unwrap_used)]

use std::fs;
use std::path::{Path, PathBuf};

use model::ClusterFacts;
use model::facts::overlay;
use model::plan::plan;
use model::stack::Stack;
use serde_json::Value;

const MIN_CASES: usize = 30;

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn read_yaml(path: &Path) -> Value {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The shared facts with the case's overrides merged over them, the way `plan` merges
/// `ClusterFacts` documents (objects key by key, anything else replaced).
fn case_facts(case: &Path) -> ClusterFacts {
    let shared: ClusterFacts = serde_json::from_value(read_yaml(&golden_dir().join("facts.yaml")))
        .unwrap_or_else(|e| panic!("tests/golden/facts.yaml: {e}"));
    let overrides = case.join("facts.yaml");
    let overlays: Vec<Value> = if overrides.exists() {
        vec![read_yaml(&overrides)]
    } else {
        Vec::new()
    };
    overlay(&shared, &overlays).unwrap_or_else(|e| panic!("{}: facts: {e}", case.display()))
}

fn case_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = fs::read_dir(golden_dir())
        .expect("tests/golden exists")
        .map(|e| e.expect("readable entry").path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs
}

/// The outcome of `plan` for one case: the file it belongs in and its text.
fn run_case(case: &Path) -> (&'static str, String) {
    let manifests = aws_load_balancer_controller::manifests::load(&[case.join("input.yaml")])
        .unwrap_or_else(|e| panic!("{}: {e}", case.display()));
    match plan(&manifests, &case_facts(case)) {
        Ok(stacks) => {
            for stack in &stacks {
                let dangling = stack.dangling_refs().expect("stack serialises");
                assert!(
                    dangling.is_empty(),
                    "{}: stack {} has dangling references {dangling:?}",
                    case.display(),
                    stack.id
                );
            }
            let json = serde_json::to_string_pretty(&stacks).expect("stacks serialise");
            ("expected.json", format!("{json}\n"))
        }
        Err(e) => ("expected-error.txt", format!("{}: {e}\n", e.category())),
    }
}

#[test]
fn golden_cases() {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let cases = case_dirs();
    let mut failures = Vec::new();
    for case in &cases {
        let (file, actual) = run_case(case);
        let expected_path = case.join(file);
        if update {
            for stale in ["expected.json", "expected-error.txt"] {
                let _ = fs::remove_file(case.join(stale));
            }
            fs::write(&expected_path, &actual).expect("writable golden file");
            continue;
        }
        match fs::read_to_string(&expected_path) {
            Ok(expected) if expected == actual => {}
            Ok(expected) => failures.push(format!(
                "{}: {file} differs\n--- expected\n{expected}\n--- actual\n{actual}",
                case.display()
            )),
            Err(_) => failures.push(format!(
                "{}: no {file}; the outcome was:\n{actual}",
                case.display()
            )),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert!(
        cases.len() >= MIN_CASES,
        "want at least {MIN_CASES} golden cases, have {}",
        cases.len()
    );
}

/// The expected stacks parse back into the same typed stacks (the JSON is the stack's format,
/// not just a dump).
#[test]
fn expected_stacks_round_trip() {
    for case in case_dirs() {
        let path = case.join("expected.json");
        let Ok(text) = fs::read_to_string(&path) else {
            continue;
        };
        let stacks: Vec<Stack> =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let again = serde_json::to_string_pretty(&stacks).expect("stacks serialise");
        assert_eq!(format!("{again}\n"), text, "{}", path.display());
    }
}

fn names_in(case: &str) -> Vec<String> {
    let manifests = aws_load_balancer_controller::manifests::load(&[golden_dir()
        .join(case)
        .join("input.yaml")])
    .unwrap();
    let stacks = plan(&manifests, &case_facts(&golden_dir().join(case))).unwrap();
    let mut names = Vec::new();
    for stack in stacks {
        for lb in stack.resources.load_balancers.values() {
            names.push(lb.spec.name.clone());
        }
        for sg in stack.resources.security_groups.values() {
            names.push(sg.spec.group_name.clone());
        }
        for tg in stack.resources.target_groups.values() {
            names.push(tg.spec.name.clone());
        }
    }
    names
}

/// Names computed from manifests equal the ones upstream's controller gives the same inputs
/// (reference §6.3), so resources it created are adopted rather than replaced.
#[test]
fn names_match_upstream_outputs() {
    let names = names_in("naming-upstream-hashes");
    for want in [
        "k8s-ns1-ing1-b7e914000d",
        "k8s-ns1-ing1-bd83176788",
        "k8s-ns1-svc1-9889425938",
        "k8s-ns1-svc3-bf42870fba",
    ] {
        assert!(names.iter().any(|n| n == want), "{want} not in {names:?}");
    }
    let names = names_in("naming-internet-facing");
    assert!(
        names.iter().any(|n| n == "k8s-ns1-ing1-159dd7a143"),
        "{names:?}"
    );
    let names = names_in("naming-empty-cluster-name");
    for want in [
        "k8s-awesomen-ing1-43b698093c",
        "k8s-explicitgroup-5bf9e53c23",
    ] {
        assert!(names.iter().any(|n| n == want), "{want} not in {names:?}");
    }
}
