//! Turns a trained tinygan generator ([`spec::GeneratorSpec`]) into deployable artefacts:
//!
//! * `generator.onnx` — fp32 ONNX (opset 13): `Gemm` / `ConvTranspose` with batch norm folded,
//!   `Relu` / `LeakyRelu` / `Tanh`, `Reshape`; input `z` `[N, z_dim]` (and `label` `[N]` int64 for
//!   a conditional model, realised as a `Gather` of the label columns of the first dense weight
//!   added to the `Gemm` output); output `image` `[N, 1, 28, 28]` in `[-1, 1]`.
//! * `generator.int8.onnx` — the same graph in QDQ form (what onnxruntime's quantizer emits):
//!   int8 weight initializers behind per-channel `DequantizeLinear`, int32 biases at scale
//!   `s_in · s_w`, `QuantizeLinear → DequantizeLinear` after the input and after every hidden
//!   layer; tanh in float on the last layer's dequantized output.
//! * `generator.tgb` — the blob read by `runtime-nostd` (format: [`runtime_nostd::format`]).
//! * `report.json`, `report.txt` — int8-vs-fp32 fidelity on 1 000 fixed latents ([`ExportReport`]).
//!
//! # Quantization method
//!
//! * Batch norm is folded into the preceding dense / transposed-conv layer (in f64).
//! * Weights: int8 symmetric, **per output channel, power-of-two scale** `2^-b`, with
//!   `b = floor(log2(127 / max|w|))` (so codes stay within ±127); `b` is lowered further if needed
//!   so that `128 · Σ|w_q| + |bias_q| < 2^24` for every output value (the f32-exactness bound of
//!   the format).
//! * Biases: int32 at scale `2^-(a + b)` (`s_in · s_w`). For a conditional model the one-hot label
//!   columns of the first weight are added to the bias per class, giving an int32 class table.
//! * Activations: int8 symmetric per tensor, power-of-two scale from the **max-abs over the
//!   calibration batch** (default 256 latents `runtime_nostd::latent(seed, i)`, label `i % 10`):
//!   `a = floor(log2(127 / max|x|))`, computed on the fp32 (folded) model's post-activation
//!   outputs; the latent itself likewise.
//! * Requantization: `q = sat8(round_half_even(f32(acc) · 2^(c - a - b)))` after the activation
//!   (exact in f32); the last layer gives `round((tanh(acc · 2^-(a+b)) + 1) / 2 · 255)`.
//!
//! Because every scale is a power of two and every accumulator stays below 2^24, the float
//! evaluation of the QDQ ONNX model reproduces the runtime's int8 codes exactly; only the final
//! tanh (f32 in both, different implementations) can differ, by at most 1 LSB of the u8 output.
#![deny(missing_docs)]

pub mod atomic;
mod fold;
mod onnx;
mod quant;
mod random;
pub mod spec;

use std::fmt;
use std::path::{Path, PathBuf};

use runtime_nostd::{BlobError, IMAGE_PIXELS, Model, RunError, Scratch};
use serde::Serialize;
use spec::{GeneratorSpec, Layer};

#[doc(hidden)]
pub use quant::upgrade_v1;
pub use random::random_spec;

