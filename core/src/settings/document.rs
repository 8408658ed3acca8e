//! A configuration file as TOML, with `SHOTFARM_*` environment overrides applied
//! (`SHOTFARM_STORE__URL` sets `store.url`), from which each layer takes its own sections.

use std::path::Path;

use super::{SettingsError, DEFAULT_TOML};

/// The top-level table of a configuration, sections taken out as each layer reads them.
#[derive(Clone, Debug)]
pub struct Document {
    table: toml::Table,
}

impl Document {
    /// A configuration text, without overrides.
    pub fn parse(text: &str) -> Result<Self, SettingsError> {
        Ok(Self {
            table: toml::from_str(text)?,
        })
    }

    /// The file at `path` (the embedded default when `None`) with the `SHOTFARM_*` variables of
    /// `env` applied; other variables are ignored.
    pub fn load(
        path: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, SettingsError> {
        let text = match path {
            Some(p) => std::fs::read_to_string(p).map_err(|source| SettingsError::Read {
                path: p.display().to_string(),
                source,
            })?,
            None => DEFAULT_TOML.to_owned(),
        };
        let mut value = toml::Value::Table(toml::from_str(&text)?);
        for (var, raw) in env {
            if let Some(key) = var.strip_prefix("SHOTFARM_") {
                apply_override(&mut value, &var, key, &raw)?;
            }
        }
        let toml::Value::Table(table) = value else {
            return Err(SettingsError::Invalid("a config is a table".into()));
        };
        Ok(Self { table })
    }

    /// Takes the top-level keys named in `sections` out, as one table to deserialize.
    pub fn take(&mut self, sections: &[&str]) -> toml::Value {
        let mut taken = toml::Table::new();
        for name in sections {
            if let Some(value) = self.table.remove(*name) {
                taken.insert((*name).to_owned(), value);
            }
        }
        toml::Value::Table(taken)
    }

    /// Fails naming the first key no layer took (a typo, or a key of another version).
    pub fn finish(self) -> Result<(), SettingsError> {
        match self.table.keys().next() {
            None => Ok(()),
            Some(key) => Err(SettingsError::Invalid(format!(
                "unknown top-level key `{key}`"
            ))),
        }
    }
}

fn apply_override(
    root: &mut toml::Value,
    var: &str,
    key: &str,
    raw: &str,
) -> Result<(), SettingsError> {
    let path: Vec<String> = key.split("__").map(str::to_ascii_lowercase).collect();
    if path.iter().any(String::is_empty) {
        return Err(SettingsError::Env {
            var: var.into(),
            reason: "empty path segment".into(),
        });
    }
    let parsed = toml::from_str::<toml::Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_owned()));
    let mut node = root;
    for (i, seg) in path.iter().enumerate() {
        let table = node.as_table_mut().ok_or_else(|| SettingsError::Env {
            var: var.into(),
            reason: format!("{} is not a table", path[..i].join(".")),
        })?;
        if i + 1 == path.len() {
            table.insert(seg.clone(), parsed);
            return Ok(());
        }
        node = table
            .entry(seg.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    }
    Ok(())
}
