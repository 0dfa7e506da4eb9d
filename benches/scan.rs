//! Criterion benchmarks of the scanner's hot functions on camera-sized synthetic frames:
//! the first cascade step, a region-of-interest re-read, and a frame with no code.
//! The end-to-end figures against zxing-cpp and zbar are `qrpos bench decode` (see README).

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use qrpos::scan::bench::{scene, scene_with_code};
use qrpos::scan::{Cascade, FrameDecoder};

fn hot_paths(c: &mut Criterion) {
    let cascade = Cascade::standard();
    let coded = scene_with_code(640, 480, "QP1 criterion 0123456789");
    let empty = scene(640, 480);

    c.bench_function("first step, 640x480 with code", |b| {
        b.iter(|| cascade.steps()[0].run(&coded))
    });
    c.bench_function("first step, 640x480 no code", |b| {
        b.iter(|| cascade.steps()[0].run(&empty))
    });
    let mut live = FrameDecoder::new(cascade.clone(), Duration::from_millis(2));
    live.decode(&coded);
    c.bench_function("live ROI hit, 640x480", |b| b.iter(|| live.decode(&coded)));
    let mut idle = FrameDecoder::new(cascade.clone(), Duration::from_millis(2));
    c.bench_function("live no code, 640x480", |b| b.iter(|| idle.decode(&empty)));
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30);
    targets = hot_paths
}
criterion_main!(benches);
