//! The farm's settings: the embedded default and the seed's cluster load, overrides reach nested
//! keys, bad values are refused naming the key. That every shipped config loads whole, both
//! layers' sections, is the composition root's test (`src/config.rs`).

use super::*;

#[test]
fn embedded_default_loads() {
    let s = Settings::load(None, Vec::new()).expect("default config");
    assert!(s.models.contains_key(&s.default_model));
    assert!(s.node_groups.iter().any(|g| g.spot));
    assert!(s.node_groups.iter().any(|g| !g.spot));
}

#[test]
fn seed_scenario_b_is_the_seeds_cluster() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/seed-scenario-b.toml");
    let s = Settings::load(Some(&path), Vec::new()).expect("scenario b");
    let gpus = |pool: &str, spot: bool| -> u32 {
        s.node_groups
            .iter()
            .filter(|g| g.pool == pool && g.spot == spot)
            .map(|g| g.count * g.gpus_per_node)
            .sum()
    };
    assert_eq!(
        (
            gpus("llm", false),
            gpus("video", false),
            gpus("video", true),
            gpus("image", false)
        ),
        (2, 8, 8, 2)
    );
    let spot_a100 = s
        .node_groups
        .iter()
        .find(|g| g.spot)
        .map(|g| g.price_per_hour);
    assert_eq!(spot_a100, Some(1.10));
}

#[test]
fn env_overrides_reach_nested_keys() {
    let env = vec![
        (
            "SHOTFARM_STORE__URL".to_owned(),
            "redis://127.0.0.1:1/".to_owned(),
        ),
        ("SHOTFARM_TIMING__TIME_FACTOR".to_owned(), "0.5".to_owned()),
        ("OTHER".to_owned(), "x".to_owned()),
    ];
    let s = Settings::load(None, env).expect("config with overrides");
    assert_eq!(s.store.url.as_deref(), Some("redis://127.0.0.1:1/"));
    assert!((s.timing.time_factor - 0.5).abs() < 1e-9);
}

#[test]
fn unknown_keys_are_refused() {
    let text = DEFAULT_TOML.replace("[timing]", "[timing]\nbogus_key = 1");
    let err = Settings::from_toml_str(&text).expect_err("unknown key must fail");
    assert!(err.to_string().contains("bogus_key"), "{err}");
}

#[test]
fn an_unknown_default_model_is_refused() {
    let text = DEFAULT_TOML.replace("default_model = \"tiny-video\"", "default_model = \"nope\"");
    let err = Settings::from_toml_str(&text).expect_err("must fail");
    assert!(err.to_string().contains("nope"), "{err}");
}

#[test]
fn an_infinite_or_zero_time_factor_is_refused() {
    for bad in ["inf", "0", "nan"] {
        let env = vec![("SHOTFARM_TIMING__TIME_FACTOR".to_owned(), bad.to_owned())];
        let err = Settings::load(None, env).expect_err(bad);
        assert!(err.to_string().contains("time_factor"), "{bad}: {err}");
    }
}

#[test]
fn an_at_risk_share_outside_zero_to_one_is_refused() {
    let s = Settings::load(None, Vec::new()).expect("default config");
    assert_eq!(s.autoscaler.at_risk_share, 0.6);
    for bad in ["1.5", "-0.1"] {
        let env = vec![(
            "SHOTFARM_AUTOSCALER__AT_RISK_SHARE".to_owned(),
            bad.to_owned(),
        )];
        let err = Settings::load(None, env).expect_err(bad);
        assert!(err.to_string().contains("at_risk_share"), "{err}");
    }
}

