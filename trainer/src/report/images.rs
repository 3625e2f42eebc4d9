//! Images a run leaves behind: sample grids as PNG and an animated GIF of the grids; every file
//! is written atomically ([`export::atomic`]).

use std::borrow::Cow;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use anyhow::{Context, Result, anyhow, bail, ensure};
use export::atomic::write_atomic_with;
use image::{GrayImage, ImageEncoder, Luma};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};

use crate::data::{IMAGE_PIXELS, IMAGE_SIDE, signed_to_pixel};

/// Grey level of the gutter between digits in a grid (digits are white on black).
pub const GRID_GUTTER_GREY: u8 = 96;
/// Upscaling factor of [`save_grid_png`].
pub const GRID_SCALE: u32 = 2;

/// Lays out `n` 28 × 28 images (`images.len() == n × 784`, values in `[-1, 1]`, row-major) in a
/// grid of `cols` columns with a 1-pixel grey gutter around every image, each pixel upscaled to
/// `scale × scale`. Size: `(cols·29 + 1)·scale × (rows·29 + 1)·scale` with `rows = ⌈n / cols⌉`.
/// Values outside `[-1, 1]` are clamped, NaN is drawn black.
pub fn grid_image(images: &[f32], n: usize, cols: usize, scale: u32) -> Result<GrayImage> {
    ensure!(
        n > 0 && cols > 0 && scale > 0,
        "grid of {n} images in {cols} columns at scale {scale}"
    );
    ensure!(
        images.len() == n * IMAGE_PIXELS,
        "grid: {} values is not {n} images of 28x28",
        images.len()
    );
    let cols = cols.min(n);
    let rows = n.div_ceil(cols);
    let cell = IMAGE_SIDE + 1;
    let (w, h) = ((cols * cell + 1) as u32, (rows * cell + 1) as u32);
    let mut grid = GrayImage::from_pixel(w, h, Luma([GRID_GUTTER_GREY]));
    for (i, img) in images.chunks_exact(IMAGE_PIXELS).enumerate() {
        let (x0, y0) = ((i % cols) * cell + 1, (i / cols) * cell + 1);
        for (p, &v) in img.iter().enumerate() {
            let (x, y) = (x0 + p % IMAGE_SIDE, y0 + p / IMAGE_SIDE);
            grid.put_pixel(x as u32, y as u32, Luma([signed_to_pixel(v)]));
        }
    }
    if scale == 1 {
        return Ok(grid);
    }
    Ok(GrayImage::from_fn(w * scale, h * scale, |x, y| {
        *grid.get_pixel(x / scale, y / scale)
    }))
}

/// Saves `n` generated digits (`n × 28 × 28` values in `[-1, 1]`) as a greyscale PNG grid of
/// `cols` columns, upscaled [`GRID_SCALE`]× (see [`grid_image`]), atomically.
pub fn save_grid_png(path: &Path, images: &[f32], n: usize, cols: usize) -> Result<()> {
    let grid = grid_image(images, n, cols, GRID_SCALE)?;
    save_gray_png(path, &grid)
}

/// Saves a greyscale image as PNG, atomically.
pub fn save_gray_png(path: &Path, image: &GrayImage) -> Result<()> {
    save_png(
        path,
        image.as_raw(),
        image.width(),
        image.height(),
        image::ExtendedColorType::L8,
    )
}

pub(super) fn save_png(
    path: &Path,
    buf: &[u8],
    w: u32,
    h: u32,
    color: image::ExtendedColorType,
) -> Result<()> {
    write_atomic_with(path, |out| {
        image::codecs::png::PngEncoder::new(out)
            .write_image(buf, w, h, color)
            .map_err(io::Error::other)
    })
    .with_context(|| format!("cannot write {}", path.display()))
}

static FONT: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");

/// Registers the embedded DejaVu Sans as plotters' "sans-serif" (once per process).
fn ensure_font() -> Result<()> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    if *REGISTERED.get_or_init(|| register_font("sans-serif", FontStyle::Normal, FONT).is_ok()) {
        Ok(())
    } else {
        bail!("the embedded font assets/DejaVuSans.ttf is not a valid font")
    }
}

pub(super) fn plot_err(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow!("plotting failed: {e}")
}

