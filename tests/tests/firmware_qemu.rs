//! The LM3S6965 firmware, end to end, in QEMU.
//!
//! Builds `firmware/` (through `scripts/firmware-build.sh`), boots it headless in
//! `qemu-system-arm -machine lm3s6965evb -icount shift=0`, and reads the OLED through QMP
//! `screendump`s. Every digit cell must match, pixel for pixel, what the host build of
//! `runtime-nostd` renders from the same blob, seed and 4-bit quantization; buttons are pressed with
//! QMP `send-key`; a corrupted blob must give the error screen.
//!
//! Three firmware builds: the default blob (`$TINYGAN_BLOB`, else `firmware/assets/tiny.tgb`), a
//! copy of it with one byte flipped, and a random conditional `tiny` model from `export` (for the
//! up/down counter).
//!
//! Nothing here is skipped: without the thumb toolchain or QEMU
//! (`scripts/install-firmware-toolchain.sh` installs both) these tests fail.

use std::{
    io::{BufRead, BufReader, Write},
    os::unix::net::UnixStream,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{
        OnceLock,
        atomic::{AtomicUsize, Ordering},
        mpsc::{Receiver, RecvTimeoutError, channel},
    },
    thread,
    time::{Duration, Instant},
};

use embedded_graphics::{
    Pixel,
    pixelcolor::{Gray4, GrayColor},
    prelude::*,
};
use object::{Object, ObjectSection};
use runtime_nostd::{Model, TinyScratch, gray4, latent};
use tinygan_fw::layout;

/// Display size in pixels.
const W: usize = 128;
const H: usize = 64;
/// QEMU shows each OLED pixel as a 4×4 block.
const ZOOM: usize = 4;
/// How long QEMU may take for one step (boot and first frame take about a second here).
const STEP_TIMEOUT: Duration = Duration::from_secs(120);

/// Grey levels (0..=15) of the 128×64 display.
#[derive(Clone, PartialEq, Eq)]
struct Screen([[u8; W]; H]);

impl Screen {
    fn black() -> Self {
        Screen([[0; W]; H])
    }

    /// Where `self` and `other` differ inside the rectangle, as (count, first (x, y)).
    fn diff(
        &self,
        other: &Screen,
        x0: usize,
        y0: usize,
        w: usize,
        h: usize,
    ) -> (usize, Option<(usize, usize)>) {
        let mut count = 0;
        let mut first = None;
        for y in y0..y0 + h {
            for x in x0..x0 + w {
                if self.0[y][x] != other.0[y][x] {
                    count += 1;
                    first.get_or_insert((x, y));
                }
            }
        }
        (count, first)
    }

    fn to_ascii(&self) -> String {
        const RAMP: &[u8] = b" .:-=+*#%@@@@@@@";
        self.0
            .iter()
            .map(|row| {
                row.iter()
                    .map(|&g| RAMP[g as usize] as char)
                    .collect::<String>()
                    + "\n"
            })
            .collect()
    }
}

impl OriginDimensions for Screen {
    fn size(&self) -> Size {
        Size::new(W as u32, H as u32)
    }
}

impl DrawTarget for Screen {
    type Color = Gray4;
    type Error = core::convert::Infallible;

    fn draw_iter<I: IntoIterator<Item = Pixel<Gray4>>>(
        &mut self,
        pixels: I,
    ) -> Result<(), Self::Error> {
        for Pixel(p, c) in pixels {
            if (0..W as i32).contains(&p.x) && (0..H as i32).contains(&p.y) {
                self.0[p.y as usize][p.x as usize] = c.luma();
            }
        }
        Ok(())
    }
}

/// The checkout under test. Read at run time: a compile-time `env!` path would go stale when a
/// second clone reuses this build directory (CI does), and point the tests at the other clone.
fn repo_root() -> PathBuf {
    Path::new(
        &std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR for tests"),
    )
    .parent()
    .unwrap()
    .to_path_buf()
}

