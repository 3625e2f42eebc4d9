//! Choosing the compute device once, from `--device auto | cpu | wgpu`.

use burn::prelude::*;
use serde::{Deserialize, Serialize};

/// What the user asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum, Default)]
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
        DeviceChoice::Auto => Ok(wgpu(true).unwrap_or_else(|_| cpu())),
    }
}

#[cfg(feature = "wgpu")]
fn wgpu(hardware_only: bool) -> Result<Chosen, DeviceError> {
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
        description: format!("wgpu ({name})"),
    })
}

#[cfg(not(feature = "wgpu"))]
fn wgpu(_hardware_only: bool) -> Result<Chosen, DeviceError> {
    Err(DeviceError::NotBuilt)
}
