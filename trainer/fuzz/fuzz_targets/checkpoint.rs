//! Structure-aware fuzzing of the checkpoint readers: `Trainer::load` (what `train --resume`
//! runs) and `Trainer::load_generator` (`sample`, `eval`, `export`).
//!
//! Three real checkpoints are made once per process (`toy` with NS-GAN; `toy` with hinge and
//! spectral norm, whose power-iteration vectors sit in `running.json`; `tiny`, conditional, with
//! the weight average and batch norm). The input picks one and either replaces the whole section
//! table with input bytes (sealed with a correct SHA-256, so the section parser runs), or applies
//! up to 8 input-chosen mutations to its sections — bytes, bits, little-endian u32/u64 fields,
//! cuts, insertions, emptied, doubled, swapped, removed or added sections, and edits of a JSON
//! value in `state.json` or `running.json` (a number, string or array replaced with an
//! input-chosen one: the config and the running statistics) — and seals the file again, or, when
//! the input says so, flips one byte after sealing (the checksum must refuse it). The file goes to
//! `/dev/shm` (else the temp dir).
//!
//! Nothing may panic; every refusal must name the checkpoint (one clear message, as the CLI
//! prints it); and a `toy` run that loads must also train one more step (a damaged optimiser or
//! running-statistics section that loads must not crash the next step either; input-chosen, as a
//! step is a third of an execution). `TINYGAN_FUZZ_STATS=1` prints how far inputs got
//! ([`common::Stats`]).
#![no_main]

mod common;

use std::sync::OnceLock;

use arbitrary::Arbitrary;
use burn::prelude::*;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use trainer::checkpoint::file::Sections;
use trainer::checkpoint::{Checkpoint, Weights};
use trainer::config::TrainConfig;
use trainer::data::{Dataset, TrainData};
use trainer::model::Preset;
use trainer::objective::Loss;
use trainer::train::Trainer;

#[derive(Arbitrary, Debug)]
struct Input {
    /// The starting checkpoint: 0–3 `toy` NS-GAN, 4–6 `toy` hinge + spectral norm, 7 `tiny`
    /// (about 20 times larger, and as much slower to load and hash).
    base: u8,
    body: Body,
    /// One byte of the sealed file XOR-ed with a non-zero value (the checksum must catch it).
    flip_after_seal: Option<(u32, u8)>,
    /// Load the averaged generator (else the trained one) for `load_generator`.
    averaged: bool,
    /// Train one step after a `toy` run loads.
    step: bool,
}

#[derive(Arbitrary, Debug)]
enum Body {
    /// The section table (count, names, lengths, data) is these bytes.
    Raw(Vec<u8>),
    Mutated(Vec<Mutation>),
}

#[derive(Arbitrary, Debug)]
enum Mutation {
    Byte {
        section: u8,
        at: u32,
        value: u8,
    },
    Bit {
        section: u8,
        at: u32,
        bit: u8,
    },
    U32 {
        section: u8,
        at: u32,
        value: u32,
    },
    U64 {
        section: u8,
        at: u32,
        value: u64,
    },
    Cut {
        section: u8,
        at: u32,
    },
    Insert {
        section: u8,
        at: u32,
        bytes: Vec<u8>,
    },
    Empty {
        section: u8,
    },
    Double {
        section: u8,
    },
    /// Section `into` holds a copy of section `from`.
    Copy {
        from: u8,
        into: u8,
    },
    Remove {
        section: u8,
    },
    Add {
        name: String,
        bytes: Vec<u8>,
    },
    /// The `leaf`-th value (depth-first) of a JSON section replaced with `value`.
    Json {
        running: bool,
        leaf: u16,
        value: JsonValue,
    },
}

#[derive(Arbitrary, Debug)]
enum JsonValue {
    Int(i64),
    UInt(u64),
    Float(f64),
    Text(String),
    Bool(bool),
    Null,
    /// An array of this many zeros (resizes a running-statistics tensor).
    Zeros(u16),
}

impl JsonValue {
    fn to_value(&self) -> Value {
        match self {
            JsonValue::Int(i) => Value::from(*i),
            JsonValue::UInt(u) => Value::from(*u),
            JsonValue::Float(f) => Value::from(*f),
            JsonValue::Text(s) => Value::from(s.as_str()),
            JsonValue::Bool(b) => Value::from(*b),
            JsonValue::Null => Value::Null,
            JsonValue::Zeros(n) => Value::from(vec![0.0f32; usize::from(*n % 4096)]),
        }
    }
}

