//! Checkpoints written before the generator and the critic's body became enums of architectures
//! (up to `b636dae`): their records name parameters `fc.0.weight`, `bn0.gamma`, `conv.1.weight`, …
//! where [`Generator`] now has `Conv.project.weight`, `Conv.bn0.gamma`, `Mlp.layers.0.weight`, …
//! and [`Critic`] `body.Conv.1.weight`, `out.weight`, …. Such a record loads into the old layout
//! kept here, whose layers then move into the new one (parameter ids included, so the optimiser
//! state of a resumed run still finds its parameters).

use burn::module::{Module, Param, RunningState};
use burn::nn::conv::{Conv2d, ConvTranspose2d};
use burn::nn::{BatchNorm, Linear};
use burn::prelude::*;

use crate::model::{ConvGenerator, Critic, CriticBody, Generator, MlpGenerator};

/// The generator's layout before the enum: one struct, the conv layers optional.
#[derive(Module, Debug)]
pub(super) struct LegacyGenerator {
    fc: Vec<Linear>,
    bn0: Option<BatchNorm>,
    up1: Option<ConvTranspose2d>,
    bn1: Option<BatchNorm>,
    up2: Option<ConvTranspose2d>,
    z_dim: usize,
    num_classes: usize,
    ch0: usize,
    tanh_out: bool,
}

impl From<Generator> for LegacyGenerator {
    fn from(g: Generator) -> Self {
        match g {
            Generator::Mlp(g) => LegacyGenerator {
                fc: g.layers,
                bn0: None,
                up1: None,
                bn1: None,
                up2: None,
                z_dim: g.z_dim,
                num_classes: g.num_classes,
                ch0: 0,
                tanh_out: g.tanh_out,
            },
            Generator::Conv(g) => LegacyGenerator {
                fc: vec![g.project],
                bn0: Some(g.bn0),
                up1: Some(g.up1),
                bn1: Some(g.bn1),
                up2: Some(g.up2),
                z_dim: g.z_dim,
                num_classes: g.num_classes,
                ch0: g.channels,
                tanh_out: true,
            },
        }
    }
}

impl LegacyGenerator {
    /// The same layers in the current layout; `like` (a generator of the run's config) supplies
    /// what the old layout did not store (the side of the first maps).
    pub(super) fn into_generator(self, like: &Generator) -> Option<Generator> {
        match (like, self.bn0, self.up1, self.bn1, self.up2) {
            (Generator::Mlp(_), None, None, None, None) => Some(Generator::Mlp(MlpGenerator {
                layers: self.fc,
                z_dim: self.z_dim,
                num_classes: self.num_classes,
                tanh_out: self.tanh_out,
            })),
            (Generator::Conv(c), Some(bn0), Some(up1), Some(bn1), Some(up2)) => {
                let project = self.fc.into_iter().next()?;
                Some(Generator::Conv(ConvGenerator {
                    project,
                    bn0,
                    up1,
                    bn1,
                    up2,
                    z_dim: self.z_dim,
                    num_classes: self.num_classes,
                    channels: self.ch0,
                    side: c.side,
                }))
            }
            _ => None,
        }
    }
}

/// The critic's layout before its body became an enum: convolutions (empty for MLPs), then every
/// dense layer, the output last.
#[derive(Module, Debug)]
pub(super) struct LegacyCritic {
    conv: Vec<Conv2d>,
    fc: Vec<Linear>,
    embed: Option<Param<Tensor<2>>>,
    sn_u: Vec<RunningState<Tensor<2>>>,
}

impl From<Critic> for LegacyCritic {
    fn from(c: Critic) -> Self {
        // (The old struct's `data_dim` was a constant, not part of its record.)
        let (conv, mut fc) = match c.body {
            CriticBody::Conv(convs) => (convs, Vec::new()),
            CriticBody::Mlp(layers) => (Vec::new(), layers),
        };
        fc.push(c.out);
        LegacyCritic {
            conv,
            fc,
            embed: c.embed,
            sn_u: c.sn_u,
        }
    }
}

