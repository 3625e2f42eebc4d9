//! The critic f(x, y): an MLP, or two convolutions and a dense output, with an optional projection
//! term and spectral normalisation; its input gradient as ordinary tensor operations.

use super::*;
use runtime_nostd::format::IMAGE_SIDE;
use runtime_nostd::preset::Critic as ArchCritic;

/// Configuration of a [`Critic`].
#[derive(Config, Debug)]
pub struct CriticConfig {
    /// The preset.
    pub preset: Preset,
    /// Number of classes for a conditional model (projection critic), 0 for none.
    #[config(default = 0)]
    pub num_classes: usize,
    /// Divide every weight by its spectral norm (one power iteration per critic step).
    #[config(default = false)]
    pub spectral_norm: bool,
    /// The critic's size relative to the preset's table entry (the critic is trained only, never
    /// exported, so it is free to grow).
    #[config(default = "CriticSize::Standard")]
    pub size: CriticSize,
}

/// How big a critic to train against a preset's generator (`--critic`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CriticSize {
    /// The preset's critic ([`runtime_nostd::preset::Arch::critic`]).
    #[default]
    Standard,
    /// Twice the channels (conv) or widths (MLP) of every hidden layer.
    Wide,
    /// One more hidden layer: a 3×3 stride-1 convolution at the last map's size (conv), or a
    /// repeat of the last hidden width (MLP).
    Deep,
}

/// Stride and padding of a critic convolution, from its kernel: the presets' 4×4 stride-2 ones and
/// the deep critic's 3×3 stride-1 one (both keep the transposed convolution of the input gradient
/// exact: `(side − 1)·stride − 2·padding + kernel` gives back each input side).
fn conv_geometry(kernel: usize) -> Geometry {
    match kernel {
        3 => K3S1P1,
        _ => K4S2P1,
    }
}

/// The deep critic's extra convolution: 3×3, stride 1, padding 1 (keeps the map's size).
const K3S1P1: Geometry = Geometry {
    stride: 1,
    padding: 1,
};

/// The critic (discriminator) f(x, y): a raw score per sample.
#[derive(Module, Debug)]
pub struct Critic {
    /// Convolutions (conv presets): 1→64 and 64→128, k4 s2 p1.
    pub conv: Vec<Conv2d>,
    /// Fully connected layers (3 for MLPs, the final 6272→1 for conv presets).
    pub fc: Vec<Linear>,
    /// Class embedding for the projection term, `[num_classes, features]`.
    pub embed: Option<Param<Tensor<2>>>,
    /// Spectral-norm power-iteration vectors `u`, one per weight (conv first, then fc).
    pub sn_u: Vec<RunningState<Tensor<2>>>,
    /// Input features (784 or 2).
    pub data_dim: usize,
}

impl CriticConfig {
    /// Builds the critic with freshly initialised weights on `device`.
    pub fn init(&self, device: &Device) -> Critic {
        let arch = self.preset.arch();
        let widen = |c: usize| {
            if self.size == CriticSize::Wide {
                2 * c
            } else {
                c
            }
        };
        let (conv, fc): (Vec<Conv2d>, Vec<Linear>) = match arch.critic {
            ArchCritic::Conv { channels, down } => {
                let conv = |cin, cout, kernel: usize| {
                    let g = conv_geometry(kernel);
                    let pad = g.padding;
                    Conv2dConfig::new([cin, cout], [kernel; 2])
                        .with_stride([g.stride; 2])
                        .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
                        .init(device)
                };
                let [c0, c1] = channels.map(widen);
                let mut convs = vec![conv(1, c0, down.kernel), conv(c0, c1, down.kernel)];
                if self.size == CriticSize::Deep {
                    convs.push(conv(c1, c1, 3));
                }
                let side = down.side(down.side(IMAGE_SIDE));
                (convs, vec![linear_cfg(c1 * side * side, 1).init(device)])
            }
            ArchCritic::Mlp { widths } => {
                let (hidden, out) = widths.split_at(widths.len() - 1);
                let mut dims: Vec<usize> = hidden.iter().copied().map(widen).collect();
                if self.size == CriticSize::Deep
                    && let Some(&last) = dims.last()
                {
                    dims.push(last);
                }
                dims.extend_from_slice(out);
                let mut fc = Vec::new();
                let mut d = arch.data_dim;
                for o in dims {
                    fc.push(linear_cfg(d, o).init(device));
                    d = o;
                }
                (Vec::new(), fc)
            }
        };
        let feat = fc.last().map(|l| l.weight.dims()[0]).unwrap_or(0);
        let embed = (self.num_classes > 0).then(|| {
            Initializer::Normal {
                mean: 0.0,
                std: 0.02,
            }
            .init([self.num_classes, feat], device)
        });
        let sn_u = if self.spectral_norm {
            let outs = conv
                .iter()
                .map(|c| c.weight.dims()[0])
                .chain(fc.iter().map(|l| l.weight.dims()[1]));
            outs.map(|o| {
                let u = Tensor::<2>::random(
                    [1, o],
                    burn::tensor::Distribution::Normal(0.0, 1.0),
                    device,
                );
                RunningState::new(normalize_rows(u))
            })
            .collect()
        } else {
            Vec::new()
        };
        Critic {
            conv,
            fc,
            embed,
            sn_u,
            data_dim: arch.data_dim,
        }
    }
}

