//! The stitch executor end to end: clips in an in-memory artifact store (through the
//! executor's `ShotStorage`, as on a server's own nodes), events to a test actor.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix::prelude::*;
use shotfarm_actors::adapters::MemoryArtifacts;
use shotfarm_actors::ports::{
    Clip, DirectStorage, ExecEvent, ExecHandle, ExecJob, Executor, MediaEncoder, ShotAttempt,
    ShotStorage, StageInputs,
};
use shotfarm_core::domain::{ShotSpec, Stage};
use shotfarm_core::ids::{NodeId, ShotId, VideoId};
use shotfarm_media::StitchExecutor;

use crate::support::{encoder, frames, probe, TempDir};

/// Collects every event it is sent.
struct Collector(Arc<Mutex<Vec<ExecEvent>>>);

impl Actor for Collector {
    type Context = Context<Self>;
}

impl Handler<ExecEvent> for Collector {
    type Result = ();
    fn handle(&mut self, msg: ExecEvent, _: &mut Context<Self>) {
        self.0.lock().expect("lock").push(msg);
    }
}

/// The storage the executor and the test share: an in-memory store.
fn storage() -> Arc<DirectStorage> {
    Arc::new(DirectStorage::new(Arc::new(MemoryArtifacts::new())))
}

/// Stores `clip` as attempt `attempt` of `shot` stores it; returns its key.
async fn save(storage: &DirectStorage, shot: ShotId, attempt: u32, clip: Clip) -> String {
    storage
        .save_clip(&ShotAttempt { shot, attempt }, clip)
        .await
        .expect("save")
}

/// What is stored under `key`, if anything.
async fn load(storage: &DirectStorage, key: &str) -> Option<Clip> {
    let reader = ShotAttempt {
        shot: ShotId::from("shot_reader_0"),
        attempt: 1,
    };
    storage.load_input(&reader, key).await.expect("load")
}

/// A video's three shots' clips stored as their jobs store them; returns their keys.
async fn store_clips(storage: &DirectStorage, video: &VideoId) -> Vec<String> {
    let enc = encoder();
    let mut keys = Vec::new();
    for i in 0..3 {
        let clip = enc.encode_clip(&frames(i as u8, 24)).expect("encode");
        keys.push(save(storage, ShotId::for_video(video, i), 1, clip).await);
    }
    keys
}

fn stitch_job(video: &VideoId, attempt: u32, clips: Vec<String>) -> ExecJob {
    ExecJob {
        shot: ShotId::for_video(video, 3),
        video: video.clone(),
        attempt,
        node: NodeId::from("cpu-0"),
        spec: ShotSpec {
            prompt: String::new(),
            duration_s: 8,
            model: "ffmpeg-stitch".into(),
            seed: 0,
            steps: 1,
        },
        gpu_model: "cpu".into(),
        gpus: vec![0],
        from_step: 0,
        seconds_per_step: 1.0,
        checkpoint_every_steps: 1,
        stage: Stage::Stitch,
        inputs: StageInputs {
            clips,
            ..StageInputs::default()
        },
    }
}

/// Starts `job` on `executor`; returns the handle and the events seen so far.
fn start(executor: &StitchExecutor, job: ExecJob) -> (ExecHandle, Arc<Mutex<Vec<ExecEvent>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = Collector(Arc::clone(&seen)).start().recipient();
    (executor.start(job, sink), seen)
}

