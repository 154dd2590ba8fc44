// Leaks known bytes at known Rust functions, after churning allocations that are all freed.
// The table of what it leaked goes to stderr: "FUNCTION BYTES BLOCKS" per line, the blocks
// of BYTES/BLOCKS bytes each allocated in FUNCTION (grow_registry's map also leaves its last
// table there: one more block, of a size the standard library chooses).
// Builds with Debian's rustc 1.63 (no std::hint::black_box: the pointers escape to SINK).
use std::collections::HashMap;
use std::io::Write;
use std::sync::atomic::{AtomicPtr, Ordering};

// Each leaked block's address is stored here, and main reads it: the allocation escapes, so
// the optimizer keeps it (a static only ever written to would be removed, stores and all).
static SINK: AtomicPtr<u8> = AtomicPtr::new(std::ptr::null_mut());

// A count the optimizer cannot see through: with a constant, it unrolls the loops, and each
// unrolled call is a site of its own.
fn opaque(n: usize) -> usize {
    unsafe { std::ptr::read_volatile(&n) }
}

#[inline(never)]
fn leak_boxes(count: usize) {
    for i in 0..count {
        let b: Box<[u8; 4000]> = Box::new([i as u8; 4000]);
        SINK.store(Box::leak(b).as_mut_ptr(), Ordering::Relaxed);
    }
}

#[inline(never)]
fn forget_vectors(count: usize) {
    for _ in 0..count {
        let mut v: Vec<u64> = Vec::with_capacity(250);
        SINK.store(v.as_mut_ptr() as *mut u8, Ordering::Relaxed);
        std::mem::forget(v);
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
    churn(opaque(200_000));
    leak_boxes(opaque(50));
    forget_vectors(opaque(30));
    let registry: &'static mut HashMap<u64, Box<[u8; 300]>> = Box::leak(Box::new(HashMap::new()));
    grow_registry(registry, opaque(200) as u64);
    let kept = if SINK.load(Ordering::Relaxed).is_null() { "nothing" } else { "blocks" };
    println!("rust leaker: {} entries, {} kept", registry.len(), kept);
    let mut err = std::io::stderr();
    writeln!(err, "leak::leak_boxes 200000 50").unwrap();
    writeln!(err, "leak::forget_vectors 60000 30").unwrap();
    writeln!(err, "leak::grow_registry 60000 200").unwrap();
}