fn normalize_rows(t: Tensor<2>) -> Tensor<2> {
    let n = t.clone().square().sum_dim(1).sqrt().add_scalar(1e-12);
    t / n
}

/// The critic's weights as used in one pass (after spectral normalisation, if enabled).
#[derive(Clone, Debug)]
pub struct CriticWeights {
    conv: Vec<(Tensor<4>, Option<Tensor<1>>)>,
    fc: Vec<(Tensor<2>, Option<Tensor<1>>)>,
    embed: Option<Tensor<2>>,
}

/// What one critic pass leaves behind for the input gradient: the pre-activations of every hidden
/// layer (their LeakyReLU masks) and the per-sample direction of the output layer.
pub struct CriticTrace {
    /// Pre-activation of each hidden layer, `[N, …]`.
    pre: Vec<PreAct>,
}

enum PreAct {
    Map(Tensor<4>),
    Flat(Tensor<2>),
}

impl Critic {
    /// A weightless critic that holds a slot while the optimiser owns the real one.
    pub(crate) fn placeholder() -> Self {
        Critic {
            conv: Vec::new(),
            fc: Vec::new(),
            embed: None,
            sn_u: Vec::new(),
            data_dim: 0,
        }
    }

    /// Whether the critic has spectral normalisation.
    pub fn spectral_norm(&self) -> bool {
        !self.sn_u.is_empty()
    }

    /// The weights for one pass. With spectral norm, every weight matrix `W` (conv kernels as
    /// `[out, in·kh·kw]`) is divided by `σ = uᵀ W v`, where `u, v` come from one power-iteration
    /// step on the detached weight; when `update` is set the new `u` is stored (critic steps), so
    /// the estimate converges over training. `σ` keeps its gradient with respect to `W`.
    pub fn weights(&self, update: bool) -> CriticWeights {
        let mut k = 0;
        let mut sn = |w_mat: Tensor<2>| -> Option<Tensor<1>> {
            let state = self.sn_u.get(k)?;
            k += 1;
            let wd = w_mat.clone().detach();
            let u = state.value();
            let v = normalize_rows(u.matmul(wd.clone()));
            let u = normalize_rows(v.clone().matmul(wd.transpose()));
            let sigma = (u.clone().matmul(w_mat) * v).sum();
            if update {
                set_running(state, u);
            }
            Some(sigma)
        };
        let conv = self
            .conv
            .iter()
            .map(|c| {
                let w = c.weight.val();
                let [o, i, kh, kw] = w.dims();
                let w = match sn(w.clone().reshape([o, i * kh * kw])) {
                    Some(s) => w / s.reshape([1, 1, 1, 1]),
                    None => w,
                };
                (w, c.bias.as_ref().map(|b| b.val()))
            })
            .collect();
        let fc = self
            .fc
            .iter()
            .map(|l| {
                let w = l.weight.val();
                let w = match sn(w.clone().transpose()) {
                    Some(s) => w / s.reshape([1, 1]),
                    None => w,
                };
                (w, l.bias.as_ref().map(|b| b.val()))
            })
            .collect();
        CriticWeights {
            conv,
            fc,
            embed: self.embed.as_ref().map(|e| e.val()),
        }
    }