pub use onnx::OPSET;

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The spec is malformed: shapes that do not chain, wrong tensor lengths, non-finite
    /// values, or a layer sequence the exporters cannot express.
    #[error("invalid generator spec: {0}")]
    InvalidSpec(String),
    /// The weights cannot be quantized within the format's limits.
    #[error("quantization failed: {0}")]
    Quantization(String),
    /// Bad arguments (latent length, label, batch size, ...).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// A blob was rejected by the runtime's parser.
    #[error("blob rejected by the runtime: {0}")]
    Blob(#[from] BlobError),
    /// The runtime refused to run.
    #[error("runtime error: {0}")]
    Run(#[from] RunError),
    /// Serializing the ONNX protobuf failed.
    #[error("ONNX serialization failed: {0}")]
    Onnx(#[source] protobuf::Error),
    /// Writing the report failed.
    #[error("JSON serialization failed: {0}")]
    Json(#[from] serde_json::Error),
    /// A file could not be written.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

/// The blob writer refuses sizes beyond the format's fields: the spec is too large.
impl From<runtime_nostd::format::write::WriteError> for ExportError {
    fn from(e: runtime_nostd::format::write::WriteError) -> Self {
        ExportError::InvalidSpec(e.to_string())
    }
}

/// Options of [`export_all`] and the quantizer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ExportOptions {
    /// Seed of the calibration latents (`latent(seed, i)`); fidelity latents use `seed + 1`.
    pub seed: u64,
    /// Number of calibration latents for the activation ranges.
    pub calibration_batch: usize,
    /// Number of latents of the fidelity comparison.
    pub fidelity_samples: usize,
}

impl Default for ExportOptions {
    fn default() -> Self {
        Self {
            seed: 0,
            calibration_batch: 256,
            fidelity_samples: 1000,
        }
    }
}

/// What [`export_all`] wrote and how faithful the int8 model is to fp32.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ExportReport {
    /// The preset (serialized as its name).
    #[serde(with = "spec::preset_name")]
    pub preset: spec::Preset,
    /// Training objective.
    pub objective: String,
    /// Generator iteration.
    pub iteration: u64,
    /// Number of classes (0 = unconditional).
    pub num_classes: usize,
    /// Parameters of the spec.
    pub params: usize,
    /// Multiply-accumulates per image in the runtime.
    pub macs: u64,
    /// Bytes of `generator.tgb` (flash).
    pub blob_bytes: usize,
    /// Scratch bytes the runtime needs (RAM).
    pub scratch_bytes: usize,
    /// Bytes of `generator.onnx`.
    pub onnx_fp32_bytes: usize,
    /// Bytes of `generator.int8.onnx`.
    pub onnx_int8_bytes: usize,
    /// Latents used for calibration.
    pub calibration_samples: usize,
    /// Latents compared.
    pub fidelity_samples: usize,
    /// Largest |int8 − fp32| over all pixels, image units (`[-1, 1]`).
    pub max_abs_error: f64,
    /// Mean |int8 − fp32|, image units.
    pub mean_abs_error: f64,
    /// PSNR of the int8 images (as u8 pixels) against the fp32 images (pixel scale 0..255), dB.
    pub psnr_db: f64,
}

impl fmt::Display for ExportReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "tinygan export: preset {} ({}), iteration {}, {} classes",
            self.preset, self.objective, self.iteration, self.num_classes
        )?;
        writeln!(
            f,
            "  params {}, {} MAC/image, blob {} B (flash), scratch {} B (RAM)",
            self.params, self.macs, self.blob_bytes, self.scratch_bytes
        )?;
        writeln!(
            f,
            "  generator.onnx {} B, generator.int8.onnx {} B",
            self.onnx_fp32_bytes, self.onnx_int8_bytes
        )?;
        write!(
            f,
            "  int8 vs fp32 on {} latents (calibrated on {}): max |err| {:.4}, mean |err| {:.5} \
             (image units, [-1, 1]), PSNR {:.2} dB",
            self.fidelity_samples,
            self.calibration_samples,
            self.max_abs_error,
            self.mean_abs_error,
            self.psnr_db
        )
    }
}

/// Checks that a spec is exportable (shapes chain, lengths match, values finite, layer sequence
/// supported).
pub fn validate(spec: &GeneratorSpec) -> Result<(), ExportError> {
    fold::fuse(spec).map(|_| ())
}

