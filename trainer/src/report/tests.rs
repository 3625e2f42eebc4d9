use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use image::{GrayImage, Luma};

use super::images::label_from_path;
use super::metrics::header_line;
use super::*;
use crate::data::IMAGE_PIXELS;

fn row(iter: u64) -> MetricsRow {
    MetricsRow {
        iter,
        d_loss: Some(1.0 / (iter as f64 + 1.0)),
        g_loss: Some(0.5 + iter as f64 * 1e-3),
        wasserstein: if iter.is_multiple_of(2) {
            Some(-1.25e-7)
        } else {
            None
        },
        d_acc_real: Some(0.75),
        d_acc_fake: None,
        grad_norm: Some(f64::NAN),
        g_grad_norm: Some(0.25),
        iters_per_s: Some(123.456),
        elapsed_s: Some(iter as f64 * 0.1),
        cpu_s: Some(iter as f64 * 0.15),
        fcd: iter.is_multiple_of(3).then_some(12.5 / (iter as f64 + 1.0)),
        fcd_ema: iter.is_multiple_of(3).then_some(11.5 / (iter as f64 + 1.0)),
    }
}

fn same(a: &MetricsRow, b: &MetricsRow) -> bool {
    // NaN-aware comparison.
    a.iter == b.iter
        && a.values()
            .iter()
            .zip(b.values())
            .all(|(x, y)| match (x, y) {
                (Some(x), Some(y)) => x == &y || (x.is_nan() && y.is_nan()),
                (None, None) => true,
                _ => false,
            })
}

#[test]
fn csv_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let rows: Vec<MetricsRow> = (1..=50).map(row).collect();
    {
        let mut csv = MetricsCsv::create(dir.path()).unwrap();
        for r in &rows {
            csv.append(r).unwrap();
        }
    }
    let path = dir.path().join(METRICS_FILE);
    let text = fs::read_to_string(&path).unwrap();
    assert!(text.starts_with(
        "iter,d_loss,g_loss,wasserstein,d_acc_real,d_acc_fake,grad_norm,g_grad_norm,iters_per_s,elapsed_s,cpu_s,fcd,fcd_ema\n"
    ));
    assert!(
        text.contains("\n1,0.5,0.501,,0.75,,NaN,0.25,123.456,0.1,0.15,,\n"),
        "{text}"
    );
    let back = read_metrics(&path).unwrap();
    assert_eq!(back.len(), 50);
    for (a, b) in rows.iter().zip(&back) {
        assert!(same(a, b), "{a:?} != {b:?}");
    }
    // Flush makes rows visible before the writer is dropped.
    let mut csv = MetricsCsv::create(dir.path()).unwrap();
    csv.append(&row(1)).unwrap();
    csv.flush().unwrap();
    assert_eq!(read_metrics(csv.path()).unwrap().len(), 1);
}

#[test]
fn resume_rewrites_an_older_header() {
    // A run logged by a tinygan without the later columns continues under the new header.
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join(METRICS_FILE);
    fs::write(&p, "iter,d_loss,g_loss\n1,0.5,0.25\n2,0.4,0.2\n3,0.3,0.1\n").unwrap();
    let mut csv = MetricsCsv::resume(dir.path(), 2).unwrap();
    csv.append(&MetricsRow {
        iter: 3,
        fcd: Some(7.5),
        ..MetricsRow::default()
    })
    .unwrap();
    csv.flush().unwrap();
    let text = fs::read_to_string(&p).unwrap();
    assert!(text.starts_with(&(header_line() + "\n")), "{text}");
    let rows = read_metrics(&p).unwrap();
    assert_eq!(rows.iter().map(|r| r.iter).collect::<Vec<_>>(), [1, 2, 3]);
    assert_eq!(rows[1].g_loss, Some(0.2));
    assert_eq!((rows[2].g_loss, rows[2].fcd), (None, Some(7.5)));
}