fn scratch_dir() -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "tinygan-fw-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The blob the firmware embeds by default: `$TINYGAN_BLOB`, else `firmware/assets/tiny.tgb`.
fn default_blob_path() -> PathBuf {
    match std::env::var_os("TINYGAN_BLOB") {
        Some(p) if !p.is_empty() => repo_root().join("firmware").join(p),
        _ => repo_root().join("firmware/assets/tiny.tgb"),
    }
}

/// Builds the QEMU board's firmware with `blob` embedded; returns a copy of the ELF in `dir`.
fn build_firmware(blob: &Path, dir: &Path) -> PathBuf {
    let script = repo_root().join("scripts/firmware-build.sh");
    let out = Command::new("bash")
        .arg(&script)
        .args(["--board", "lm3s6965", "--blob"])
        .arg(blob)
        .arg("--copy-to")
        .arg(dir)
        .stderr(Stdio::inherit())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    assert!(
        out.status.success(),
        "firmware build failed ({}); is the toolchain installed? run scripts/install-firmware-toolchain.sh",
        out.status
    );
    let elf = PathBuf::from(
        String::from_utf8(out.stdout)
            .unwrap()
            .trim()
            .lines()
            .last()
            .unwrap(),
    );
    assert!(elf.is_file(), "no ELF at {}", elf.display());
    elf
}

struct Firmware {
    /// The default blob and the firmware embedding it.
    blob: Vec<u8>,
    elf: PathBuf,
    /// A copy of the blob with one byte flipped, and the firmware embedding that.
    bad_blob: Vec<u8>,
    bad_elf: PathBuf,
    /// A random conditional `tiny` model (`export::random_spec`), and the firmware embedding it.
    cond_blob: Vec<u8>,
    cond_elf: PathBuf,
}

/// Both builds, done once (sequentially: they share a target directory) for all tests.
fn firmware() -> &'static Firmware {
    static FIRMWARE: OnceLock<Firmware> = OnceLock::new();
    FIRMWARE.get_or_init(|| {
        let dir = scratch_dir();
        let blob_path = default_blob_path();
        let blob = std::fs::read(&blob_path).unwrap_or_else(|e| {
            panic!(
                "cannot read the firmware's blob {}: {e}",
                blob_path.display()
            )
        });
        // Corrupt one weight byte in the middle: the CRC no longer matches.
        let mut bad_blob = blob.clone();
        let mid = bad_blob.len() / 2;
        bad_blob[mid] ^= 0x5a;
        let bad_path = dir.join("corrupted.tgb");
        std::fs::write(&bad_path, &bad_blob).unwrap();

        let spec = export::random_spec(export::spec::Preset::Tiny, true, 5);
        let cond_blob = export::write_blob(&spec, &export::ExportOptions::default()).unwrap();
        let cond_path = dir.join("conditional.tgb");
        std::fs::write(&cond_path, &cond_blob).unwrap();

        let bad_elf = build_firmware(&bad_path, &dir.join("bad"));
        let cond_elf = build_firmware(&cond_path, &dir.join("conditional"));
        // The good build last, so that a later `cargo build` in firmware/ finds it up to date.
        let elf = build_firmware(&blob_path, &dir.join("good"));
        Firmware {
            blob,
            elf,
            bad_blob,
            bad_elf,
            cond_blob,
            cond_elf,
        }
    })
}

/// A QMP connection.
struct Qmp {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

impl Qmp {
    fn connect(socket: &Path, deadline: Instant) -> Qmp {
        let stream = loop {
            match UnixStream::connect(socket) {
                Ok(s) => break s,
                Err(_) if Instant::now() < deadline => thread::sleep(Duration::from_millis(50)),
                Err(e) => panic!("cannot connect to QMP at {}: {e}", socket.display()),
            }
        };
        stream.set_read_timeout(Some(STEP_TIMEOUT)).unwrap();
        let mut qmp = Qmp {
            reader: BufReader::new(stream.try_clone().unwrap()),
            writer: stream,
        };
        let greeting = qmp.read_message();
        assert!(
            greeting.get("QMP").is_some(),
            "unexpected QMP greeting {greeting}"
        );
        qmp.execute("qmp_capabilities", serde_json::json!({}));
        qmp
    }

