//! The process's one ONNX Runtime: the library loaded with `ort`'s `load-dynamic`, its
//! environment, and the execution provider sessions get (CUDA when the library has it, else CPU).
//! ONNX Runtime allows one environment per process, so the first start-up decides the library;
//! later ones (tests starting several farms) share it.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use ort::environment::Environment;
use ort::ep::{self, ExecutionProvider as _};
use tracing::{info, warn};

use super::locate::{find_onnxruntime, missing_library_message};
use super::OnnxError;
use shotfarm_core::settings::{ExecutionProviderChoice, ExecutorSettings};

/// Where sessions run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Provider {
    Cpu,
    Cuda,
}

impl Provider {
    /// The name operators see.
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Cpu => "cpu",
            Provider::Cuda => "cuda",
        }
    }
}

/// The loaded library and its environment.
pub struct OrtRuntime {
    env: Environment,
    library: PathBuf,
    cuda_available: bool,
}

static RUNTIME: OnceLock<Result<Arc<OrtRuntime>, String>> = OnceLock::new();

impl OrtRuntime {
    /// The process's runtime, loading the library `settings` (or the search) names on first use.
    pub fn get(settings: &ExecutorSettings) -> Result<Arc<OrtRuntime>, OnnxError> {
        let library = find_onnxruntime(
            settings.onnxruntime.as_deref(),
            std::env::var_os("ORT_DYLIB_PATH"),
        )
        .map_err(|nf| OnnxError::Runtime(missing_library_message(&nf)))?;
        let runtime = RUNTIME
            .get_or_init(|| Self::load(&library).map(Arc::new))
            .clone()
            .map_err(OnnxError::Runtime)?;
        if runtime.library != library {
            warn!(
                loaded = %runtime.library.display(),
                asked = %library.display(),
                "onnx runtime already loaded from another file; using it"
            );
        }
        Ok(runtime)
    }

    fn load(library: &Path) -> Result<OrtRuntime, String> {
        let env = ort::init_from(library)
            .map_err(|e| {
                format!(
                    "cannot load the ONNX Runtime library {}: {e} (it must be ONNX Runtime 1.31 \
                     or newer; run scripts/ensure-onnxruntime.sh)",
                    library.display()
                )
            })?
            .with_name("shotfarm")
            .with_telemetry(false)
            .build()
            .map_err(|e| format!("cannot start ONNX Runtime from {}: {e}", library.display()))?;
        let cuda_available = ep::CUDA::is_available().unwrap_or(false);
        info!(
            library = %library.display(),
            cuda_available,
            "onnx runtime loaded"
        );
        Ok(OrtRuntime {
            env,
            library: library.to_path_buf(),
            cuda_available,
        })
    }

    /// The environment sessions are built in.
    pub fn env(&self) -> &Environment {
        &self.env
    }

    /// The library file in use.
    pub fn library(&self) -> &Path {
        &self.library
    }

    /// The provider `choice` resolves to with this library.
    pub fn provider(&self, choice: ExecutionProviderChoice) -> Result<Provider, OnnxError> {
        match choice {
            ExecutionProviderChoice::Cpu => Ok(Provider::Cpu),
            ExecutionProviderChoice::Auto if self.cuda_available => Ok(Provider::Cuda),
            ExecutionProviderChoice::Auto => Ok(Provider::Cpu),
            ExecutionProviderChoice::Cuda if self.cuda_available => Ok(Provider::Cuda),
            ExecutionProviderChoice::Cuda => Err(OnnxError::Runtime(format!(
                "executor.execution_provider = \"cuda\" but {} has no CUDA execution provider \
                 (install the onnxruntime-gpu wheel's library, or use \"auto\")",
                self.library.display()
            ))),
        }
    }
}