#[test]
fn csv_columns_matched_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("m.csv");
    fs::write(&p, "g_loss,iter,extra\n2.5,7,x\n,8,y\n").unwrap();
    let rows = read_metrics(&p).unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(
        (rows[0].iter, rows[0].g_loss, rows[0].d_loss),
        (7, Some(2.5), None)
    );
    assert_eq!((rows[1].iter, rows[1].g_loss), (8, None));
    fs::write(&p, "d_loss\n1\n").unwrap();
    assert!(read_metrics(&p).unwrap_err().to_string().contains("iter"));
    fs::write(&p, "iter,d_loss\n1,abc\n2,1\n").unwrap();
    let err = read_metrics(&p).unwrap_err().to_string();
    assert!(err.contains("line 2") && err.contains("d_loss"), "{err}");
    fs::write(&p, "").unwrap();
    assert!(read_metrics(&p).unwrap().is_empty());
    assert!(read_metrics(&dir.path().join("none.csv")).is_err());
}

#[test]
fn resume_truncates_later_rows_and_torn_line() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut csv = MetricsCsv::create(dir.path()).unwrap();
        for i in 1..=30 {
            csv.append(&row(i)).unwrap();
        }
    }
    // The interrupted session was killed mid-write of row 31.
    let path = dir.path().join(METRICS_FILE);
    let mut f = OpenOptions::new().append(true).open(&path).unwrap();
    f.write_all(b"31,0.03,0.5").unwrap();
    drop(f);
    assert_eq!(read_metrics(&path).unwrap().len(), 30);
    // Checkpoint was at iteration 20: rows 21..=31 go, 21.. are appended again.
    {
        let mut csv = MetricsCsv::resume(dir.path(), 20).unwrap();
        assert_eq!(csv.elapsed_before(), row(20).elapsed_s.unwrap());
        assert_eq!(csv.cpu_before(), row(20).cpu_s.unwrap());
        for i in 21..=25 {
            csv.append(&row(i)).unwrap();
        }
    }
    let iters: Vec<u64> = read_metrics(&path)
        .unwrap()
        .iter()
        .map(|r| r.iter)
        .collect();
    assert_eq!(iters, (1..=25).collect::<Vec<_>>());
    let text = fs::read_to_string(&path).unwrap();
    assert_eq!(text.matches("iter,").count(), 1, "one header");
    // Resuming beyond the last row keeps everything; resuming a run without a log creates one.
    drop(MetricsCsv::open(dir.path(), Some(100)).unwrap());
    assert_eq!(read_metrics(&path).unwrap().len(), 25);
    let fresh = tempfile::tempdir().unwrap();
    let csv = MetricsCsv::open(&fresh.path().join("run"), Some(5)).unwrap();
    assert!(read_metrics(csv.path()).unwrap().is_empty());
    // A foreign file is not silently rewritten.
    fs::write(&path, "a,b\n1,2\n").unwrap();
    assert!(MetricsCsv::resume(dir.path(), 1).is_err());
    assert_eq!(fs::read_to_string(&path).unwrap(), "a,b\n1,2\n");
}

fn digits(n: usize) -> Vec<f32> {
    (0..n * IMAGE_PIXELS)
        .map(|i| {
            let (img, p) = (i / IMAGE_PIXELS, i % IMAGE_PIXELS);
            let (x, y) = ((p % 28) as f32 - 13.5, (p / 28) as f32 - 13.5);
            let r = (x * x + y * y).sqrt();
            // A ring whose radius varies per image: white ink on black, in [-1, 1].
            if (r - 4.0 - img as f32 % 6.0).abs() < 1.5 {
                1.0
            } else {
                -1.0
            }
        })
        .collect()
}