fn check_inputs(
    spec: &GeneratorSpec,
    z: &[f32],
    labels: Option<&[u8]>,
    n: usize,
) -> Result<(), ExportError> {
    if z.len() != n * spec.z_dim {
        return Err(ExportError::InvalidInput(format!(
            "z has {} values, expected {n} x {}",
            z.len(),
            spec.z_dim
        )));
    }
    match (labels, spec.num_classes) {
        (None, 0) => Ok(()),
        (Some(_), 0) => Err(ExportError::InvalidInput(
            "labels given to an unconditional model".into(),
        )),
        (None, _) => Err(ExportError::InvalidInput(
            "a conditional model needs labels".into(),
        )),
        (Some(l), c) => {
            if l.len() != n {
                return Err(ExportError::InvalidInput(format!(
                    "{} labels for {n} latents",
                    l.len()
                )));
            }
            if let Some(bad) = l.iter().find(|&&v| v as usize >= c) {
                return Err(ExportError::InvalidInput(format!(
                    "label {bad} out of range for {c} classes"
                )));
            }
            Ok(())
        }
    }
}

/// [`reference_forward`] returning an error instead of panicking on a bad spec or bad inputs.
pub fn try_reference_forward(
    spec: &GeneratorSpec,
    z: &[f32],
    labels: Option<&[u8]>,
    n: usize,
) -> Result<Vec<f32>, ExportError> {
    validate(spec)?;
    check_inputs(spec, z, labels, n)?;
    let mut out = Vec::with_capacity(n * IMAGE_PIXELS);
    for i in 0..n {
        let mut x = z[i * spec.z_dim..(i + 1) * spec.z_dim].to_vec();
        if let Some(l) = labels {
            let mut one_hot = vec![0f32; spec.num_classes];
            one_hot[l[i] as usize] = 1.0;
            x.extend(one_hot);
        }
        let mut shape = [x.len(), 1, 1];
        for layer in &spec.layers {
            match layer {
                Layer::Dense {
                    out_features,
                    weight,
                    bias,
                    ..
                } => {
                    let mut y = vec![0f32; *out_features];
                    fold::dense_f(&x, weight, bias, &mut y);
                    x = y;
                    shape = [*out_features, 1, 1];
                }
                Layer::ConvTranspose2d {
                    out_channels,
                    kernel,
                    stride,
                    padding,
                    weight,
                    bias,
                    ..
                } => {
                    let (k, s, p) = (*kernel, *stride, *padding);
                    let oh = (shape[1] - 1) * s + k - 2 * p;
                    let ow = (shape[2] - 1) * s + k - 2 * p;
                    let mut y = vec![0f32; out_channels * oh * ow];
                    fold::conv_t_f(&x, shape, weight, bias, *out_channels, k, s, p, &mut y);
                    x = y;
                    shape = [*out_channels, oh, ow];
                }
                Layer::BatchNorm {
                    gamma,
                    beta,
                    running_mean,
                    running_var,
                    eps,
                    ..
                } => {
                    let per = shape[1] * shape[2];
                    for (j, v) in x.iter_mut().enumerate() {
                        let c = j / per;
                        *v = gamma[c] * (*v - running_mean[c]) / (running_var[c] + eps).sqrt()
                            + beta[c];
                    }
                }
                Layer::Reshape {
                    channels,
                    height,
                    width,
                } => shape = [*channels, *height, *width],
                Layer::Relu => x.iter_mut().for_each(|v| *v = v.max(0.0)),
                Layer::LeakyRelu { alpha } => x.iter_mut().for_each(|v| {
                    if *v < 0.0 {
                        *v *= alpha
                    }
                }),
                Layer::Tanh => x.iter_mut().for_each(|v| *v = v.tanh()),
            }
        }
        out.extend_from_slice(&x);
    }
    Ok(out)
}

/// Plain-Rust fp32 forward pass of the spec (inference-mode batch norm, no folding): `n` latents
/// (`z` is `n × z_dim`, row-major) and, for a conditional model, `n` labels; returns `n × 784`
/// values in `[-1, 1]` (each image row-major 28×28).
///
/// # Panics
/// If the spec is invalid or the inputs do not match it; [`try_reference_forward`] returns an
/// error instead.
pub fn reference_forward(
    spec: &GeneratorSpec,
    z: &[f32],
    labels: Option<&[u8]>,
    n: usize,
) -> Vec<f32> {
    try_reference_forward(spec, z, labels, n).unwrap_or_else(|e| panic!("{e}"))
}

