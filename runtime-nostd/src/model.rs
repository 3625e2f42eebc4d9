//! The parsed model and its int8 forward pass.

use crate::error::{BlobError, RunError, TensorName};
use crate::format::{
    ACC_INPUT_MAX, ACC_LIMIT, Activation, HEADER_LEN, Header, IMAGE_PIXELS, IMAGE_SIDE,
    LAYER_RECORD_LEN, LayerKind, LayerRecord, MAGIC, MAX_LAYERS, MAX_TAPS, QUAD, QUAD_PAIR_BYTES,
    TENSOR_ALIGN, TensorRef, VERSION, WeightGeometry, blob_crc,
};
use crate::kernel::{MAX_CHUNK, quad_dot};
use crate::math::{pixel_from_preactivation, pow2, quantize_i8, requantize};
use crate::scratch::Scratch;

/// Exponents must stay well inside f32's normal range so `2^e` scaling is exact.
/// Largest activation (elements) a layer may read or write.
pub const MAX_ACTIVATION: u64 = 1 << 20;

const EXP_RANGE: core::ops::RangeInclusive<i32> = -100..=100;

/// One validated fused layer, its tensors borrowed from the blob.
#[derive(Clone, Copy, Debug)]
struct Layer<'a> {
    kind: LayerKind,
    act: Activation,
    alpha: f32,
    in_shape: [usize; 3],
    out_shape: [usize; 3],
    stride: usize,
    padding: usize,
    taps: usize,
    geom: WeightGeometry,
    weight: &'a [u8],
    bias: &'a [u8],
    requant: &'a [i8],
}

impl Layer<'_> {
    fn in_len(&self) -> usize {
        self.in_shape[0] * self.in_shape[1] * self.in_shape[2]
    }
    fn out_len(&self) -> usize {
        self.out_shape[0] * self.out_shape[1] * self.out_shape[2]
    }
}

/// A generator parsed from a blob. Borrowing the blob (e.g. in flash); weights are read in place.
#[derive(Clone, Debug)]
pub struct Model<'a> {
    z_dim: usize,
    num_classes: usize,
    input_exp: i8,
    scratch_bytes: usize,
    slots: [usize; 2],
    iteration: u64,
    preset: [u8; 8],
    blob_len: usize,
    layers: heapless::Vec<Layer<'a>, MAX_LAYERS>,
    /// The last layer's exponent when it is one for the whole image (pixels from a table).
    pixels: Option<i8>,
}

fn as_i8(b: &[u8]) -> &[i8] {
    // SAFETY: i8 and u8 have the same size and alignment and every bit pattern is valid for both.
    unsafe { core::slice::from_raw_parts(b.as_ptr().cast::<i8>(), b.len()) }
}

fn i32_at(b: &[u8], i: usize) -> i32 {
    let c = &b[4 * i..4 * i + 4];
    i32::from_le_bytes([c[0], c[1], c[2], c[3]])
}

/// Bytes of scratch for a chain of layers whose inputs have `inputs[i]` int8 elements: layer `i`
/// reads slot `i % 2` and writes slot `(i + 1) % 2` (the last layer writes the image directly), so
/// the scratch is the largest even-indexed input plus the largest odd-indexed one.
pub const fn scratch_bytes(inputs: &[usize]) -> usize {
    let s = slot_sizes(inputs);
    s[0] + s[1]
}

const fn slot_sizes(inputs: &[usize]) -> [usize; 2] {
    let mut s = [0usize; 2];
    let mut i = 0;
    while i < inputs.len() {
        if inputs[i] > s[i % 2] {
            s[i % 2] = inputs[i];
        }
        i += 1;
    }
    s
}