#[test]
fn a_stuck_shot_is_shown_before_it_is_cancelled_and_nonsense_step_counts_are_refused() {
    let s = Settings::load(None, Vec::new()).expect("default config");
    // The defaults show a stuck shot to operators well before the farm gives up on it, whatever
    // the step time.
    for wall_seconds_per_step in [0.001, 0.072, 9.0, 60.0] {
        let (flag, cancel) = (
            s.timing.stuck_flag().limit(wall_seconds_per_step),
            s.timing.stuck_cancel().limit(wall_seconds_per_step),
        );
        assert!(
            flag < cancel,
            "{wall_seconds_per_step}: {flag:?} vs {cancel:?}"
        );
    }
    for (key, bad) in [
        ("STUCK_FLAG_AFTER_STEPS", "-1"),
        ("STUCK_FLAG_AFTER_STEPS", "nan"),
        ("STUCK_AFTER_STEPS", "inf"),
    ] {
        let env = vec![(format!("SHOTFARM_TIMING__{key}"), bad.to_owned())];
        let err = Settings::load(None, env).expect_err(bad);
        assert!(
            err.to_string().contains(&key.to_lowercase()),
            "{key}={bad}: {err}"
        );
    }
}

#[test]
fn an_emptied_node_group_list_loads() {
    // How the agent tests start a server with no local nodes.
    let env = vec![("SHOTFARM_NODE_GROUPS".to_owned(), "[]".to_owned())];
    let s = Settings::load(None, env).expect("no local nodes");
    assert!(s.node_groups.is_empty());
}

#[test]
fn a_kubernetes_token_is_neither_debug_printed_nor_serialized() {
    let env = vec![(
        "SHOTFARM_AUTOSCALER__KUBERNETES__TOKEN".to_owned(),
        "k8s-token-0123456789".to_owned(),
    )];
    let s = Settings::load(None, env).expect("config");
    let debug = format!("{s:?} {s:#?}");
    let json = serde_json::to_string(&s).expect("json");
    for shown in [&debug, &json] {
        assert!(!shown.contains("k8s-token-0123456789"), "{shown}");
    }
}

#[test]
fn the_farm_takes_only_its_sections_and_a_key_nobody_takes_is_named() {
    let mut doc = Document::load(None, Vec::new()).expect("default");
    Settings::from_document(&mut doc).expect("farm sections");
    let left = doc.take(&["server", "auth"]);
    assert!(left.get("server").is_some() && left.get("auth").is_some());
    let mut doc = Document::parse(&format!("bogus_top = 1\n{DEFAULT_TOML}")).expect("parse");
    Settings::from_document(&mut doc).expect("farm sections");
    doc.take(&["server", "auth", "websocket", "agents"]);
    let err = doc.finish().expect_err("bogus_top");
    assert!(err.to_string().contains("bogus_top"), "{err}");
}

#[test]
fn onnx_image_inputs_and_reference_models_are_checked() {
    let s = Settings::load(None, Vec::new()).expect("default config");
    let video = s.models["tiny-video"]
        .onnx
        .as_ref()
        .expect("tiny-video runs on ort");
    assert_eq!(video.denoise.image.as_deref(), Some("image"));
    assert_eq!(video.image_len(), 64 * 64 * 3);
    let image = s.models["tiny-image"]
        .onnx
        .as_ref()
        .expect("tiny-image runs on ort");
    assert_eq!((image.frames, image.image_len()), (1, 0));

    let no_size = DEFAULT_TOML.replace("image_size = [64, 64]", "");
    let err = Settings::from_toml_str(&no_size).expect_err("an image input needs its size");
    assert!(err.to_string().contains("image_size"), "{err}");
    let many = DEFAULT_TOML.replace(
        "frames = 1                       # one 64x64",
        "frames = 4                       # one 64x64",
    );
    let err = Settings::from_toml_str(&many).expect_err("a reference draws one image");
    assert!(err.to_string().contains("tiny-image"), "{err}");
}

#[test]
fn the_llm_node_batches_scripts_and_slots_out_of_range_are_refused() {
    let s = Settings::load(None, Vec::new()).expect("default config");
    let slots = |pool: &str| {
        s.node_groups
            .iter()
            .find(|g| g.pool == pool)
            .map(|g| g.slots_per_gpu)
    };
    // The embedded default's LLM node takes 4 scripts per GPU; every other group whole GPUs.
    assert_eq!(
        (slots("llm"), slots("video"), slots("image")),
        (Some(4), Some(1), Some(1))
    );
    for bad in ["0", "65"] {
        let text = DEFAULT_TOML.replace("slots_per_gpu = 4 ", &format!("slots_per_gpu = {bad} "));
        let err = Settings::from_toml_str(&text).expect_err(bad);
        let shown = err.to_string();
        assert!(
            shown.contains("node_groups[")
                && shown.contains("slots_per_gpu")
                && shown.contains(bad),
            "{bad}: {shown}"
        );
    }
}

