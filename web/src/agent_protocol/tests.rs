//! Round trips of every agent-protocol frame through JSON, their wire shape, the hello's checks
//! and reconciliation.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::*;
use shotfarm_core::domain::ShotSpec;
use shotfarm_core::ids::VideoId;

fn gpu(index: u32) -> GpuSpec {
    GpuSpec {
        index,
        model: "A100-80GB".into(),
        memory_mb: 81920,
    }
}

fn hello() -> Hello {
    Hello {
        node: None,
        protocol: PROTOCOL_VERSION,
        agent_version: "0.1.0".into(),
        pool: "video".into(),
        spot: true,
        price_per_hour: 2.2,
        slots_per_gpu: 1,
        reserved_for: vec![],
        gpus: vec![gpu(0), gpu(1)],
        telemetry: TelemetrySourceKind::Simulated,
        executor: "timing-model".into(),
        state: NodeState::Ready,
        running: vec![RunningShot {
            shot: ShotId::from("shot_vid_a_3"),
            attempt: 2,
            checkpoint_step: 7,
        }],
    }
}

fn job() -> ExecJob {
    ExecJob {
        shot: ShotId::from("shot_vid_a_0"),
        video: VideoId::from("vid_a"),
        attempt: 3,
        node: NodeId::from("gpu-box-1"),
        spec: ShotSpec {
            prompt: "a fox in snow, \"dawn\" ✓".into(),
            duration_s: 8,
            model: "tiny-video".into(),
            seed: 7,
            steps: 20,
        },
        gpu_model: "A100-80GB".into(),
        gpus: vec![1],
        from_step: 12,
        seconds_per_step: 9.0,
        checkpoint_every_steps: 1,
        stage: Default::default(),
        inputs: Default::default(),
    }
}

fn sample() -> GpuTelemetry {
    GpuTelemetry {
        gpu: 1,
        utilization_gpu: 97.5,
        memory_used_mb: 41480,
        memory_total_mb: 81920,
        temperature_c: 71.2,
        power_w: 382.4,
        utilization_memory: Some(43.9),
        sm_clock_mhz: Some(1410),
        shot: Some(ShotId::from("shot_vid_a_0")),
        shot_memory_mb: Some(40960),
        jobs: vec![ShotId::from("shot_vid_a_0")],
        source: TelemetrySourceKind::Nvml,
        sampled_at: DateTime::<Utc>::from_timestamp(1_700_000_000, 0).unwrap_or_default(),
    }
}

fn agent_frames() -> Vec<AgentFrame> {
    let shot = ShotId::from("shot_vid_a_0");
    vec![
        AgentFrame::Hello(hello()),
        AgentFrame::State {
            state: NodeState::Draining,
        },
        AgentFrame::Telemetry {
            samples: vec![sample()],
            loaded_models: vec!["tiny-video".into()],
        },
        AgentFrame::Report {
            event: ExecEvent::Stepped {
                shot: shot.clone(),
                attempt: 3,
                step: 13,
                preview: None,
            },
            preempted: false,
        },
        // Every `preview_every_steps` of an ONNX model, the step carries its live preview.
        AgentFrame::Report {
            event: ExecEvent::Stepped {
                shot: shot.clone(),
                attempt: 3,
                step: 12,
                preview: shotfarm_core::domain::ShotPreview::new(12, "image/png", b"\x89PNG").ok(),
            },
            preempted: false,
        },
        AgentFrame::Report {
            event: ExecEvent::Stopped {
                shot: shot.clone(),
                attempt: 3,
                checkpoint_step: 13,
            },
            preempted: true,
        },
        AgentFrame::Report {
            event: ExecEvent::Completed {
                shot,
                attempt: 3,
                artifact: Some("clips/shot_vid_a_0.gif".into()),
                output: None,
            },
            preempted: false,
        },
    ]
}

fn server_frames() -> Vec<ServerFrame> {
    vec![
        ServerFrame::Welcome {
            node: NodeId::from("gpu-box-1"),
            protocol: PROTOCOL_VERSION,
            heartbeat_interval_ms: 5000,
            heartbeat_timeout_ms: 15000,
            cancel: hello().running,
        },
        ServerFrame::Run { job: job() },
        ServerFrame::Cancel {
            shot: ShotId::from("shot_vid_a_0"),
            attempt: 3,
        },
        ServerFrame::Preempt {
            deadline_ms: Some(30_000),
        },
        ServerFrame::Preempt { deadline_ms: None },
        ServerFrame::Drain,
    ]
}

#[test]
fn every_frame_survives_a_json_round_trip() {
    for frame in agent_frames() {
        let text = serde_json::to_string(&frame).expect("encode");
        assert!(text.len() < MAX_FRAME_BYTES);
        let back: AgentFrame = serde_json::from_str(&text).expect("decode");
        assert_eq!(back, frame, "{text}");
    }
    for frame in server_frames() {
        let text = serde_json::to_string(&frame).expect("encode");
        let back: ServerFrame = serde_json::from_str(&text).expect("decode");
        // (ExecJob has no PartialEq: compare what goes on the wire, and one job field by field.)
        assert_eq!(serde_json::to_string(&back).expect("re-encode"), text);
        if let ServerFrame::Run { job: j } = back {
            let want = job();
            assert_eq!(
                (j.shot, j.attempt, j.from_step),
                (want.shot, want.attempt, want.from_step)
            );
            assert_eq!((j.spec.prompt, j.gpus), (want.spec.prompt, want.gpus));
        }
    }
}

