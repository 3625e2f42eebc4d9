//! Structure-aware fuzzing of `Model::parse` and `Model::generate`.
//!
//! The input is decoded (with `arbitrary`) into a small model spec — latent size, classes, one to
//! four dense or transposed-convolution layers with small shapes, int8 weights, int32 biases,
//! exponents — which the blob writer (`format::write`) turns into a valid, sealed blob. A few
//! input-chosen mutations (bytes, bits, header and layer-record fields, truncation, trailing
//! bytes) then damage it, the CRC is repaired or not (input-chosen), and the result is parsed
//! and, when accepted and small, run. So most executions reach the layer checks, the accumulator
//! bound and the forward pass instead of stopping at the CRC.
//!
//! `cargo +nightly fuzz run parse_structured` (see `fuzz/README.md`). With
//! `TINYGAN_FUZZ_STATS=1` the target prints how far its inputs got (every power of two and every
//! 100 000 executions, on stderr).
#![no_main]

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use runtime_nostd::format::write::{BlobMeta, LayerData, Op, write_blob};
use runtime_nostd::format::{
    Activation, HEADER_LEN, Header, LAYER_RECORD_LEN, MAX_LAYERS, layer_record_offset, seal,
};
use runtime_nostd::{BlobError, MAX_PRESET_SCRATCH, Model, Rng, Scratch, latent};

/// Largest activation (elements) a generated layer may write, and the most weight, bias and
/// class-table bytes a spec may ask for (the parser's accumulator check visits every weight
/// byte, and with comparison tracing that dominates an execution): keeps executions fast.
const MAX_OUT: usize = 4096;
const MAX_TENSOR_BYTES: usize = 1 << 14;
/// The forward pass runs for models of at most this many MACs (the `tiny` preset has 551 936).
const MAX_MACS: u64 = 600_000;

#[derive(Arbitrary, Debug)]
struct Spec {
    z_dim: u8,
    classes: u8,
    input_exp: i8,
    label: u8,
    iteration: u64,
    /// Hidden layers: at most three, and only as many as fit `MAX_TENSOR_BYTES` (with the last
    /// layer after them); the last layer is `last`.
    hidden: Vec<Hidden>,
    last: Last,
    /// Weights, biases and exponents are these values repeated over each tensor, or values of an
    /// `Rng` seeded with `seed` when empty.
    weights: Vec<i8>,
    biases: Vec<i32>,
    /// Every bias is shifted right by `bias_shift % 32` (0 keeps the raw values, which mostly
    /// break the accumulator bound).
    bias_shift: u8,
    exps: Vec<i8>,
    seed: u64,
    mutations: Vec<Mutation>,
    reseal: bool,
}

#[derive(Arbitrary, Debug)]
struct Hidden {
    op: HiddenOp,
    act: u8,
    alpha: f32,
    out_exp: i8,
}

#[derive(Arbitrary, Debug)]
enum HiddenOp {
    /// Dense to `[1 + c % 72, 1 + h % 14, 1 + w % 14]`.
    Dense { c: u8, h: u8, w: u8 },
    /// Transposed convolution to `1 + c % 16` channels, kernel `1 + k % 8`, stride `1 + s % 4`,
    /// padding `p % kernel`.
    ConvT { c: u8, k: u8, s: u8, p: u8 },
}

#[derive(Arbitrary, Debug)]
enum Last {
    /// Dense to the image.
    Dense,
    /// Transposed convolution to the image: stride `1 + s % 8`, padding `p % 4`, the kernel that
    /// gives 28 (a dense layer when there is none).
    ConvT { s: u8, p: u8 },
}

#[derive(Arbitrary, Debug)]
enum Mutation {
    Byte {
        at: u32,
        value: u8,
    },
    Flip {
        at: u32,
        bit: u8,
    },
    HeaderU16 {
        field: u8,
        value: u16,
    },
    HeaderU32 {
        field: u8,
        value: u32,
    },
    RecordByte {
        layer: u8,
        at: u8,
        value: u8,
    },
    RecordU16 {
        layer: u8,
        field: u8,
        value: u16,
    },
    RecordU32 {
        layer: u8,
        field: u8,
        value: u32,
    },
    /// Adds `delta` to a u32 field of a record (tensor offsets and lengths: 24..48).
    RecordNudge {
        layer: u8,
        field: u8,
        delta: i8,
    },
    /// Overwrites a byte of the tensor data (after the layer table).
    Data {
        at: u32,
        value: u8,
    },
    Truncate {
        len: u32,
    },
    Extend {
        n: u8,
        value: u8,
    },
    SwapRecords {
        a: u8,
        b: u8,
    },
}

