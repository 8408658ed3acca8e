//! One registered ONNX model: its files (found once at start-up), and a warm pair of sessions —
//! the denoising step and the decoder — with the two calls the executor makes on them.

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

    /// Fails when the configured tensor names are not the graphs' own.
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
            if !have_out.contains(&output) {
                return Err(OnnxError::Model(format!(
                    "models.{}.onnx: {file} has no output {output:?} (its outputs: {have_out:?})",
                    self.spec.id
                )));
            }
            Ok(())
        };
        check(
            &self.denoise,
            &s.denoise.file,
            &[
                &s.denoise.latent,
                &s.denoise.timestep,
                &s.denoise.conditioning,
            ],
            &s.denoise.output,
        )?;
        check(
            &self.decode,
            &s.decode.file,
            &[&s.decode.latent],
            &s.decode.output,
        )
    }

    /// One denoising step: the latent after the step whose timestep is `t`.
    pub fn denoise(&mut self, latent: &[f32], t: f32, cond: &[f32]) -> Result<Vec<f32>, OnnxError> {
        let s = &self.spec.settings;
        let run_err = |e: ort::Error| OnnxError::Inference(format!("{}: {e}", s.denoise.file));
        let shape = dims(&s.latent_shape);
        let latent_in = TensorRef::from_array_view((shape.clone(), latent)).map_err(run_err)?;
        let t_in =
            TensorRef::from_array_view(([1_i64], std::slice::from_ref(&t))).map_err(run_err)?;
        let cond_in =
            TensorRef::from_array_view(([1_i64, cond.len() as i64], cond)).map_err(run_err)?;
        let outputs = self
            .denoise
            .run(ort::inputs![
                s.denoise.latent.as_str() => latent_in,
                s.denoise.timestep.as_str() => t_in,
                s.denoise.conditioning.as_str() => cond_in,
            ])
            .map_err(run_err)?;
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
