//! `crdgen <dir>`: writes the CustomResourceDefinitions generated from the Rust types to
//! `<dir>/<group>_<plural>.yaml` (e.g. `crds/elbv2.k8s.aws_targetgroupbindings.yaml`).

use std::path::PathBuf;
use std::process::ExitCode;

use contract::crd;

#[derive(Debug, thiserror::Error)]
enum Error {
    #[error("usage: crdgen <output-dir>")]
    Usage,
    #[error("cannot render CRD {name}: {source}")]
    Render {
        name: String,
        source: serde_yaml::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

fn run() -> Result<(), Error> {
    let mut args = std::env::args_os().skip(1);
    let (Some(dir), None) = (args.next(), args.next()) else {
        return Err(Error::Usage);
    };
    let dir = PathBuf::from(dir);
    std::fs::create_dir_all(&dir).map_err(|source| Error::Write {
        path: dir.clone(),
        source,
    })?;
    for definition in crd::crds() {
        let yaml = crd::render(&definition).map_err(|source| Error::Render {
            name: definition.metadata.name.clone().unwrap_or_default(),
            source,
        })?;
        let path = dir.join(crd::file_name(&definition));
        std::fs::write(&path, yaml).map_err(|source| Error::Write {
            path: path.clone(),
            source,
        })?;
        println!("wrote {}", path.display());
    }
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("crdgen: {error}");
            ExitCode::FAILURE
        }
    }
}
