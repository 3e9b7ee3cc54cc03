//! Reading manifests from files (the offline commands): every `.yaml`, `.yml` and `.json` file
//! under the given paths, through [`Manifests::add_documents`].

use std::path::{Path, PathBuf};

pub use model::manifests::{ManifestError, Manifests};

/// Read every `.yaml`, `.yml` and `.json` file under the given files and directories
/// (directories in name order, not recursive into hidden entries).
pub fn load(paths: &[PathBuf]) -> Result<Manifests, ManifestError> {
    let mut manifests = Manifests::default();
    for path in paths {
        for file in files_under(path)? {
            let text = std::fs::read_to_string(&file).map_err(|source| ManifestError::Io {
                path: file.clone(),
                source,
            })?;
            manifests.add_documents(&file, &text)?;
        }
    }
    Ok(manifests)
}

fn files_under(path: &Path) -> Result<Vec<PathBuf>, ManifestError> {
    let io = |source| ManifestError::Io {
        path: path.to_path_buf(),
        source,
    };
    if !path.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files = Vec::new();
    for entry in std::fs::read_dir(path).map_err(io)? {
        let entry = entry.map_err(io)?;
        let child = entry.path();
        let hidden = child
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.'));
        if hidden {
            continue;
        }
        if child.is_dir() {
            files.extend(files_under(&child)?);
        } else if matches!(
            child.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml" | "json")
        ) {
            files.push(child);
        }
    }
    files.sort();
    Ok(files)
}
