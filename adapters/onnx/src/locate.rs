//! Finding files a relative config path or no path at all names: the ONNX Runtime library and
//! the model folders. Looked up from the working directory, then the folders above the executable
//! (`target/debug/shotfarm` sits three below the repository), then the repository the binary was
//! built from, so `cargo run`, `cargo test` and an installed binary next to a checkout all work.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The ONNX Runtime release the `ort` crate is built against (`api-31`).
pub const ORT_LIBRARY: &str = "libonnxruntime.so.1.31.1";
/// The script that installs it.
pub const ENSURE_SCRIPT: &str = "scripts/ensure-onnxruntime.sh";
/// Lowest ONNX Runtime minor version the `api-31` build accepts.
const MIN_MINOR: u32 = 31;

/// Where relative paths are looked up, in order, without duplicates.
pub fn search_roots() -> Vec<PathBuf> {
    let mut roots = Vec::new();
    if let Ok(cwd) = std::env::current_dir() {
        roots.push(cwd);
    }
    if let Ok(exe) = std::env::current_exe() {
        roots.extend(exe.ancestors().skip(1).take(4).map(Path::to_path_buf));
    }
    // This crate sits two below the repository root (adapters/onnx).
    roots.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."));
    let mut seen = Vec::<PathBuf>::new();
    roots.retain(|r| {
        let key = r.canonicalize().unwrap_or_else(|_| r.clone());
        let fresh = !seen.contains(&key);
        seen.push(key);
        fresh
    });
    roots
}

/// `path` as is when absolute, else the first root under which it exists.
pub fn resolve(path: &Path) -> Option<PathBuf> {
    if path.is_absolute() {
        return path.exists().then(|| path.to_path_buf());
    }
    search_roots()
        .into_iter()
        .map(|root| root.join(path))
        .find(|p| p.exists())
}

/// Why no library could be used, with every place looked at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotFound {
    pub looked_at: Vec<PathBuf>,
}

/// The ONNX Runtime library: `configured` (from `[executor] onnxruntime`) when set, else
/// `ORT_DYLIB_PATH` when set, else `.ort/lib/` (what the ensure script installs) or a Python
/// `onnxruntime` package's `capi/` folder (a `.venv/` under a root, the user's site-packages, the
/// system's).
pub fn find_onnxruntime(
    configured: Option<&Path>,
    env_path: Option<OsString>,
) -> Result<PathBuf, NotFound> {
    let explicit = configured
        .map(Path::to_path_buf)
        .or_else(|| env_path.filter(|p| !p.is_empty()).map(PathBuf::from));
    if let Some(p) = explicit {
        return resolve(&p)
            .filter(|p| p.is_file())
            .ok_or(NotFound { looked_at: vec![p] });
    }
    let mut looked_at = Vec::new();
    let mut capi_dirs = Vec::new();
    for root in search_roots() {
        let bundled = root.join(".ort/lib").join(ORT_LIBRARY);
        if bundled.is_file() {
            return Ok(bundled);
        }
        looked_at.push(bundled);
        capi_dirs.extend(python_capi_dirs(&root.join(".venv/lib")));
    }
    if let Some(home) = std::env::var_os("HOME") {
        capi_dirs.extend(python_capi_dirs(&Path::new(&home).join(".local/lib")));
    }
    capi_dirs.extend(python_capi_dirs(Path::new("/usr/local/lib")));
    capi_dirs.extend(python_capi_dirs(Path::new("/usr/lib")));
    for dir in capi_dirs {
        if let Some(lib) = newest_library_in(&dir) {
            return Ok(lib);
        }
        looked_at.push(dir);
    }
    Err(NotFound { looked_at })
}

/// `LIB/python3.*/{site,dist}-packages/onnxruntime/capi` folders that exist.
fn python_capi_dirs(lib: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(lib) else {
        return Vec::new();
    };
    let mut dirs: Vec<PathBuf> = entries
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("python3"))
        .flat_map(|e| {
            ["site-packages", "dist-packages"]
                .map(|pkgs| e.path().join(pkgs).join("onnxruntime/capi"))
        })
        .filter(|d| d.is_dir())
        .collect();
    dirs.sort();
    dirs
}

/// The newest `libonnxruntime.so.1.X.Y` with `X >= 31` in `dir`.
fn newest_library_in(dir: &Path) -> Option<PathBuf> {
    let entries = std::fs::read_dir(dir).ok()?;
    entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let version = name.strip_prefix("libonnxruntime.so.")?;
            let mut parts = version.split('.').map(str::parse::<u32>);
            let (Some(Ok(1)), Some(Ok(minor)), Some(Ok(patch))) =
                (parts.next(), parts.next(), parts.next())
            else {
                return None;
            };
            (minor >= MIN_MINOR).then_some(((minor, patch), e.path()))
        })
        .max_by_key(|(v, _)| *v)
        .map(|(_, p)| p)
}

/// What a start-up error says when the library is missing.
pub fn missing_library_message(nf: &NotFound) -> String {
    let looked: Vec<String> = nf
        .looked_at
        .iter()
        .take(8)
        .map(|p| p.display().to_string())
        .collect();
    format!(
        "the ONNX Runtime library ({ORT_LIBRARY}, from PyPI's onnxruntime==1.31.1 wheel) was not \
         found; looked at: {}. Run `{ENSURE_SCRIPT}` in the repository (it installs it under \
         .ort/lib/), or point `[executor] onnxruntime` / SHOTFARM_EXECUTOR__ONNXRUNTIME / \
         ORT_DYLIB_PATH at the file",
        looked.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_explicit_path_that_does_not_exist_is_reported_as_such() {
        let err = find_onnxruntime(Some(Path::new("/nowhere/libonnxruntime.so.1.31.1")), None)
            .expect_err("missing");
        assert_eq!(
            err.looked_at,
            vec![PathBuf::from("/nowhere/libonnxruntime.so.1.31.1")]
        );
        let msg = missing_library_message(&err);
        assert!(
            msg.contains("/nowhere/") && msg.contains(ENSURE_SCRIPT),
            "{msg}"
        );
        // The environment variable is used when config names nothing.
        let err = find_onnxruntime(None, Some("/elsewhere/lib.so".into())).expect_err("missing");
        assert_eq!(err.looked_at, vec![PathBuf::from("/elsewhere/lib.so")]);
    }

    #[test]
    fn the_newest_recent_enough_library_in_a_capi_folder_wins() {
        let dir = std::env::temp_dir().join(format!("shotfarm-capi-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        for name in [
            "libonnxruntime.so.1.30.0",
            "libonnxruntime.so.1.31.1",
            "libonnxruntime.so.1.32.0",
            "libonnxruntime_providers_shared.so",
        ] {
            std::fs::write(dir.join(name), b"").expect("write");
        }
        assert_eq!(
            newest_library_in(&dir),
            Some(dir.join("libonnxruntime.so.1.32.0"))
        );
        std::fs::remove_file(dir.join("libonnxruntime.so.1.32.0")).expect("rm");
        std::fs::remove_file(dir.join("libonnxruntime.so.1.31.1")).expect("rm");
        assert_eq!(newest_library_in(&dir), None, "1.30 is too old for api-31");
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }
}