/// Waits (up to a minute: ffmpeg on a busy machine) until `until` holds of the events.
async fn events_when(
    seen: &Arc<Mutex<Vec<ExecEvent>>>,
    until: impl Fn(&[ExecEvent]) -> bool,
) -> Vec<ExecEvent> {
    for _ in 0..6000 {
        let events = seen.lock().expect("lock").clone();
        if until(&events) {
            return events;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("events never got there: {:?}", seen.lock().expect("lock"));
}

fn last(events: &[ExecEvent]) -> bool {
    events.iter().any(ExecEvent::is_last)
}

fn executor(storage: &Arc<DirectStorage>) -> StitchExecutor {
    StitchExecutor::new(
        Arc::clone(storage) as Arc<dyn ShotStorage>,
        Arc::new(encoder()) as Arc<dyn MediaEncoder>,
    )
}

#[actix_rt::test]
async fn stitches_the_stored_clips_into_the_jobs_mp4_and_poster() {
    let dir = TempDir::new("exec");
    let artifacts = storage();
    let video = VideoId::from("vid_exec");
    let clips = store_clips(&artifacts, &video).await;
    let job = stitch_job(&video, 2, clips);
    let shot = job.shot.clone();
    let (_handle, seen) = start(&executor(&artifacts), job);
    let events = events_when(&seen, last).await;

    let key = shot.clip_key(2, "mp4");
    assert_eq!(
        events,
        [
            ExecEvent::Started {
                shot: shot.clone(),
                attempt: 2
            },
            ExecEvent::Stepped {
                shot: shot.clone(),
                attempt: 2,
                step: 1,
                preview: None,
            },
            ExecEvent::Completed {
                shot: shot.clone(),
                attempt: 2,
                artifact: Some(key.clone()),
                output: None
            },
        ]
    );
    let mp4 = load(&artifacts, &key).await.expect("stored");
    assert_eq!(mp4.content_type, "video/mp4");
    let path = dir.write("video.mp4", &mp4);
    let enc = encoder();
    assert_eq!(probe(&enc, &path, "stream=codec_name"), ["h264"]);
    let duration: f64 = probe(&enc, &path, "format=duration")[0]
        .parse()
        .expect("duration");
    assert!((duration - 3.0).abs() < 1.0 / 24.0, "{duration}");
    let poster = load(&artifacts, &shot.poster_key(2, "png"))
        .await
        .expect("poster stored");
    assert_eq!(poster.content_type, "image/png");
    assert!(poster.bytes.starts_with(b"\x89PNG"));
}

#[actix_rt::test]
async fn a_missing_clip_fails_the_attempt_naming_it() {
    let artifacts = storage();
    let video = VideoId::from("vid_missing");
    let mut clips = store_clips(&artifacts, &video).await;
    clips[1] = ShotId::for_video(&video, 1).clip_key(7, "mp4");
    let (_handle, seen) = start(&executor(&artifacts), stitch_job(&video, 1, clips));
    let events = events_when(&seen, last).await;
    let Some(ExecEvent::Failed { error, .. }) = events.last() else {
        panic!("{events:?}");
    };
    assert!(
        error.contains("shot 1") && error.contains("missing") && error.contains("-a7.mp4"),
        "{error}"
    );
}

#[actix_rt::test]
async fn a_clip_ffmpeg_cannot_join_fails_the_attempt() {
    let artifacts = storage();
    let video = VideoId::from("vid_bad");
    let mut clips = store_clips(&artifacts, &video).await;
    let gif = Clip {
        content_type: "image/gif".into(),
        bytes: b"GIF89a".to_vec(),
    };
    clips[2] = save(&artifacts, ShotId::for_video(&video, 2), 2, gif).await;
    let (_handle, seen) = start(&executor(&artifacts), stitch_job(&video, 1, clips));
    let events = events_when(&seen, last).await;
    let Some(ExecEvent::Failed { error, .. }) = events.last() else {
        panic!("{events:?}");
    };
    assert!(error.contains("clip 2 is image/gif"), "{error}");
}

#[actix_rt::test]
async fn a_stop_before_the_join_stops_without_a_video() {
    let artifacts = storage();
    let video = VideoId::from("vid_stop");
    let clips = store_clips(&artifacts, &video).await;
    let job = stitch_job(&video, 1, clips);
    let shot = job.shot.clone();
    // On this single-threaded runtime the attempt's task has not run yet: it sees the stop
    // before it starts the join.
    let (handle, seen) = start(&executor(&artifacts), job);
    handle.stop();
    let events = events_when(&seen, last).await;
    assert!(
        matches!(
            events.last(),
            Some(ExecEvent::Stopped {
                checkpoint_step: 0,
                ..
            })
        ),
        "{events:?}"
    );
    assert_eq!(load(&artifacts, &shot.clip_key(1, "mp4")).await, None);
}

#[actix_rt::test]
async fn a_paced_attempt_holds_its_slot_until_stopped() {
    let artifacts = storage();
    let video = VideoId::from("vid_paced");
    let clips = store_clips(&artifacts, &video).await;
    let job = stitch_job(&video, 1, clips);
    let shot = job.shot.clone();
    // 1 s per step × 10 000: the attempt is still paced whenever the test looks.
    let (handle, seen) = start(&executor(&artifacts).paced(10_000.0), job);
    // The join finishes while the attempt is held, then the stop ends it.
    let stored = shot.clip_key(1, "mp4");
    for _ in 0..6000 {
        if load(&artifacts, &stored).await.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        !last(&seen.lock().expect("lock")),
        "paced attempt ended early"
    );
    handle.stop();
    let events = events_when(&seen, last).await;
    assert!(
        matches!(events.last(), Some(ExecEvent::Stopped { .. })),
        "{events:?}"
    );
}
