//! Converts a version-1 `.tgb` blob into the current format (same weights, same images):
//! `cargo run -p export --example upgrade_v1 -- OLD.tgb NEW.tgb`.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [old, new] = args.as_slice() else {
        eprintln!("usage: upgrade_v1 OLD.tgb NEW.tgb");
        std::process::exit(2);
    };
    let bytes = std::fs::read(old).unwrap_or_else(|e| panic!("cannot read {old}: {e}"));
    let blob = export::upgrade_v1(&bytes).unwrap_or_else(|e| panic!("{old}: {e}"));
    runtime_nostd::Model::parse(&blob).expect("the upgraded blob parses");
    std::fs::write(new, &blob).unwrap_or_else(|e| panic!("cannot write {new}: {e}"));
    println!(
        "{old} ({} bytes, v1) -> {new} ({} bytes, v{})",
        bytes.len(),
        blob.len(),
        runtime_nostd::format::VERSION
    );
}
