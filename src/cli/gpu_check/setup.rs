//! The check's own configuration: the embedded default with no local nodes, a fresh secret, quick
//! telemetry, and the bundled model paced slowly enough (a few seconds a shot) that telemetry
//! samples catch it running, with a timing profile for every GPU model NVML names here (placement
//! only sends a shot to a GPU its model has a profile for).

use std::path::Path;

use anyhow::Context;
use toml::{Table, Value};

use shotfarm_core::settings::DEFAULT_TOML;

/// The model the check renders: the bundled ONNX pair.
pub const MODEL: &str = "tiny-video";
/// The simulated device's GPU model (the bundled model has a profile for it).
pub const SIMULATED_GPU: &str = "A100-80GB";
/// Seconds per step of the profiles the check adds, before the time factor.
const SECONDS_PER_STEP: f64 = 9.0;
/// 9 s x 0.02 = 180 ms a step: 20 steps make a shot of about 3.6 s.
const TIME_FACTOR: f64 = 0.02;

/// Writes the check's configuration to `path` (and returns its text); `gpu_keys` are the
/// registry keys of this machine's GPUs, `secret` the server's signing secret for this run.
pub fn write_config(path: &Path, gpu_keys: &[String], secret: &str) -> anyhow::Result<String> {
    let mut doc: Table = DEFAULT_TOML
        .parse()
        .context("the embedded default config")?;
    doc.insert("node_groups".into(), Value::Array(Vec::new()));
    doc.insert("default_model".into(), Value::String(MODEL.into()));
    let section = |doc: &mut Table, name: &str| -> anyhow::Result<Table> {
        doc.get(name)
            .and_then(Value::as_table)
            .cloned()
            .with_context(|| format!("the default config has no [{name}]"))
    };
    let mut timing = section(&mut doc, "timing")?;
    timing.insert("time_factor".into(), Value::Float(TIME_FACTOR));
    timing.insert("telemetry_period".into(), Value::String("100ms".into()));
    doc.insert("timing".into(), Value::Table(timing));
    let mut auth = section(&mut doc, "auth")?;
    auth.insert("secret".into(), Value::String(secret.into()));
    doc.insert("auth".into(), Value::Table(auth));
    let mut server = section(&mut doc, "server")?;
    server.insert("bind".into(), Value::String("127.0.0.1:0".into()));
    doc.insert("server".into(), Value::Table(server));

    let models = doc
        .get_mut("models")
        .and_then(Value::as_table_mut)
        .context("the default config has no [models]")?;
    let model = models
        .get_mut(MODEL)
        .and_then(Value::as_table_mut)
        .with_context(|| format!("the default config has no [models.{MODEL}]"))?;
    let profile = model
        .entry("seconds_per_step")
        .or_insert_with(|| Value::Table(Table::new()));
    let profile = profile
        .as_table_mut()
        .context("seconds_per_step is not a table")?;
    for key in gpu_keys {
        profile
            .entry(key.clone())
            .or_insert(Value::Float(SECONDS_PER_STEP));
    }
    let text = toml::to_string(&doc).context("writing the check's config")?;
    std::fs::write(path, &text).with_context(|| format!("writing {}", path.display()))?;
    Ok(text)
}

/// 32 random bytes as hex, from the kernel.
pub fn fresh_secret() -> anyhow::Result<String> {
    use std::io::Read;
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .context("reading /dev/urandom for the check's secret")?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn the_config_has_no_local_nodes_and_a_profile_for_every_gpu_here() {
        let dir = std::env::temp_dir().join(format!("gpu-check-setup-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("check.toml");
        let keys = vec!["H200-141GB".to_owned(), SIMULATED_GPU.to_owned()];
        let text = write_config(&path, &keys, &fresh_secret().unwrap()).unwrap();
        let config = Config::from_toml_str(&text).expect("the written config loads");
        assert!(config.farm.node_groups.is_empty());
        let profile = &config.farm.models[MODEL].seconds_per_step;
        assert_eq!(profile.get("H200-141GB"), Some(&SECONDS_PER_STEP));
        // An existing profile is kept, not overwritten.
        assert!(profile.contains_key("A10G"));
        assert_eq!(config.web.server.bind, "127.0.0.1:0");
    }
}
