//! Embeds the Lexicon schemas records are validated against, when the build can find them:
//! `SONDE_LEXICONS_DIR`, else `$SONDE_SHARED_DIR/lexicons`, else `../shared/lexicons` beside
//! the workspace. They are compiled into the binary, not copied into the source tree; a build
//! without them still works (`PDS_LEXICON_DIRECTORY` can name them at run time).

use std::path::{Path, PathBuf};

fn find() -> Option<PathBuf> {
    println!("cargo:rerun-if-env-changed=SONDE_LEXICONS_DIR");
    println!("cargo:rerun-if-env-changed=SONDE_SHARED_DIR");
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").ok()?);
    [
        std::env::var_os("SONDE_LEXICONS_DIR").map(PathBuf::from),
        std::env::var_os("SONDE_SHARED_DIR").map(|d| PathBuf::from(d).join("lexicons")),
        Some(manifest.join("../../shared/lexicons")),
    ]
    .into_iter()
    .flatten()
    .find(|p| p.is_dir())
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            collect(&p, out);
        } else if p.extension().is_some_and(|x| x == "json") {
            out.push(p);
        }
    }
}

fn main() {
    let mut files = Vec::new();
    match find() {
        Some(dir) => {
            println!("cargo:rerun-if-changed={}", dir.display());
            collect(&dir, &mut files);
        }
        None => {
            println!("cargo:warning=no Lexicon schemas found (set SONDE_LEXICONS_DIR): records will be stored unvalidated unless PDS_LEXICON_DIRECTORY is set")
        }
    }
    files.sort();
    let mut code = String::from("/// Lexicon schema documents found at build time.\npub static EMBEDDED: &[&str] = &[\n");
    for f in &files {
        let abs = f.canonicalize().unwrap_or_else(|_| f.clone());
        code.push_str(&format!("    include_str!({:?}),\n", abs.display().to_string()));
    }
    code.push_str("];\n");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("lexicons.rs");
    std::fs::write(out, code).expect("write lexicons.rs");
}
