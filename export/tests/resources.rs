//! RAM / flash per preset (the table in `runtime-nostd`'s docs): run with `--nocapture`.

use export::spec::Preset;
use export::{ExportOptions, param_count, random_spec, write_blob};
use runtime_nostd::{DCGAN_SCRATCH, MLP_SCRATCH, Model, TINY_SCRATCH};

#[test]
fn resources_per_preset() {
    println!("| preset | conditional | params | MAC/image | scratch (RAM) B | blob (flash) B |");
    println!("|---|---|---:|---:|---:|---:|");
    for (preset, scratch) in [
        (Preset::Tiny, TINY_SCRATCH),
        (Preset::Mlp, MLP_SCRATCH),
        (Preset::Dcgan, DCGAN_SCRATCH),
    ] {
        for conditional in [false, true] {
            let spec = random_spec(preset, conditional, 1);
            let blob = write_blob(&spec, &ExportOptions::default()).unwrap();
            let m = Model::parse(&blob).unwrap();
            assert_eq!(m.scratch_bytes(), scratch, "{preset}");
            assert_eq!(m.preset(), preset);
            println!(
                "| {preset} | {conditional} | {} | {} | {} | {} |",
                param_count(&spec),
                m.macs(),
                m.scratch_bytes(),
                blob.len()
            );
        }
    }
}