impl<'a> Model<'a> {
    /// Parses and validates a blob (see [`crate::format`]): magic, version, lengths, CRC-32,
    /// every layer record, tensor bounds, alignment and sizes, the shape and exponent chain, and
    /// the accumulator bound. Never panics and never reads outside `bytes`; bytes after
    /// `total_len` are ignored.
    ///
    /// Not inlined, so that its temporaries (copies of the layer table) never stay in a caller's
    /// stack frame.
    #[inline(never)]
    pub fn parse(bytes: &'a [u8]) -> Result<Self, BlobError> {
        let (h, reserved_zero) = Header::from_bytes(bytes).ok_or(BlobError::Truncated {
            needed: HEADER_LEN,
            actual: bytes.len(),
        })?;
        if h.magic != MAGIC {
            return Err(BlobError::BadMagic(h.magic));
        }
        if h.version != VERSION {
            return Err(BlobError::UnsupportedVersion(h.version));
        }
        if h.header_len as usize != HEADER_LEN {
            return Err(BlobError::BadHeaderLength(h.header_len));
        }
        let total = h.total_len as usize;
        if total < HEADER_LEN {
            return Err(BlobError::BadTotalLength(h.total_len));
        }
        let blob = bytes.get(..total).ok_or(BlobError::Truncated {
            needed: total,
            actual: bytes.len(),
        })?;
        let computed = blob_crc(blob).unwrap_or(0);
        if computed != h.crc32 {
            return Err(BlobError::CrcMismatch {
                stored: h.crc32,
                computed,
            });
        }
        if !reserved_zero || h.flags != 0 {
            return Err(BlobError::ReservedNotZero);
        }
        if h.layer_table_offset as usize != HEADER_LEN {
            return Err(BlobError::BadLayerTableOffset(h.layer_table_offset));
        }
        if h.z_dim == 0 || h.num_classes > 256 {
            return Err(BlobError::BadModelDims {
                z_dim: h.z_dim,
                num_classes: h.num_classes,
            });
        }
        let n = h.num_layers as usize;
        if n == 0 || n > MAX_LAYERS {
            return Err(BlobError::BadLayerCount(h.num_layers));
        }
        let table_end = HEADER_LEN + n * LAYER_RECORD_LEN;
        if table_end > total {
            return Err(BlobError::BadTotalLength(h.total_len));
        }
        if !EXP_RANGE.contains(&(h.input_exp as i32)) {
            return Err(BlobError::BadExponent { layer: 0 });
        }

        let mut layers = heapless::Vec::new();
        let mut inputs = [0usize; MAX_LAYERS];
        let mut prev_shape = [h.z_dim as usize, 1, 1];
        let mut prev_exp = h.input_exp;
        for (i, input) in inputs.iter_mut().enumerate().take(n) {
            let at = HEADER_LEN + i * LAYER_RECORD_LEN;
            let rec = LayerRecord::from_bytes(&blob[at..]).ok_or(BlobError::Truncated {
                needed: at + LAYER_RECORD_LEN,
                actual: total,
            })?;
            let last = i + 1 == n;
            let cond = i == 0 && h.num_classes > 0;
            let layer = parse_layer(blob, table_end, i, &rec, last, cond, h.num_classes as usize)?;
            if layer.in_shape != prev_shape {
                return Err(BlobError::BadShape {
                    layer: i,
                    what: "input shape is not the previous layer's output shape",
                });
            }
            if rec.in_exp != prev_exp {
                return Err(BlobError::BadExponent { layer: i });
            }
            *input = layer.in_len();
            prev_shape = layer.out_shape;
            prev_exp = rec.out_exp;
            // Cannot fail: n <= MAX_LAYERS.
            let _ = layers.push(layer);
        }
        let slots = slot_sizes(&inputs);
        let scratch = slots[0] + slots[1];
        if scratch != h.scratch_bytes as usize {
            return Err(BlobError::ScratchMismatch {
                header: h.scratch_bytes,
                computed: scratch,
            });
        }
        let last = &layers[layers.len() - 1];
        // One exponent for the whole image (a transposed conv's single channel): a threshold
        // table; a dense last layer with an exponent per pixel evaluates the f32 formula.
        let e = last.requant[0];
        let pixels = last.requant.iter().all(|&x| x == e).then_some(e);
        Ok(Self {
            pixels,
            z_dim: h.z_dim as usize,
            num_classes: h.num_classes as usize,
            input_exp: h.input_exp,
            scratch_bytes: scratch,
            slots,
            iteration: h.iteration,
            preset: h.preset,
            blob_len: total,
            layers,
        })
    }

    /// [`parse`](Self::parse), then checks that a `Scratch<N>` is big enough
    /// ([`BlobError::ScratchTooSmall`] otherwise), so a firmware can reject a blob at load time.
    pub fn parse_for_scratch<const N: usize>(bytes: &'a [u8]) -> Result<Self, BlobError> {
        let m = Self::parse(bytes)?;
        if m.scratch_bytes > N {
            return Err(BlobError::ScratchTooSmall {
                needed: m.scratch_bytes,
                available: N,
            });
        }
        Ok(m)
    }

