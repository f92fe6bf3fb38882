//! A global allocator that counts the current thread's allocations, for
//! the tests that prove a path allocates nothing (`tests/no_alloc.rs`,
//! `tests/geo_no_alloc.rs`). A test binary that declares this module gets
//! it as its global allocator.
#![allow(unreachable_pub)]
// a private module of each test (or bench) crate that includes it

// Implementing `GlobalAlloc` is unsafe; the crate denies unsafe code
// everywhere else (Cargo.toml [lints]).
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

/// Counts allocations made by the current thread, then defers to the system allocator.
struct Counting;

// SAFETY: every call is forwarded unchanged to `System`, which upholds the
// GlobalAlloc contract; the counter is a thread-local Cell touched without
// allocating.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations made so far by the current thread.
pub fn allocations() -> usize {
    ALLOCATIONS.with(|c| c.get())
}

/// Panics unless this allocator is the one in use: a test that sees zero
/// allocations must not be passing only because nothing was counted.
pub fn assert_counting() {
    let before = allocations();
    let probe = std::hint::black_box(vec![0u8; 64]);
    assert!(
        allocations() > before,
        "the counting allocator is not installed"
    );
    drop(probe);
}
