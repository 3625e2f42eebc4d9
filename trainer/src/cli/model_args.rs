//! The model and objective flags that `train` and `bench` share, and the recipe they describe.

use clap::Args;

use super::values::{CriticArg, LossArg, OptimizerArg, PresetArg};
use crate::config::{
    DEFAULT_BATCH, DEFAULT_CLIP, DEFAULT_LAMBDA, DEFAULT_PRESET, DEFAULT_R1_EVERY, DEFAULT_SEED,
    Retune, TrainConfig, default_conditional,
};
use crate::data::Dataset;
use crate::model::Preset;
use crate::objective::{OptimizerKind, Recipe};

/// Model and objective (shared by `train` and `bench`).
#[derive(Args, Debug, Clone)]
pub struct ModelArgs {
    /// Model preset.
    #[arg(long, value_enum, default_value_t = PresetArg::from(DEFAULT_PRESET))]
    pub preset: PresetArg,
    /// Objective [default: the preset's recipe (`Recipe::default_for`, from the recipe study)].
    #[arg(long, value_enum)]
    pub loss: Option<LossArg>,
    /// Condition G and D on the digit class (`--conditional false`: unconditional) [default: on
    /// for tiny and dcgan, from the conditioning study; off for mlp].
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub conditional: Option<bool>,
    /// Spectral normalisation in the critic (for `wgan` it replaces weight clipping).
    #[arg(long)]
    pub spectral_norm: bool,
    /// The critic's size: only the generator has to fit the microcontroller.
    #[arg(long, value_enum, default_value_t = CriticArg::Standard)]
    pub critic: CriticArg,
    /// Critic steps per generator step [default: 5 for the WGAN family, else 1].
    #[arg(long)]
    pub n_critic: Option<usize>,
    /// Batch size.
    #[arg(long, default_value_t = DEFAULT_BATCH)]
    pub batch: usize,
    /// Optimiser [default: rmsprop for wgan, else adam].
    #[arg(long, value_enum)]
    pub optimizer: Option<OptimizerArg>,
    /// Learning rate of both networks [default: 5e-5 wgan, 1e-4 penalties, 2e-4 gan/ns-gan;
    /// hinge: 1e-4 for G and 4e-4 for D].
    #[arg(long)]
    pub lr: Option<f64>,
    /// The generator's learning rate (two time-scales) [default: --lr].
    #[arg(long)]
    pub lr_g: Option<f64>,
    /// The critic's learning rate (two time-scales) [default: --lr].
    #[arg(long)]
    pub lr_d: Option<f64>,
    /// Adam β1 [default: 0.5; hinge: 0].
    #[arg(long)]
    pub beta1: Option<f64>,
    /// Adam β2 [default: 0.9 for penalties, 0.999 for gan/ns-gan].
    #[arg(long)]
    pub beta2: Option<f64>,
    /// Penalty weight λ.
    #[arg(long, default_value_t = DEFAULT_LAMBDA)]
    pub lambda: f64,
    /// R1 penalty weight γ: (γ/2)·mean ‖∇ₓD(x)‖² on real digits (gan, ns-gan, hinge); 0 = off
    /// [default: the preset's recipe without --loss, else 0].
    #[arg(long)]
    pub r1: Option<f64>,
    /// Apply R1 lazily, every N critic steps with weight N·γ/2.
    #[arg(long, default_value_t = DEFAULT_R1_EVERY)]
    pub r1_every: u64,
    /// Weight-clipping bound c (wgan).
    #[arg(long, default_value_t = DEFAULT_CLIP)]
    pub clip: f64,
    /// Random seed.
    #[arg(long, default_value_t = DEFAULT_SEED)]
    pub seed: u64,
    /// Decay of the moving average of the generator's weights that sampling and export use; 0
    /// turns it off [default: 0.995].
    #[arg(long)]
    pub ema: Option<f64>,
}

impl ModelArgs {
    /// The preset asked for.
    pub fn preset(&self) -> Preset {
        self.preset.into()
    }

    /// The recipe these arguments ask for: the preset's default unless `--loss` names one, with
    /// the flags given on top of it.
    pub fn recipe(&self) -> Recipe {
        let mut r = match self.loss {
            None => Recipe::default_for(self.preset()),
            Some(loss) => Recipe::of(loss.into()),
        };
        r.spectral_norm |= self.spectral_norm;
        if let Some(g) = self.r1 {
            r.r1 = (g != 0.0).then_some(g);
        }
        r.n_critic = self.n_critic.unwrap_or(r.n_critic);
        let optim = &mut r.optim;
        if let Some(k) = self.optimizer {
            let k = OptimizerKind::from(k);
            optim.kind = k;
            if k == OptimizerKind::Adam && optim.beta2 == 0.0 {
                (optim.beta1, optim.beta2) = (0.5, 0.9);
            }
        }
        optim.set_rates(self.lr, self.lr_g, self.lr_d);
        if let Some(b) = self.beta1 {
            optim.beta1 = b;
        }
        if let Some(b) = self.beta2 {
            optim.beta2 = b;
        }
        r
    }

