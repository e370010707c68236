//! The process's memory allocator: jemalloc (the `tikv-jemallocator`
//! crate, which builds jemalloc 5.3 from source), for every binary that
//! links berth (the server, `berth-bench`'s server, the tests).
//!
//! glibc's allocator was ~40 % of the server's CPU per booking on the
//! one-trip path (`_int_malloc`, `_int_free`, `unlink_chunk`,
//! `malloc_consolidate`; BENCHMARKS.md "#32, thirteenth part"). jemalloc's
//! per-thread caches serve the same allocations for about half of that.
//!
//! One arena (`narenas:1`) instead of four per core: the server's work
//! runs on two tokio workers, and every extra arena keeps its own freed
//! pages, which at 2,000 waiting connections is the difference between
//! the 100 MiB target and its edge. `_RJEM_MALLOC_CONF` overrides it at
//! run time (jemalloc's option syntax).

use std::ffi::c_char;

#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's `malloc_conf`: a C string it reads before `main`.
#[repr(transparent)]
pub struct MallocConf(*const c_char);

// SAFETY: the pointer is to a static, immutable C string literal.
unsafe impl Sync for MallocConf {}

/// Read by jemalloc under its prefixed name (the crate builds it with the
/// `_rjem_` prefix); its own definition is weak, this one wins.
// SAFETY: no other definition of the symbol is strong, and its type is
// what jemalloc declares (`const char *`).
#[unsafe(export_name = "_rjem_malloc_conf")]
pub static MALLOC_CONF: MallocConf = MallocConf(c"narenas:1".as_ptr());
