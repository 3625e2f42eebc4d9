//! The fast layer (windows, segments, quad-layout kernel) against the definition of the
//! layer on random shapes and weights.
extern crate std;
use super::*;
use crate::format::widen_quad_word;
use proptest::prelude::*;
use std::vec::Vec;

/// A random layer: dense (`k == 0`) or transposed conv, its ONNX-layout weights
/// (`[out][in]` dense, `[in_c][out_c][k][k]` conv), bias and input.
#[derive(Debug, Clone)]
struct Case {
    in_shape: [usize; 3],
    out_c: usize,
    k: usize,
    s: usize,
    p: usize,
    weights: Vec<i8>,
    bias: Vec<i32>,
    x: Vec<i8>,
}

impl Case {
    fn out_shape(&self) -> [usize; 3] {
        let [_, h, w] = self.in_shape;
        if self.k == 0 {
            [self.out_c, 1, 1]
        } else {
            let o = |d: usize| (d - 1) * self.s + self.k - 2 * self.p;
            [self.out_c, o(h), o(w)]
        }
    }
}

fn byte() -> impl Strategy<Value = i8> {
    // Extremes often, -128 included (the format allows it).
    prop_oneof![Just(-128i8), Just(127i8), Just(-127i8), any::<i8>()]
}

fn case() -> impl Strategy<Value = Case> {
    let dense = (1usize..40, 1usize..3, 1usize..9, 1usize..14)
        .prop_map(|(c, h, w, o)| ([c, h, w], o, 0usize, 0usize, 0usize));
    let conv = (
        1usize..160,
        1usize..5,
        1usize..5,
        1usize..10,
        1usize..7,
        1usize..4,
    )
        .prop_filter_map("taps <= MAX_TAPS", |(c, h, w, o, k, s)| {
            (k.div_ceil(s) <= MAX_TAPS).then_some(([c, h, w], o, k, s))
        })
        .prop_flat_map(|(shape, o, k, s)| (Just(shape), Just(o), Just(k), Just(s), 0..k))
        .prop_filter("output at least 1 pixel", |&([_, h, w], _, k, s, p)| {
            (h.min(w) - 1) * s + k > 2 * p
        });
    prop_oneof![dense, conv].prop_flat_map(|(in_shape, out_c, k, s, p)| {
        let in_len = in_shape.iter().product::<usize>();
        let n_w = if k == 0 {
            in_len * out_c
        } else {
            in_shape[0] * out_c * k * k
        };
        (
            proptest::collection::vec(byte(), n_w),
            proptest::collection::vec(-(1i32 << 20)..(1 << 20), out_c),
            proptest::collection::vec(byte(), in_len),
        )
            .prop_map(move |(weights, bias, x)| Case {
                in_shape,
                out_c,
                k,
                s,
                p,
                weights,
                bias,
                x,
            })
    })
}

/// The layer's accumulators by definition (ONNX `Gemm` / `ConvTranspose` on HWC data).
fn reference(c: &Case) -> Vec<i32> {
    let [ic, ih, iw] = c.in_shape;
    let [oc, oh, ow] = c.out_shape();
    if c.k == 0 {
        let n = ic * ih * iw;
        return (0..oc)
            .map(|o| {
                let dot: i32 = (0..n)
                    .map(|i| c.x[i] as i32 * c.weights[o * n + i] as i32)
                    .sum();
                c.bias[o] + dot
            })
            .collect();
    }
    let mut out: Vec<i32> = (0..oc * oh * ow).map(|at| c.bias[at % oc]).collect();
    for iy in 0..ih {
        for ix in 0..iw {
            for ky in 0..c.k {
                for kx in 0..c.k {
                    let (oy, ox) = (iy * c.s + ky, ix * c.s + kx);
                    if oy < c.p || ox < c.p || oy - c.p >= oh || ox - c.p >= ow {
                        continue;
                    }
                    let (oy, ox) = (oy - c.p, ox - c.p);
                    for o in 0..oc {
                        for i in 0..ic {
                            let w = c.weights[((i * oc + o) * c.k + ky) * c.k + kx];
                            out[(oy * ow + ox) * oc + o] +=
                                c.x[(iy * iw + ix) * ic + i] as i32 * w as i32;
                        }
                    }
                }
            }
        }
    }
    out
}

/// The runtime's layer on the same case: weights packed into the quad layout, and multiplied in
/// the wide layout when `wide`.
fn fast(c: &Case, wide: bool) -> Vec<i32> {
    with_layer(c, wide, |layer, bias| {
        let mut out = std::vec![i32::MIN; layer.out_len()];
        run_layer(layer, &c.x, bias, &mut out, |acc, _| acc);
        out
    })
}