impl LegacyCritic {
    /// The same layers in the current layout, if they fit the architecture of `like` (a critic of
    /// the run's config).
    pub(super) fn into_critic(mut self, like: &Critic) -> Option<Critic> {
        let out = self.fc.pop()?;
        let body = match (&like.body, self.conv.is_empty()) {
            (CriticBody::Conv(_), false) if self.fc.is_empty() => CriticBody::Conv(self.conv),
            (CriticBody::Mlp(_), true) => CriticBody::Mlp(self.fc),
            _ => return None,
        };
        Some(Critic {
            body,
            out,
            embed: self.embed,
            sn_u: self.sn_u,
        })
    }
}

#[cfg(test)]
mod tests {
    use burn::prelude::*;

    use super::{LegacyCritic, LegacyGenerator};
    use crate::checkpoint::{Weights, record_bytes};
    use crate::config::TrainConfig;
    use crate::data::TrainData;
    use crate::model::{Preset, flat_parameters as flat};
    use crate::objective::Loss;
    use crate::train::Trainer;

    fn data(preset: Preset) -> TrainData {
        match preset {
            Preset::Toy => TrainData::Gaussians8,
            _ => TrainData::Images {
                images: (0..64 * 784).map(|i| (i * 7 % 251) as u8).collect(),
                labels: (0..64).map(|i| (i % 10) as u8).collect(),
            },
        }
    }

    /// A checkpoint whose generator, averaged-generator and critic sections are written in the old
    /// layout loads to the same weights as the one written now, and training continues identically from both (the
    /// optimiser state is found by parameter id).
    #[test]
    fn old_layout_checkpoints_load_and_resume_like_new_ones() {
        let dev = Device::flex();
        let dir = tempfile::tempdir().unwrap();
        for (preset, conditional) in [(Preset::Tiny, true), (Preset::Toy, false)] {
            let mut cfg = TrainConfig::with_defaults(preset, Loss::NsGan)
                .with_batch(8)
                .with_seed(3);
            cfg.conditional = conditional;
            cfg.dataset = crate::config::dataset_for(preset, cfg.dataset);
            let mut t = Trainer::new(cfg, &dev, data(preset)).unwrap();
            t.step().unwrap();
            t.step().unwrap();
            let new = dir.path().join(format!("{preset:?}-new.tgc"));
            let old = dir.path().join(format!("{preset:?}-old.tgc"));
            t.save(&new).unwrap();
            let mut ck = t.checkpoint().unwrap();
            ck.generator = record_bytes(&LegacyGenerator::from(t.generator.clone())).unwrap();
            ck.critic = record_bytes(&LegacyCritic::from(t.critic.clone())).unwrap();
            ck.generator_ema = t
                .ema
                .clone()
                .map(|g| record_bytes(&LegacyGenerator::from(g)).unwrap());
            assert!(
                ck.generator_ema.is_some(),
                "the default recipe keeps an average"
            );
            ck.write(&old).unwrap();

            let mut a = Trainer::load(&new, &dev, data(preset)).unwrap();
            let mut b = Trainer::load(&old, &dev, data(preset)).unwrap();
            assert_eq!(flat(&a.generator), flat(&t.generator));
            assert_eq!(flat(&b.generator), flat(&t.generator));
            assert_eq!(flat(&b.critic), flat(&t.critic));
            for w in [Weights::Averaged, Weights::Trained] {
                let ga = Trainer::load_generator(&new, &dev, w).unwrap().generator;
                let gb = Trainer::load_generator(&old, &dev, w).unwrap().generator;
                assert_eq!(flat(&ga), flat(&gb), "{preset:?} {w:?}");
            }
            a.step().unwrap();
            b.step().unwrap();
            assert_eq!(flat(&a.generator), flat(&b.generator), "{preset:?}");
            assert_eq!(flat(&a.critic), flat(&b.critic), "{preset:?}");
            assert_eq!(
                flat(&a.sampling_generator()),
                flat(&b.sampling_generator()),
                "{preset:?}"
            );
        }
    }
}
