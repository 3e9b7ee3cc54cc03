//! The container image without a container engine (none runs on the project's machines): the
//! Dockerfile's runtime stage is distroless `cc` as a non-root user, the binary needs no
//! library that image lacks, and it runs in a chroot holding only the binary and the
//! libraries `ldd` names, as the image's user.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// What gcr.io/distroless/cc-debian12 ships of glibc and libgcc.
const DISTROLESS_CC: [&str; 8] = [
    "linux-vdso.so.1",
    "ld-linux-x86-64.so.2",
    "libc.so.6",
    "libm.so.6",
    "libgcc_s.so.1",
    "libpthread.so.0",
    "libdl.so.2",
    "librt.so.1",
];

fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_aws-load-balancer-controller"))
}

/// `(name, path)` of every library `ldd` lists.
fn libraries() -> Vec<(String, Option<PathBuf>)> {
    let out = Command::new("ldd").arg(binary()).output().unwrap();
    assert!(
        out.status.success(),
        "ldd: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| {
            let line = line.trim();
            let (name, rest) = line.split_once(' ').unwrap_or((line, ""));
            let path = rest
                .split_whitespace()
                .find(|w| w.starts_with('/'))
                .or_else(|| name.starts_with('/').then_some(name))
                .map(PathBuf::from);
            let name = Path::new(name).file_name()?.to_string_lossy().into_owned();
            Some((name, path))
        })
        .collect()
}

#[test]
fn the_dockerfile_runs_the_binary_on_distroless_as_non_root() {
    let dockerfile =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Dockerfile")).unwrap();
    let runtime = dockerfile.rsplit("\nFROM ").next().unwrap();
    assert!(
        runtime.starts_with("gcr.io/distroless/cc-debian12:nonroot"),
        "{runtime}"
    );
    assert!(runtime.contains("USER 65532:65532"), "{runtime}");
    assert!(
        runtime.contains(r#"ENTRYPOINT ["/controller"]"#),
        "{runtime}"
    );
    assert!(runtime.contains("COPY --from=build /aws-load-balancer-controller /controller"));
}

#[test]
fn the_binary_needs_only_what_distroless_cc_has() {
    let libs = libraries();
    assert!(!libs.is_empty());
    for (name, _) in &libs {
        assert!(
            DISTROLESS_CC.contains(&name.as_str()),
            "{name} is not in distroless/cc"
        );
    }
}

#[test]
fn the_binary_runs_with_only_those_files_as_the_images_user() {
    if Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout != b"0\n")
        .unwrap_or(true)
    {
        eprintln!("not root: chroot unavailable; the library check above still ran");
        return;
    }
    let root = tempfile::tempdir().unwrap();
    std::fs::copy(binary(), root.path().join("controller")).unwrap();
    for (_, path) in libraries() {
        let Some(path) = path else { continue };
        let target = root.path().join(path.strip_prefix("/").unwrap());
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(&path, &target).unwrap();
    }
    let out = Command::new("chroot")
        .arg("--userspec=65532:65532")
        .arg(root.path())
        .args(["/controller", "--version"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("aws-load-balancer-controller"));
    // Offline admission works in there too: no other file is read.
    let manifest = root.path().join("ingress.yaml");
    std::fs::write(
        &manifest,
        "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: x, namespace: d, annotations: {alb.ingress.kubernetes.io/scheme: sideways}}\nspec: {ingressClassName: nginx}\n",
    )
    .unwrap();
    let out = Command::new("chroot")
        .arg("--userspec=65532:65532")
        .arg(root.path())
        .args(["/controller", "check", "-f", "/ingress.yaml"])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("Ingress d/x"),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
