// Leaks known bytes at known Rust functions, after churning allocations that are all freed.
// The table of what it leaked goes to stderr: "FUNCTION BYTES BLOCKS" per line.
use std::collections::HashMap;
use std::io::Write;

#[inline(never)]
fn leak_boxes(count: usize) {
    for i in 0..count {
        let b: Box<[u8; 4000]> = Box::new([i as u8; 4000]);
        std::hint::black_box(Box::leak(b));
    }
}

#[inline(never)]
fn forget_vectors(count: usize) {
    for _ in 0..count {
        let v: Vec<u64> = Vec::with_capacity(250);
        std::mem::forget(std::hint::black_box(v));
    }
}

#[inline(never)]
fn grow_registry(map: &mut HashMap<u64, Box<[u8; 300]>>, n: u64) {
    for k in 0..n {
        map.insert(k, Box::new([k as u8; 300]));
    }
}

#[inline(never)]
fn churn(rounds: usize) {
    let mut window: Vec<Vec<u8>> = Vec::new();
    for i in 0..rounds {
        window.push(vec![1u8; 16 + (i * 37) % 4000]);
        if window.len() == 64 {
            window.clear();
        }
    }
}

fn main() {
    churn(200_000);
    leak_boxes(50);
    forget_vectors(30);
    let registry: &'static mut HashMap<u64, Box<[u8; 300]>> = Box::leak(Box::new(HashMap::new()));
    grow_registry(registry, 200);
    println!("rust leaker: {} entries", registry.len());
    let mut err = std::io::stderr();
    writeln!(err, "leak_boxes 200000 50").unwrap();
    writeln!(err, "forget_vectors 60000 30").unwrap();
}
