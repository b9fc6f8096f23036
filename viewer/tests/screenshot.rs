//! The viewer under a display (CI runs it under Xvfb with Mesa's software Vulkan): a scripted
//! run renders the live scene, saves a screenshot and exits; the picture must show the arm —
//! its orange links where the camera projects them — not a blank or uniform frame.

use std::path::Path;
use std::process::{Command, Stdio};

/// How long the viewer may take to render and save (s) before it counts as hung.
const HANG_GUARD_S: u32 = 300;

/// Whether a pixel has the arm links' orange (red > green > blue, clearly).
fn orange(p: [u8; 3]) -> bool {
    let [r, g, b] = p.map(|v| v as f32);
    r >= 60.0 && r >= 1.2 * g && g >= 1.2 * b
}

fn read_png(path: &Path) -> (u32, u32, Vec<[u8; 3]>) {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!((info.color_type, info.bit_depth), (png::ColorType::Rgb, png::BitDepth::Eight), "8-bit RGB");
    let pixels = buf[..info.buffer_size()].chunks_exact(3).map(|c| [c[0], c[1], c[2]]).collect();
    (info.width, info.height, pixels)
}

#[test]
fn a_scripted_run_under_a_display_shows_the_arm() {
    let display = std::env::var("DISPLAY").unwrap_or_default();
    assert!(
        !display.is_empty(),
        "this test needs a display: run it as `xvfb-run -a cargo test --release -p regrasp-viewer` (.ci/run does)"
    );
    let dir = std::env::temp_dir().join(format!("regrasp-viewer-shot-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let png_path = dir.join("live.png");
    let mut child = Command::new(env!("CARGO_BIN_EXE_regrasp-viewer"))
        .args(["--width", "640", "--height", "480", "--after-frames", "20", "--screenshot"])
        .arg(&png_path)
        .args(["live", "--seed", "3", "--paused"])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("viewer.log")).unwrap())
        .spawn()
        .unwrap();
    // A hang guard, not a timing check: a viewer that never captures is killed and fails here.
    let mut waited = 0;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if waited >= HANG_GUARD_S * 10 {
            child.kill().ok();
            panic!("the viewer did not save a screenshot within {HANG_GUARD_S} s");
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        waited += 1;
    };
    let stderr = std::fs::read_to_string(dir.join("viewer.log")).unwrap_or_default();
    assert!(status.success(), "viewer failed: {status}\n{stderr}");

    let (w, h, pixels) = read_png(&png_path);
    let info: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(png_path.with_extension("json")).unwrap()).unwrap();
    assert_eq!(info["size"], serde_json::json!([w, h]));

    // Not blank: many distinct colours.
    let mut distinct: Vec<[u8; 3]> = pixels.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert!(distinct.len() > 200, "a nearly uniform frame ({} colours)", distinct.len());

    // The arm: enough orange pixels, and orange where the links project.
    let n_orange = pixels.iter().filter(|p| orange(**p)).count();
    assert!(n_orange as f64 > 0.003 * pixels.len() as f64, "{n_orange} orange pixels of {}", pixels.len());
    let links: Vec<[f64; 2]> = info["link_pixels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| [p[0].as_f64().unwrap(), p[1].as_f64().unwrap()])
        .collect();
    let inside: Vec<&[f64; 2]> =
        links.iter().filter(|p| p[0] >= 0.0 && p[1] >= 0.0 && p[0] < w as f64 && p[1] < h as f64).collect();
    assert!(inside.len() >= 3, "the arm's links are in view: {links:?}");
    let near_orange = |p: &[f64; 2]| {
        let (cx, cy) = (p[0] as i64, p[1] as i64);
        (-6..=6).flat_map(|dy| (-6..=6).map(move |dx| (cx + dx, cy + dy))).any(|(x, y)| {
            x >= 0 && y >= 0 && x < w as i64 && y < h as i64 && orange(pixels[(y as u32 * w + x as u32) as usize])
        })
    };
    let hits = inside.iter().filter(|p| near_orange(p)).count();
    assert!(hits * 2 >= inside.len(), "orange at only {hits} of {} projected links", inside.len());
    std::fs::remove_dir_all(&dir).ok();
}
