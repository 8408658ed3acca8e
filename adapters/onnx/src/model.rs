//! One registered ONNX model: its files (found once at start-up), and a warm pair of sessions —
//! the denoising step and the decoder — with the two calls the executor makes on them. A model
//! with an image input (image to video) gets the shot's reference image on every step, or the
//! neutral all-zero image, held here once, when the shot has none.

use std::path::PathBuf;
use std::sync::Arc;

use ort::ep;
use ort::session::builder::GraphOptimizationLevel;
use ort::session::Session;
use ort::value::TensorRef;

use super::clip::{quantize, Frames};
use super::locate::resolve;
use super::runtime::{OrtRuntime, Provider};
use super::OnnxError;
use shotfarm_core::settings::OnnxModelSettings;

/// A model of the registry with its files located.
#[derive(Debug, Clone)]
pub struct ModelSpec {
    pub id: String,
    pub settings: OnnxModelSettings,
    pub denoise_path: PathBuf,
    pub decode_path: PathBuf,
}

impl ModelSpec {
    /// Locates `settings.dir` and checks both files are there.
    pub fn resolve(id: &str, settings: &OnnxModelSettings) -> Result<Self, OnnxError> {
        let dir = resolve(&settings.dir).ok_or_else(|| {
            OnnxError::Model(format!(
                "models.{id}.onnx.dir {:?} not found (relative paths are looked up from the \
                 working directory and the repository); the bundled model is made by \
                 models/export_tiny.py",
                settings.dir
            ))
        })?;
        let file = |name: &str| {
            let p = dir.join(name);
            if p.is_file() {
                Ok(p)
            } else {
                Err(OnnxError::Model(format!(
                    "models.{id}.onnx: {} does not exist",
                    p.display()
                )))
            }
        };
        Ok(Self {
            id: id.to_owned(),
            denoise_path: file(&settings.denoise.file)?,
            decode_path: file(&settings.decode.file)?,
            settings: settings.clone(),
        })
    }
}

/// A model's two sessions, loaded once and reused by every shot they serve.
pub struct ModelSessions {
    spec: Arc<ModelSpec>,
    denoise: Session,
    decode: Session,
    provider: Provider,
    /// The neutral image (zeros, `image_len` of them; empty without an image input): what a shot
    /// without a reference feeds, so an explicit-shots video renders as it did before the model
    /// took images.
    neutral_image: Vec<f32>,
}

impl ModelSessions {
    /// Builds both sessions (blocking: tens of milliseconds for a small model, far more for a
    /// large one) on `provider`, on GPU `device` when that is CUDA.
    pub fn create(
        runtime: &OrtRuntime,
        spec: Arc<ModelSpec>,
        provider: Provider,
        device: u32,
        intra_threads: usize,
    ) -> Result<Self, OnnxError> {
        let build = |path: &PathBuf| -> Result<Session, OnnxError> {
            let ort_err =
                |e: ort::Error<_>| OnnxError::Model(format!("loading {}: {e}", path.display()));
            // One intra-op thread and no spinning by default: shots run side by side on a node,
            // and idle ONNX Runtime threads that spin would take the cores their neighbours need.
            let mut builder = Session::builder(runtime.env())
                .map_err(|e| OnnxError::Model(format!("loading {}: {e}", path.display())))?
                .with_optimization_level(GraphOptimizationLevel::All)
                .map_err(ort_err)?
                .with_intra_threads(intra_threads.max(1))
                .map_err(ort_err)?
                .with_inter_threads(1)
                .map_err(ort_err)?
                .with_intra_op_spinning(false)
                .map_err(ort_err)?
                .with_inter_op_spinning(false)
                .map_err(ort_err)?;
            if provider == Provider::Cuda {
                let cuda = ep::CUDA::default()
                    .with_device_id(i32::try_from(device).unwrap_or(0))
                    .build()
                    .error_on_failure();
                builder = builder.with_execution_providers([cuda]).map_err(ort_err)?;
            }
            builder
                .commit_from_file(path)
                .map_err(|e| OnnxError::Model(format!("loading {}: {e}", path.display())))
        };
        let sessions = Self {
            denoise: build(&spec.denoise_path)?,
            decode: build(&spec.decode_path)?,
            neutral_image: vec![0.0; spec.settings.image_len()],
            spec,
            provider,
        };
        sessions.check_names()?;
        Ok(sessions)
    }

    /// The provider the sessions run on.
    pub fn provider(&self) -> Provider {
        self.provider
    }