#[test]
fn frames_are_tagged_by_type_as_the_protocol_document_shows() {
    let v: Value = serde_json::to_value(AgentFrame::Hello(hello())).expect("hello");
    assert_eq!(v["type"], "hello");
    assert_eq!(v["gpus"][1]["index"], 1);
    assert_eq!(v["telemetry"], "simulated");
    assert_eq!(v["running"][0]["checkpoint_step"], 7);

    let v = serde_json::to_value(&agent_frames()[3]).expect("report");
    assert_eq!(
        v,
        json!({"type": "report", "preempted": false,
               "event": {"kind": "stepped", "shot": "shot_vid_a_0", "attempt": 3, "step": 13}})
    );
    let v = serde_json::to_value(&agent_frames()[4]).expect("report with a preview");
    assert_eq!(
        v["event"]["preview"],
        json!({"step": 12, "image": "data:image/png;base64,iVBORw=="})
    );
    let v = serde_json::to_value(ServerFrame::Drain).expect("drain");
    assert_eq!(v, json!({"type": "drain"}));
    let v = serde_json::to_value(ServerFrame::Run { job: job() }).expect("run");
    assert_eq!(
        (v["type"].clone(), v["job"]["from_step"].clone()),
        (json!("run"), json!(12))
    );
}

#[test]
fn older_agents_may_leave_out_defaulted_fields_and_unknown_frames_are_refused() {
    let text = r#"{"type":"report","event":{"kind":"started","shot":"s","attempt":1}}"#;
    let frame: AgentFrame = serde_json::from_str(text).expect("preempted defaults to false");
    assert!(matches!(
        frame,
        AgentFrame::Report {
            preempted: false,
            ..
        }
    ));
    let text = r#"{"type":"telemetry","samples":[]}"#;
    assert!(serde_json::from_str::<AgentFrame>(text).is_ok());
    assert!(serde_json::from_str::<AgentFrame>(r#"{"type":"reboot"}"#).is_err());
    assert!(serde_json::from_str::<AgentFrame>(r#"{"state":"ready"}"#).is_err());
}

#[test]
fn a_hello_is_checked_before_its_node_is_registered() {
    assert_eq!(hello().check(), Ok(()));
    let spec = hello().spec(NodeId::from("gpu-box-1"));
    assert_eq!((spec.provider.as_str(), spec.gpus.len()), ("agent", 2));

    let refused = |f: fn(&mut Hello), needle: &str| {
        let mut h = hello();
        f(&mut h);
        let err = h.check().expect_err(needle);
        assert!(err.contains(needle), "{err} lacks {needle}");
    };
    refused(|h| h.protocol = 2, "protocol 2");
    refused(|h| h.pool = " ".into(), "pool");
    refused(|h| h.price_per_hour = -1.0, "price_per_hour");
    refused(|h| h.price_per_hour = f64::NAN, "price_per_hour");
    refused(|h| h.gpus.clear(), "GPUs");
    refused(|h| h.gpus = (0..65).map(gpu).collect(), "GPUs");
    refused(|h| h.gpus = vec![gpu(0), gpu(2)], "gpus[1].index must be 1");
    refused(|h| h.gpus[0].memory_mb = 0, "gpus[0]");
    refused(|h| h.state = NodeState::Lost, "lost");
    refused(|h| h.slots_per_gpu = 0, "slots_per_gpu must be 1..=64");
    refused(|h| h.slots_per_gpu = 65, "slots_per_gpu must be 1..=64");
    // An LLM node batching scripts registers its slots; an older agent's hello without the
    // field holds whole GPUs.
    let mut batching = hello();
    batching.slots_per_gpu = 4;
    assert_eq!(batching.check(), Ok(()));
    assert_eq!(batching.spec(NodeId::from("llm-1")).slots_per_gpu, 4);
    let mut json = serde_json::to_value(hello()).expect("json");
    json.as_object_mut()
        .expect("object")
        .remove("slots_per_gpu");
    let older: Hello = serde_json::from_value(json).expect("older hello");
    assert_eq!(older.slots_per_gpu, 1);
    assert!(
        older.reserved_for.is_empty(),
        "an older agent's node is shared"
    );
    // A dedicated node registers its reservation; a bad list is refused naming it.
    let mut dedicated = hello();
    dedicated.reserved_for = vec!["acme".into(), "beta".into()];
    assert_eq!(dedicated.check(), Ok(()));
    assert_eq!(
        dedicated.spec(NodeId::from("gpu-acme-1")).reserved_for,
        ["acme", "beta"]
    );
    refused(
        |h| h.reserved_for = vec!["acme".into(), "acme".into()],
        "reserved_for names tenant \"acme\" twice",
    );
    refused(
        |h| h.reserved_for = vec!["ACME".into()],
        "reserved_for[0] may hold only a-z",
    );
}

#[test]
fn reconciliation_stops_what_the_server_has_not_placed_there_with_that_attempt() {
    let running = vec![
        RunningShot {
            shot: ShotId::from("kept"),
            attempt: 2,
            checkpoint_step: 5,
        },
        RunningShot {
            shot: ShotId::from("requeued"),
            attempt: 1,
            checkpoint_step: 9,
        },
        RunningShot {
            shot: ShotId::from("unknown"),
            attempt: 4,
            checkpoint_step: 0,
        },
    ];
    let placed = |s: &ShotId| match s.as_str() {
        "kept" => Some(2),
        "requeued" => Some(2),
        _ => None,
    };
    let stop: Vec<String> = reconcile(&running, placed)
        .into_iter()
        .map(|r| r.shot.0)
        .collect();
    assert_eq!(stop, vec!["requeued", "unknown"]);
    // A fresh registration has nothing placed: everything the agent still runs stops.
    assert_eq!(reconcile(&running, |_| None).len(), 3);
}