#[test]
fn a_pools_own_objective_is_read_and_nonsense_is_refused() {
    let with = |objective: &str| {
        DEFAULT_TOML.replace(
            "[autoscaler.pools.video]\n",
            &format!(
                "[autoscaler.pools.llm]\nobjective = \"{objective}\"\n\n[autoscaler.pools.video]\n"
            ),
        )
    };
    let s = Settings::from_toml_str(&with("60s")).expect("a minute for the llm pool");
    assert_eq!(
        s.autoscaler.pools["llm"].objective,
        Some(std::time::Duration::from_secs(60))
    );
    assert_eq!(s.autoscaler.pools["video"].objective, None);
    for (bad, why) in [
        ("0s", "above 0s"),
        ("16m", "objective_standard"),
        ("soon", "objective"),
    ] {
        let err = Settings::from_toml_str(&with(bad)).expect_err(bad);
        let shown = err.to_string();
        assert!(shown.contains(why), "{bad}: {shown}");
    }
    let zero = Settings::from_toml_str(&with("0s")).expect_err("zero");
    assert!(
        zero.to_string().contains("autoscaler.pools.llm.objective"),
        "{zero}"
    );
}

#[test]
fn reserved_for_is_read_and_bad_lists_are_refused_naming_the_key() {
    let group = |list: &str| {
        DEFAULT_TOML.replace(
            "price_per_hour = 0.17 ",
            &format!("reserved_for = {list}\nprice_per_hour = 0.17 "),
        )
    };
    let s = Settings::from_toml_str(&group(r#"["acme", "beta"]"#)).expect("two tenants");
    let cpu = s
        .node_groups
        .iter()
        .find(|g| g.pool == "cpu")
        .expect("cpu group");
    assert_eq!(cpu.reserved_for, ["acme", "beta"]);
    assert!(s
        .node_groups
        .iter()
        .filter(|g| g.pool != "cpu")
        .all(|g| g.reserved_for.is_empty()));
    for (list, says) in [
        (r#"["acme", "acme"]"#, "names tenant \"acme\" twice"),
        (r#"[""]"#, "reserved_for[0] must not be empty"),
        (r#"["Acme"]"#, "reserved_for[0] may hold only a-z"),
    ] {
        let shown = Settings::from_toml_str(&group(list))
            .expect_err(list)
            .to_string();
        assert!(
            shown.contains("node_groups[") && shown.contains(says),
            "{list}: {shown}"
        );
    }
    let pool = |list: &str| {
        DEFAULT_TOML.replace(
            "[autoscaler.pools.video]\n",
            &format!("[autoscaler.pools.video]\nreserved_for = {list}\n"),
        )
    };
    let shown = Settings::from_toml_str(&pool(r#"["x y"]"#))
        .expect_err("space")
        .to_string();
    assert!(
        shown.contains("autoscaler.pools.video.reserved_for[0] may hold only"),
        "{shown}"
    );
    // The autoscaler's pool reservation reaches the nodes it launches, a group's own wins.
    let mut s = Settings::from_toml_str(&pool(r#"["acme"]"#)).expect("a reserved pool");
    let video = s
        .node_groups
        .iter()
        .position(|g| g.pool == "video")
        .expect("video group");
    assert!(
        s.node_groups[video].reservation(&s.autoscaler).is_empty(),
        "not the autoscaler's while it is off"
    );
    s.autoscaler.enabled = true;
    assert_eq!(s.node_groups[video].reservation(&s.autoscaler), ["acme"]);
    s.node_groups[video].reserved_for = vec!["beta".into()];
    assert_eq!(s.node_groups[video].reservation(&s.autoscaler), ["beta"]);
}
