//! Allocation bound: parsing a header never allocates from an untrusted length. Whatever the
//! first 8 bytes claim, peak heap use while parsing stays proportional to the bytes actually
//! given. This test binary has a counting global allocator and a single test, so no other
//! thread disturbs the count.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use cmi_format::safetensors::{header_extent, parse_header};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let now = CURRENT.fetch_add(layout.size(), Ordering::SeqCst) + layout.size();
        PEAK.fetch_max(now, Ordering::SeqCst);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        CURRENT.fetch_sub(layout.size(), Ordering::SeqCst);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Peak bytes allocated while `f` runs, above what was allocated before.
fn peak_during(f: impl FnOnce()) -> usize {
    let base = CURRENT.load(Ordering::SeqCst);
    PEAK.store(base, Ordering::SeqCst);
    f();
    PEAK.load(Ordering::SeqCst) - base
}

#[test]
fn parsing_allocates_in_proportion_to_the_input() {
    let claimed = u64::MAX.to_le_bytes();
    let peak = peak_during(|| assert!(header_extent(&claimed, u64::MAX).is_err()));
    assert!(peak < 1024, "a huge claimed length allocated {peak} bytes");

    let mut runner = TestRunner::new(Config::with_cases(2000));
    let strategy = (
        any::<u64>(),
        proptest::collection::vec(any::<u8>(), 0..2048),
        any::<u64>(),
    );
    runner
        .run(&strategy, |(claimed, body, size)| {
            let mut bytes = claimed.to_le_bytes().to_vec();
            bytes.extend_from_slice(&body);
            for file_size in [size, bytes.len() as u64, u64::MAX] {
                let peak = peak_during(|| {
                    let _ = header_extent(&bytes, file_size);
                    let _ = parse_header(&bytes, file_size);
                });
                // A parsed tensor costs its name, its shape and a small entry; 64 bytes of
                // heap per input byte plus a fixed allowance bounds every path.
                prop_assert!(
                    peak <= 64 * bytes.len() + 64 * 1024,
                    "claimed {claimed}, {} input bytes, peak {peak}",
                    bytes.len()
                );
            }
            Ok(())
        })
        .unwrap();
}