/// The x86-64 layer at `level` with `weights` on the same case (`None` when it refuses the
/// layer: an odd number of input channels).
#[cfg(target_arch = "x86_64")]
fn fast_x86(c: &Case, level: crate::kernel::x86::Level, weights: x86::Weights) -> Option<Vec<i32>> {
    with_layer(c, true, |layer, bias| {
        let mut out = std::vec![i32::MIN; layer.out_len()];
        x86::run_layer_x86(level, weights, layer, &c.x, bias, &mut out, &|acc, _| acc)
            .then_some(out)
    })
}

/// Builds the runtime's layer of the case (weights packed into the quad layout, and widened when
/// `wide`) and hands it and its biases to `f`.
fn with_layer<R>(c: &Case, wide: bool, f: impl FnOnce(&Layer<'_>, &[u8]) -> R) -> R {
    let [ic, ih, iw] = c.in_shape;
    let oc = c.out_c;
    let (kind, t, geom) = if c.k == 0 {
        (LayerKind::Dense, 1, WeightGeometry::dense(ic * ih * iw, oc))
    } else {
        let t = c.k.div_ceil(c.s);
        let g = WeightGeometry::conv(ic, oc, c.s, t);
        (LayerKind::ConvTranspose, t, g)
    };
    let mut weight = std::vec![0u8; geom.len() as usize];
    geom.pack(&mut weight, |v, tap, i| {
        if c.k == 0 {
            return c.weights[v * geom.cin + i];
        }
        let (phase, o) = (v / oc, v % oc);
        let (py, px) = (phase / c.s, phase % c.s);
        let (ky, kx) = (py + tap / t * c.s, px + tap % t * c.s);
        if ky >= c.k || kx >= c.k {
            0
        } else {
            c.weights[((i * oc + o) * c.k + ky) * c.k + kx]
        }
    });
    let bias: Vec<u8> = c.bias.iter().flat_map(|b| b.to_le_bytes()).collect();
    let requant = std::vec![0i8; oc];
    let wide_weights: Vec<u32> = weight
        .chunks_exact(4)
        .flat_map(|w| widen_quad_word(u32::from_le_bytes([w[0], w[1], w[2], w[3]])))
        .collect();
    let layer = Layer {
        kind,
        act: Activation::Identity,
        alpha: 0.0,
        in_shape: c.in_shape,
        out_shape: c.out_shape(),
        stride: c.s,
        padding: c.p,
        taps: t,
        geom,
        weight: &weight,
        wide: if wide { &wide_weights } else { &[] },
        bias: &bias,
        requant: &requant,
    };
    f(&layer, &bias)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 600, ..ProptestConfig::default() })]

    /// Every output of random dense and transposed-conv layers (odd channel counts, windows
    /// larger than the on-stack buffer and than one kernel call, partial groups, padding
    /// that cuts windows, extreme weights and inputs) equals the definition, with the int8
    /// weights and with the wide ones.
    #[test]
    fn fast_layer_matches_the_definition(c in case()) {
        let want = reference(&c);
        prop_assert_eq!(fast(&c, false), want.clone());
        prop_assert_eq!(fast(&c, true), want.clone());
        #[cfg(target_arch = "x86_64")]
        {
            use crate::kernel::x86::{Level, level};
            // The wide layer takes every case with an even number of input channels; AVX2 only
            // where this CPU has it.
            let cin = if c.k == 0 { c.in_shape.iter().product() } else { c.in_shape[0] };
            let even = cin % 2 == 0;
            let mut paths = std::vec![(Level::Sse2, x86::Weights::Wide)];
            // Every level this CPU has (VNNI implies AVX2).
            let has = |l: Level| l == Level::Sse2 || level() == l || level() == Level::Vnni;
            for l in [Level::Avx2, Level::Vnni].into_iter().filter(|&l| has(l)) {
                paths.push((l, x86::Weights::Wide));
                paths.push((l, x86::Weights::Quad));
            }
            for (l, w) in paths {
                let got = fast_x86(&c, l, w);
                prop_assert_eq!(got.is_some(), even, "{:?} {:?}", l, w);
                if let Some(got) = got {
                    prop_assert_eq!(got, want.clone(), "{:?} {:?}", l, w);
                }
            }
            // The SSE2 level refuses the int8 weights (the generic path's kernel takes them).
            prop_assert!(fast_x86(&c, Level::Sse2, x86::Weights::Quad).is_none());
        }
    }
}