    /// Scores `x` `[N, data_dim]`; returns `[N]` and the trace for [`Critic::input_grad`].
    pub fn forward_traced(
        &self,
        w: &CriticWeights,
        x: Tensor<2>,
        onehot: Option<Tensor<2>>,
    ) -> (Tensor<1>, CriticTrace) {
        let n = x.dims()[0];
        let mut pre = Vec::new();
        let h = if w.conv.is_empty() {
            let mut h = x;
            for (wt, b) in &w.fc[..w.fc.len() - 1] {
                let z = linear(h, wt.clone(), b.clone());
                pre.push(PreAct::Flat(z.clone()));
                h = lrelu(z);
            }
            h
        } else {
            let mut h = x.reshape([n, 1, 28, 28]);
            for (wt, b) in &w.conv {
                let g = conv_geometry(wt.dims()[2]);
                let z = add_bias(conv_cpu::conv2d(h, wt.clone(), g), b.clone());
                pre.push(PreAct::Map(z.clone()));
                h = lrelu(z);
            }
            h.reshape([n as i32, -1])
        };
        let (wl, bl) = w.fc.last().expect("critic has an output layer");
        let mut out = linear(h.clone(), wl.clone(), bl.clone());
        if let (Some(e), Some(y)) = (&w.embed, onehot) {
            out = out + (y.matmul(e.clone()) * h).sum_dim(1);
        }
        (out.reshape([n]), CriticTrace { pre })
    }

    /// Scores `x` `[N, data_dim]`, returns `[N]`.
    pub fn forward(&self, w: &CriticWeights, x: Tensor<2>, onehot: Option<Tensor<2>>) -> Tensor<1> {
        self.forward_traced(w, x, onehot).0
    }

    /// ∇ₓ f(x) for rows `start..start + len` of a traced pass, `[len, data_dim]`, written as
    /// ordinary tensor operations (transposed matmuls and transposed convolutions with the
    /// LeakyReLU masks), so that autodiff of any function of it — the gradient penalty — yields the
    /// true second-derivative terms with respect to the weights.
    pub fn input_grad(
        &self,
        w: &CriticWeights,
        trace: &CriticTrace,
        onehot: Option<Tensor<2>>,
        start: usize,
        len: usize,
    ) -> Tensor<2> {
        let (wl, _) = w.fc.last().expect("critic has an output layer");
        // d out / d h for the last hidden features h: the output weight (+ the projection row).
        let feat = wl.dims()[0];
        let mut g = wl.clone().reshape([1, feat]).expand([len, feat]);
        if let (Some(e), Some(y)) = (&w.embed, onehot) {
            g = g + y.narrow(0, start, len).matmul(e.clone());
        }
        if w.conv.is_empty() {
            for (i, p) in trace.pre.iter().enumerate().rev() {
                let PreAct::Flat(z) = p else {
                    unreachable!("mlp trace is flat")
                };
                g = g * leaky_grad(z.clone().narrow(0, start, len));
                g = linear(g, w.fc[i].0.clone().transpose(), None);
            }
            g
        } else {
            let mut gm: Option<Tensor<4>> = None;
            for (i, p) in trace.pre.iter().enumerate().rev() {
                let PreAct::Map(z) = p else {
                    unreachable!("conv trace is maps")
                };
                let z = z.clone().narrow(0, start, len);
                let [_, c, h, wd] = z.dims();
                let gz = match gm.take() {
                    None => g.clone().reshape([len, c, h, wd]),
                    Some(m) => m,
                } * leaky_grad(z);
                let wt = &w.conv[i].0;
                let g = conv_geometry(wt.dims()[2]);
                gm = Some(conv_cpu::conv_transpose2d(gz, wt.clone(), g));
            }
            gm.expect("conv critic has layers").reshape([len, 784])
        }
    }

    /// Clamps every critic parameter to `[-c, c]` (WGAN weight clipping).
    pub fn clip(self, c: f64) -> Self {
        struct Clip(f64);
        impl burn::module::ModuleMapper for Clip {
            fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
                let c = self.0;
                param.map(|t| {
                    let rg = t.is_require_grad();
                    t.without_autodiff()
                        .clamp(-c, c)
                        .autodiff()
                        .set_require_grad(rg)
                })
            }
        }
        self.map(&mut Clip(c))
    }
}
