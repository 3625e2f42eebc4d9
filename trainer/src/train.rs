//! The training loop's state: models, optimisers, the run's RNG and iteration ([`Trainer`]), and
//! how batches of real data, latents and labels are drawn from it. The step itself is in
//! [`crate::step`], checkpoints in [`crate::checkpoint`], the moving average in [`crate::ema`].
//!
//! All randomness of a run after initialisation (batch indices, noise, interpolation weights, labels)
//! comes from one seeded PCG generator whose state is saved in every checkpoint, so a resumed run
//! continues exactly where the interrupted one stopped.

use burn::module::Module;
use burn::optim::{AdamConfig, ModuleOptimizer, RmsPropConfig};
use burn::prelude::*;
use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;

use crate::config::TrainConfig;
use crate::data::{IMAGE_PIXELS, TrainData, gaussians8_sample, pixel_to_signed};
use crate::ema::calibrated;
use crate::model::{Critic, CriticConfig, Generator, GeneratorConfig, init_seeded};
use crate::objective::{OptimSettings, OptimizerKind};
use crate::sample::{LabelError, generate, normal_latents, onehot};

/// A run's live state: models, optimisers, RNG and iteration.
pub struct Trainer {
    /// The configuration.
    pub cfg: TrainConfig,
    /// The autodiff device everything lives on.
    pub device: Device,
    /// The generator.
    pub generator: Generator,
    /// The critic.
    pub critic: Critic,
    pub(crate) opt_g: ModuleOptimizer,
    pub(crate) opt_d: ModuleOptimizer,
    pub(crate) rng: Pcg64,
    /// Generator iterations done.
    pub iteration: u64,
    data: TrainData,
    /// Moving average of the generator's weights (on the inference device), unless `cfg.ema` is 0.
    pub(crate) ema: Option<Generator>,
}

fn optimizer(o: &OptimSettings) -> ModuleOptimizer {
    match o.kind {
        OptimizerKind::Adam => AdamConfig::new()
            .with_beta_1(o.beta1 as f32)
            .with_beta_2(o.beta2 as f32)
            .with_epsilon(1e-8)
            .init(),
        OptimizerKind::Rmsprop => RmsPropConfig::new()
            .with_alpha(0.99)
            .with_momentum(0.0)
            .with_epsilon(1e-8)
            .init(),
    }
}

impl Trainer {
    /// Fresh models initialised from `cfg.seed` on `device` (autodiff is enabled here).
    pub fn new(cfg: TrainConfig, device: &Device, data: TrainData) -> anyhow::Result<Self> {
        cfg.validate()?;
        if let TrainData::Images { images, labels } = &data {
            anyhow::ensure!(!labels.is_empty(), "the training set is empty");
            anyhow::ensure!(
                images.len() == labels.len() * IMAGE_PIXELS,
                "images and labels disagree in count"
            );
            if let Some(&bad) = labels.iter().find(|&&l| l > 9) {
                anyhow::bail!("the training set holds label {bad}; digits are 0..=9");
            }
        }
        let device = device.clone().autodiff();
        // The initial weights are a function of the seed alone, whatever else runs at once.
        let (generator, critic) = init_seeded(&device, cfg.seed, |d| {
            let generator = GeneratorConfig::new(cfg.preset)
                .with_num_classes(cfg.num_classes())
                .init(d);
            let critic = CriticConfig::new(cfg.preset)
                .with_num_classes(cfg.num_classes())
                .with_spectral_norm(cfg.spectral_norm)
                .with_size(cfg.critic_size())
                .init(d);
            (generator, critic)
        });
        let ema = cfg.keeps_average().then(|| generator.valid());
        Ok(Trainer {
            ema,
            opt_g: optimizer(&cfg.optim),
            opt_d: optimizer(&cfg.optim),
            rng: Pcg64::seed_from_u64(cfg.seed ^ 0x7469_6e79_6761_6e00),
            iteration: 0,
            generator,
            critic,
            device,
            cfg,
            data,
        })
    }

    /// Generates samples from the trained weights (not their moving average) in inference mode
    /// (batch norm uses running statistics): `[n, data_dim]` row-major values in `[-1, 1]` (or toy
    /// points). Labels must be below the model's number of classes (see [`generate`]).
    pub fn generate(&self, z: &[f32], labels: Option<&[u8]>) -> Vec<f32> {
        generate(
            &self.generator.valid(),
            z,
            labels,
            &self.device.clone().inner(),
        )
    }

    /// The generator that sampling and export use, in inference mode: the moving average of the
    /// weights (batch norm measured for it) when the run keeps one, else the trained weights.
    pub fn sampling_generator(&self) -> Generator {
        match &self.ema {
            Some(ema) => calibrated(ema.clone(), &self.cfg, &self.device.clone().inner()),
            None => self.generator.valid(),
        }
    }

    /// Whether the run keeps a moving average of the generator's weights.
    pub fn has_average(&self) -> bool {
        self.ema.is_some()
    }

    pub(crate) fn tensor2(&self, v: Vec<f32>, rows: usize, cols: usize) -> Tensor<2> {
        Tensor::from_data(TensorData::new(v, [rows, cols]), &self.device)
    }

    /// `n` standard-normal latents from the run's RNG.
    pub(crate) fn noise(&mut self, n: usize) -> Tensor<2> {
        let zd = self.cfg.preset.z_dim();
        let v = normal_latents(&mut self.rng, n * zd);
        self.tensor2(v, n, zd)
    }

    /// One-hot rows of `labels` for a conditional run, `None` for an unconditional one.
    pub(crate) fn onehot(&self, labels: &[u8]) -> Result<Option<Tensor<2>>, LabelError> {
        let c = self.cfg.num_classes();
        (c > 0).then(|| onehot(labels, c, &self.device)).transpose()
    }

    pub(crate) fn random_labels(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.rng.random_range(0..10u8)).collect()
    }

    /// A batch of real samples in `[-1, 1]` and their labels.
    pub(crate) fn real_batch(&mut self, n: usize) -> (Tensor<2>, Vec<u8>) {
        match &self.data {
            TrainData::Images { images, labels } => {
                let count = labels.len();
                let mut v = Vec::with_capacity(n * IMAGE_PIXELS);
                let mut l = Vec::with_capacity(n);
                for _ in 0..n {
                    let i = self.rng.random_range(0..count);
                    v.extend(
                        images[i * IMAGE_PIXELS..(i + 1) * IMAGE_PIXELS]
                            .iter()
                            .map(|&p| pixel_to_signed(p)),
                    );
                    l.push(labels[i]);
                }
                (self.tensor2(v, n, IMAGE_PIXELS), l)
            }
            TrainData::Gaussians8 => {
                let v = gaussians8_sample(&mut self.rng, n);
                (self.tensor2(v, n, 2), vec![0; n])
            }
        }
    }
}