    /// Builds what [`generate`](Self::generate) would otherwise build on its first call with this
    /// `scratch` (the last layer's pixel table: about 3 000 evaluations of `exp`), so that every
    /// call to `generate` costs the same.
    pub fn prepare<const N: usize>(&self, scratch: &mut Scratch<N>) {
        let _ = scratch.parts_mut(self.pixels);
    }

    /// Length of the latent `z`.
    pub fn z_dim(&self) -> usize {
        self.z_dim
    }

    /// Number of classes of a conditional model; 0 when unconditional.
    pub fn num_classes(&self) -> usize {
        self.num_classes
    }

    /// Scratch bytes [`generate`](Self::generate) needs (`Scratch<N>` with `N >=` this).
    pub fn scratch_bytes(&self) -> usize {
        self.scratch_bytes
    }

    /// Number of fused layers.
    pub fn num_layers(&self) -> usize {
        self.layers.len()
    }

    /// Length of the blob in bytes (its `total_len`).
    pub fn blob_len(&self) -> usize {
        self.blob_len
    }

    /// Generator iteration recorded in the blob.
    pub fn iteration(&self) -> u64 {
        self.iteration
    }

    /// Preset name recorded in the blob (`"tiny"`, `"dcgan"`, `"mlp"`, ...).
    pub fn preset(&self) -> &str {
        let end = self.preset.iter().position(|&b| b == 0).unwrap_or(8);
        core::str::from_utf8(&self.preset[..end]).unwrap_or("?")
    }

    /// Multiply-accumulates per generated image.
    pub fn macs(&self) -> u64 {
        self.layers
            .iter()
            .map(|l| match l.kind {
                LayerKind::Dense => (l.in_len() * l.out_len()) as u64,
                LayerKind::ConvTranspose => {
                    // Every output value reads up to taps² input pixels of in_c channels.
                    (l.out_len() * l.taps * l.taps * l.in_shape[0]) as u64
                }
            })
            .sum()
    }

    /// Generates one 28×28 image (row-major, 0 = background, 255 = ink) from the latent `z`
    /// (length [`z_dim`](Self::z_dim)) and, for a conditional model, a class `label`.
    ///
    /// The latent is quantized to int8, every layer runs in int8 × int8 → int32 with power-of-two
    /// requantization (see [`crate::format`]), and the last layer's tanh is evaluated in f32.
    pub fn generate<const N: usize>(
        &self,
        z: &[f32],
        label: Option<u8>,
        scratch: &mut Scratch<N>,
        out: &mut [u8; IMAGE_PIXELS],
    ) -> Result<(), RunError> {
        if N < self.scratch_bytes {
            return Err(RunError::ScratchTooSmall {
                needed: self.scratch_bytes,
                available: N,
            });
        }
        if z.len() != self.z_dim {
            return Err(RunError::LatentLength {
                expected: self.z_dim,
                actual: z.len(),
            });
        }
        let class = match (label, self.num_classes) {
            (None, 0) => 0,
            (Some(_), 0) => return Err(RunError::UnexpectedLabel),
            (None, _) => return Err(RunError::MissingLabel),
            (Some(l), n) if (l as usize) < n => l as usize,
            (Some(l), n) => {
                return Err(RunError::LabelOutOfRange {
                    label: l,
                    num_classes: n,
                });
            }
        };
        let (bytes, table) = scratch.parts_mut(self.pixels);
        let (slot0, rest) = bytes.split_at_mut(self.slots[0]);
        let slot1 = &mut rest[..self.slots[1]];
        let scale = pow2(self.input_exp as i32);
        for (q, &v) in slot0.iter_mut().zip(z) {
            *q = quantize_i8(v * scale);
        }
        let n = self.layers.len();
        for (i, l) in self.layers.iter().enumerate() {
            let (src, dst): (&[i8], &mut [i8]) = if i % 2 == 0 {
                (&slot0[..], &mut slot1[..])
            } else {
                (&slot1[..], &mut slot0[..])
            };
            let src = &src[..l.in_len()];
            let bias = if i == 0 && self.num_classes > 0 {
                let len = 4 * l.out_len();
                &l.bias[class * len..(class + 1) * len]
            } else {
                l.bias
            };
            if i + 1 == n {
                match table {
                    Some(table) => run_layer(l, src, bias, &mut out[..], |acc, _| table.pixel(acc)),
                    None => run_layer(l, src, bias, &mut out[..], |acc, e| {
                        pixel_from_preactivation(acc as f32 * pow2(e))
                    }),
                }
            } else {
                let (act, alpha) = (l.act, l.alpha);
                run_layer(l, src, bias, &mut dst[..l.out_len()], |acc, e| {
                    requantize(acc, e, act, alpha)
                });
            }
        }
        Ok(())
    }
}

