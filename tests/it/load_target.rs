//! The load driver's server of its own (`shotfarm_load::driver::target::Target::spawn`, what
//! `shotfarm-load`, `fanout` and `operator_stream_bench` start): the real binary, its address and
//! tokens read from the banner, the process gone once the target is dropped. The real binary on
//! purpose: benchmarks measure the server as a process of its own (/proc), so spawning it is
//! what is tested; the driver's other tests reach in-process servers by URL.

use std::path::Path;

use shotfarm_load::driver::target::{ServerConfig, Target};

fn bin() -> Option<&'static Path> {
    Some(Path::new(env!("CARGO_BIN_EXE_shotfarm")))
}

#[test]
fn a_spawned_server_answers_with_the_banners_tokens_and_dies_with_its_target() {
    let config = format!(
        "{}\n[[node_groups]]\npool = \"video\"\ncount = 3\nspot = false\ngpu_model = \"A100-80GB\"\n\
         gpus_per_node = 8\ngpu_memory_mb = 81920\nprice_per_hour = 29.36\n",
        shotfarm_core::settings::DEFAULT_TOML
    );
    let env = [("SHOTFARM_TIMING__TELEMETRY_PERIOD", "5s".to_owned())];
    let target = Target::spawn(bin(), ServerConfig::Toml(&config), &env).expect("spawn");
    let pid = target.pid().expect("a started server has a pid");
    let http = reqwest::blocking::Client::new();
    let cluster: serde_json::Value = http
        .get(format!("{}/api/v1/cluster", target.base))
        .bearer_auth(&target.operator_token)
        .send()
        .expect("cluster")
        .error_for_status()
        .expect("the operator token is accepted")
        .json()
        .expect("json");
    // The default pool's nodes and the config's 3 extra ones, 8 GPUs each.
    let default_gpus: u64 = {
        let s = shotfarm_core::settings::Settings::load(None, Vec::new()).expect("default");
        s.node_groups
            .iter()
            .map(|g| u64::from(g.count * g.gpus_per_node))
            .sum()
    };
    assert_eq!(cluster["gpus_total"], default_gpus + 24, "{cluster}");
    let videos = http
        .get(format!("{}/api/v1/videos", target.base))
        .bearer_auth(&target.token)
        .send()
        .expect("videos");
    assert!(videos.status().is_success(), "{}", videos.status());
    drop(target);
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "the server outlived its target"
    );
}

#[test]
fn a_server_that_exits_before_its_banner_is_an_error() {
    let err = Target::spawn(bin(), ServerConfig::Toml("not = [valid toml"), &[])
        .err()
        .expect("a broken config fails");
    assert!(err.to_string().contains("before its banner"), "{err:#}");
}

#[test]
fn a_missing_server_binary_is_named() {
    let missing = Path::new("/nonexistent/shotfarm");
    let err = Target::spawn(Some(missing), ServerConfig::Toml(""), &[])
        .err()
        .expect("no binary, no server");
    assert!(err.to_string().contains("/nonexistent/shotfarm"), "{err:#}");
}