/// One layer of the spec, resolved to sizes.
struct Plan {
    op: Op,
    act: Activation,
    alpha: f32,
    out_exp: i8,
    in_shape: [usize; 3],
    out_shape: [usize; 3],
}

impl Plan {
    fn weight_len(&self) -> usize {
        let (i, o) = (self.in_shape, self.out_shape);
        match self.op {
            Op::Dense => i.iter().product::<usize>() * o.iter().product::<usize>(),
            Op::ConvTranspose { kernel, .. } => i[0] * o[0] * kernel * kernel,
        }
    }
    fn channels(&self) -> usize {
        match self.op {
            Op::Dense => self.out_shape.iter().product(),
            Op::ConvTranspose { .. } => self.out_shape[0],
        }
    }
}

fn transposed_side(i: usize, k: usize, s: usize, p: usize) -> Option<usize> {
    ((i - 1) * s + k).checked_sub(2 * p).filter(|&o| o >= 1)
}

fn hidden_plan(h: &Hidden, in_shape: [usize; 3]) -> Option<Plan> {
    let (op, out_shape) = match h.op {
        HiddenOp::Dense { c, h, w } => (
            Op::Dense,
            [
                1 + c as usize % 72,
                1 + h as usize % 14,
                1 + w as usize % 14,
            ],
        ),
        HiddenOp::ConvT { c, k, s, p } => {
            let (k, s) = (1 + k as usize % 8, 1 + s as usize % 4);
            let p = p as usize % k;
            let side = |i| transposed_side(i, k, s, p);
            let out = [1 + c as usize % 16, side(in_shape[1])?, side(in_shape[2])?];
            let op = Op::ConvTranspose {
                kernel: k,
                stride: s,
                padding: p,
            };
            (op, out)
        }
    };
    if out_shape.iter().product::<usize>() > MAX_OUT {
        return None;
    }
    let (act, alpha) = match h.act % 3 {
        0 => (Activation::Identity, 0.0),
        1 => (Activation::Relu, 0.0),
        _ => (
            Activation::LeakyRelu,
            if h.alpha.is_finite() { h.alpha } else { 0.2 },
        ),
    };
    Some(Plan {
        op,
        act,
        alpha,
        out_exp: h.out_exp % 8,
        in_shape,
        out_shape,
    })
}

fn last_plan(last: &Last, in_shape: [usize; 3]) -> Plan {
    let image = [1, 28, 28];
    let mut op = Op::Dense;
    if let Last::ConvT { s, p } = *last
        && in_shape[1] == in_shape[2]
    {
        let (s, p) = (1 + s as usize % 8, p as usize % 4);
        // (i - 1)·s + k - 2p = 28
        if let Some(k) = (28 + 2 * p).checked_sub((in_shape[1] - 1) * s)
            && k > p
        {
            op = Op::ConvTranspose {
                kernel: k,
                stride: s,
                padding: p,
            };
        }
    }
    Plan {
        op,
        act: Activation::Tanh,
        alpha: 0.0,
        out_exp: 0,
        in_shape,
        out_shape: image,
    }
}

/// Fills `n` values from `pattern` (repeated) or, when it is empty, from `rng`.
fn fill<T: Copy>(n: usize, pattern: &[T], rng: &mut Rng, draw: impl Fn(u32) -> T) -> Vec<T> {
    if pattern.is_empty() {
        (0..n).map(|_| draw(rng.next_u32())).collect()
    } else {
        pattern.iter().copied().cycle().take(n).collect()
    }
}

