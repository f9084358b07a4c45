//! The Threefry-2x32 block cipher behind `threefry2x32`, as every backend must compute
//! it: 20 rounds in the round and key-injection order of JAX's `threefry2x32` (Salmon
//! et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011).

/// The rotation amounts of the four rounds of even groups, then of odd groups.
pub const ROTATIONS: [[u32; 4]; 2] = [[13, 15, 26, 6], [17, 29, 16, 24]];

/// The constant the third key word is the parity of the other two with.
pub const KEY_PARITY: u32 = 0x1BD1_1BDA;

/// Both output words for `key` and `counter`: five groups of four rounds, a key
/// injection after each group.
pub fn threefry2x32(key: [u32; 2], counter: [u32; 2]) -> [u32; 2] {
    let ks = [key[0], key[1], key[0] ^ key[1] ^ KEY_PARITY];
    let [mut x0, mut x1] = counter;
    x0 = x0.wrapping_add(ks[0]);
    x1 = x1.wrapping_add(ks[1]);
    for group in 0..5usize {
        for &r in &ROTATIONS[group % 2] {
            x0 = x0.wrapping_add(x1);
            x1 = x1.rotate_left(r) ^ x0;
        }
        let injection = group as u32 + 1;
        x0 = x0.wrapping_add(ks[(group + 1) % 3]);
        x1 = x1.wrapping_add(ks[(group + 2) % 3]).wrapping_add(injection);
    }
    [x0, x1]
}