    /// What these arguments change in a run on `--resume`: only the learning rates and the
    /// averaging decay may; any other model or objective flag is an error (the run keeps its own).
    /// A flag given at its default value cannot be told apart from one left out, and passes.
    pub fn retune(&self) -> anyhow::Result<Retune> {
        let fixed = [
            ("--preset", self.preset() != DEFAULT_PRESET),
            ("--loss", self.loss.is_some()),
            ("--conditional", self.conditional.is_some()),
            ("--spectral-norm", self.spectral_norm),
            ("--critic", self.critic != CriticArg::Standard),
            ("--n-critic", self.n_critic.is_some()),
            ("--batch", self.batch != DEFAULT_BATCH),
            ("--optimizer", self.optimizer.is_some()),
            ("--beta1", self.beta1.is_some()),
            ("--beta2", self.beta2.is_some()),
            ("--lambda", self.lambda != DEFAULT_LAMBDA),
            ("--r1", self.r1.is_some()),
            ("--r1-every", self.r1_every != DEFAULT_R1_EVERY),
            ("--clip", self.clip != DEFAULT_CLIP),
            ("--seed", self.seed != DEFAULT_SEED),
        ];
        if let Some((flag, _)) = fixed.iter().find(|(_, given)| *given) {
            anyhow::bail!(
                "{flag} cannot change on --resume (the run keeps its config.json); only --lr, \
                 --lr-g, --lr-d and --ema can"
            );
        }
        Ok(Retune {
            lr: self.lr,
            lr_g: self.lr_g,
            lr_d: self.lr_d,
            ema: self.ema,
        })
    }

    /// The training config these arguments describe.
    pub fn config(&self, dataset: Dataset) -> TrainConfig {
        let recipe = self.recipe();
        TrainConfig::new(self.preset(), recipe.loss, recipe.n_critic, recipe.optim)
            .with_dataset(dataset)
            .with_conditional(
                self.conditional
                    .unwrap_or_else(|| default_conditional(self.preset())),
            )
            .with_spectral_norm(recipe.spectral_norm)
            .with_critic(Some(self.critic.into()))
            .with_batch(self.batch)
            .with_lambda(self.lambda)
            .with_clip(self.clip)
            .with_seed(self.seed)
            .with_ema(self.ema)
            .with_r1(recipe.r1)
            .with_r1_every(Some(self.r1_every))
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command};
    use crate::objective::Loss;

    fn model(args: &[&str]) -> ModelArgs {
        let cli = Cli::try_parse_from([&["tinygan", "bench"], args].concat()).unwrap();
        match cli.command {
            Command::Bench(b) => b.model,
            _ => unreachable!("bench was parsed"),
        }
    }

    #[test]
    fn without_loss_the_preset_recipe_applies_and_flags_go_on_top() {
        for preset in [Preset::Tiny, Preset::Dcgan, Preset::Mlp] {
            let r = model(&["--preset", preset.name()]).recipe();
            assert_eq!(r, Recipe::default_for(preset));
        }
        // --loss picks that objective's own defaults, not the preset's recipe.
        let r = model(&["--loss", "ns-gan"]).recipe();
        assert_eq!(r, Recipe::of(Loss::NsGan));
        // --lr sets both networks, replacing hinge's two time-scales; --lr-d then splits again.
        let r = model(&["--loss", "hinge", "--lr", "3e-4"]).recipe();
        assert_eq!((r.optim.lr_g(), r.optim.lr_d()), (3e-4, 3e-4));
        let r = model(&["--loss", "hinge", "--lr", "3e-4", "--lr-d", "1e-3"]).recipe();
        assert_eq!((r.optim.lr_g(), r.optim.lr_d()), (3e-4, 1e-3));
        let r = model(&["--loss", "ns-gan", "--r1", "2", "--n-critic", "3"]).recipe();
        assert_eq!((r.r1, r.n_critic), (Some(2.0), 3));
        // --r1 0 turns a recipe's R1 off.
        assert_eq!(model(&["--r1", "0"]).recipe().r1, None);
    }

    #[test]
    fn resume_takes_learning_rates_and_averaging_and_refuses_the_rest() {
        let r = model(&["--lr", "5e-5", "--lr-d", "1e-4", "--ema", "0.999"])
            .retune()
            .unwrap();
        assert_eq!(
            r,
            Retune {
                lr: Some(5e-5),
                lr_g: None,
                lr_d: Some(1e-4),
                ema: Some(0.999)
            }
        );
        assert!(model(&[]).retune().unwrap().is_empty());
        for (args, flag) in [
            (&["--loss", "hinge"][..], "--loss"),
            (&["--batch", "128"], "--batch"),
            (&["--conditional"], "--conditional"),
            (&["--preset", "dcgan"], "--preset"),
            (&["--r1", "2"], "--r1"),
        ] {
            let e = model(args).retune().unwrap_err().to_string();
            assert!(
                e.starts_with(flag) && e.contains("--resume"),
                "{args:?}: {e}"
            );
        }
    }

    #[test]
    fn conditioning_follows_the_preset_unless_given() {
        let cond = |args: &[&str]| model(args).config(Dataset::Mnist).conditional;
        assert!(cond(&[]) && cond(&["--preset", "dcgan"]) && cond(&["--loss", "hinge"]));
        assert!(!cond(&["--preset", "mlp"]));
        assert!(!cond(&["--conditional", "false"]));
        assert!(cond(&["--preset", "mlp", "--conditional"]));
        assert!(cond(&["--conditional", "true"]));
        assert!(Cli::try_parse_from(["tinygan", "bench", "--conditional", "maybe"]).is_err());
    }

    #[test]
    fn the_critic_size_reaches_the_config() {
        use crate::model::CriticSize;
        let size = |args: &[&str]| model(args).config(Dataset::Mnist).critic_size();
        assert_eq!(size(&[]), CriticSize::Standard);
        assert_eq!(size(&["--critic", "wide"]), CriticSize::Wide);
        assert_eq!(size(&["--critic", "deep"]), CriticSize::Deep);
        assert!(Cli::try_parse_from(["tinygan", "bench", "--critic", "huge"]).is_err());
    }
}