    /// Fails when the configured tensor names are not the graphs' own, or a graph takes an
    /// input the configuration does not name (a model exported with an image input, configured
    /// without `denoise.image`, would otherwise fail on its first step rather than at start).
    fn check_names(&self) -> Result<(), OnnxError> {
        let s = &self.spec.settings;
        let check = |session: &Session, file: &str, inputs: &[&str], output: &str| {
            let have_in: Vec<&str> = session.inputs().iter().map(|o| o.name()).collect();
            let have_out: Vec<&str> = session.outputs().iter().map(|o| o.name()).collect();
            for name in inputs {
                if !have_in.contains(name) {
                    return Err(OnnxError::Model(format!(
                        "models.{}.onnx: {file} has no input {name:?} (its inputs: {have_in:?})",
                        self.spec.id
                    )));
                }
            }
            if let Some(extra) = have_in.iter().find(|n| !inputs.contains(n)) {
                return Err(OnnxError::Model(format!(
                    "models.{}.onnx: {file} takes an input {extra:?} the configuration does not \
                     name (configured: {inputs:?}; an image input is `denoise.image` with \
                     `image_size`)",
                    self.spec.id
                )));
            }
            if !have_out.contains(&output) {
                return Err(OnnxError::Model(format!(
                    "models.{}.onnx: {file} has no output {output:?} (its outputs: {have_out:?})",
                    self.spec.id
                )));
            }
            Ok(())
        };
        let mut denoise_inputs = vec![
            s.denoise.latent.as_str(),
            s.denoise.timestep.as_str(),
            s.denoise.conditioning.as_str(),
        ];
        denoise_inputs.extend(s.denoise.image.as_deref());
        check(
            &self.denoise,
            &s.denoise.file,
            &denoise_inputs,
            &s.denoise.output,
        )?;
        check(
            &self.decode,
            &s.decode.file,
            &[&s.decode.latent],
            &s.decode.output,
        )
    }

    /// Whether the denoising step takes an image (image to video).
    pub fn takes_image(&self) -> bool {
        !self.neutral_image.is_empty()
    }

    /// One denoising step: the latent after the step whose timestep is `t`. `image` is the
    /// image input (`image_len` values in `[0, 1]`) of a model that takes one; `None` feeds the
    /// neutral image. A model without an image input ignores it.
    pub fn denoise(
        &mut self,
        latent: &[f32],
        t: f32,
        cond: &[f32],
        image: Option<&[f32]>,
    ) -> Result<Vec<f32>, OnnxError> {
        let s = &self.spec.settings;
        let run_err = |e: ort::Error| OnnxError::Inference(format!("{}: {e}", s.denoise.file));
        let shape = dims(&s.latent_shape);
        let latent_in = TensorRef::from_array_view((shape.clone(), latent)).map_err(run_err)?;
        let t_in =
            TensorRef::from_array_view(([1_i64], std::slice::from_ref(&t))).map_err(run_err)?;
        let cond_in =
            TensorRef::from_array_view(([1_i64, cond.len() as i64], cond)).map_err(run_err)?;
        let mut feeds = ort::inputs![
            s.denoise.latent.as_str() => latent_in,
            s.denoise.timestep.as_str() => t_in,
            s.denoise.conditioning.as_str() => cond_in,
        ];
        if let (Some(name), Some([h, w])) = (&s.denoise.image, s.image_size) {
            let pixels = image.unwrap_or(&self.neutral_image);
            if pixels.len() != self.neutral_image.len() {
                return Err(OnnxError::Inference(format!(
                    "{}: an image input of {} values, the model takes {h}x{w}x3",
                    s.denoise.file,
                    pixels.len()
                )));
            }
            let image_in = TensorRef::from_array_view(([1, h as i64, w as i64, 3], pixels))
                .map_err(run_err)?;
            feeds.push((name.as_str().into(), image_in.into()));
        }
        let outputs = self.denoise.run(feeds).map_err(run_err)?;
        let value = outputs.get(&s.denoise.output).ok_or_else(|| {
            OnnxError::Inference(format!(
                "{} returned no {}",
                s.denoise.file, s.denoise.output
            ))
        })?;
        let (out_shape, data) = value.try_extract_tensor::<f32>().map_err(run_err)?;
        if **out_shape != *shape {
            return Err(OnnxError::Inference(format!(
                "{} returned shape {:?}, the latent is {:?}",
                s.denoise.file, &**out_shape, shape
            )));
        }
        Ok(data.to_vec())
    }

    /// Decodes a final latent into frames.
    pub fn decode(&mut self, latent: &[f32]) -> Result<Frames, OnnxError> {
        let s = &self.spec.settings;
        let run_err = |e: ort::Error| OnnxError::Inference(format!("{}: {e}", s.decode.file));
        let latent_in =
            TensorRef::from_array_view((dims(&s.latent_shape), latent)).map_err(run_err)?;
        let outputs = self
            .decode
            .run(ort::inputs![s.decode.latent.as_str() => latent_in])
            .map_err(run_err)?;
        let value = outputs.get(&s.decode.output).ok_or_else(|| {
            OnnxError::Inference(format!("{} returned no {}", s.decode.file, s.decode.output))
        })?;
        let (shape, data) = value.try_extract_tensor::<f32>().map_err(run_err)?;
        let sizes: Vec<usize> = shape
            .iter()
            .map(|&d| usize::try_from(d).unwrap_or(0))
            .collect();
        match sizes[..] {
            [count, height, width, 3] if count == s.frames as usize && height > 0 && width > 0 => {
                Ok(Frames {
                    count,
                    height,
                    width,
                    rgb: quantize(data),
                })
            }
            _ => Err(OnnxError::Inference(format!(
                "{} returned shape {sizes:?}; the contract is [{}, H, W, 3]",
                s.decode.file, s.frames
            ))),
        }
    }
}

fn dims(shape: &[usize]) -> Vec<i64> {
    shape.iter().map(|&d| d as i64).collect()
}