#[test]
fn grid_png_dims_and_pixels() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("grid.png");
    save_grid_png(&p, &digits(10), 10, 4).unwrap();
    let img = image::open(&p).unwrap();
    assert_eq!(img.color(), image::ColorType::L8);
    let img = img.into_luma8();
    // 4 columns x 3 rows of 29-pixel cells plus 1-pixel border, upscaled 2x.
    assert_eq!(img.dimensions(), ((4 * 29 + 1) * 2, (3 * 29 + 1) * 2));
    assert_eq!(img.get_pixel(0, 0).0[0], GRID_GUTTER_GREY);
    assert_eq!(img.get_pixel(2, 2).0[0], 0); // top-left pixel of the first digit: -1 -> 0
    // The unused last two cells stay gutter grey.
    assert_eq!(
        img.get_pixel(img.width() - 10, img.height() - 10).0[0],
        GRID_GUTTER_GREY
    );
    let g1 = grid_image(&[1.0; IMAGE_PIXELS], 1, 8, 1).unwrap();
    assert_eq!(g1.dimensions(), (30, 30));
    assert_eq!(g1.get_pixel(1, 1).0[0], 255);
    assert!(save_grid_png(&p, &[0.0; 10], 1, 1).is_err());
    assert!(grid_image(&[], 0, 1, 1).is_err());
    assert_eq!(
        fs::read_dir(dir.path()).unwrap().count(),
        1,
        "no temporary left"
    );
}

#[test]
fn gif_has_all_frames() {
    let dir = tempfile::tempdir().unwrap();
    let mut pngs = Vec::new();
    for k in 0..5 {
        let p = dir.path().join(format!("samples_{:06}.png", k * 500));
        save_grid_png(
            &p,
            &digits(20)[k * IMAGE_PIXELS..(k + 15) * IMAGE_PIXELS],
            15,
            5,
        )
        .unwrap();
        pngs.push(p);
    }
    let gif_path = dir.path().join("progress.gif");
    save_gif_from_pngs(&gif_path, &pngs, 40).unwrap();
    let file = File::open(&gif_path).unwrap();
    let mut opts = gif::DecodeOptions::new();
    opts.set_color_output(gif::ColorOutput::Indexed);
    let mut dec = opts.read_info(file).unwrap();
    let (w, h) = (dec.width(), dec.height());
    assert_eq!(u32::from(w), (5 * 29 + 1) * 2);
    assert_eq!(u32::from(h), (3 * 29 + 1) * 2 + GIF_LABEL_HEIGHT);
    let mut frames = 0;
    while let Some(frame) = dec.read_next_frame().unwrap() {
        assert_eq!((frame.width, frame.height, frame.delay), (w, h, 40));
        // The label strip has some white text on black.
        let strip = &frame.buffer[..usize::from(w) * GIF_LABEL_HEIGHT as usize];
        assert!(
            strip.iter().any(|&v| v > 200)
                && strip.iter().filter(|&&v| v == 0).count() > strip.len() / 2
        );
        frames += 1;
    }
    assert_eq!(frames, 5);
    // Unlabelled frames, different sizes.
    let small = GrayImage::from_pixel(10, 5, Luma([200]));
    let big = GrayImage::from_pixel(20, 8, Luma([50]));
    save_gif(&gif_path, &[small, big], &[], 10).unwrap();
    let dec = gif::DecodeOptions::new()
        .read_info(File::open(&gif_path).unwrap())
        .unwrap();
    assert_eq!((dec.width(), dec.height()), (20, 8));
    assert!(save_gif(&gif_path, &[], &[], 10).is_err());
    assert_eq!(
        label_from_path(Path::new("a/samples_005000.png")),
        "iter 5000"
    );
    assert_eq!(label_from_path(Path::new("final.png")), "final");
}

