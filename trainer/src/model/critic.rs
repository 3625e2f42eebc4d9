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

/// The critic (discriminator) f(x, y): a raw score per sample. A body of convolutions or fully
/// connected layers (LeakyReLU after each), then one dense output `out`, plus the projection term
/// `⟨embed(y), h(x)⟩` on the body's features for a conditional model.
#[derive(Module, Debug)]
pub struct Critic {
    /// The hidden layers.
    pub body: CriticBody,
    /// The output layer: features → 1.
    pub out: Linear,
    /// Class embedding for the projection term, `[num_classes, features]`.
    pub embed: Option<Param<Tensor<2>>>,
    /// Spectral-norm power-iteration vectors `u`, one per weight (body first, then `out`); empty
    /// without spectral norm.
    pub sn_u: Vec<RunningState<Tensor<2>>>,
}

/// The critic's hidden layers, one variant per architecture of the preset table
/// ([`runtime_nostd::preset::Critic`]).
#[derive(Module, Debug)]
pub enum CriticBody {
    /// Fully connected layers on the flat input (`mlp`, `toy`).
    Mlp(Vec<Linear>),
    /// Convolutions on the 28×28 image (`dcgan`, `tiny`).
    Conv(Vec<Conv2d>),
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
        // Layers in this order (body, then `out`, then `embed`): parameters are drawn in it.
        let (body, out) = match arch.critic {
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
                let out = linear_cfg(c1 * side * side, 1).init(device);
                (CriticBody::Conv(convs), out)
            }
            ArchCritic::Mlp { widths } => {
                let (hidden, last) = widths.split_at(widths.len() - 1);
                let mut dims: Vec<usize> = hidden.iter().copied().map(widen).collect();
                if self.size == CriticSize::Deep
                    && let Some(&deepest) = dims.last()
                {
                    dims.push(deepest);
                }
                let mut layers = Vec::new();
                let mut d = arch.data_dim;
                for o in dims {
                    layers.push(linear_cfg(d, o).init(device));
                    d = o;
                }
                let out = linear_cfg(d, last[0]).init(device);
                (CriticBody::Mlp(layers), out)
            }
        };
        let feat = out.weight.dims()[0];
        let embed = (self.num_classes > 0).then(|| {
            Initializer::Normal {
                mean: 0.0,
                std: 0.02,
            }
            .init([self.num_classes, feat], device)
        });
        let critic = Critic {
            body,
            out,
            embed,
            sn_u: Vec::new(),
        };
        if !self.spectral_norm {
            return critic;
        }
        let outs = critic.convs().iter().map(|c| c.weight.dims()[0]);
        let outs = outs.chain(critic.linears().into_iter().map(|l| l.weight.dims()[1]));
        let sn_u = outs
            .map(|o| {
                let u = Tensor::<2>::random(
                    [1, o],
                    burn::tensor::Distribution::Normal(0.0, 1.0),
                    device,
                );
                RunningState::new(normalize_rows(u))
            })
            .collect();
        Critic { sn_u, ..critic }
    }
}

fn normalize_rows(t: Tensor<2>) -> Tensor<2> {
    let n = t.clone().square().sum_dim(1).sqrt().add_scalar(1e-12);
    t / n
}

/// A layer's weight and bias as used in one pass.
type LayerWeights<const D: usize> = (Tensor<D>, Option<Tensor<1>>);

/// The critic's weights as used in one pass (after spectral normalisation, if enabled).
#[derive(Clone, Debug)]
pub struct CriticWeights {
    body: BodyWeights,
    out: LayerWeights<2>,
    embed: Option<Tensor<2>>,
}

#[derive(Clone, Debug)]
enum BodyWeights {
    Mlp(Vec<LayerWeights<2>>),
    Conv(Vec<LayerWeights<4>>),
}

/// What one critic pass leaves behind for the input gradient: the pre-activations of every hidden
/// layer (their LeakyReLU masks).
pub struct CriticTrace {
    pre: Trace,
}

enum Trace {
    Flat(Vec<Tensor<2>>),
    Maps(Vec<Tensor<4>>),
}

impl Critic {
    /// A weightless critic that holds a slot while the optimiser owns the real one.
    pub(crate) fn placeholder() -> Self {
        Critic {
            body: CriticBody::Mlp(Vec::new()),
            out: LinearConfig::new(1, 1).init(&Device::flex()),
            embed: None,
            sn_u: Vec::new(),
        }
    }

    /// Whether the critic has spectral normalisation.
    pub fn spectral_norm(&self) -> bool {
        !self.sn_u.is_empty()
    }