/// The starting checkpoints (their configs and section tables), made once.
fn bases() -> &'static [(TrainConfig, Sections)] {
    static BASES: OnceLock<Vec<(TrainConfig, Sections)>> = OnceLock::new();
    BASES.get_or_init(|| {
        let toy = |loss| {
            TrainConfig::with_defaults(Preset::Toy, loss)
                .with_dataset(Dataset::Gaussians8)
                .with_batch(8)
                .with_seed(5)
        };
        let mut tiny = TrainConfig::with_defaults(Preset::Tiny, Loss::NsGan)
            .with_batch(4)
            .with_seed(5);
        tiny.conditional = true;
        let mut sn = toy(Loss::Hinge);
        sn.spectral_norm = true;
        [toy(Loss::NsGan), sn, tiny]
            .into_iter()
            .map(|cfg| {
                let mut t = Trainer::new(cfg.clone(), &Device::flex(), data(&cfg))
                    .expect("a base run starts");
                t.step().expect("a base run trains");
                let sections = t.to_sections().expect("a base checkpoint encodes");
                (cfg, sections)
            })
            .collect()
    })
}

/// Training data for a config, as the CLI picks it (`TrainData::load` by the config's dataset).
fn data(cfg: &TrainConfig) -> TrainData {
    match cfg.dataset {
        Dataset::Gaussians8 => TrainData::Gaussians8,
        Dataset::Mnist => TrainData::Images {
            images: (0..16 * 784).map(|i| (i * 7 % 251) as u8).collect(),
            labels: (0..16).map(|i| (i % 10) as u8).collect(),
        },
    }
}

/// Replaces the `n`-th JSON value (depth-first, arrays and objects included) with `new`.
fn replace_nth(v: &mut Value, n: &mut usize, new: &Value) -> bool {
    if *n == 0 {
        *v = new.clone();
        return true;
    }
    *n -= 1;
    match v {
        Value::Array(a) => a.iter_mut().any(|x| replace_nth(x, n, new)),
        Value::Object(o) => o.values_mut().any(|x| replace_nth(x, n, new)),
        _ => false,
    }
}

fn count_values(v: &Value) -> usize {
    1 + match v {
        Value::Array(a) => a.iter().map(count_values).sum(),
        Value::Object(o) => o.values().map(count_values).sum(),
        _ => 0,
    }
}

/// The section an edit inside one section applies to (`None` for edits of the section table).
fn section_of(m: &Mutation) -> Option<u8> {
    match m {
        Mutation::Byte { section, .. }
        | Mutation::Bit { section, .. }
        | Mutation::U32 { section, .. }
        | Mutation::U64 { section, .. }
        | Mutation::Cut { section, .. }
        | Mutation::Insert { section, .. }
        | Mutation::Empty { section }
        | Mutation::Double { section } => Some(*section),
        _ => None,
    }
}

/// Applies an edit inside one section to its bytes (nothing for edits of the section table).
fn edit(m: &Mutation, b: &mut Vec<u8>) {
    let len = b.len();
    let pos = |at: u32| (at as usize).checked_rem(len);
    match m {
        Mutation::Byte { at, value, .. } => {
            if let Some(k) = pos(*at) {
                b[k] = *value;
            }
        }
        Mutation::Bit { at, bit, .. } => {
            if let Some(k) = pos(*at) {
                b[k] ^= 1 << (bit % 8);
            }
        }
        Mutation::U32 { at, value, .. } => overwrite(b, pos(*at), &value.to_le_bytes()),
        Mutation::U64 { at, value, .. } => overwrite(b, pos(*at), &value.to_le_bytes()),
        Mutation::Cut { at, .. } => b.truncate(pos(*at).unwrap_or(0)),
        Mutation::Insert { at, bytes, .. } => {
            let k = pos(*at).unwrap_or(0);
            b.splice(k..k, bytes.iter().copied());
        }
        Mutation::Empty { .. } => b.clear(),
        Mutation::Double { .. } => b.extend_from_slice(&b.clone()),
        _ => {}
    }
}