#[test]
fn loss_plot_is_a_png_of_expected_size() {
    let dir = tempfile::tempdir().unwrap();
    let rows: Vec<MetricsRow> = (1..=2000u64)
        .map(|i| {
            let t = i as f64;
            let noise = ((t * 12.9898).sin() * 43758.5453).fract();
            MetricsRow {
                iter: i,
                d_loss: Some(1.4 * (-t / 400.0).exp() + 0.3 + 0.2 * noise),
                g_loss: Some(0.7 + 0.8 * (1.0 - (-t / 300.0).exp()) + 0.3 * noise),
                wasserstein: Some(3.0 * (-t / 600.0).exp() + 0.1 * noise),
                elapsed_s: Some(t * 0.01),
                ..MetricsRow::default()
            }
        })
        .collect();
    let p = dir.path().join("losses.png");
    plot_losses(&rows, &p).unwrap();
    let img = image::open(&p).unwrap();
    assert_eq!(
        (img.width(), img.height()),
        (PLOT_WIDTH, 2 * PLOT_PANEL_HEIGHT)
    );
    // Three panels when accuracies are present; one when only losses are.
    let mut acc = rows.clone();
    for r in &mut acc {
        r.d_acc_real = Some(0.8);
        r.d_acc_fake = Some(0.6);
    }
    plot_losses(&acc, &p).unwrap();
    assert_eq!(image::open(&p).unwrap().height(), 3 * PLOT_PANEL_HEIGHT);
    // An FCD panel when some rows were measured (`train --eval-every`).
    let mut with_fcd = rows.clone();
    for r in with_fcd.iter_mut().step_by(100) {
        r.fcd = Some(100.0 / r.iter as f64);
    }
    plot_losses(&with_fcd, &p).unwrap();
    assert_eq!(image::open(&p).unwrap().height(), 3 * PLOT_PANEL_HEIGHT);
    let losses_only: Vec<MetricsRow> = [row(1), row(3)]
        .into_iter()
        .map(|r| MetricsRow {
            d_acc_real: None,
            fcd: None,
            fcd_ema: None,
            ..r
        })
        .collect();
    plot_losses(&losses_only, &p).unwrap();
    assert_eq!(image::open(&p).unwrap().height(), PLOT_PANEL_HEIGHT);
    assert!(plot_losses(&[], &p).is_err());
    assert!(
        plot_losses(
            &[MetricsRow {
                iter: 3,
                ..MetricsRow::default()
            }],
            &p
        )
        .is_err()
    );
    // Keep a copy to look at by hand when asked to.
    if let Some(out) = std::env::var_os("TINYGAN_REPORT_TEST_OUT") {
        let out = PathBuf::from(out);
        fs::create_dir_all(&out).unwrap();
        plot_losses(&rows, &out.join("losses.png")).unwrap();
        plot_losses(&acc, &out.join("losses_acc.png")).unwrap();
    }
}

#[test]
fn scatter_png() {
    use rand::SeedableRng;
    let dir = tempfile::tempdir().unwrap();
    let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(3);
    let mut pts = crate::data::gaussians8_sample(&mut rng, 2000);
    pts.extend([f32::NAN, 1.0, 1e9, 1e9]);
    let centers = crate::data::gaussians8_centers();
    let p = dir.path().join("scatter.png");
    save_scatter_png(&p, &pts, &centers, "iteration 1000").unwrap();
    let img = image::open(&p).unwrap();
    assert_eq!((img.width(), img.height()), SCATTER_SIZE);
    save_scatter_png(&p, &[], &centers, "empty").unwrap();
    if let Some(out) = std::env::var_os("TINYGAN_REPORT_TEST_OUT") {
        let out = PathBuf::from(out);
        fs::create_dir_all(&out).unwrap();
        save_scatter_png(&out.join("scatter.png"), &pts, &centers, "iteration 1000").unwrap();
        save_grid_png(&out.join("grid.png"), &digits(16), 16, 8).unwrap();
        let frames = [
            grid_image(&digits(8), 8, 4, 2).unwrap(),
            grid_image(&digits(9)[IMAGE_PIXELS..], 8, 4, 2).unwrap(),
        ];
        let labels = ["iter 500".to_string(), "iter 1000".to_string()];
        save_gif(&out.join("progress.gif"), &frames, &labels, 50).unwrap();
    }
}
