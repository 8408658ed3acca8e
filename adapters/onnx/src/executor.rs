//! The ONNX executor: runs a registered model for real through ONNX Runtime (`ort`), for a
//! `shot` (a clip) or a story's `reference` (one image). A job's prompt (a reference's: the
//! character sheet) and seed become its conditioning and initial noise; a shot with a reference
//! image and a model that takes one is conditioned on its pixels too (image to video). Each
//! denoising step runs on the node's warm sessions on a blocking thread (never the actor's), is
//! reported as one `Stepped`, and its latent is saved as a checkpoint every
//! `checkpoint_every_steps`, and every `preview_every_steps` a shot's latent is also decoded
//! into a small preview its `Stepped` carries ([`crate::preview`]); a stop request is honoured
//! between steps, saving the current latent first; a resumed attempt starts from the checkpoint
//! at its `from_step`. The final latent is
//! decoded, encoded ([`output`]: through the media port when one is injected) and stored;
//! `Completed` carries the artifact's storage key.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::Recipient;
use tokio::sync::watch;
use tracing::{info, warn};

use crate::inputs;
use crate::model::ModelSpec;
use crate::preview;
use crate::runtime::{OrtRuntime, Provider};
use crate::sessions::{SessionCache, SessionKey};
use crate::OnnxError;
use shotfarm_actors::ports::{
    Checkpoint, ExecEvent, ExecHandle, ExecJob, Executor, MediaEncoder, ShotAttempt, ShotStorage,
};
use shotfarm_core::domain::Stage;
use shotfarm_core::settings::Settings;

mod output;

/// Checkpoints a running shot keeps: its latest and the two before. A new attempt resumes from
/// the latest; an old attempt told to stop saves at most one more, so the one the new attempt
/// reads is never pruned under it.
const KEEP_CHECKPOINTS: u32 = 3;

/// What every shot's task shares.
struct Shared {
    models: HashMap<String, Arc<ModelSpec>>,
    sessions: SessionCache,
    storage: Arc<dyn ShotStorage>,
    /// Encodes clips (`video/mp4`) and reference images; none: GIF clips and PNG images of our own.
    media: Option<Arc<dyn MediaEncoder>>,
    time_factor: f64,
}

/// Runs the models of the registry that have an `onnx` entry.
pub struct OnnxExecutor {
    shared: Arc<Shared>,
}

impl OnnxExecutor {
    /// [`Self::with_media`] without a media encoder: clips are GIFs, reference images PNGs
    /// encoded here.
    pub fn new(settings: &Settings, storage: Arc<dyn ShotStorage>) -> Result<Self, OnnxError> {
        Self::with_media(settings, storage, None)
    }

    /// Loads ONNX Runtime, locates every ONNX model's files and checks each loads with the
    /// configured tensor names, so a broken setup fails at start with what is missing. With
    /// `media`, a shot's clip is its `encode_clip` (`video/mp4`) and a reference its
    /// `encode_image`; without, a GIF and a PNG of the executor's own. Checkpoints and outputs
    /// go to `storage`, and a shot's reference image comes from it.
    pub fn with_media(
        settings: &Settings,
        storage: Arc<dyn ShotStorage>,
        media: Option<Arc<dyn MediaEncoder>>,
    ) -> Result<Self, OnnxError> {
        let runtime = OrtRuntime::get(&settings.executor)?;
        let provider = runtime.provider(settings.executor.execution_provider)?;
        let sessions = SessionCache::new(
            Arc::clone(&runtime),
            provider,
            settings.executor.intra_threads,
            settings.executor.max_sessions,
        );
        let mut models = HashMap::new();
        for (id, m) in &settings.models {
            if let Some(onnx) = &m.onnx {
                let spec = Arc::new(ModelSpec::resolve(id, onnx)?);
                sessions.create(&spec, 0)?;
                models.insert(id.clone(), spec);
            }
        }
        info!(
            library = %runtime.library().display(),
            provider = provider.as_str(),
            models = ?models.keys().collect::<Vec<_>>(),
            media = %media.as_ref().map_or_else(|| "gif/png".to_owned(), |m| m.name()),
            "onnx executor ready"
        );
        Ok(Self {
            shared: Arc::new(Shared {
                models,
                sessions,
                storage,
                media,
                time_factor: settings.timing.time_factor,
            }),
        })
    }

    /// The models this executor runs.
    pub fn models(&self) -> impl Iterator<Item = &str> {
        self.shared.models.keys().map(String::as_str)
    }

    /// The warm sessions (tests and benchmarks look at them).
    pub fn sessions(&self) -> &SessionCache {
        &self.shared.sessions
    }