    /// The convolutions (none for an MLP critic), input first.
    pub fn convs(&self) -> &[Conv2d] {
        match &self.body {
            CriticBody::Conv(c) => c,
            CriticBody::Mlp(_) => &[],
        }
    }

    /// The fully connected layers, input first: the MLP body's layers, then `out`.
    pub fn linears(&self) -> Vec<&Linear> {
        let hidden: &[Linear] = match &self.body {
            CriticBody::Mlp(l) => l,
            CriticBody::Conv(_) => &[],
        };
        hidden.iter().chain([&self.out]).collect()
    }

    /// [`Critic::convs`], mutable.
    pub fn convs_mut(&mut self) -> &mut [Conv2d] {
        match &mut self.body {
            CriticBody::Conv(c) => c,
            CriticBody::Mlp(_) => &mut [],
        }
    }

    /// [`Critic::linears`], mutable.
    pub fn linears_mut(&mut self) -> Vec<&mut Linear> {
        let hidden: &mut [Linear] = match &mut self.body {
            CriticBody::Mlp(l) => l,
            CriticBody::Conv(_) => &mut [],
        };
        hidden.iter_mut().chain([&mut self.out]).collect()
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
        let dense = |l: &Linear, sn: &mut dyn FnMut(Tensor<2>) -> Option<Tensor<1>>| {
            let w = l.weight.val();
            let w = match sn(w.clone().transpose()) {
                Some(s) => w / s.reshape([1, 1]),
                None => w,
            };
            (w, l.bias.as_ref().map(|b| b.val()))
        };
        // Body first, then `out`: the order of `sn_u`.
        let body = match &self.body {
            CriticBody::Mlp(layers) => {
                BodyWeights::Mlp(layers.iter().map(|l| dense(l, &mut sn)).collect())
            }
            CriticBody::Conv(convs) => BodyWeights::Conv(
                convs
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
                    .collect(),
            ),
        };
        let out = dense(&self.out, &mut sn);
        CriticWeights {
            body,
            out,
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
        let (h, pre) = match &w.body {
            BodyWeights::Mlp(layers) => {
                let mut pre = Vec::new();
                let mut h = x;
                for (wt, b) in layers {
                    let z = linear(h, wt.clone(), b.clone());
                    pre.push(z.clone());
                    h = lrelu(z);
                }
                (h, Trace::Flat(pre))
            }
            BodyWeights::Conv(convs) => {
                let mut pre = Vec::new();
                let mut h = x.reshape([n, 1, IMAGE_SIDE, IMAGE_SIDE]);
                for (wt, b) in convs {
                    let g = conv_geometry(wt.dims()[2]);
                    let z = add_bias(conv_cpu::conv2d(h, wt.clone(), g), b.clone());
                    pre.push(z.clone());
                    h = lrelu(z);
                }
                (h.reshape([n as i32, -1]), Trace::Maps(pre))
            }
        };
        let (wl, bl) = &w.out;
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
        let (wl, _) = &w.out;
        // d out / d h for the body's features h: the output weight (+ the projection row).
        let feat = wl.dims()[0];
        let mut g = wl.clone().reshape([1, feat]).expand([len, feat]);
        if let (Some(e), Some(y)) = (&w.embed, onehot) {
            g = g + y.narrow(0, start, len).matmul(e.clone());
        }
        match (&w.body, &trace.pre) {
            (BodyWeights::Conv(convs), Trace::Maps(pre)) => {
                let mut gm: Option<Tensor<4>> = None;
                for ((wt, _), z) in convs.iter().zip(pre).rev() {
                    let z = z.clone().narrow(0, start, len);
                    let [_, c, h, wd] = z.dims();
                    let gz = match gm.take() {
                        None => g.clone().reshape([len, c, h, wd]),
                        Some(m) => m,
                    } * leaky_grad(z);
                    let geometry = conv_geometry(wt.dims()[2]);
                    gm = Some(conv_cpu::conv_transpose2d(gz, wt.clone(), geometry));
                }
                match gm {
                    Some(m) => m.reshape([len, IMAGE_SIDE * IMAGE_SIDE]),
                    None => g,
                }
            }
            (BodyWeights::Mlp(layers), Trace::Flat(pre)) => {
                for ((wt, _), z) in layers.iter().zip(pre).rev() {
                    g = g * leaky_grad(z.clone().narrow(0, start, len));
                    g = linear(g, wt.clone().transpose(), None);
                }
                g
            }
            // A trace of one critic's pass read with another's weights: a caller's mistake.
            _ => panic!("input_grad: the trace and the weights come from different critics"),
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
