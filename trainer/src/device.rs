//! Choosing the compute device once, from `--device auto | cpu | wgpu`.

use std::path::Path;

use burn::prelude::*;
use serde::{Deserialize, Serialize};

/// What the user asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum DeviceChoice {
    /// wgpu when a hardware GPU adapter exists, else the CPU backend.
    #[default]
    Auto,
    /// Burn's pure-Rust CPU backend (flex: SIMD + rayon).
    Cpu,
    /// burn-wgpu on whatever adapter wgpu picks (a software Vulkan driver included).
    Wgpu,
}

/// A chosen device and a human-readable description of it.
#[derive(Clone, Debug)]
pub struct Chosen {
    /// The device (without autodiff).
    pub device: Device,
    /// E.g. `cpu (flex)` or `wgpu (NVIDIA H100)`.
    pub description: String,
}

/// Errors choosing a device.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    /// `--device wgpu` but no adapter could be initialised.
    #[error("--device wgpu: no usable wgpu adapter ({0}); use --device cpu")]
    NoAdapter(String),
    /// The binary was built without the `wgpu` feature.
    #[error("--device wgpu: this tinygan was built without the `wgpu` feature")]
    NotBuilt,
}

/// Resolves the user's choice into a device.
pub fn choose(choice: DeviceChoice) -> Result<Chosen, DeviceError> {
    let cpu = || Chosen {
        device: Device::flex(),
        description: "cpu (burn-flex)".to_string(),
    };
    match choice {
        DeviceChoice::Cpu => Ok(cpu()),
        DeviceChoice::Wgpu => wgpu(false),
        DeviceChoice::Auto if !may_have_gpu(Path::new("/dev")) => Ok(cpu()),
        DeviceChoice::Auto => Ok(wgpu(true).unwrap_or_else(|_| cpu())),
    }
}

/// Whether a hardware GPU may be there for `--device auto` to find, judged from the device nodes
/// under `dev` (`/dev`). On Linux every driver wgpu can use exposes one (`dri/renderD*`,
/// `nvidia*`, WSL2's `dxg`); without any, probing would only load the software Vulkan driver, whose
/// window-system set-up prints `error: XDG_RUNTIME_DIR is invalid ...` on a headless machine, so
/// auto goes straight to the CPU. Elsewhere it always probes.
fn may_have_gpu(dev: &Path) -> bool {
    if !cfg!(target_os = "linux") {
        return true;
    }
    let names = |dir: &Path| {
        std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
    };
    names(&dev.join("dri")).any(|n| n.starts_with("renderD"))
        || names(dev).any(|n| n.starts_with("nvidia") || n == "dxg")
}

/// Runs the wgpu backend without kernel fusion unless the user set `BURN_FUSION_MAX_EXPLORATIONS`.
///
/// With burn-fusion 0.22.1 a `tiny` training step on lavapipe turns 782 of the critic's 1 024
/// first-layer weights into NaN on step 3, although every op of the step matches the CPU backend
/// on its own (`examples/wgpu_ops_check.rs`); with fusion off (`BURN_FUSION_MAX_EXPLORATIONS=0`,
/// which makes burn-fusion run every segment unfused) the same steps stay finite. Burn's tracker
/// has the same symptom on real GPUs (tracel-ai/burn#5202). Correct first: `tinygan` installs
/// Burn's config (from `burn.toml` and the environment, as Burn would) with `max_explorations = 0`
/// before the wgpu runtime starts. `BURN_FUSION_MAX_EXPLORATIONS=1000000` turns fusion back on.
/// Returns whether fusion is off.
#[cfg(feature = "wgpu")]
fn fusion_off_by_default() -> bool {
    use burn_std::config::RuntimeConfig;
    if let Some(v) = std::env::var_os("BURN_FUSION_MAX_EXPLORATIONS") {
        return v == "0";
    }
    let cfg = burn::BurnConfig::from_current_dir().override_from_env();
    let Ok(mut v) = serde_json::to_value(&cfg) else {
        return false;
    };
    v["fusion"]["beam_search"]["max_explorations"] = 0.into();
    match serde_json::from_value::<burn::BurnConfig>(v) {
        Ok(cfg) => burn::BurnConfig::try_set(cfg),
        Err(_) => false,
    }
}

#[cfg(feature = "wgpu")]
fn wgpu(hardware_only: bool) -> Result<Chosen, DeviceError> {
    let unfused = fusion_off_by_default();
    // Adapter discovery can panic deep inside drivers; treat that as "no adapter".
    let res = std::panic::catch_unwind(|| {
        let device = Device::wgpu_options().init().map_err(|e| e.to_string())?;
        let name = device
            .identity()
            .map(|i| format!("{i:?}"))
            .unwrap_or_else(|| "unknown adapter".to_string());
        Ok::<_, String>((device, name))
    });
    let (device, name) = match res {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => return Err(DeviceError::NoAdapter(e)),
        Err(_) => return Err(DeviceError::NoAdapter("adapter discovery panicked".into())),
    };
    let lower = name.to_lowercase();
    let software = ["llvmpipe", "lavapipe", "swiftshader", "software"]
        .iter()
        .any(|s| lower.contains(s));
    if hardware_only && software {
        return Err(DeviceError::NoAdapter(format!(
            "only a software adapter: {name}"
        )));
    }
    Ok(Chosen {
        device,
        description: format!("wgpu ({name}){}", if unfused { ", fusion off" } else { "" }),
    })
}

#[cfg(not(feature = "wgpu"))]
fn wgpu(_hardware_only: bool) -> Result<Chosen, DeviceError> {
    Err(DeviceError::NotBuilt)
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::may_have_gpu;

    #[test]
    fn auto_probes_only_with_a_gpu_device_node() {
        let dev = tempfile::tempdir().unwrap();
        std::fs::create_dir(dev.path().join("dri")).unwrap();
        std::fs::write(dev.path().join("null"), b"").unwrap();
        std::fs::write(dev.path().join("dri/card0"), b"").unwrap();
        assert!(
            !may_have_gpu(dev.path()),
            "a display-only card node is no render node"
        );
        std::fs::write(dev.path().join("dri/renderD128"), b"").unwrap();
        assert!(may_have_gpu(dev.path()));
        for node in ["nvidia0", "dxg"] {
            let dev = tempfile::tempdir().unwrap();
            std::fs::write(dev.path().join(node), b"").unwrap();
            assert!(may_have_gpu(dev.path()), "{node}");
        }
        assert!(!may_have_gpu(&dev.path().join("missing")));
    }
}