    /// Where sessions run.
    pub fn provider(&self) -> Provider {
        self.shared.sessions.provider()
    }
}

impl Executor for OnnxExecutor {
    fn start(&self, job: ExecJob, sink: Recipient<ExecEvent>) -> ExecHandle {
        let (handle, stop) = ExecHandle::new();
        let shared = Arc::clone(&self.shared);
        tokio::spawn(async move {
            let (shot, attempt) = (job.shot.clone(), job.attempt);
            let last = match run_shot(shared, job, &sink, stop).await {
                Ok(last) => last,
                Err(e) => {
                    warn!(shot_id = %shot, attempt, error = %e, "onnx shot failed");
                    ExecEvent::Failed {
                        shot,
                        attempt,
                        error: e.to_string(),
                    }
                }
            };
            sink.do_send(last);
        });
        handle
    }

    fn name(&self) -> &'static str {
        "onnx"
    }
}

/// Runs one attempt; returns its last event (`Completed` or `Stopped`).
async fn run_shot(
    shared: Arc<Shared>,
    job: ExecJob,
    sink: &Recipient<ExecEvent>,
    mut stop: watch::Receiver<bool>,
) -> Result<ExecEvent, OnnxError> {
    let (shot, attempt) = (job.shot.clone(), job.attempt);
    let spec = Arc::clone(shared.models.get(&job.spec.model).ok_or_else(|| {
        OnnxError::Model(format!("model {:?} has no onnx entry", job.spec.model))
    })?);
    if !matches!(job.stage, Stage::Shot | Stage::Reference) {
        return Err(OnnxError::Model(format!(
            "the onnx executor runs shot and reference jobs, not {}",
            job.stage.as_str()
        )));
    }
    let stage = job.stage;
    let steps = job.spec.steps;
    let from = job.from_step.min(steps);
    let key = SessionKey {
        node: job.node.clone(),
        device: job.gpus.first().copied().unwrap_or(0),
        model: spec.id.clone(),
    };

    let at = ShotAttempt {
        shot: shot.clone(),
        attempt,
    };
    // The checkpoint at `from`, else the nearest one below it (an older attempt still running
    // somewhere unreachable may have pruned it), else from noise: denoising is deterministic,
    // so any of them ends in the same latent. Store reads await; they hold no thread.
    let mut resumed = if from == 0 {
        None
    } else {
        shared.storage.load_checkpoint(&at, from).await?
    };
    if from > 0 && resumed.is_none() {
        let below = shared
            .storage
            .checkpoint_steps(&at)
            .await?
            .into_iter()
            .filter(|s| *s < from)
            .max();
        warn!(shot_id = %shot, wanted = from, using = ?below, "checkpoint missing; resuming from the nearest one below");
        if let Some(step) = below {
            resumed = shared.storage.load_checkpoint(&at, step).await?;
        }
    }
    if let Some(cp) = &resumed {
        if cp.shape != spec.settings.latent_shape {
            return Err(OnnxError::Storage(format!(
                "checkpoint of {shot} at step {} has shape {:?}, the model's latent is {:?}",
                cp.step, cp.shape, spec.settings.latent_shape
            )));
        }
    }
    let from = resumed.as_ref().map_or(0, |cp| cp.step);
    if from > 0 {
        info!(shot_id = %shot, attempt, from, "resuming from checkpoint");
    }
    // A shot's reference image (read through the storage like a checkpoint), decoded below.
    let reference = output::load_reference(
        shared.storage.as_ref(),
        &at,
        &spec,
        job.inputs
            .reference
            .clone()
            .filter(|_| stage == Stage::Shot),
    )
    .await?;
    let (sessions, mut latent, cond, image) = blocking({
        let (shared, spec) = (Arc::clone(&shared), Arc::clone(&spec));
        let (prompt, seed) = (job.spec.prompt.clone(), job.spec.seed);
        move || {
            let sessions = shared.sessions.get(&key, &spec)?;
            let cond = inputs::conditioning(&prompt, spec.settings.conditioning_dim);
            let image = reference.map(|r| r.pixels()).transpose()?;
            let latent = match resumed {
                Some(cp) => cp.latent,
                None => inputs::initial_noise(seed, spec.settings.latent_len()),
            };
            Ok((sessions, latent, Arc::new(cond), image.map(Arc::new)))
        }
    })
    .await?;
    if *stop.borrow() {
        return Ok(ExecEvent::Stopped {
            shot,
            attempt,
            checkpoint_step: from,
        });
    }
    sink.do_send(ExecEvent::Started {
        shot: shot.clone(),
        attempt,
    });

    let pace = if spec.settings.pace_to_profile {
        Duration::try_from_secs_f64(job.seconds_per_step * shared.time_factor)
            .unwrap_or(Duration::ZERO)
    } else {
        Duration::ZERO
    };
    let every = job.checkpoint_every_steps.max(1);
    let preview_every = spec.settings.preview_every_steps;
    let mut saved = from;
    for step in from + 1..=steps {
        let started = Instant::now();
        let save = step % every == 0 || step == steps;
        // A shot's preview (a reference is one image, shown once stored): every
        // `preview_every_steps`, on the thread the step ran on.
        let preview_now = stage == Stage::Shot && preview_every > 0 && step % preview_every == 0;
        let preview;
        (latent, preview) = blocking({
            let (sessions, cond, image) = (Arc::clone(&sessions), Arc::clone(&cond), image.clone());
            let shot = shot.clone();
            move || {
                let t = inputs::timestep(step, steps);
                let mut sessions = sessions.lock();
                let latent =
                    sessions.denoise(&latent, t, &cond, image.as_deref().map(Vec::as_slice))?;
                // A preview is only a view: one that cannot be made is logged and skipped,
                // never a reason to fail the shot.
                let preview = preview_now
                    .then(|| {
                        sessions
                            .decode(&latent)
                            .and_then(|f| preview::encode(&f, step))
                    })
                    .and_then(|made| {
                        made.map_err(|e| warn!(shot_id = %shot, step, error = %e, "no preview"))
                            .ok()
                    });
                Ok((latent, preview))
            }
        })
        .await?;
        if save {
            let cp = Arc::new(Checkpoint {
                step,
                shape: spec.settings.latent_shape.clone(),
                latent,
            });
            // Retried inside while the store blips; a store that stays down fails the attempt
            // (it requeues from the last checkpoint that was saved).
            shared.storage.save_checkpoint(&at, Arc::clone(&cp)).await?;
            let keep_from = step.saturating_sub((KEEP_CHECKPOINTS - 1) * every);
            if let Err(e) = shared.storage.prune_checkpoints(&at, keep_from).await {
                warn!(shot_id = %shot, error = %e, "cannot prune checkpoints");
            }
            // The storage let go of its share once saved: no copy of the latent.
            latent = Arc::try_unwrap(cp).map_or_else(|cp| cp.latent.clone(), |cp| cp.latent);
        }
        if let Some(rest) = pace.checked_sub(started.elapsed()) {
            tokio::select! {
                _ = tokio::time::sleep(rest) => {}
                _ = stop.wait_for(|s| *s) => {}
            }
        }
        sink.do_send(ExecEvent::Stepped {
            shot: shot.clone(),
            attempt,
            step,
            preview,
        });
        if save {
            saved = step;
            sink.do_send(ExecEvent::Checkpointed {
                shot: shot.clone(),
                attempt,
                step,
            });
        }
        if *stop.borrow() && step < steps {
            if saved != step {
                let cp = Checkpoint {
                    step,
                    shape: spec.settings.latent_shape.clone(),
                    latent,
                };
                // A save the notice deadline cuts short is dropped whole: the store never shows
                // half a checkpoint, and the stop reports the last one saved.
                shared.storage.save_checkpoint(&at, Arc::new(cp)).await?;
                saved = step;
                sink.do_send(ExecEvent::Checkpointed {
                    shot: shot.clone(),
                    attempt,
                    step,
                });
            }
            return Ok(ExecEvent::Stopped {
                shot,
                attempt,
                checkpoint_step: saved,
            });
        }
    }

    let clip = blocking({
        let (fps, shared) = (spec.settings.fps, Arc::clone(&shared));
        move || {
            let frames = sessions.lock().decode(&latent)?;
            output::encode(shared.media.as_deref(), stage, &frames, fps)
        }
    })
    .await?;
    let artifact = shared.storage.save_clip(&at, clip).await?;
    if let Err(e) = shared.storage.drop_checkpoints(&at).await {
        // The clip is safe; stale checkpoints only cost space until the sweeper's
        // `artifacts.checkpoint_max_age`.
        warn!(shot_id = %shot, error = %e, "cannot drop checkpoints");
    }
    Ok(ExecEvent::Completed {
        shot,
        attempt,
        artifact: Some(artifact),
        output: None,
    })
}

/// Runs `f` on the blocking pool: inference never runs on an actor's thread.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, OnnxError> + Send + 'static,
) -> Result<T, OnnxError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| OnnxError::Inference(format!("inference thread: {e}")))?
}

#[cfg(test)]
mod tests;