/// Draws on a white `w × h` RGB canvas and returns its pixels.
pub(super) fn render_rgb(
    w: u32,
    h: u32,
    draw: impl FnOnce(&DrawingArea<BitMapBackend<'_>, Shift>) -> Result<()>,
) -> Result<Vec<u8>> {
    ensure_font()?;
    let mut buf = vec![255u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        draw(&root)?;
        root.present().map_err(plot_err)?;
    }
    Ok(buf)
}

pub(super) fn render_png(
    path: &Path,
    (w, h): (u32, u32),
    draw: impl FnOnce(&DrawingArea<BitMapBackend<'_>, Shift>) -> Result<()>,
) -> Result<()> {
    let buf = render_rgb(w, h, draw)?;
    save_png(path, &buf, w, h, image::ExtendedColorType::Rgb8)
}
/// Height in pixels of the label strip [`save_gif`] adds above each frame.
pub const GIF_LABEL_HEIGHT: u32 = 20;

/// Renders `label` in white on a black `w × GIF_LABEL_HEIGHT` strip (greyscale).
fn label_strip(label: &str, w: u32) -> Result<Vec<u8>> {
    let h = GIF_LABEL_HEIGHT;
    let rgb = render_rgb(w, h, |root| {
        root.fill(&BLACK).map_err(plot_err)?;
        let style = ("sans-serif", 15).into_font().color(&WHITE);
        root.draw_text(label, &style, (4, 2)).map_err(plot_err)?;
        Ok(())
    })?;
    Ok(rgb.chunks_exact(3).map(|px| px[0]).collect())
}

/// Saves an animated, looping GIF of greyscale `frames` (e.g. the sample grids of successive
/// checkpoints), each shown `delay_cs` hundredths of a second, atomically. If `labels` is not
/// empty it must hold one label per frame, drawn in a black strip above the frame (e.g.
/// `"iter 5000"`). Frames of different sizes are placed top-left on a canvas of the largest size.
pub fn save_gif(path: &Path, frames: &[GrayImage], labels: &[String], delay_cs: u16) -> Result<()> {
    ensure!(!frames.is_empty(), "GIF {}: no frames", path.display());
    ensure!(
        labels.is_empty() || labels.len() == frames.len(),
        "GIF {}: {} labels for {} frames",
        path.display(),
        labels.len(),
        frames.len()
    );
    let w = frames.iter().map(|f| f.width()).max().unwrap_or(1);
    let strip = if labels.is_empty() {
        0
    } else {
        GIF_LABEL_HEIGHT
    };
    let h = frames.iter().map(|f| f.height()).max().unwrap_or(1) + strip;
    let (w16, h16) = (u16::try_from(w), u16::try_from(h));
    let (Ok(w16), Ok(h16)) = (w16, h16) else {
        bail!("GIF {}: frames of {w}x{h} are too large", path.display());
    };
    let mut canvases = Vec::with_capacity(frames.len());
    for (i, frame) in frames.iter().enumerate() {
        let mut canvas = vec![0u8; (w * h) as usize];
        if let Some(label) = labels.get(i) {
            canvas[..(w * strip) as usize].copy_from_slice(&label_strip(label, w)?);
        }
        for (y, row) in frame
            .as_raw()
            .chunks_exact(frame.width() as usize)
            .enumerate()
        {
            let at = ((y as u32 + strip) * w) as usize;
            canvas[at..at + row.len()].copy_from_slice(row);
        }
        canvases.push(canvas);
    }
    let palette: Vec<u8> = (0..=255u8).flat_map(|g| [g, g, g]).collect();
    write_atomic_with(path, |out| {
        let mut enc = gif::Encoder::new(out, w16, h16, &palette).map_err(io::Error::other)?;
        enc.set_repeat(gif::Repeat::Infinite)
            .map_err(io::Error::other)?;
        for canvas in &canvases {
            let frame = gif::Frame {
                width: w16,
                height: h16,
                delay: delay_cs,
                buffer: Cow::Borrowed(canvas),
                ..gif::Frame::default()
            };
            enc.write_frame(&frame).map_err(io::Error::other)?;
        }
        enc.into_inner()?;
        Ok(())
    })
    .with_context(|| format!("cannot write {}", path.display()))
}

/// Label for a frame read from `path`: `"iter N"` if the file stem ends in digits
/// (`samples_005000.png` → `iter 5000`), else the stem.
pub(super) fn label_from_path(path: &Path) -> String {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let digits = stem.len() - stem.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    match stem[stem.len() - digits..].parse::<u64>() {
        Ok(n) if digits > 0 => format!("iter {n}"),
        _ => stem,
    }
}

/// [`save_gif`] of PNG files (read back and converted to greyscale), each labelled from its file
/// name (`samples_005000.png` → `iter 5000`).
pub fn save_gif_from_pngs(path: &Path, pngs: &[PathBuf], delay_cs: u16) -> Result<()> {
    let frames = pngs
        .iter()
        .map(|p| {
            image::open(p)
                .map(|img| img.into_luma8())
                .with_context(|| format!("cannot read frame {}", p.display()))
        })
        .collect::<Result<Vec<_>>>()?;
    let labels: Vec<String> = pngs.iter().map(|p| label_from_path(p)).collect();
    save_gif(path, &frames, &labels, delay_cs)
}