/// Most sign-extended inputs of one window the fast path holds on the stack; a larger window is
/// processed segment by segment, converting its inputs again for every weight group. 128 (512 B)
/// on a microcontroller (enough for `tiny`'s windows); 1024 (4 KB) elsewhere, which holds every
/// preset's windows. Tests use 128 everywhere, so both paths are tested on the host.
#[cfg(any(test, target_os = "none"))]
const XS_MAX: usize = 128;
#[cfg(not(any(test, target_os = "none")))]
const XS_MAX: usize = 1024;

/// Sign-extends `src` into `dst` (as far as the shorter goes) and returns the sum. Four inputs per
/// word load (`SXTB` with rotation on a Cortex-M3).
#[inline(always)]
fn widen(dst: &mut [i32], src: &[i8]) -> i32 {
    let n = dst.len().min(src.len());
    let (dst, src) = (&mut dst[..n], &src[..n]);
    let mut sum = 0;
    let mut d4 = dst.chunks_exact_mut(4);
    let mut s4 = src.chunks_exact(4);
    for (d, s) in (&mut d4).zip(&mut s4) {
        let w = u32::from_le_bytes([s[0] as u8, s[1] as u8, s[2] as u8, s[3] as u8]);
        let v = [
            w as i8 as i32,
            (w >> 8) as i8 as i32,
            (w >> 16) as i8 as i32,
            (w >> 24) as i8 as i32,
        ];
        d.copy_from_slice(&v);
        sum += (v[0] + v[1]) + (v[2] + v[3]);
    }
    for (d, &v) in d4.into_remainder().iter_mut().zip(s4.remainder()) {
        *d = v as i32;
        sum += v as i32;
    }
    sum
}

/// One contiguous run of a window: inputs `xs[start..end]`, the group's weights from byte
/// `w_offset`, and `Σ xs[start..end]`.
#[derive(Clone, Copy, Default)]
struct Segment {
    start: usize,
    end: usize,
    w_offset: usize,
    sum: i32,
}

