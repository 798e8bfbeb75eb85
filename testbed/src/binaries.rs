//! Where the workspace's binaries are.

use std::path::{Path, PathBuf};

use crate::TestbedError;

/// The folder holding `pds`, `relay`, `loadgen`, `plc` and `experiments` of one build profile.
#[derive(Debug, Clone)]
pub struct Binaries {
    dir: PathBuf,
}

impl Binaries {
    /// The folder of the running executable (for `experiments`, which ships beside the rest).
    pub fn beside_current_exe() -> Result<Self, TestbedError> {
        let exe = std::env::current_exe().map_err(|source| TestbedError::Io { what: "locating the running executable".into(), source })?;
        // Test executables live in `deps/` below the profile folder.
        let dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
        let dir = if dir.ends_with("deps") { dir.parent().map(Path::to_path_buf).unwrap_or(dir) } else { dir };
        Ok(Binaries { dir })
    }

    /// The folder of `binary` (for tests: a `env!("CARGO_BIN_EXE_…")` path).
    pub fn beside(binary: &Path) -> Self {
        Binaries { dir: binary.parent().map(Path::to_path_buf).unwrap_or_default() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The path of binary `name`, which must exist.
    pub fn get(&self, name: &str) -> Result<PathBuf, TestbedError> {
        let path = self.dir.join(name);
        if path.is_file() {
            Ok(path)
        } else {
            Err(TestbedError::MissingBinary { name: name.into(), path })
        }
    }
}
