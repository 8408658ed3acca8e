//! The whole configuration file: the farm's sections (`shotfarm_core::settings::Settings`) and
//! the web layer's (`shotfarm_web::settings::WebSettings`), taken from one TOML document with
//! `SHOTFARM_*` overrides; a top-level key neither layer takes is refused by name.

use std::path::Path;

use shotfarm_core::settings::{Document, Settings, SettingsError};
use shotfarm_web::settings::WebSettings;

/// Everything a server is configured by, each layer's part apart.
#[derive(Clone, Debug)]
pub struct Config {
    pub farm: Settings,
    pub web: WebSettings,
}

impl Config {
    /// The file at `path` (the embedded default when `None`) with the `SHOTFARM_*` variables of
    /// `env` applied.
    pub fn load(
        path: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, SettingsError> {
        Self::from_document(Document::load(path, env)?)
    }

    /// A whole configuration text, without overrides.
    pub fn from_toml_str(text: &str) -> Result<Self, SettingsError> {
        Self::from_document(Document::parse(text)?)
    }

    fn from_document(mut doc: Document) -> Result<Self, SettingsError> {
        let web = WebSettings::from_document(&mut doc)?;
        let farm = Settings::from_document(&mut doc)?;
        doc.finish()?;
        Ok(Self { farm, web })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shotfarm_core::settings::DEFAULT_TOML;

    #[test]
    fn every_shipped_config_loads_whole() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
        let mut loaded = 0;
        for entry in std::fs::read_dir(&dir).expect("config dir") {
            let path = entry.expect("entry").path();
            if path.extension().is_some_and(|e| e == "toml") {
                Config::load(Some(&path), Vec::new())
                    .unwrap_or_else(|e| panic!("{} does not load: {e}", path.display()));
                loaded += 1;
            }
        }
        assert!(
            loaded >= 2,
            "expected default.toml and seed-scenario-b.toml"
        );
    }

    #[test]
    fn a_top_level_key_no_layer_takes_is_refused_by_name() {
        let err = Config::from_toml_str(&format!("bogus_top = 1\n{DEFAULT_TOML}"))
            .expect_err("unknown key");
        assert!(err.to_string().contains("bogus_top"), "{err}");
    }

    #[test]
    fn a_bad_key_inside_a_web_section_is_refused_by_name() {
        let text = DEFAULT_TOML.replace("[server]", "[server]\nbogus_key = 1");
        let err = Config::from_toml_str(&text).expect_err("unknown key");
        assert!(err.to_string().contains("bogus_key"), "{err}");
    }
}