/// Runs one validated layer; `epilogue(acc, requant_exp)` turns each accumulator (bias included)
/// into an output. Not inlined: one stack frame (window buffer) at a time, whichever layer runs.
#[inline(never)]
fn run_layer<T>(
    l: &Layer<'_>,
    x: &[i8],
    bias: &[u8],
    out: &mut [T],
    epilogue: impl Fn(i32, i32) -> T,
) {
    let g = l.geom;
    let cin = g.cin;
    let pairs_bytes = g.pairs() * QUAD_PAIR_BYTES;
    let (cout, s, p, t) = match l.kind {
        LayerKind::Dense => (g.values, 1, 0, 1),
        LayerKind::ConvTranspose => (l.out_shape[0], l.stride, l.padding, l.taps),
    };
    let [_, ih, iw] = l.in_shape;
    let [_, oh, ow] = l.out_shape;
    let (nby, nbx) = match l.kind {
        LayerKind::Dense => (1, 1),
        LayerKind::ConvTranspose => ((oh - 1 + p) / s + 1, (ow - 1 + p) / s + 1),
    };
    let mut xs = [0i32; XS_MAX];
    for by in 0..nby {
        for bx in 0..nbx {
            // The window: valid taps, in tap order, each a contiguous run of `cin` inputs.
            let mut taps = [(0usize, 0usize); MAX_TAPS * MAX_TAPS];
            let mut ntaps = 0;
            for ty in 0..t {
                let Some(iy) = by.checked_sub(ty).filter(|&iy| iy < ih) else {
                    continue;
                };
                for tx in 0..t {
                    let Some(ix) = bx.checked_sub(tx).filter(|&ix| ix < iw) else {
                        continue;
                    };
                    taps[ntaps] = (ty * t + tx, (iy * iw + ix) * cin);
                    ntaps += 1;
                }
            }
            let taps = &taps[..ntaps];
            let cinp = 2 * g.pairs();
            let fits = ntaps * cinp <= XS_MAX;
            // Segments: one per valid tap, merged when taps and weights are both consecutive.
            let mut segs = [Segment::default(); MAX_TAPS * MAX_TAPS];
            let mut nsegs = 0;
            if fits {
                let mut at = 0;
                for &(tap, from) in taps {
                    let dst = &mut xs[at..at + cinp];
                    let sum = widen(dst, &x[from..from + cin]);
                    if cin < cinp {
                        dst[cin] = 0;
                    }
                    let w_offset = tap * pairs_bytes;
                    match segs[..nsegs].last_mut() {
                        Some(last)
                            if last.end == at
                                && last.w_offset
                                    + (last.end - last.start) / 2 * QUAD_PAIR_BYTES
                                    == w_offset
                                && last.end - last.start + cinp <= MAX_CHUNK =>
                        {
                            last.end += cinp;
                            last.sum += sum;
                        }
                        _ => {
                            segs[nsegs] = Segment {
                                start: at,
                                end: at + cinp,
                                w_offset,
                                sum,
                            };
                            nsegs += 1;
                        }
                    }
                    at += cinp;
                }
            }
            // Phase `(py, px)` and channel `o` of value `v = group · QUAD + j`, stepped along
            // with `v` (no division per value).
            // Phase `(py, px)` and channel `o` of the next value `v`, stepped along with `v`
            // (no division per value).
            let (mut py, mut px, mut o) = (0, 0, 0);
            let step = |py: &mut usize, px: &mut usize, o: &mut usize, n: usize| {
                *o += n;
                if *o == cout {
                    *o = 0;
                    *px += 1;
                    if *px == s {
                        *px = 0;
                        *py += 1;
                    }
                }
            };
            // When `cout` is a multiple of QUAD (every preset), a group is four consecutive
            // channels of one phase: one position check per group.
            let whole_groups = cout.is_multiple_of(QUAD);
            for group in 0..g.groups() {
                // Output positions (and channels) of the group's four values; skip the group if
                // none is inside.
                let mut dst = [usize::MAX; QUAD];
                let mut chan = [0usize; QUAD];
                // (first output position, first channel) of a whole group.
                let mut whole = None;
                if whole_groups {
                    let (oy, ox) = (by * s + py, bx * s + px);
                    let inside = oy >= p && ox >= p && oy - p < oh && ox - p < ow;
                    let o0 = o;
                    step(&mut py, &mut px, &mut o, QUAD);
                    if !inside {
                        continue;
                    }
                    whole = Some((((oy - p) * ow + (ox - p)) * cout + o0, o0));
                } else {
                    for (j, (d, c)) in dst.iter_mut().zip(&mut chan).enumerate() {
                        if group * QUAD + j >= g.values {
                            break;
                        }
                        *c = o;
                        let (oy, ox) = (by * s + py, bx * s + px);
                        if oy >= p && ox >= p && oy - p < oh && ox - p < ow {
                            *d = ((oy - p) * ow + (ox - p)) * cout + o;
                        }
                        step(&mut py, &mut px, &mut o, 1);
                    }
                    if dst.iter().all(|&d| d == usize::MAX) {
                        continue;
                    }
                }
                let w = &l.weight[group * g.group_bytes()..(group + 1) * g.group_bytes()];
                let mut acc = [0i32; QUAD];
                if fits {
                    for seg in &segs[..nsegs] {
                        let n = seg.end - seg.start;
                        let r = quad_dot(
                            &xs[seg.start..seg.end],
                            &w[seg.w_offset..seg.w_offset + n / 2 * QUAD_PAIR_BYTES],
                            seg.sum,
                        );
                        for (a, r) in acc.iter_mut().zip(r) {
                            *a += r;
                        }
                    }
                } else {
                    for &(tap, from) in taps {
                        let wt = &w[tap * pairs_bytes..(tap + 1) * pairs_bytes];
                        let mut i = 0;
                        while i < cin {
                            let n = (cin - i).min(XS_MAX);
                            let sum = widen(&mut xs[..n], &x[from + i..from + i + n]);
                            let np = n.div_ceil(2) * 2;
                            if np > n {
                                xs[n] = 0;
                            }
                            let r = quad_dot(
                                &xs[..np],
                                &wt[i / 2 * QUAD_PAIR_BYTES..(i + np) / 2 * QUAD_PAIR_BYTES],
                                sum,
                            );
                            for (a, r) in acc.iter_mut().zip(r) {
                                *a += r;
                            }
                            i += n;
                        }
                    }
                }
                if let Some((d, o)) = whole {
                    // Four consecutive outputs and channels: one bounds check each.
                    let out = &mut out[d..d + QUAD];
                    let bias = &bias[4 * o..4 * (o + QUAD)];
                    let exps = &l.requant[o..o + QUAD];
                    for (j, (y, &e)) in out.iter_mut().zip(exps).enumerate() {
                        *y = epilogue(i32_at(bias, j) + acc[j], e as i32);
                    }
                } else {
                    for ((&d, &o), &a) in dst.iter().zip(&chan).zip(&acc) {
                        if d != usize::MAX {
                            out[d] = epilogue(i32_at(bias, o) + a, l.requant[o] as i32);
                        }
                    }
                }
            }
        }
    }
}

