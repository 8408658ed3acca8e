//! Tests of a story's ort stages: the `reference` job (tiny-image: one image from the character
//! sheet, stored as a PNG) and image-to-video shots (tiny-video conditioned on that image),
//! against the Python onnxruntime's references and through the executor, with and without an
//! injected media encoder.

use shotfarm_actors::ports::{media, Clip, MediaError, Stitched};

use super::*;
use crate::image::decode_png;

const IMAGE_REFERENCE: &str = "models/tiny-image/reference.json";
const IMAGE_RGB: &str = "models/tiny-image/reference_image.rgb";

/// How many bytes differ by more than one (another CPU's kernels may round the last bit).
fn off_by_more_than_one(a: &[u8], b: &[u8]) -> usize {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).filter(|(x, y)| x.abs_diff(**y) > 1).count()
}

/// The reference stage's job for the image model's reference character sheet.
fn reference_job(attempt: u32) -> ExecJob {
    let r = json_file(IMAGE_REFERENCE);
    let mut j = job("node-i", attempt, 0, 0.0);
    j.shot = ShotId::from("shot_story_ref");
    j.stage = Stage::Reference;
    j.spec.model = IMAGE_MODEL.into();
    j.spec.prompt = r["prompt"].as_str().expect("prompt").into();
    j.spec.seed = r["seed"].as_u64().expect("seed");
    j.spec.steps = r["steps"].as_u64().expect("steps") as u32;
    j
}

/// The last event's artifact key, which must be a completion.
fn artifact(events: &[ExecEvent]) -> String {
    match events.last() {
        Some(ExecEvent::Completed {
            artifact: Some(key),
            ..
        }) => key.clone(),
        other => panic!("expected a completion with an artifact: {other:?} of {events:?}"),
    }
}

#[test]
fn the_image_model_gives_the_python_onnxruntime_results() {
    let r = json_file(IMAGE_REFERENCE);
    let (s, _) = settings("image-reference", false);
    let (latent, frames) = render(&s, IMAGE_MODEL, &r, None);
    let diff = max_abs_diff(&latent, &floats(&r["final_latent"]));
    assert!(diff <= 1e-5, "final latent differs by {diff}");
    assert_eq!((frames.count, frames.height, frames.width), (1, 64, 64));
    assert_eq!(off_by_more_than_one(&frames.rgb, &bytes_file(IMAGE_RGB)), 0);
}

#[test]
fn image_to_video_gives_the_python_onnxruntime_results() {
    let r = reference();
    let i2v = &r["i2v"];
    let image = bytes_file(IMAGE_RGB);
    let pixels = inputs::image_input(&image, 64, 64, 64, 64).expect("an image input");
    assert_eq!(
        format!("{:016x}", inputs::fnv1a64(&le_bytes(&pixels))),
        i2v["image_input_fnv1a64"].as_str().expect("hash"),
        "the image input is derived as the Python script derives it"
    );
    let (s, _) = settings("i2v-reference", false);
    let (latent, frames) = render(&s, MODEL, &r, Some(&pixels));
    let diff = max_abs_diff(&latent, &floats(&i2v["final_latent"]));
    assert!(diff <= 1e-5, "final latent differs by {diff}");
    assert_eq!(
        off_by_more_than_one(
            &frames.rgb,
            &bytes_file("models/tiny-video/reference_i2v_frames.rgb")
        ),
        0
    );
    // The image conditions the shot; the neutral image is the same as none at all.
    let (plain, _) = render(&s, MODEL, &r, None);
    assert!(max_abs_diff(&latent, &plain) > 0.1);
    let zeros = vec![0.0; pixels.len()];
    let (neutral, _) = render(&s, MODEL, &r, Some(&zeros));
    assert_eq!(le_bytes(&neutral), le_bytes(&plain));
}

