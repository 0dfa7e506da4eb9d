//! `qrpos ui snapshot` draws every screen in every state, with no display: each PNG has
//! content (not one flat colour), and no two screens of a size and language are the same.

mod common;

use std::collections::HashMap;

#[test]
fn every_screen_renders_and_the_screens_differ() {
    let out = tempfile::tempdir().unwrap();
    let run = common::qrpos(&[
        "ui",
        "snapshot",
        "--out",
        out.path().to_str().unwrap(),
        "--sizes",
        "800x480,1280x720",
        "--languages",
        "ko,en",
    ]);
    assert!(
        run.status.success(),
        "snapshot failed: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    for size in ["800x480", "1280x720"] {
        let (w, h): (u32, u32) = {
            let (a, b) = size.split_once('x').unwrap();
            (a.parse().unwrap(), b.parse().unwrap())
        };
        for lang in ["ko", "en"] {
            let dir = out.path().join(size).join(lang);
            let mut seen: HashMap<Vec<u8>, String> = HashMap::new();
            let mut count = 0;
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                let name = path.file_name().unwrap().to_string_lossy().to_string();
                let img = image::open(&path).unwrap().to_rgb8();
                assert_eq!(img.dimensions(), (w, h), "{size}/{lang}/{name}");
                let first = *img.get_pixel(0, h - 1);
                let differing = img.pixels().filter(|p| **p != first).count();
                assert!(
                    differing > (w * h / 50) as usize,
                    "{size}/{lang}/{name} is nearly blank ({differing} pixels differ)"
                );
                if let Some(other) = seen.insert(img.into_raw(), name.clone()) {
                    panic!("{size}/{lang}: {name} is the same picture as {other}");
                }
                count += 1;
            }
            assert!(count >= 20, "{size}/{lang}: only {count} screens");
        }
    }
}
