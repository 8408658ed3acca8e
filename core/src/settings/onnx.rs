//! The ONNX part of the configuration: a model registry entry's `onnx` table (files, tensor
//! names, shapes) and the optional `[executor]` section (where ONNX Runtime and the data live).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// How a model runs through ONNX Runtime: `[models.ID.onnx]`. The contract is in
/// `models/README.md`: a denoising step `(latent, t, conditioning[, image]) → latent` and a
/// decoder `latent → frames [F, H, W, 3]` in `[0, 1]`. A `reference` model's decoder makes one
/// image (`frames = 1`), stored as a PNG; a `shot` model's frames become its clip.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OnnxModelSettings {
    /// Folder of the model files. A relative path is looked up from the working directory, then
    /// from the folders above the executable, then from the repository the binary was built in.
    pub dir: PathBuf,
    pub denoise: DenoiseGraph,
    pub decode: DecodeGraph,
    /// Shape of the latent, e.g. `[1, 4, 8, 8, 8]` (batch, channels, frames, height, width).
    pub latent_shape: Vec<usize>,
    /// Width of the conditioning vector the prompt becomes.
    pub conditioning_dim: usize,
    /// Frames the decoder outputs (checked against what it returns); 1 for a `reference` model.
    pub frames: u32,
    /// `[height, width]` of the denoising step's image input (`[1, H, W, 3]`, RGB in `[0, 1]`),
    /// required with `denoise.image`: a reference image of another size is resampled to it
    /// (nearest neighbour).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_size: Option<[usize; 2]>,
    /// Frames per second of the clip.
    #[serde(default = "default_fps")]
    pub fps: u32,
    /// Hold each step to the timing profile's step time (× `timing.time_factor`) when the model
    /// runs faster, so a simulated node paces like the GPU it stands for and ETAs hold. Off: steps
    /// take what this machine takes.
    #[serde(default)]
    pub pace_to_profile: bool,
    /// Every this many steps a running shot's latent is decoded into a small preview image its
    /// step event carries to the owner's page (as ComfyUI's latent previews). 0: no previews.
    #[serde(default)]
    pub preview_every_steps: u32,
}

/// The denoising-step graph and its tensor names.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DenoiseGraph {
    pub file: String,
    #[serde(default = "latent_name")]
    pub latent: String,
    #[serde(default = "timestep_name")]
    pub timestep: String,
    #[serde(default = "conditioning_name")]
    pub conditioning: String,
    /// The image-conditioning input (image to video): set, every step gets the shot's reference
    /// image, or the neutral all-zero image when the shot has none. Unset: the model takes none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(default = "latent_out_name")]
    pub output: String,
}

/// The decoder graph and its tensor names.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DecodeGraph {
    pub file: String,
    #[serde(default = "latent_name")]
    pub latent: String,
    #[serde(default = "frames_name")]
    pub output: String,
}

fn default_fps() -> u32 {
    8
}
fn latent_name() -> String {
    "latent".into()
}
fn timestep_name() -> String {
    "t".into()
}
fn conditioning_name() -> String {
    "conditioning".into()
}
fn latent_out_name() -> String {
    "latent_out".into()
}
fn frames_name() -> String {
    "frames".into()
}

impl OnnxModelSettings {
    /// Elements in one latent.
    pub fn latent_len(&self) -> usize {
        self.latent_shape.iter().product()
    }

    /// Shape rules serde cannot express; `id` names the model in the message.
    pub fn check(&self, id: &str) -> Result<(), String> {
        if self.latent_shape.is_empty() || self.latent_shape.contains(&0) {
            return Err(format!(
                "models.{id}.onnx.latent_shape must be non-empty with no zero"
            ));
        }
        if self.latent_len() > 1 << 28 {
            return Err(format!(
                "models.{id}.onnx.latent_shape is implausibly large"
            ));
        }
        if self.conditioning_dim == 0 || self.frames == 0 || self.fps == 0 || self.fps > 100 {
            return Err(format!(
                "models.{id}.onnx: conditioning_dim and frames must be above 0, fps 1..=100"
            ));
        }
        match (&self.denoise.image, self.image_size) {
            (None, None) => {}
            (Some(_), Some([h, w])) if (1..=4096).contains(&h) && (1..=4096).contains(&w) => {}
            (Some(_), Some(_)) => {
                return Err(format!(
                    "models.{id}.onnx.image_size must be [height, width], each 1..=4096"
                ))
            }
            _ => {
                return Err(format!(
                    "models.{id}.onnx: denoise.image and image_size go together (the image \
                     input's name and its [height, width])"
                ))
            }
        }
        Ok(())
    }

    /// Elements of the image input (`H × W × 3`), 0 when the model takes none.
    pub fn image_len(&self) -> usize {
        match (&self.denoise.image, self.image_size) {
            (Some(_), Some([h, w])) => h * w * 3,
            _ => 0,
        }
    }
}

/// Which execution provider ONNX sessions use.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ExecutionProviderChoice {
    /// CUDA when the loaded ONNX Runtime has it, else CPU.
    #[default]
    Auto,
    Cpu,
    /// CUDA or a start-up error.
    Cuda,
}

/// `[executor]`: how real models run on this process's nodes (every key optional).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ExecutorSettings {
    /// The ONNX Runtime library (`libonnxruntime.so.1.31.1`). Unset: `ORT_DYLIB_PATH`, then
    /// `.ort/lib/` (what `scripts/ensure-onnxruntime.sh` installs), then a Python
    /// `onnxruntime` package's `capi/` folder.
    #[serde(default)]
    pub onnxruntime: Option<PathBuf>,
    /// Where checkpoints and clips are kept (the local storage adapter's root).
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    #[serde(default)]
    pub execution_provider: ExecutionProviderChoice,
    /// Threads one session may use inside an operator (ONNX Runtime's intra-op pool).
    #[serde(default = "one")]
    pub intra_threads: usize,
    /// Warm sessions kept (one per node, GPU and model); past this the least recently used idle
    /// one is dropped.
    #[serde(default = "default_max_sessions")]
    pub max_sessions: usize,
}

fn default_data_dir() -> PathBuf {
    PathBuf::from("data")
}
fn one() -> usize {
    1
}
fn default_max_sessions() -> usize {
    64
}

impl Default for ExecutorSettings {
    fn default() -> Self {
        Self {
            onnxruntime: None,
            data_dir: default_data_dir(),
            execution_provider: ExecutionProviderChoice::Auto,
            intra_threads: 1,
            max_sessions: default_max_sessions(),
        }
    }
}
