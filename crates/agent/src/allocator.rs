//! How the process's allocator treats the large buffers of the transfers.
//!
//! Part buffers (8 MiB by default) and header reads are allocated and freed many times. glibc's
//! malloc serves blocks above its mmap threshold with `mmap` and returns them to the system on
//! `free`, but it raises that threshold dynamically after such a free (up to 32 MiB), after
//! which the same buffers come from per-thread arenas that keep their memory: `push` of 16
//! files of 64 MiB peaked at 268 MiB against a 128 MiB budget of buffers, and at 149 MiB with
//! `MALLOC_ARENA_MAX=1` (`benches/push.rs`, release build). Fixing the threshold keeps the
//! process's memory at what the budgets hold.

/// Blocks of at least this many bytes are always mapped and unmapped on their own.
pub const LARGE_BUFFER: usize = 1 << 20;

/// Makes blocks of [`LARGE_BUFFER`] bytes and more always come from, and go back to, the
/// system (glibc's `M_MMAP_THRESHOLD`, which also stops its dynamic adjustment). Call it once,
/// at the start of `main`, before other threads exist. Elsewhere than Linux with glibc, it does
/// nothing.
pub fn return_large_buffers() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let threshold = libc::c_int::try_from(LARGE_BUFFER).unwrap_or(libc::c_int::MAX);
        // SAFETY: mallopt only changes a malloc parameter; it is called before any other
        // thread of the process exists.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, threshold);
        }
    }
}