/// The fp32 ONNX model (batch norm folded), serialized.
pub fn onnx_fp32(spec: &GeneratorSpec) -> Result<Vec<u8>, ExportError> {
    let ops = fold::fuse(spec)?;
    onnx::fp32(spec, &ops)
}

/// The int8 QDQ ONNX model, serialized; calibrated with `opts` exactly like [`write_blob`], so
/// both express the same arithmetic.
pub fn onnx_int8(spec: &GeneratorSpec, opts: &ExportOptions) -> Result<Vec<u8>, ExportError> {
    let ops = fold::fuse(spec)?;
    let q = quant::quantize(spec, &ops, opts.seed, opts.calibration_batch)?;
    onnx::int8(spec, &q)
}

/// The runtime blob (format [`runtime_nostd::format`]), calibrated with `opts`. The result is
/// checked by the runtime's own parser before it is returned.
pub fn write_blob(spec: &GeneratorSpec, opts: &ExportOptions) -> Result<Vec<u8>, ExportError> {
    let ops = fold::fuse(spec)?;
    let q = quant::quantize(spec, &ops, opts.seed, opts.calibration_batch)?;
    let blob = quant::write(&q, spec.preset.name(), spec.iteration)?;
    Model::parse(&blob)?;
    Ok(blob)
}

/// What the device computes: runs `runtime-nostd` on `blob` for `n` latents (and labels),
/// returning `n × 784` pixels (0 = background, 255 = ink).
pub fn int8_reference(
    blob: &[u8],
    z: &[f32],
    labels: Option<&[u8]>,
    n: usize,
) -> Result<Vec<u8>, ExportError> {
    let model = Model::parse(blob)?;
    let zd = model.z_dim();
    if z.len() != n * zd {
        return Err(ExportError::InvalidInput(format!(
            "z has {} values, expected {n} x {zd}",
            z.len()
        )));
    }
    if labels.is_some_and(|l| l.len() != n) {
        return Err(ExportError::InvalidInput(
            "one label per latent needed".into(),
        ));
    }
    let mut scratch = Box::new(Scratch::<{ runtime_nostd::MAX_PRESET_SCRATCH }>::new());
    if model.scratch_bytes() > scratch.len() {
        return Err(ExportError::InvalidInput(format!(
            "model needs {} scratch bytes, more than any preset",
            model.scratch_bytes()
        )));
    }
    let mut out = vec![0u8; n * IMAGE_PIXELS];
    let mut image = [0u8; IMAGE_PIXELS];
    for i in 0..n {
        model.generate(
            &z[i * zd..(i + 1) * zd],
            labels.map(|l| l[i]),
            &mut *scratch,
            &mut image,
        )?;
        out[i * IMAGE_PIXELS..(i + 1) * IMAGE_PIXELS].copy_from_slice(&image);
    }
    Ok(out)
}

/// Number of parameters of a spec (BN running statistics included).
pub fn param_count(spec: &GeneratorSpec) -> usize {
    spec.layers
        .iter()
        .map(|l| match l {
            Layer::Dense { weight, bias, .. } | Layer::ConvTranspose2d { weight, bias, .. } => {
                weight.len() + bias.len()
            }
            Layer::BatchNorm { num_features, .. } => 4 * num_features,
            _ => 0,
        })
        .sum()
}

/// `n` fixed latents `latent(seed, i)` (row-major `n × z_dim`) and, for a conditional model,
/// labels `i % num_classes`.
pub fn fixed_latents(spec: &GeneratorSpec, seed: u64, n: usize) -> (Vec<f32>, Option<Vec<u8>>) {
    let mut z = vec![0f32; n * spec.z_dim];
    for (i, chunk) in z.chunks_exact_mut(spec.z_dim.max(1)).enumerate() {
        runtime_nostd::latent(seed, i as u32, chunk);
    }
    let labels =
        (spec.num_classes > 0).then(|| (0..n).map(|i| (i % spec.num_classes) as u8).collect());
    (z, labels)
}

