//! The pool installed as this test program's global allocator: large blocks are
//! recycled by size, zeroed requests read zero, reallocation keeps the contents, and
//! threads freeing and allocating at once never share a block.

use nabla_alloc::PoolAlloc;

#[global_allocator]
static ALLOC: PoolAlloc = PoolAlloc;

// The counters are global, so the tests run one at a time under this lock.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

#[test]
fn a_freed_block_serves_the_next_request_of_its_size() {
    let _g = serial();
    let n = 10_000_000;
    let a: Vec<f64> = vec![1.5; n];
    let addr = a.as_ptr() as usize;
    assert_eq!(addr % (2 << 20), 0, "large blocks are huge-page aligned");
    drop(a);
    let before = PoolAlloc::stats();
    let b: Vec<f64> = Vec::with_capacity(n);
    let after = PoolAlloc::stats();
    assert_eq!(b.as_ptr() as usize, addr);
    assert_eq!(after.reused, before.reused + 1);
    assert_eq!(after.mapped, before.mapped);
}

#[test]
fn zeroed_requests_read_zero_even_from_a_dirty_block() {
    let _g = serial();
    let n = 3_000_000;
    let a: Vec<u8> = vec![0xAB; n];
    drop(a);
    let b: Vec<u8> = vec![0; n];
    assert!(b.iter().all(|&x| x == 0));
}

#[test]
fn reallocation_keeps_contents_across_the_threshold() {
    let _g = serial();
    let mut v: Vec<u32> = (0..1000).collect();
    for round in 0..3 {
        v.extend(0..2_000_000u32);
        assert_eq!(v[999], 999, "round {round}");
        assert_eq!(v[v.len() - 1], 1_999_999);
    }
    v.truncate(10);
    v.shrink_to_fit();
    assert_eq!(v, (0..10).collect::<Vec<u32>>());
}

#[test]
fn idle_blocks_are_bounded_and_released() {
    let _g = serial();
    PoolAlloc::release_idle();
    let blocks: Vec<Vec<u8>> = (0..nabla_alloc::SLOTS + 8)
        .map(|i| vec![i as u8; 1 << 20])
        .collect();
    drop(blocks);
    let s = PoolAlloc::stats();
    assert!(s.idle_bytes <= nabla_alloc::MAX_IDLE_BYTES);
    assert_eq!(
        s.idle_bytes,
        nabla_alloc::SLOTS << 20,
        "one 1 MiB block per slot"
    );
    PoolAlloc::release_idle();
    assert_eq!(PoolAlloc::stats().idle_bytes, 0);
}

#[test]
fn threads_never_share_a_block() {
    let _g = serial();
    let handles: Vec<_> = (0..4u8)
        .map(|t| {
            std::thread::spawn(move || {
                for round in 0..20u8 {
                    let v = vec![t ^ round; 2 << 20];
                    std::thread::yield_now();
                    assert!(v.iter().all(|&x| x == t ^ round));
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("a thread saw another thread's writes");
    }
}

/// Minor page faults of the calling thread so far.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn minor_faults() -> i64 {
    // Linux's RUSAGE_THREAD (the libc crate names it only for some C libraries).
    const RUSAGE_THREAD: libc::c_int = 1;
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: `usage` is a writable `rusage`, which the call fills.
    let rc = unsafe { libc::getrusage(RUSAGE_THREAD, usage.as_mut_ptr()) };
    assert_eq!(rc, 0, "getrusage");
    // SAFETY: zero-initialised and then filled by a successful call.
    unsafe { usage.assume_init() }.ru_minflt
}

#[test]
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn blocks_under_the_pool_s_size_are_not_faulted_in_again_each_call() {
    let _g = serial();
    // Six blocks of about 80 KB written and freed per "call", as a row pass does: with
    // the system allocator's defaults every call faulted about 86 pages back in.
    let call = || {
        let blocks: Vec<Vec<f64>> = (0..6).map(|i| vec![i as f64; 10_000 + i]).collect();
        std::hint::black_box(&blocks);
    };
    call();
    call();
    let before = minor_faults();
    for _ in 0..100 {
        call();
    }
    let faults = minor_faults() - before;
    assert!(faults < 50, "{faults} page faults over 100 calls");
}
