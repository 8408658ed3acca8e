//! [`StitchExecutor`]: the executor of a story video's `stitch` stage. It loads the shots'
//! clips through the attempt's [`ShotStorage`] (the farm's artifact store on a server's own
//! nodes, the server's signed URLs on a remote agent), joins them with the media encoder (a
//! stream copy) on a blocking thread, and stores the finished MP4 as the job's clip and its
//! poster beside it (`keys::poster`).

use std::sync::Arc;
use std::time::Duration;

use actix::Recipient;
use tokio::sync::watch;
use tracing::{info, warn};

use shotfarm_actors::ports::{
    Clip, ExecEvent, ExecHandle, ExecJob, Executor, MediaEncoder, ShotAttempt, ShotStorage,
};

/// Runs `stitch` jobs: one step, the join. Reports `Started`, `Stepped{1}` and
/// `Completed{artifact: the MP4's key}`, or `Failed` naming a missing clip or the encoder's
/// error. A stop request before the join starts (or while it is paced) ends the attempt with
/// `Stopped{checkpoint_step: 0}`: a join has nothing worth resuming from.
pub struct StitchExecutor {
    storage: Arc<dyn ShotStorage>,
    encoder: Arc<dyn MediaEncoder>,
    /// `Some(time_factor)`: an attempt lasts at least `seconds_per_step × steps × time_factor`,
    /// as the timing model's would, so a simulated `cpu` node shows the occupancy the real
    /// stitch's timing profile says. `None`: as long as the join takes.
    pace: Option<f64>,
}

impl StitchExecutor {
    /// Joins the clips stored in `storage` with `encoder`, as fast as it goes.
    pub fn new(storage: Arc<dyn ShotStorage>, encoder: Arc<dyn MediaEncoder>) -> Self {
        Self {
            storage,
            encoder,
            pace: None,
        }
    }

    /// Holds each attempt for at least its timing profile's time, scaled by `time_factor`
    /// (`timing.time_factor`, as the timing-model executor scales it).
    pub fn paced(mut self, time_factor: f64) -> Self {
        self.pace = Some(time_factor);
        self
    }
}

impl Executor for StitchExecutor {
    fn start(&self, job: ExecJob, sink: Recipient<ExecEvent>) -> ExecHandle {
        let (handle, stop) = ExecHandle::new();
        let storage = Arc::clone(&self.storage);
        let encoder = Arc::clone(&self.encoder);
        let paced_for = self.pace.map(|factor| {
            let steps = job.spec.steps.saturating_sub(job.from_step).max(1);
            Duration::from_secs_f64((job.seconds_per_step * f64::from(steps) * factor).max(0.0))
        });
        tokio::spawn(run(job, storage, encoder, paced_for, stop, sink));
        handle
    }

    fn name(&self) -> &'static str {
        "ffmpeg-stitch"
    }
}

/// One attempt, start to last event.
async fn run(
    job: ExecJob,
    storage: Arc<dyn ShotStorage>,
    encoder: Arc<dyn MediaEncoder>,
    paced_for: Option<Duration>,
    mut stop: watch::Receiver<bool>,
    sink: Recipient<ExecEvent>,
) {
    let (shot, attempt) = (job.shot.clone(), job.attempt);
    sink.do_send(ExecEvent::Started {
        shot: shot.clone(),
        attempt,
    });
    let stopped = ExecEvent::Stopped {
        shot: shot.clone(),
        attempt,
        checkpoint_step: 0,
    };
    if *stop.borrow() {
        sink.do_send(stopped);
        return;
    }
    let work = stitch(&job, storage, encoder);
    let pace = tokio::time::sleep(paced_for.unwrap_or_default());
    let joined = async {
        let (result, ()) = tokio::join!(work, pace);
        result
    };
    // An encode under way cannot be interrupted; a stop while it runs (or while the attempt is
    // paced) reports at once and drops the attempt's future, so nothing more is stored unless a
    // write was already under way, and what that stores under this attempt's keys is fenced off
    // by the attempt number.
    let result = tokio::select! {
        r = joined => r,
        _ = stop.wait_for(|s| *s) => {
            sink.do_send(stopped);
            return;
        }
    };
    match result {
        Ok(key) => {
            sink.do_send(ExecEvent::Stepped {
                shot: shot.clone(),
                attempt,
                step: 1,
                preview: None,
            });
            sink.do_send(ExecEvent::Completed {
                shot,
                attempt,
                artifact: Some(key),
                output: None,
            });
        }
        Err(error) => {
            warn!(shot_id = %shot, attempt, error = %error, "stitch failed");
            sink.do_send(ExecEvent::Failed {
                shot,
                attempt,
                error,
            });
        }
    }
}

/// Loads the clips, joins them (on the blocking pool) and stores the video and its poster;
/// returns the video's key.
async fn stitch(
    job: &ExecJob,
    storage: Arc<dyn ShotStorage>,
    encoder: Arc<dyn MediaEncoder>,
) -> Result<String, String> {
    if job.inputs.clips.is_empty() {
        return Err("stitch job names no clips".into());
    }
    let at = ShotAttempt {
        shot: job.shot.clone(),
        attempt: job.attempt,
    };
    let mut clips: Vec<Clip> = Vec::with_capacity(job.inputs.clips.len());
    for (i, key) in job.inputs.clips.iter().enumerate() {
        match storage.load_input(&at, key).await {
            Ok(Some(clip)) => clips.push(clip),
            Ok(None) => return Err(format!("clip of shot {i} is missing ({key})")),
            Err(e) => return Err(format!("clip of shot {i} ({key}): {e}")),
        }
    }
    let count = clips.len();
    let stitched = tokio::task::spawn_blocking(move || encoder.stitch(&clips))
        .await
        .map_err(|e| format!("stitch task ended abnormally: {e}"))?
        .map_err(|e| e.to_string())?;
    let (duration_s, bytes) = (stitched.duration_s, stitched.video.bytes.len());
    let key = storage
        .save_clip(&at, stitched.video)
        .await
        .map_err(|e| format!("storing the video: {e}"))?;
    let poster = storage
        .save_poster(&at, stitched.poster)
        .await
        .map_err(|e| format!("storing the poster: {e}"))?;
    info!(
        shot_id = %job.shot,
        video_id = %job.video,
        attempt = job.attempt,
        clips = count,
        duration_s,
        bytes,
        video = %key,
        poster = %poster,
        "stitched"
    );
    Ok(key)
}