/// Overwrites `b` from `at` with `field` (as much of it as fits).
fn overwrite(b: &mut [u8], at: Option<usize>, field: &[u8]) {
    if let Some(k) = at {
        let end = (k + field.len()).min(b.len());
        b[k..end].copy_from_slice(&field[..end - k]);
    }
}

fn mutate(sections: &mut Sections, m: &Mutation) {
    let names: Vec<String> = sections.0.keys().cloned().collect();
    let name = |i: u8| names.get(usize::from(i) % names.len().max(1)).cloned();
    if let Some(i) = section_of(m) {
        if let Some(b) = name(i).and_then(|n| sections.0.get_mut(&n)) {
            edit(m, b);
        }
        return;
    }
    match m {
        Mutation::Copy { from, into } => {
            if let (Some(f), Some(t)) = (name(*from), name(*into)) {
                let c = sections.0[&f].clone();
                sections.0.insert(t, c);
            }
        }
        Mutation::Remove { section: i } => {
            if let Some(n) = name(*i) {
                sections.0.remove(&n);
            }
        }
        Mutation::Add { name, bytes } => {
            sections.0.insert(name.clone(), bytes.clone());
        }
        Mutation::Json {
            running,
            leaf,
            value,
        } => {
            let key = if *running {
                "running.json"
            } else {
                "state.json"
            };
            let Some(b) = sections.0.get_mut(key) else {
                return;
            };
            let Ok(mut json) = serde_json::from_slice::<Value>(b) else {
                return;
            };
            let mut n = usize::from(*leaf) % count_values(&json);
            replace_nth(&mut json, &mut n, &value.to_value());
            *b = serde_json::to_vec(&json).expect("a JSON value serialises");
        }
        // Edits inside one section: applied above.
        _ => {}
    }
}

static RESUME: common::Stats<3> = common::Stats::new([
    "resume: container or state refused",
    "model refused",
    "resumed",
]);
static GENERATOR: common::Stats<2> = common::Stats::new(["load_generator: loaded", "refused"]);

fuzz_target!(|input: Input| {
    let bases = bases();
    let (_, base) = &bases[match input.base % 8 {
        0..=3 => 0,
        4..=6 => 1,
        _ => 2,
    }];
    let mut file = match &input.body {
        Body::Raw(table) => {
            use sha2::{Digest, Sha256};
            let mut f = b"TGCKPT\0\x01".to_vec();
            f.extend_from_slice(table);
            let sum = Sha256::digest(&f);
            f.extend_from_slice(&sum);
            f
        }
        Body::Mutated(mutations) => {
            let mut s = base.clone();
            for m in mutations.iter().take(8) {
                mutate(&mut s, m);
            }
            s.encode()
        }
    };
    let flipped = match input.flip_after_seal {
        Some((at, x)) if x != 0 && !file.is_empty() => {
            let k = at as usize % file.len();
            file[k] ^= x;
            true
        }
        _ => false,
    };
    let path = &common::scratch_file("checkpoint.tgc");
    std::fs::write(path, &file).expect("the fuzz file can be written");
    let dev = Device::flex();
    let named = |e: &anyhow::Error| {
        let msg = format!("{e:#}");
        assert!(
            msg.contains("checkpoint"),
            "a refusal that does not name the checkpoint: {msg}"
        );
    };

    // `train --resume`: the config first (as `check_resume` does), then the whole run.
    let resumed = match Checkpoint::read(path) {
        Err(e) => {
            named(&e);
            RESUME.record(0);
            false
        }
        Ok(ck) => {
            let cfg = ck.state.config;
            match Trainer::load(path, &dev, data(&cfg)) {
                Err(e) => {
                    named(&e);
                    RESUME.record(1);
                    false
                }
                Ok(mut t) => {
                    RESUME.record(2);
                    if input.step && cfg.preset == Preset::Toy {
                        // A NaN stop is an error, not a crash; both are fine here.
                        let _ = t.step();
                    }
                    true
                }
            }
        }
    };
    assert!(
        !(flipped && resumed),
        "a file modified after sealing was accepted"
    );

    // `sample` / `eval` / `export`.
    let weights = if input.averaged {
        Weights::Averaged
    } else {
        Weights::Trained
    };
    match Trainer::load_generator(path, &dev, weights) {
        Ok(_) => GENERATOR.record(0),
        Err(e) => {
            named(&e);
            GENERATOR.record(1);
        }
    }
});