/// Fidelity of int8 `pixels` (u8) against fp32 `reference` images (`[-1, 1]`):
/// `(max_abs_error, mean_abs_error, psnr_db)`, errors in image units, PSNR on the 0..255 scale.
pub fn fidelity(pixels: &[u8], reference: &[f32]) -> (f64, f64, f64) {
    let (mut max, mut sum, mut sq) = (0f64, 0f64, 0f64);
    for (&p, &r) in pixels.iter().zip(reference) {
        let d = p as f64 / 127.5 - 1.0 - r as f64;
        max = max.max(d.abs());
        sum += d.abs();
        sq += (d * 127.5) * (d * 127.5);
    }
    let n = pixels.len().max(1) as f64;
    let mse = sq / n;
    let psnr = if mse == 0.0 {
        f64::INFINITY
    } else {
        10.0 * (255.0f64 * 255.0 / mse).log10()
    };
    (max, sum / n, psnr)
}

fn write_file(path: PathBuf, bytes: &[u8]) -> Result<(), ExportError> {
    atomic::write_atomic(&path, bytes).map_err(|source| ExportError::Io { path, source })
}

/// Writes `generator.onnx`, `generator.int8.onnx`, `generator.tgb`, `report.json` and
/// `report.txt` into `out_dir` (created if missing) and returns the report.
pub fn export_all(
    spec: &GeneratorSpec,
    out_dir: &Path,
    opts: &ExportOptions,
) -> Result<ExportReport, ExportError> {
    if opts.fidelity_samples == 0 {
        return Err(ExportError::InvalidInput(
            "fidelity_samples must be at least 1".into(),
        ));
    }
    let ops = fold::fuse(spec)?;
    let q = quant::quantize(spec, &ops, opts.seed, opts.calibration_batch)?;
    let fp32 = onnx::fp32(spec, &ops)?;
    let int8 = onnx::int8(spec, &q)?;
    let blob = quant::write(&q, spec.preset.name(), spec.iteration)?;
    let model = Model::parse(&blob)?;

    let n = opts.fidelity_samples;
    let (z, labels) = fixed_latents(spec, opts.seed.wrapping_add(1), n);
    let reference = reference_forward(spec, &z, labels.as_deref(), n);
    let pixels = int8_reference(&blob, &z, labels.as_deref(), n)?;
    let (max_abs_error, mean_abs_error, psnr_db) = fidelity(&pixels, &reference);
    let report = ExportReport {
        preset: spec.preset,
        objective: spec.objective.clone(),
        iteration: spec.iteration,
        num_classes: spec.num_classes,
        params: param_count(spec),
        macs: model.macs(),
        blob_bytes: blob.len(),
        scratch_bytes: model.scratch_bytes(),
        onnx_fp32_bytes: fp32.len(),
        onnx_int8_bytes: int8.len(),
        calibration_samples: opts.calibration_batch,
        fidelity_samples: n,
        max_abs_error,
        mean_abs_error,
        psnr_db,
    };
    std::fs::create_dir_all(out_dir).map_err(|source| ExportError::Io {
        path: out_dir.to_path_buf(),
        source,
    })?;
    write_file(out_dir.join("generator.onnx"), &fp32)?;
    write_file(out_dir.join("generator.int8.onnx"), &int8)?;
    write_file(out_dir.join("generator.tgb"), &blob)?;
    write_file(
        out_dir.join("report.json"),
        serde_json::to_string_pretty(&report)?.as_bytes(),
    )?;
    write_file(out_dir.join("report.txt"), format!("{report}\n").as_bytes())?;
    Ok(report)
}