/// The sealed blob the spec describes and its number of layers (`None` when the writer refuses
/// it, or it is too big even without its hidden layers).
fn build(spec: &Spec) -> Option<(Vec<u8>, usize)> {
    let z_dim = 1 + spec.z_dim as usize % 16;
    let classes = match spec.classes {
        0..=127 => 0,
        254 => 256,
        255 => 257, // rejected by the parser
        c => c as usize % 12,
    };
    // The class table needs a dense first layer; a conv one gets one row (parser: rejected).
    let rows = |i: usize, p: &Plan| {
        if i == 0 && matches!(p.op, Op::Dense) {
            classes.max(1)
        } else {
            1
        }
    };
    let bytes = |i: usize, p: &Plan| p.weight_len() + 4 * p.channels() * rows(i, p) + p.channels();
    // Hidden layers while they and the last layer after them fit MAX_TENSOR_BYTES.
    let mut plans: Vec<Plan> = Vec::new();
    let (mut shape, mut used) = ([z_dim, 1, 1], 0);
    for h in spec.hidden.iter().take(MAX_LAYERS.min(4) - 1) {
        let Some(plan) = hidden_plan(h, shape) else {
            break;
        };
        let i = plans.len();
        let cost = bytes(i, &plan) + bytes(i + 1, &last_plan(&spec.last, plan.out_shape));
        if used + cost > MAX_TENSOR_BYTES {
            break;
        }
        used += bytes(i, &plan);
        shape = plan.out_shape;
        plans.push(plan);
    }
    plans.push(last_plan(&spec.last, shape));
    if used + bytes(plans.len() - 1, &plans[plans.len() - 1]) > MAX_TENSOR_BYTES {
        return None;
    }

    let mut rng = Rng::new(spec.seed);
    let shift = spec.bias_shift % 32;
    let mut tensors = Vec::new();
    for (i, p) in plans.iter().enumerate() {
        let (nw, nb, ne) = (p.weight_len(), p.channels() * rows(i, p), p.channels());
        let w = fill(nw, &spec.weights, &mut rng, |r| r as i8);
        let b: Vec<i32> = fill(nb, &spec.biases, &mut rng, |r| (r as i32) >> 20)
            .into_iter()
            .map(|b| b >> shift)
            .collect();
        let e: Vec<i8> = fill(ne, &spec.exps, &mut rng, |r| r as i8)
            .into_iter()
            .map(|e| ((e as i32).rem_euclid(40) - 30) as i8)
            .collect();
        tensors.push((w, b, e));
    }
    let mut in_exp = spec.input_exp % 8;
    let layers: Vec<LayerData<'_>> = plans
        .iter()
        .zip(&tensors)
        .map(|(p, (w, b, e))| {
            let l = LayerData {
                op: p.op,
                activation: p.act,
                alpha: p.alpha,
                in_exp,
                out_exp: p.out_exp,
                in_shape: p.in_shape,
                out_shape: p.out_shape,
                weight: w,
                bias: b,
                requant: e,
            };
            in_exp = p.out_exp;
            l
        })
        .collect();
    let meta = BlobMeta {
        z_dim,
        num_classes: classes,
        input_exp: spec.input_exp % 8,
        iteration: spec.iteration,
        preset: "fuzz",
    };
    let blob = write_blob(&meta, &layers).ok()?;
    Some((blob, plans.len()))
}

fn put(blob: &mut [u8], at: usize, bytes: &[u8]) {
    if let Some(dst) = blob.get_mut(at..at + bytes.len()) {
        dst.copy_from_slice(bytes);
    }
}

fn mutate(blob: &mut Vec<u8>, layers: usize, m: &Mutation) {
    let len = blob.len();
    let record = |layer: u8| layer_record_offset(layer as usize % layers);
    let table_end = layer_record_offset(layers);
    match *m {
        Mutation::Byte { at, value } if len > 0 => blob[at as usize % len] = value,
        Mutation::Flip { at, bit } if len > 0 => blob[at as usize % len] ^= 1 << (bit % 8),
        Mutation::HeaderU16 { field, value } => put(
            blob,
            (field as usize % (HEADER_LEN / 2)) * 2,
            &value.to_le_bytes(),
        ),
        Mutation::HeaderU32 { field, value } => put(
            blob,
            (field as usize % (HEADER_LEN / 4)) * 4,
            &value.to_le_bytes(),
        ),
        Mutation::RecordByte { layer, at, value } => put(
            blob,
            record(layer) + at as usize % LAYER_RECORD_LEN,
            &[value],
        ),
        Mutation::RecordU16 {
            layer,
            field,
            value,
        } => put(
            blob,
            record(layer) + (field as usize % (LAYER_RECORD_LEN / 2)) * 2,
            &value.to_le_bytes(),
        ),
        Mutation::RecordU32 {
            layer,
            field,
            value,
        } => put(
            blob,
            record(layer) + (field as usize % (LAYER_RECORD_LEN / 4)) * 4,
            &value.to_le_bytes(),
        ),
        Mutation::RecordNudge {
            layer,
            field,
            delta,
        } => {
            let at = record(layer) + 24 + (field as usize % 6) * 4;
            if let Some(b) = blob.get(at..at + 4) {
                let v = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                put(blob, at, &v.wrapping_add(delta as i32 as u32).to_le_bytes());
            }
        }
        Mutation::Data { at, value } if len > table_end => {
            blob[table_end + at as usize % (len - table_end)] = value
        }
        Mutation::Truncate { len: n } => blob.truncate(n as usize % (len + 1)),
        Mutation::Extend { n, value } => blob.extend(std::iter::repeat_n(value, n as usize)),
        Mutation::SwapRecords { a, b } => {
            let (a, b) = (record(a), record(b));
            if a != b && b + LAYER_RECORD_LEN <= len && a + LAYER_RECORD_LEN <= len {
                let ra: [u8; LAYER_RECORD_LEN] = blob[a..a + LAYER_RECORD_LEN].try_into().unwrap();
                blob.copy_within(b..b + LAYER_RECORD_LEN, a);
                blob[b..b + LAYER_RECORD_LEN].copy_from_slice(&ra);
            }
        }
        _ => {}
    }
}