#[actix_rt::test]
async fn a_reference_job_stores_a_png_that_its_shots_are_conditioned_on() {
    let (s, dir) = settings("story", true);
    let (store, storage) = memory();
    let exec = OnnxExecutor::new(&s, storage).expect("executor");

    let events = run(&exec, reference_job(1), None).await;
    assert_eq!(steps_of(&events), (1..=20).collect::<Vec<_>>());
    let key = artifact(&events);
    assert_eq!(key, "clips/shot_story_ref-a1.png");
    let png = stored(&store, &key).await;
    assert_eq!(png.content_type, "image/png");
    let decoded = decode_png(&png.bytes).expect("a PNG");
    assert_eq!((decoded.width, decoded.height), (64, 64));
    assert_eq!(
        off_by_more_than_one(&decoded.rgb, &bytes_file(IMAGE_RGB)),
        0
    );

    // A shot conditioned on it renders another clip than the same shot without it...
    let mut shot = job("node-a", 1, 0, 0.0);
    shot.inputs.reference = Some(key.clone());
    let conditioned = stored(&store, &artifact(&run(&exec, shot.clone(), None).await)).await;
    let plain = stored(
        &store,
        &artifact(&run(&exec, job("node-a", 2, 0, 0.0), None).await),
    )
    .await;
    assert_eq!(decode_gif(&conditioned.bytes), vec![(64, 64); 8]);
    assert_ne!(conditioned.bytes, plain.bytes);

    // ...and, stopped between steps and resumed on another node, the same clip as unstopped.
    let mut paced = shot.clone();
    (paced.attempt, paced.seconds_per_step) = (3, 0.02);
    let stopped = run(&exec, paced, Some(5)).await;
    let Some(&ExecEvent::Stopped {
        checkpoint_step, ..
    }) = stopped.last()
    else {
        panic!("expected a stop: {stopped:?}");
    };
    let mut resumed = shot;
    (resumed.attempt, resumed.node, resumed.from_step) =
        (4, NodeId::from("node-b"), checkpoint_step);
    let events = run(&exec, resumed, None).await;
    assert_eq!(
        steps_of(&events),
        (checkpoint_step + 1..=20).collect::<Vec<_>>()
    );
    let again = stored(&store, &artifact(&events)).await;
    assert_eq!(again.bytes, conditioned.bytes);

    // A reference that is not stored fails the shot, naming it, rather than render it unconditioned.
    let mut lost = job("node-a", 5, 0, 0.0);
    lost.inputs.reference = Some("clips/shot_story_gone-a1.png".into());
    let failed = run(&exec, lost, None).await;
    assert!(
        matches!(failed.last(), Some(ExecEvent::Failed { error, .. }) if error.contains("shot_story_gone")),
        "{failed:?}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// What the fake encoder was asked for: clip or image, width, height, fps, frames.
type Encoded = (&'static str, u32, u32, u32, usize);

/// A media encoder that returns fixed bytes and records the frames it was given.
#[derive(Default)]
struct FakeMedia(Mutex<Vec<Encoded>>);

impl MediaEncoder for FakeMedia {
    fn encode_clip(&self, f: &media::Frames) -> Result<Clip, MediaError> {
        let n = f.count();
        let seen = ("clip", f.width, f.height, f.fps, n);
        self.0.lock().expect("lock").push(seen);
        Ok(Clip {
            content_type: "video/mp4".into(),
            bytes: b"mp4".to_vec(),
        })
    }
    fn encode_image(&self, f: &media::Frames) -> Result<Clip, MediaError> {
        let n = f.count();
        let seen = ("image", f.width, f.height, f.fps, n);
        self.0.lock().expect("lock").push(seen);
        // A real PNG, so the shot can decode it.
        crate::image::encode_png(f.width as usize, f.height as usize, &f.rgb)
            .map_err(|e| MediaError::Failed(e.to_string()))
    }
    fn stitch(&self, _: &[Clip]) -> Result<Stitched, MediaError> {
        Err(MediaError::Failed("not the executor's job".into()))
    }
    fn name(&self) -> String {
        "fake".into()
    }
}

#[actix_rt::test]
async fn with_a_media_encoder_clips_are_mp4s_and_references_its_images() {
    let (s, dir) = settings("media", false);
    let (store, storage) = memory();
    let fake = Arc::new(FakeMedia::default());
    let media: Arc<dyn MediaEncoder> = fake.clone();
    let exec = OnnxExecutor::with_media(&s, storage, Some(media)).expect("executor");

    let reference = artifact(&run(&exec, reference_job(1), None).await);
    assert_eq!(reference, "clips/shot_story_ref-a1.png");
    let mut shot = job("node-a", 1, 0, 0.0);
    shot.inputs.reference = Some(reference);
    let key = artifact(&run(&exec, shot, None).await);
    assert_eq!(key, "clips/shot_exec_0-a1.mp4");
    let clip = stored(&store, &key).await;
    assert_eq!(
        (clip.content_type.as_str(), clip.bytes.as_slice()),
        ("video/mp4", &b"mp4"[..])
    );
    assert_eq!(
        *fake.0.lock().expect("lock"),
        vec![("image", 64, 64, 8, 1), ("clip", 64, 64, 8, 8)]
    );
    let _ = std::fs::remove_dir_all(dir);
}
