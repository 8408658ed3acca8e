//! Tests of the NVML mapping with recorded readings, of the GPU model keys, and of the choice
//! between NVML and the simulated device.
//!
//! No NVIDIA GPU was at hand where these were written. The GPU-level figures below are those of
//! a public `nvidia-smi` capture (driver 535.54.03, two A100-SXM4-80GB of one host, one training
//! and one idle), put back into NVML's raw units (bytes, milliwatts): `nvidia-smi` prints NVML's
//! readings rounded to MiB and watts. That capture shows neither memory-controller load nor SM
//! clock nor any process (inside containers NVML often lists none), so those fields carry
//! values chosen for the test and say so.

use super::*;

const OWN_PID: u32 = 4242;

fn a100(index: u32) -> GpuSpec {
    GpuSpec {
        index,
        model: "A100-80GB".into(),
        memory_mb: 81920,
    }
}

fn at() -> DateTime<Utc> {
    DateTime::from_timestamp(1_698_253_827, 0).unwrap_or_default()
}

/// GPU 0 of the capture: `64C P0 358W / 400W | 54906MiB / 81920MiB | 100%`.
fn busy_reading() -> NvmlReading {
    NvmlReading {
        utilization_gpu_pct: Some(100),
        // Chosen: not in the capture.
        utilization_memory_pct: Some(61),
        memory_used_bytes: Some(54906 * MIB),
        memory_total_bytes: Some(81920 * MIB),
        temperature_c: Some(64),
        power_mw: Some(358_000),
        // Chosen: the A100's boost clock.
        sm_clock_mhz: Some(1410),
        // Chosen: the agent's own process holds most of what is used.
        processes: Some(vec![NvmlProcess {
            pid: OWN_PID,
            used_bytes: Some(54380 * MIB),
        }]),
    }
}

/// GPU 1 of the capture: `29C P0 59W / 400W | 5MiB / 81920MiB | 0%`.
fn idle_reading() -> NvmlReading {
    NvmlReading {
        utilization_gpu_pct: Some(0),
        utilization_memory_pct: Some(0),
        memory_used_bytes: Some(5 * MIB),
        memory_total_bytes: Some(81920 * MIB),
        temperature_c: Some(29),
        power_mw: Some(59_000),
        sm_clock_mhz: Some(210),
        processes: Some(Vec::new()),
    }
}

#[test]
fn a_busy_gpu_maps_to_our_units_and_its_shot_gets_the_agents_memory() {
    let shot = ShotId::from("shot_vid_a_0");
    let t = to_telemetry(&busy_reading(), &a100(0), Some(&shot), OWN_PID, at());
    assert_eq!(t.gpu, 0);
    assert_eq!(t.utilization_gpu, 100.0);
    assert_eq!((t.memory_used_mb, t.memory_total_mb), (54906, 81920));
    assert_eq!(t.temperature_c, 64.0);
    assert_eq!(t.power_w, 358.0);
    assert_eq!(t.utilization_memory, Some(61.0));
    assert_eq!(t.sm_clock_mhz, Some(1410));
    assert_eq!(t.shot, Some(shot));
    assert_eq!(t.shot_memory_mb, Some(54380));
    assert_eq!(t.source, TelemetrySourceKind::Nvml);
    assert_eq!(t.sampled_at, at());
}

#[test]
fn an_idle_gpu_attributes_nothing() {
    let t = to_telemetry(&idle_reading(), &a100(1), None, OWN_PID, at());
    assert_eq!(t.gpu, 1);
    assert_eq!(
        (t.utilization_gpu, t.temperature_c, t.power_w),
        (0.0, 29.0, 59.0)
    );
    assert_eq!(t.memory_used_mb, 5);
    assert_eq!((t.shot, t.shot_memory_mb), (None, None));
}

#[test]
fn inside_a_container_every_compute_process_on_the_gpu_counts_for_its_shot() {
    // NVML reports host PIDs, none of them ours.
    let mut r = busy_reading();
    r.processes = Some(vec![
        NvmlProcess {
            pid: 91234,
            used_bytes: Some(30000 * MIB),
        },
        NvmlProcess {
            pid: 91240,
            used_bytes: Some(2000 * MIB),
        },
        NvmlProcess {
            pid: 91250,
            used_bytes: None,
        },
    ]);
    let shot = ShotId::from("shot_vid_a_1");
    let t = to_telemetry(&r, &a100(0), Some(&shot), OWN_PID, at());
    assert_eq!(t.shot_memory_mb, Some(32000));
}

#[test]
fn readings_the_device_cannot_give_are_zero_or_absent() {
    let gpu = GpuSpec {
        index: 3,
        model: "A10G".into(),
        memory_mb: 23028,
    };
    let shot = ShotId::from("shot_vid_b_0");
    let t = to_telemetry(&NvmlReading::default(), &gpu, Some(&shot), OWN_PID, at());
    assert_eq!(t.memory_total_mb, 23028, "falls back to the spec's memory");
    assert_eq!(
        (t.utilization_gpu, t.power_w, t.memory_used_mb),
        (0.0, 0.0, 0)
    );
    assert_eq!((t.utilization_memory, t.sm_clock_mhz), (None, None));
    // The shot is known; its memory is not.
    assert_eq!((t.shot, t.shot_memory_mb), (Some(shot), None));
    assert_eq!(t.source, TelemetrySourceKind::Nvml);
}

#[test]
fn milliwatts_round_to_a_tenth_of_a_watt_and_odd_percentages_are_capped() {
    let mut r = busy_reading();
    r.power_mw = Some(358_149);
    r.utilization_gpu_pct = Some(101);
    let t = to_telemetry(&r, &a100(0), None, OWN_PID, at());
    assert_eq!(t.power_w, 358.1);
    assert_eq!(t.utilization_gpu, 100.0);
}

#[test]
fn nvml_names_become_the_registrys_gpu_model_keys() {
    for (name, mb, key) in [
        ("NVIDIA A100-SXM4-80GB", 81920, "A100-80GB"),
        ("NVIDIA A100-PCIE-40GB", 40960, "A100-40GB"),
        ("NVIDIA A100 80GB PCIe", 81920, "A100-80GB"),
        ("NVIDIA H100 80GB HBM3", 81559, "H100-80GB"),
        ("NVIDIA H100 PCIe", 81559, "H100-80GB"),
        ("NVIDIA A10G", 23028, "A10G"),
        ("NVIDIA GeForce RTX 4090", 24564, "GeForce-RTX-4090"),
        ("Tesla T4", 15360, "Tesla-T4"),
    ] {
        assert_eq!(gpu_model_key(name, mb), key, "{name}");
    }
}

#[test]
fn without_nvml_the_simulated_device_takes_over_and_says_why() {
    let forced = open(7, true);
    assert_eq!(forced.source.kind(), TelemetrySourceKind::Simulated);
    assert!(forced.gpus.is_empty() && forced.simulated_because.is_some());

    // Here (no driver) NVML fails to start; on a machine with a GPU it must find one.
    let chosen = open(7, false);
    match chosen.source.kind() {
        TelemetrySourceKind::Simulated => {
            assert!(chosen.gpus.is_empty());
            let why = chosen.simulated_because.unwrap_or_default();
            assert!(why.contains("NVML"), "{why}");
        }
        TelemetrySourceKind::Nvml => {
            assert!(!chosen.gpus.is_empty() && chosen.simulated_because.is_none());
        }
    }
}