fn tensor(
    blob: &[u8],
    table_end: usize,
    layer: usize,
    name: TensorName,
    t: TensorRef,
    expected: u64,
) -> Result<&[u8], BlobError> {
    if !(t.offset as usize).is_multiple_of(TENSOR_ALIGN) {
        return Err(BlobError::Misaligned {
            layer,
            tensor: name,
        });
    }
    if t.len as u64 != expected {
        return Err(BlobError::TensorSize {
            layer,
            tensor: name,
            expected,
            actual: t.len,
        });
    }
    let start = t.offset as usize;
    let end = start.checked_add(t.len as usize);
    match end {
        Some(end) if start >= table_end && end <= blob.len() => Ok(&blob[start..end]),
        _ => Err(BlobError::TensorOutOfBounds {
            layer,
            tensor: name,
        }),
    }
}

fn parse_layer<'a>(
    blob: &'a [u8],
    table_end: usize,
    i: usize,
    r: &LayerRecord,
    last: bool,
    conditional: bool,
    num_classes: usize,
) -> Result<Layer<'a>, BlobError> {
    let kind = LayerKind::from_code(r.kind).ok_or(BlobError::UnknownLayerKind {
        layer: i,
        code: r.kind,
    })?;
    let act = Activation::from_code(r.activation).ok_or(BlobError::BadActivation {
        layer: i,
        code: r.activation,
    })?;
    if (act == Activation::Tanh) != last {
        return Err(BlobError::BadActivation {
            layer: i,
            code: r.activation,
        });
    }
    let alpha_ok = if act == Activation::LeakyRelu {
        r.alpha.is_finite()
    } else {
        r.alpha.to_bits() == 0
    };
    if !alpha_ok {
        return Err(BlobError::BadAlpha { layer: i });
    }
    let shape_err = |what| BlobError::BadShape { layer: i, what };
    let in_shape = r.in_shape.map(usize::from);
    let out_shape = r.out_shape.map(usize::from);
    if in_shape.contains(&0) || out_shape.contains(&0) {
        return Err(shape_err("zero dimension"));
    }
    if last && out_shape != [1, IMAGE_SIDE, IMAGE_SIDE] {
        return Err(shape_err("last layer output is not [1, 28, 28]"));
    }
    let in_len = in_shape.iter().map(|&d| d as u64).product::<u64>();
    let out_len = out_shape.iter().map(|&d| d as u64).product::<u64>();
    if in_len > MAX_ACTIVATION || out_len > MAX_ACTIVATION {
        return Err(shape_err("activation larger than MAX_ACTIVATION elements"));
    }
    let exp_ok = |e: i8| EXP_RANGE.contains(&(e as i32));
    if !exp_ok(r.in_exp) || !exp_ok(r.out_exp) || (last && r.out_exp != 0) {
        return Err(BlobError::BadExponent { layer: i });
    }
    let (stride, padding, taps, out_channels, geom) = match kind {
        LayerKind::Dense => {
            if r.kernel != 0 || r.stride != 0 || r.padding != 0 || r.taps != 0 {
                return Err(shape_err("dense layer with convolution parameters"));
            }
            (
                0,
                0,
                0,
                out_len,
                WeightGeometry::dense(in_len as usize, out_len as usize),
            )
        }
        LayerKind::ConvTranspose => {
            if conditional {
                return Err(shape_err("the class input needs a dense first layer"));
            }
            let (k, s, p) = (r.kernel as usize, r.stride as usize, r.padding as usize);
            if k == 0 || s == 0 || p >= k {
                return Err(shape_err("bad kernel, stride or padding"));
            }
            let t = k.div_ceil(s);
            if t > MAX_TAPS || r.taps as usize != t {
                return Err(shape_err("taps is not ceil(kernel / stride) or too large"));
            }
            if in_shape[1..]
                .iter()
                .zip(&out_shape[1..])
                .any(|(&i, &o)| (i - 1) * s + k != o + 2 * p)
            {
                return Err(shape_err(
                    "output size is not (in - 1) * stride - 2 * padding + kernel",
                ));
            }
            let g = WeightGeometry::conv(in_shape[0], out_shape[0], s, t);
            (s, p, t, out_shape[0] as u64, g)
        }
    };
    let bias_rows = if conditional { num_classes } else { 1 };
    let bias_len = 4 * out_channels * bias_rows as u64;
    let out_channels = out_channels as usize;
    let weight = tensor(blob, table_end, i, TensorName::Weight, r.weight, geom.len())?;
    let bias = tensor(blob, table_end, i, TensorName::Bias, r.bias, bias_len)?;
    let requant = as_i8(tensor(
        blob,
        table_end,
        i,
        TensorName::Requant,
        r.requant,
        out_channels as u64,
    )?);
    if requant.iter().any(|&e| !exp_ok(e)) {
        return Err(BlobError::BadExponent { layer: i });
    }
    // Accumulator bound: 128 · Σ|w| over one output value's weights + the largest |bias|.
    // Quad layout: group by group, the four values' sums side by side.
    let mut sums = [0i64; QUAD];
    for (at, &byte) in weight.iter().enumerate() {
        let word_in_group = at % geom.group_bytes() / 4;
        let (pair, b) = (word_in_group % 2, at % 4);
        let j = 2 * pair + usize::from(b % 2 == 1);
        let w = (byte ^ if b % 2 == 0 { 0x80 } else { 0 }) as i8;
        sums[j] += (w as i64).abs();
        if (at + 1) % geom.group_bytes() != 0 {
            continue;
        }
        let group = at / geom.group_bytes();
        for (j, sum) in sums.iter_mut().enumerate() {
            let v = group * QUAD + j;
            let wmax = core::mem::take(sum);
            if v >= geom.values {
                continue;
            }
            let o = v % out_channels;
            let bmax = (0..bias_rows)
                .map(|row| (i32_at(bias, row * out_channels + o) as i64).abs())
                .max()
                .unwrap_or(0);
            if ACC_INPUT_MAX * wmax + bmax >= ACC_LIMIT {
                return Err(BlobError::AccumulatorRange {
                    layer: i,
                    channel: o,
                });
            }
        }
    }
    Ok(Layer {
        kind,
        act,
        alpha: r.alpha,
        in_shape,
        out_shape,
        stride,
        padding,
        taps,
        geom,
        weight,
        bias,
        requant,
    })
}

#[cfg(test)]
mod tests {
    //! The fast layer (windows, segments, quad-layout kernel) against the definition of the
    //! layer on random shapes and weights.
    extern crate std;
    use super::*;
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

    /// The runtime's layer on the same case: weights packed into the quad layout.
    fn fast(c: &Case) -> Vec<i32> {
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
            bias: &bias,
            requant: &requant,
        };
        let mut out = std::vec![i32::MIN; layer.out_len()];
        run_layer(&layer, &c.x, &bias, &mut out, |acc, _| acc);
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 600, ..ProptestConfig::default() })]

        /// Every output of random dense and transposed-conv layers (odd channel counts, windows
        /// larger than the on-stack buffer and than one kernel call, partial groups, padding
        /// that cuts windows, extreme weights and inputs) equals the definition.
        #[test]
        fn fast_layer_matches_the_definition(c in case()) {
            prop_assert_eq!(fast(&c), reference(&c));
        }
    }
}