    fn read_message(&mut self) -> serde_json::Value {
        let mut line = String::new();
        let n = self.reader.read_line(&mut line).expect("reading QMP");
        assert!(n > 0, "QMP connection closed");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("bad QMP message {line:?}: {e}"))
    }

    /// Runs a command and returns its `return` value (events in between are skipped).
    fn execute(&mut self, command: &str, arguments: serde_json::Value) -> serde_json::Value {
        let request = serde_json::json!({"execute": command, "arguments": arguments});
        writeln!(self.writer, "{request}").unwrap();
        loop {
            let reply = self.read_message();
            if let Some(r) = reply.get("return") {
                return r.clone();
            }
            assert!(
                reply.get("error").is_none(),
                "QMP {command} failed: {reply}"
            );
        }
    }
}

/// A running QEMU with the firmware.
struct Qemu {
    child: Child,
    lines: Receiver<String>,
    seen: Vec<String>,
    qmp: Qmp,
    dir: PathBuf,
    dumps: usize,
}

impl Qemu {
    fn start(elf: &Path) -> Qemu {
        let dir = scratch_dir();
        let socket = dir.join("qmp.sock");
        let mut child = Command::new("qemu-system-arm")
            .args(["-machine", "lm3s6965evb", "-icount", "shift=0"])
            .args(["-display", "none", "-serial", "null", "-monitor", "none"])
            .args(["-semihosting-config", "enable=on,target=native"])
            .arg("-qmp")
            .arg(format!("unix:{},server=on,wait=off", socket.display()))
            .arg("-kernel")
            .arg(elf)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cannot start qemu-system-arm; run scripts/install-firmware-toolchain.sh");
        let (tx, lines) = channel();
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let tx = tx.clone();
            thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        let qmp = Qmp::connect(&socket, Instant::now() + STEP_TIMEOUT);
        Qemu {
            child,
            lines,
            seen: Vec::new(),
            qmp,
            dir,
            dumps: 0,
        }
    }

    /// Waits for the next semihosting line that starts with `prefix` and returns it. Fails on a
    /// firmware panic, on `FRAME`/`BLOB ERROR` lines other than the awaited one, and on timeout.
    fn wait_for(&mut self, prefix: &str) -> String {
        let deadline = Instant::now() + STEP_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    eprintln!("qemu: {line}");
                    self.seen.push(line.clone());
                    if line.starts_with(prefix) {
                        return line;
                    }
                    assert!(!line.starts_with("PANIC"), "firmware panicked: {line}");
                    let unexpected = line.starts_with("BLOB ERROR")
                        || (line.starts_with("FRAME seed=") && prefix.starts_with("FRAME seed="));
                    assert!(!unexpected, "expected `{prefix}...`, got `{line}`");
                }
                Err(RecvTimeoutError::Timeout) => {
                    panic!(
                        "no `{prefix}` line within {STEP_TIMEOUT:?}; output: {:#?}",
                        self.seen
                    )
                }
                Err(RecvTimeoutError::Disconnected) => {
                    panic!("QEMU exited before `{prefix}`; output: {:#?}", self.seen)
                }
            }
        }
    }

    /// Reads the display through a QMP screendump, checking the 4× zoom and the grey encoding.
    fn screen(&mut self) -> Screen {
        self.dumps += 1;
        let file = self.dir.join(format!("screen{}.png", self.dumps));
        self.qmp.execute(
            "screendump",
            serde_json::json!({"filename": file.to_str().unwrap(), "format": "png"}),
        );
        decode_screendump(&file)
    }

    /// Clicks a button (QMP `send-key`: pressed, then released 100 ms later).
    fn click(&mut self, qcode: &str) {
        self.qmp.execute(
            "send-key",
            serde_json::json!({"keys": [{"type": "qcode", "data": qcode}]}),
        );
    }
}