/// How far the inputs got (printed with `TINYGAN_FUZZ_STATS=1`).
static EXECS: AtomicU64 = AtomicU64::new(0);
static BUILT: AtomicU64 = AtomicU64::new(0);
static CRC_REJECTED: AtomicU64 = AtomicU64::new(0);
static OTHER_REJECTED: AtomicU64 = AtomicU64::new(0);
static ACCEPTED: AtomicU64 = AtomicU64::new(0);
static GENERATED: AtomicU64 = AtomicU64::new(0);
static GENERATE_OK: AtomicU64 = AtomicU64::new(0);

fn report() {
    static ON: OnceLock<bool> = OnceLock::new();
    let n = EXECS.fetch_add(1, Relaxed) + 1;
    if !*ON.get_or_init(|| std::env::var_os("TINYGAN_FUZZ_STATS").is_some()) {
        return;
    }
    if n.is_power_of_two() || n.is_multiple_of(100_000) {
        let pct = |c: &AtomicU64| 100.0 * c.load(Relaxed) as f64 / n as f64;
        eprintln!(
            "tinygan-stats execs {n}: built {:.1}% | parse: crc-rejected {:.1}%, other-rejected \
             {:.1}%, accepted {:.1}% | generate run {:.1}%, ok {:.1}%",
            pct(&BUILT),
            pct(&CRC_REJECTED),
            pct(&OTHER_REJECTED),
            pct(&ACCEPTED),
            pct(&GENERATED),
            pct(&GENERATE_OK),
        );
    }
}

fuzz_target!(|spec: Spec| {
    run(&spec);
    report();
});

fn run(spec: &Spec) {
    let Some((mut blob, layers)) = build(spec) else {
        return;
    };
    BUILT.fetch_add(1, Relaxed);
    for m in spec.mutations.iter().take(8) {
        mutate(&mut blob, layers, m);
    }
    if spec.reseal
        && let Some((h, _)) = Header::from_bytes(&blob)
    {
        let end = (h.total_len as usize).min(blob.len());
        seal(&mut blob[..end]);
    }
    let model = match Model::parse(&blob) {
        Ok(model) => model,
        Err(BlobError::CrcMismatch { .. }) => {
            CRC_REJECTED.fetch_add(1, Relaxed);
            return;
        }
        Err(_) => {
            OTHER_REJECTED.fetch_add(1, Relaxed);
            return;
        }
    };
    ACCEPTED.fetch_add(1, Relaxed);
    if model.macs() > MAX_MACS {
        return;
    }
    GENERATED.fetch_add(1, Relaxed);
    static mut SCRATCH: Scratch<MAX_PRESET_SCRATCH> = Scratch::new();
    // SAFETY: libFuzzer runs the target on one thread.
    let scratch = unsafe { &mut *core::ptr::addr_of_mut!(SCRATCH) };
    let mut z = [0f32; 512];
    let zd = model.z_dim().min(512);
    latent(7, 0, &mut z[..zd]);
    let mut out = [0u8; 784];
    // Mostly a valid label; sometimes one out of range (an error, never a panic).
    let label = (model.num_classes() > 0)
        .then(|| (spec.label as usize % (model.num_classes() + 1)).min(255) as u8);
    if model.generate(&z[..zd], label, scratch, &mut out).is_ok() {
        GENERATE_OK.fetch_add(1, Relaxed);
    }
}
