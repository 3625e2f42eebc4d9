//! Writes a blob from `random_spec(PRESET, CONDITIONAL, SEED)` so the runtime / firmware can be
//! tried before a trained model exists.
//!
//! `cargo run --release -p export --example random_blob -- OUT.tgb [PRESET] [SEED] [--conditional]`

use export::spec::Preset;
use export::{ExportOptions, random_spec, write_blob};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let conditional = args.iter().any(|a| a == "--conditional");
    let pos: Vec<&String> = args.iter().filter(|a| !a.starts_with("--")).collect();
    let Some(out) = pos.first() else {
        eprintln!("usage: random_blob OUT.tgb [PRESET=tiny] [SEED=1] [--conditional]");
        std::process::exit(2);
    };
    let name = pos.get(1).map_or("tiny", |s| s.as_str());
    let seed: u64 = pos.get(2).map_or(Ok(1), |s| s.parse()).unwrap_or_else(|e| {
        eprintln!("bad seed: {e}");
        std::process::exit(2)
    });
    let preset = match name.parse::<Preset>() {
        Ok(p) if p.is_image() => p,
        _ => {
            eprintln!("unknown preset {name:?} (tiny, dcgan, mlp)");
            std::process::exit(2);
        }
    };
    let spec = random_spec(preset, conditional, seed);
    let blob = write_blob(&spec, &ExportOptions::default()).unwrap_or_else(|e| {
        eprintln!("export failed: {e}");
        std::process::exit(1)
    });
    std::fs::write(out, &blob).unwrap_or_else(|e| {
        eprintln!("cannot write {out}: {e}");
        std::process::exit(1)
    });
    let model = runtime_nostd::Model::parse(&blob).expect("write_blob validates");
    println!(
        "wrote {out}: preset {preset}, {} classes, {} bytes, scratch {} bytes, {} MAC/image",
        model.num_classes(),
        blob.len(),
        model.scratch_bytes(),
        model.macs()
    );
}
