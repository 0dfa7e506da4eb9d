//! What durable journaling costs a sale, compared in the same run with the floor the disk
//! sets: a sale makes three durable journal writes (created with its ids, submitted with its
//! nonce, final outcome); the reference is three raw `write + fdatasync` of a record of the
//! same size on the same filesystem. Run: `cargo bench --bench journal`.

use criterion::{criterion_group, criterion_main, Criterion};
use qrpos::sale::{PaymentMeans, Protocol, Sale, Status, Won};
use qrpos::store::Journal;
use std::io::Write;

fn one_sale(j: &Journal, n: u64) {
    let mut sale = j
        .create_sale("T991000001", "T1", "20261121", 0, |id, btid| {
            Sale::new(
                id,
                btid,
                "20261121".into(),
                Won(4500),
                "coffee".into(),
                Protocol::Openbanking,
                0,
            )
        })
        .expect("create");
    sale.means = Some(PaymentMeans::FintechNumber {
        fintech_use_num: "199100000000000000000001".into(),
    });
    sale.one_time_code = true;
    sale.advance(Status::Submitted, 1, "sending")
        .expect("submit");
    j.save_with_nonce(&sale, &n.to_be_bytes(), i64::MAX)
        .expect("nonce");
    sale.advance(Status::Approved, 2, "approved")
        .expect("approve");
    j.save(&sale).expect("final");
}

fn journal(c: &mut Criterion) {
    // On the project's own disk (target/tmp), not /tmp, which may be a tmpfs where fsync
    // costs nothing; QRPOS_BENCH_DIR measures another disk (say, the Pi's SD card).
    let dir = tempfile::tempdir_in(
        std::env::var_os("QRPOS_BENCH_DIR").unwrap_or_else(|| env!("CARGO_TARGET_TMPDIR").into()),
    )
    .expect("tempdir");
    let mut group = c.benchmark_group("journal per sale");
    group.sample_size(30);

    let j = Journal::open(&dir.path().join("journal")).expect("journal");
    let mut n = 0u64;
    group.bench_function("qrpos journal: 3 durable writes", |b| {
        b.iter(|| {
            n += 1;
            one_sale(&j, n)
        })
    });

    // The same record size the journal writes (a serialised sale), fsynced three times.
    let mut probe = Sale::new(
        "x".into(),
        "y".into(),
        "d".into(),
        Won(1),
        "coffee".into(),
        Protocol::Openbanking,
        0,
    );
    probe.advance(Status::Submitted, 1, "sending").unwrap();
    let record = serde_json::to_vec(&probe).unwrap();
    let mut raw = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.path().join("raw"))
        .expect("raw file");
    group.bench_function("reference: 3 raw write+fdatasync", |b| {
        b.iter(|| {
            for _ in 0..3 {
                raw.write_all(&record).unwrap();
                raw.sync_data().unwrap();
            }
        })
    });
    group.finish();
}

criterion_group!(benches, journal);
criterion_main!(benches);
