//! The TC3 signer: one call's signature, and its parts.
//!
//! `cargo bench --bench signer`

use std::hint::black_box;

use cdn_unblock::credentials::{Credentials, Secret};
use cdn_unblock::signer;
use criterion::{Criterion, criterion_group, criterion_main};

fn body(urls: usize) -> Vec<u8> {
    let urls: Vec<String> = (0..urls)
        .map(|i| format!("https://static.example.com/img/{i:08}.jpg"))
        .collect();
    serde_json::to_vec(&serde_json::json!({ "Urls": urls })).unwrap()
}

fn bench(c: &mut Criterion) {
    let credentials = Credentials {
        secret_id: "AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE".into(),
        secret_key: Secret::new("Gu5t9xGARNpq86cd98joQYCN3EXAMPLE"),
        token: None,
    };
    let headers = [
        ("Content-Type", signer::CONTENT_TYPE_JSON),
        ("Host", "cdn.tencentcloudapi.com"),
    ];
    for urls in [1, 100] {
        let payload = body(urls);
        let request = signer::Request {
            method: "POST",
            uri: "/",
            query: "",
            headers: &headers,
            payload: &payload,
        };
        c.bench_function(&format!("sign a call of {urls} URLs"), |b| {
            b.iter(|| signer::sign(black_box(&request), &credentials, "cdn", 1551113065).unwrap())
        });
    }
    c.bench_function("derive the signing key", |b| {
        b.iter(|| {
            signer::derive_keys(
                black_box("Gu5t9xGARNpq86cd98joQYCN3EXAMPLE"),
                "2019-02-25",
                "cdn",
            )
        })
    });
    let payload = body(100);
    c.bench_function("hash a 100-URL body", |b| {
        b.iter(|| signer::sha256_hex(black_box(&payload)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
