//! Structure-aware fuzzing of the IDX readers (`read_idx_images`, `read_idx_labels`: MNIST, and
//! every file `tinygan eval --idx` is given).
//!
//! The input is decoded (with `arbitrary`) into a file: a header written by the target (the right
//! magic or another, a count that matches the items or is off by an input-chosen amount, 28 × 28 or
//! other dimensions) or none (the input bytes are the whole file), items made by repeating input
//! bytes, optional trailing bytes, and an optional gzip wrapper (whole, cut short, or with junk
//! after it). So most executions reach the size checks, the item read and the label check instead
//! of stopping at the magic. The file goes to a fixed path in `/dev/shm` (else the temp dir) and is
//! read through the same entry points as the CLI's.
//!
//! Nothing may panic, and what a reader accepts must be what the header promised: `count × 784`
//! pixels for images, labels 0–9. `TINYGAN_FUZZ_STATS=1` prints the share of inputs read
//! whole and refused ([`common::Stats`]).
#![no_main]

mod common;

use std::io::Write;

use arbitrary::Arbitrary;
use flate2::Compression;
use flate2::write::GzEncoder;
use libfuzzer_sys::fuzz_target;
use trainer::data::{
    IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC, IMAGE_PIXELS, read_idx_images, read_idx_labels,
};

#[derive(Arbitrary, Debug)]
struct Input {
    labels: bool,
    header: Option<Header>,
    /// Item bytes, repeated to `items × item size` when there is a header (else the whole file).
    bytes: Vec<u8>,
    /// Items the repeated bytes make (at most 7).
    items: u8,
    trailing: Vec<u8>,
    gzip: Option<Gzip>,
}

#[derive(Arbitrary, Debug)]
struct Header {
    /// `None`: the reader's magic; else this value.
    magic: Option<u32>,
    /// Added (wrapping) to the true item count.
    count_delta: i32,
    /// `None`: 28 × 28; else these (images only).
    dims: Option<(u32, u32)>,
    /// The header cut to this many bytes, when below its length.
    cut: u8,
}

#[derive(Arbitrary, Debug)]
struct Gzip {
    level: u8,
    /// The compressed stream cut to this many bytes, when below its length.
    cut: u16,
    junk: Vec<u8>,
}

impl Input {
    fn file(&self) -> Vec<u8> {
        let item_len = if self.labels { 1 } else { IMAGE_PIXELS };
        let mut file = Vec::new();
        match &self.header {
            None => file.extend_from_slice(&self.bytes),
            Some(h) => {
                let items = usize::from(self.items % 8);
                let magic = if self.labels {
                    IDX_LABELS_MAGIC
                } else {
                    IDX_IMAGES_MAGIC
                };
                let mut head = Vec::new();
                head.extend_from_slice(&h.magic.unwrap_or(magic).to_be_bytes());
                let count = (items as u32).wrapping_add(h.count_delta as u32);
                head.extend_from_slice(&count.to_be_bytes());
                if !self.labels {
                    let (rows, cols) = h.dims.unwrap_or((28, 28));
                    head.extend_from_slice(&rows.to_be_bytes());
                    head.extend_from_slice(&cols.to_be_bytes());
                }
                if usize::from(h.cut) < head.len() {
                    head.truncate(usize::from(h.cut));
                }
                file.extend_from_slice(&head);
                if !self.bytes.is_empty() {
                    file.extend(self.bytes.iter().cycle().take(items * item_len));
                }
            }
        }
        file.extend_from_slice(&self.trailing);
        if let Some(g) = &self.gzip {
            let mut enc = GzEncoder::new(Vec::new(), Compression::new(u32::from(g.level % 10)));
            enc.write_all(&file).expect("writing to a Vec");
            file = enc.finish().expect("writing to a Vec");
            if usize::from(g.cut) < file.len() {
                file.truncate(usize::from(g.cut));
            }
            file.extend_from_slice(&g.junk);
        }
        file
    }
}

static STATS: common::Stats<2> = common::Stats::new(["read", "refused"]);

fuzz_target!(|input: Input| {
    let file = input.file();
    let path = &common::scratch_file("idx");
    std::fs::write(path, &file).expect("the fuzz file can be written");
    let read = if input.labels {
        read_idx_labels(path).map(|labels| {
            assert!(
                labels.iter().all(|&l| l <= 9),
                "a label above 9 was accepted"
            );
        })
    } else {
        read_idx_images(path).map(|(pixels, count)| {
            assert_eq!(
                pixels.len(),
                count * IMAGE_PIXELS,
                "pixels and count disagree"
            );
        })
    };
    STATS.record(if read.is_ok() { 0 } else { 1 });
});