impl Drop for Qemu {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Decodes a 512×256 screendump into grey levels, checking that every pixel is grey `0x11 * n`
/// and every 4×4 block one colour.
fn decode_screendump(file: &Path) -> Screen {
    let decoder = png::Decoder::new(BufReader::new(std::fs::File::open(file).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!(
        (info.width as usize, info.height as usize),
        (W * ZOOM, H * ZOOM),
        "screendump size"
    );
    assert_eq!(info.bit_depth, png::BitDepth::Eight);
    let channels = match info.color_type {
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        other => panic!("unexpected screendump colour type {other:?}"),
    };
    let pixel = |x: usize, y: usize| {
        let i = (y * info.line_size) + x * channels;
        (buf[i], buf[i + 1], buf[i + 2])
    };
    let mut screen = Screen::black();
    for y in 0..H {
        for x in 0..W {
            let (r, g, b) = pixel(x * ZOOM, y * ZOOM);
            assert!(
                r == g && g == b && r % 0x11 == 0,
                "pixel ({x}, {y}) is #{r:02x}{g:02x}{b:02x}, not a grey 0x11 * n"
            );
            for dy in 0..ZOOM {
                for dx in 0..ZOOM {
                    assert_eq!(
                        pixel(x * ZOOM + dx, y * ZOOM + dy),
                        (r, g, b),
                        "4x4 block of pixel ({x}, {y}) is not uniform"
                    );
                }
            }
            screen.0[y][x] = r / 0x11;
        }
    }
    screen
}

/// `(x, y)` of a point of the firmware's layout ([`tinygan_fw::layout`]).
fn xy(p: Point) -> (usize, usize) {
    (p.x as usize, p.y as usize)
}

/// Top-left corner of grid cell `i`, as the firmware places it.
fn cell_origin(i: usize) -> (usize, usize) {
    xy(layout::cell_origin(i as u32))
}

/// What the grid of batch `seed` must look like, rendered with the host runtime: digit `i` from
/// `latent(seed, i)`, label `i % num_classes` for a conditional model, grey `gray4(pixel)`.
fn expected_grid(blob: &[u8], seed: u64) -> Screen {
    let model = Model::parse(blob).expect("the blob parses on the host");
    let mut scratch = Box::new(TinyScratch::new());
    let mut screen = Screen::black();
    for i in 0..8 {
        let mut z = vec![0f32; model.z_dim()];
        latent(seed, i as u32, &mut z);
        let label = (model.num_classes() > 0).then(|| (i % model.num_classes()) as u8);
        let mut image = [0u8; 784];
        model.generate(&z, label, &mut scratch, &mut image).unwrap();
        let (x0, y0) = cell_origin(i);
        for (p, &v) in image.iter().enumerate() {
            screen.0[y0 + p / 28][x0 + p % 28] = gray4(v);
        }
    }
    screen
}

/// Asserts the screen equals `expected`, cell by cell, with a readable report.
fn assert_grid(actual: &Screen, expected: &Screen, what: &str) {
    if actual == expected {
        return;
    }
    let mut report = String::new();
    for i in 0..8 {
        let (x0, y0) = cell_origin(i);
        let (n, first) = actual.diff(expected, x0, y0, 28, 28);
        if n > 0 {
            report += &format!("cell {i}: {n} of 784 pixels differ, first at {first:?}\n");
        }
    }
    let (n, _) = actual.diff(expected, 0, 0, W, H);
    panic!(
        "{what}: {n} pixels differ\n{report}actual:\n{}expected:\n{}",
        actual.to_ascii(),
        expected.to_ascii()
    );
}

/// Numbers from a `KEY=value KEY=value` line.
fn field(line: &str, key: &str) -> u64 {
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no numeric `{key}=` in `{line}`"))
}

#[test]
fn firmware_draws_the_host_runtimes_digits_and_follows_the_buttons() {
    let fw = firmware();
    let mut qemu = Qemu::start(&fw.elf);

    let mem = qemu.wait_for("MEM ");
    let (flash, static_ram) = (field(&mem, "flash"), field(&mem, "static_ram"));
    assert!(
        flash <= 256 * 1024,
        "flash image {flash} B exceeds the LM3S6965's 256 KiB"
    );
    assert_eq!(field(&mem, "blob"), fw.blob.len() as u64);
    assert_eq!(
        field(&mem, "blob_addr") % 4,
        0,
        "blob not 4-byte aligned in flash"
    );

    let stats = qemu.wait_for("STATS ");
    let (insns, stack) = (
        field(&stats, "insns_per_digit"),
        field(&stats, "peak_stack"),
    );
    assert_eq!(field(&stats, "digits"), 8);
    assert!(insns > 10_000, "implausible instruction count {insns}");
    assert!(
        static_ram + stack < 64 * 1024,
        "RAM {static_ram} + stack {stack} exceeds 64 KiB"
    );
    eprintln!(
        "firmware: flash {flash} B, static RAM {static_ram} B, peak stack {stack} B, {insns} instructions per digit"
    );

    // Boot: batch 0.
    qemu.wait_for("FRAME seed=0");
    let first = qemu.screen();
    assert_grid(&first, &expected_grid(&fw.blob, 0), "boot frame (seed 0)");

    // Select: the next batch.
    qemu.click("ctrl");
    qemu.wait_for("FRAME seed=1");
    let second = qemu.screen();
    assert!(first != second, "select did not change the picture");
    assert_grid(
        &second,
        &expected_grid(&fw.blob, 1),
        "after select (seed 1)",
    );

    // Right: a walk through latent space that ends exactly on batch 2.
    qemu.click("right");
    qemu.wait_for("FRAME walk=1->2 step=1");
    qemu.wait_for("FRAME seed=2");
    assert_grid(
        &qemu.screen(),
        &expected_grid(&fw.blob, 2),
        "after walking right (seed 2)",
    );

    // Left: back to batch 1.
    qemu.click("left");
    qemu.wait_for("FRAME walk=2->1 step=1");
    qemu.wait_for("FRAME seed=1");
    assert_grid(&qemu.screen(), &second, "after walking left (seed 1 again)");
}

/// What the counter view showing `value` must look like: black, with the decimal digits of
/// `value` right-aligned in the four columns of the grid at y = 18 (no leading zeros), the digit at
/// position `p` (0 = leftmost) generated from `latent(seed, p)` with the digit as label.
fn expected_counter(blob: &[u8], value: u16, seed: u64) -> Screen {
    let model = Model::parse(blob).unwrap();
    let mut scratch = Box::new(TinyScratch::new());
    let mut screen = Screen::black();
    let text = value.to_string();
    for (k, digit) in text.bytes().enumerate() {
        let position = 4 - text.len() + k;
        let mut z = vec![0f32; model.z_dim()];
        latent(seed, position as u32, &mut z);
        let mut image = [0u8; 784];
        model
            .generate(&z, Some(digit - b'0'), &mut scratch, &mut image)
            .unwrap();
        let (x0, y0) = xy(layout::counter_origin(position as u32));
        for (p, &v) in image.iter().enumerate() {
            screen.0[y0 + p / 28][x0 + p % 28] = gray4(v);
        }
    }
    screen
}

#[test]
fn conditional_model_counts_with_generated_digits() {
    let fw = firmware();
    let mut qemu = Qemu::start(&fw.cond_elf);
    assert_eq!(field(&qemu.wait_for("MODEL "), "num_classes"), 10);
    qemu.wait_for("FRAME seed=0");
    // Conditional grid: cell i shows class i.
    assert_grid(
        &qemu.screen(),
        &expected_grid(&fw.cond_blob, 0),
        "conditional grid (seed 0)",
    );

    // Every up/down press draws the counter with fresh samples (the seed advances).
    let presses = [
        ("up", 1, 1),
        ("up", 2, 2),
        ("down", 1, 3),
        ("down", 0, 4),
        ("down", 9999, 5),
    ];
    for (key, value, seed) in presses {
        qemu.click(key);
        qemu.wait_for(&format!("FRAME counter={value} seed={seed}"));
        assert_grid(
            &qemu.screen(),
            &expected_counter(&fw.cond_blob, value, seed),
            &format!("counter {value} (seed {seed})"),
        );
    }

    // Select goes back to the grid, next batch.
    qemu.click("ctrl");
    qemu.wait_for("FRAME seed=6");
    assert_grid(
        &qemu.screen(),
        &expected_grid(&fw.cond_blob, 6),
        "grid after the counter (seed 6)",
    );
}

#[test]
fn corrupted_blob_shows_the_error_screen() {
    let fw = firmware();
    let error = Model::parse(&fw.bad_blob).expect_err("the corrupted blob must not parse");
    let message = format!("blob rejected: {error}");

    let mut qemu = Qemu::start(&fw.bad_elf);
    let line = qemu.wait_for("BLOB ERROR ");
    assert!(line.contains(&message), "`{line}` does not say `{message}`");
    // Give a stray frame a moment to show up (it must not).
    thread::sleep(Duration::from_millis(300));
    while let Ok(line) = qemu.lines.try_recv() {
        assert!(
            !line.starts_with("FRAME"),
            "digits drawn despite the bad blob: {line}"
        );
    }

    // The firmware's error screen (title, then the message word-wrapped), drawn on the host.
    let mut expected = Screen::black();
    tinygan_fw::draw_error(&mut expected, &message).unwrap();
    let actual = qemu.screen();
    if actual != expected {
        panic!(
            "error screen differs\nactual:\n{}expected:\n{}",
            actual.to_ascii(),
            expected.to_ascii()
        );
    }
}

/// Sections of a little-endian 32-bit ARM ELF file: (name, address, size).
fn elf32_sections(elf: &[u8]) -> Vec<(String, u32, u32)> {
    let file = object::File::parse(elf).expect("an object file");
    assert!(
        file.format() == object::BinaryFormat::Elf && !file.is_64() && file.is_little_endian(),
        "not a little-endian ELF32 file"
    );
    assert_eq!(
        file.architecture(),
        object::Architecture::Arm,
        "not an ARM ELF (e_machine)"
    );
    file.sections()
        .map(|s| {
            let name = s.name().unwrap_or_default().to_string();
            (name, s.address() as u32, s.size() as u32)
        })
        .collect()
}

/// The Raspberry Pi Pico board (thumbv6m-none-eabi, SSD1306) builds from the same app crate, with
/// the boot loader and vector table where the RP2040 boot ROM expects them and the blob embedded.
#[test]
fn pico_firmware_builds() {
    let fw = firmware();
    let script = repo_root().join("scripts/firmware-build.sh");
    let dir = scratch_dir();
    let out = Command::new("bash")
        .arg(&script)
        .args(["--board", "pico", "--blob"])
        .arg(default_blob_path())
        .arg("--copy-to")
        .arg(&dir)
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    assert!(out.status.success(), "Pico firmware build failed");
    let elf_path = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let elf = std::fs::read(&elf_path).unwrap();
    let sections = elf32_sections(&elf);
    let find = |name: &str| {
        sections
            .iter()
            .find(|(n, _, _)| n == name)
            .unwrap_or_else(|| panic!("no {name} section in {elf_path}: {sections:?}"))
    };
    let (_, boot2_addr, boot2_size) = find(".boot2");
    assert_eq!(
        (*boot2_addr, *boot2_size),
        (0x1000_0000, 256),
        ".boot2 placement"
    );
    assert_eq!(
        find(".vector_table").1,
        0x1000_0100,
        ".vector_table placement"
    );
    let header = &fw.blob[..runtime_nostd::format::HEADER_LEN];
    assert!(
        elf.windows(header.len()).any(|w| w == header),
        "the blob is not embedded in the Pico firmware"
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// Builds a speed-check board (`firmware/mps2-an386`, `firmware/microbit`), runs it in QEMU's
/// `machine`, and checks that it reports its figures and generates exactly the host runtime's
/// digits (batch 0): each digit's CRC-32 must match.
fn speed_check_matches_the_host(board: &str, machine: &str) {
    let script = repo_root().join("scripts/firmware-build.sh");
    let dir = scratch_dir();
    let out = Command::new("bash")
        .arg(&script)
        .args(["--board", board, "--blob"])
        .arg(default_blob_path())
        .arg("--copy-to")
        .arg(&dir)
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{board} firmware build failed; is its target installed? run scripts/install-firmware-toolchain.sh"
    );
    let elf = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let run = Command::new("timeout")
        .args([
            "120",
            "qemu-system-arm",
            "-machine",
            machine,
            "-icount",
            "shift=0",
        ])
        .args(["-display", "none", "-serial", "null", "-monitor", "none"])
        .args([
            "-semihosting-config",
            "enable=on,target=native",
            "-kernel",
            &elf,
        ])
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&run.stdout).to_string();
    assert!(
        run.status.success(),
        "QEMU {machine}: {}\n{log}",
        run.status
    );
    let line = |key: &str| {
        log.lines()
            .find(|l| l.starts_with(key))
            .unwrap_or_else(|| panic!("no {key} line in:\n{log}"))
            .to_string()
    };
    assert!(field(&line("STATS"), "insns_per_digit") > 0);
    let crcs = |line: String| line.split("crc32=").nth(1).unwrap().trim().to_string();
    let pixels = crcs(line("PIXELS"));

    let blob = std::fs::read(default_blob_path()).unwrap();
    let model = Model::parse(&blob).unwrap();
    let mut scratch = Box::new(TinyScratch::new());
    let want: Vec<String> = (0..8u32)
        .map(|index| {
            let mut z = vec![0f32; model.z_dim()];
            latent(0, index, &mut z);
            let label =
                (model.num_classes() > 0).then(|| (index % model.num_classes() as u32) as u8);
            let mut out = [0u8; 784];
            model.generate(&z, label, &mut scratch, &mut out).unwrap();
            format!("{:08x}", runtime_nostd::format::crc32(&out))
        })
        .collect();
    assert_eq!(
        pixels,
        want.join(","),
        "the {board} digits differ from the host runtime's"
    );
    // The M4 first runs the batch on the blob's int8 weights, then on the wide ones: both kernels.
    if let Some(int8) = log.lines().find(|l| l.starts_with("INT8")) {
        assert!(field(int8, "insns_per_digit") > 0);
        assert_eq!(
            crcs(int8.to_string()),
            want.join(","),
            "the {board} digits on int8 weights differ from the host runtime's"
        );
    }
}

/// The Cortex-M4F speed check (`thumbv7em-none-eabihf`, the DSP kernel on int8 and on wide
/// weights) in QEMU's `mps2-an386`.
#[test]
fn m4_firmware_generates_the_host_runtimes_digits() {
    speed_check_matches_the_host("mps2-an386", "mps2-an386");
}

/// The Cortex-M0 speed check (`thumbv6m-none-eabi`, the Pico's instruction set, the portable
/// kernel) in QEMU's `microbit`.
#[test]
fn m0_firmware_generates_the_host_runtimes_digits() {
    speed_check_matches_the_host("microbit", "microbit");
}
