//! The Lexicon catalog records are validated against: `PDS_LEXICON_DIRECTORY` when set, else
//! the schemas embedded at build time (see `build.rs`).

use atproto::lexicon::Lexicons;

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/lexicons.rs"));
}

pub fn load(dir: Option<&std::path::Path>) -> anyhow::Result<Lexicons> {
    let lexicons = match dir {
        Some(dir) => Lexicons::load_dir(dir).map_err(|e| anyhow::anyhow!("PDS_LEXICON_DIRECTORY {}: {e}", dir.display()))?,
        None => {
            let docs = embedded::EMBEDDED.iter().map(|text| serde_json::from_str(text)).collect::<Result<Vec<serde_json::Value>, _>>()?;
            Lexicons::from_values(&docs)?
        }
    };
    if lexicons.is_empty() {
        tracing::warn!("no Lexicon schemas loaded: records are stored with validationStatus unknown");
    } else {
        tracing::info!(schemas = lexicons.len(), "Lexicon schemas loaded");
    }
    Ok(lexicons)
}

#[cfg(test)]
mod tests {
    #[test]
    fn embedded_schemas_load() {
        let lex = super::load(None).unwrap();
        if super::embedded::EMBEDDED.is_empty() {
            println!("no schemas were embedded at build time; skipping");
            return;
        }
        assert!(lex.get("app.bsky.feed.post").is_some());
        assert!(lex.get("com.atproto.repo.strongRef").is_some());
    }
}
