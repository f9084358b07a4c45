//! The canonical reduction order: the one association of a reduction that every backend
//! reproduces, so results are bitwise identical for any thread count and chunking.
//!
//! The reduced index space (the reduced axes flattened in row-major order) of length
//! `n` is cut into blocks of [`BLOCK`] consecutive elements. Inside a block, element `i`
//! goes to lane `i mod LANES`; each lane accumulates its elements in increasing order
//! starting from the identity; the lanes are then combined as
//! `((l0 ⊕ l1) ⊕ (l2 ⊕ l3)) ⊕ ((l4 ⊕ l5) ⊕ (l6 ⊕ l7))`. Block results are combined
//! by a binary tree that splits a range of blocks at the largest power of two below its
//! length, so the tree depends on `n` alone. Error bound (Higham): the depth is at most
//! `BLOCK / LANES + 3 + ceil(log2(n / BLOCK))`.
//!
//! A parallel backend gives whole subtrees to threads; a SIMD backend keeps the lanes in
//! vector registers. Neither changes the association.

/// Accumulators per block; a multiple of every SIMD width the backends use.
pub const LANES: usize = 8;
/// Elements per block: the unit of parallel work.
pub const BLOCK: usize = 4096;

/// Folds elements `get(0..n)` with `op` in the canonical order.
pub fn fold<T: Clone>(
    n: usize,
    identity: T,
    get: impl Fn(usize) -> T,
    op: impl Fn(T, T) -> T,
) -> T {
    if n == 0 {
        return identity;
    }
    let nblocks = n.div_ceil(BLOCK);
    let leaf = |b: usize| {
        let (lo, hi) = (b * BLOCK, ((b + 1) * BLOCK).min(n));
        let mut lanes: [T; LANES] = std::array::from_fn(|_| identity.clone());
        for i in lo..hi {
            let l = (i - lo) % LANES;
            lanes[l] = op(lanes[l].clone(), get(i));
        }
        combine_lanes(&lanes, &op)
    };
    tree(0, nblocks, &leaf, &op)
}

/// `((l0 ⊕ l1) ⊕ (l2 ⊕ l3)) ⊕ ((l4 ⊕ l5) ⊕ (l6 ⊕ l7))`.
/// `op` may have effects (building expressions); it is called in that order, left
/// pair first.
pub fn combine_lanes<T: Clone>(l: &[T; LANES], mut op: impl FnMut(T, T) -> T) -> T {
    let g = |i: usize| l[i].clone();
    let p01 = op(g(0), g(1));
    let p23 = op(g(2), g(3));
    let a = op(p01, p23);
    let p45 = op(g(4), g(5));
    let p67 = op(g(6), g(7));
    let b = op(p45, p67);
    op(a, b)
}

/// Combines leaves `lo..hi` (non-empty) by the canonical block tree.
pub fn tree<T>(lo: usize, hi: usize, leaf: &impl Fn(usize) -> T, op: &impl Fn(T, T) -> T) -> T {
    let len = hi - lo;
    if len <= 1 {
        return leaf(lo);
    }
    let split = lo + tree_split(len);
    op(tree(lo, split, leaf, op), tree(split, hi, leaf, op))
}

/// Where the canonical tree splits a range of `len >= 2` blocks: the largest power of
/// two strictly below `len`.
pub fn tree_split(len: usize) -> usize {
    1usize << (usize::BITS - 1 - (len - 1).leading_zeros())
}

/// The float operations compensated summation needs.
pub trait Float:
    Copy
    + PartialOrd
    + std::ops::Add<Output = Self>
    + std::ops::Sub<Output = Self>
    + std::ops::Mul<Output = Self>
    + std::ops::Neg<Output = Self>
{
    const ZERO: Self;
    fn abs(self) -> Self;
    fn is_finite(self) -> bool;
    /// `self * a + b` with one rounding.
    fn mul_add(self, a: Self, b: Self) -> Self;
}

macro_rules! impl_float {
    ($t:ty) => {
        impl Float for $t {
            const ZERO: $t = 0.0;
            fn abs(self) -> $t {
                <$t>::abs(self)
            }
            fn is_finite(self) -> bool {
                <$t>::is_finite(self)
            }
            fn mul_add(self, a: $t, b: $t) -> $t {
                <$t>::mul_add(self, a, b)
            }
        }
    };
}
impl_float!(f64);
impl_float!(f32);

/// A running compensated sum: `hi + lo` carries about twice the working precision.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Compensated<T> {
    pub hi: T,
    pub lo: T,
}

impl<T: Float> Compensated<T> {
    pub const ZERO: Compensated<T> = Compensated {
        hi: T::ZERO,
        lo: T::ZERO,
    };

    /// Neumaier's update (Kahan's original loses everything near cond 1e16).
    pub fn plus(self, x: T) -> Compensated<T> {
        let t = self.hi + x;
        // Once the sum overflows (or meets an inf or NaN) the error term would be
        // `inf - inf`; the high part alone then carries the IEEE result.
        let err = if !t.is_finite() {
            T::ZERO
        } else if self.hi.abs() >= x.abs() {
            (self.hi - t) + x
        } else {
            (x - t) + self.hi
        };
        Compensated {
            hi: t,
            lo: self.lo + err,
        }
    }

    /// Adds the product `a·b` as Dot2 does: Neumaier's update with the rounded product,
    /// and the product's exact rounding error (TwoProduct by `fma(a, b, -p)`) into the
    /// low part.
    pub fn plus_product(self, a: T, b: T) -> Compensated<T> {
        let p = a * b;
        // Exact whenever the product neither overflows nor underflows; an infinite
        // product has no finite error term.
        let e = if p.is_finite() {
            a.mul_add(b, -p)
        } else {
            T::ZERO
        };
        let s = self.plus(p);
        Compensated {
            hi: s.hi,
            lo: s.lo + e,
        }
    }

    /// Merges two partial sums (TwoSum on the high parts).
    pub fn merge(self, other: Compensated<T>) -> Compensated<T> {
        let s = self.plus(other.hi);
        Compensated {
            hi: s.hi,
            lo: s.lo + other.lo,
        }
    }

    pub fn value(self) -> T {
        if self.hi.is_finite() {
            self.hi + self.lo
        } else {
            self.hi
        }
    }
}

/// Compensated sum of `get(0..n)` in the canonical order.
pub fn compensated_sum<T: Float>(n: usize, get: impl Fn(usize) -> T) -> T {
    if n == 0 {
        return T::ZERO;
    }
    let nblocks = n.div_ceil(BLOCK);
    let leaf = |b: usize| {
        let (lo, hi) = (b * BLOCK, ((b + 1) * BLOCK).min(n));
        let mut lanes = [Compensated::ZERO; LANES];
        for i in lo..hi {
            let l = (i - lo) % LANES;
            lanes[l] = lanes[l].plus(get(i));
        }
        combine_lanes(&lanes, &|a: Compensated<T>, b| a.merge(b))
    };
    tree(0, nblocks, &leaf, &|a: Compensated<T>, b| a.merge(b)).value()
}

/// Compensated dot product (Ogita–Rump–Oishi's Dot2) of the pairs `get(0..n)` in the
/// canonical order: each lane adds the product with Neumaier's update and the product's
/// exact rounding error (TwoProduct by `fma(a, b, -p)`) to its low part; lanes and blocks
/// merge as in [`compensated_sum`]. Every backend reproduces exactly this.
pub fn compensated_dot<T: Float>(n: usize, get: impl Fn(usize) -> (T, T)) -> T {
    if n == 0 {
        return T::ZERO;
    }
    let merge = |a: Compensated<T>, b: Compensated<T>| a.merge(b);
    let leaf = |block: usize| {
        let (lo, hi) = (block * BLOCK, ((block + 1) * BLOCK).min(n));
        let mut lanes = [Compensated::<T>::ZERO; LANES];
        for i in lo..hi {
            let (a, b) = get(i);
            let lane = &mut lanes[(i - lo) % LANES];
            *lane = lane.plus_product(a, b);
        }
        combine_lanes(&lanes, &merge)
    };
    tree(0, n.div_ceil(BLOCK), &leaf, &merge).value()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tree_split_is_largest_power_of_two_below() {
        assert_eq!(tree_split(2), 1);
        assert_eq!(tree_split(3), 2);
        assert_eq!(tree_split(4), 2);
        assert_eq!(tree_split(5), 4);
        assert_eq!(tree_split(1025), 1024);
    }

    #[test]
    fn fold_matches_exact_integer_sum() {
        for n in [0usize, 1, 7, 8, 9, 4095, 4096, 4097, 3 * 4096 + 5] {
            let s = fold(n, 0i64, |i| i as i64, |a, b| a + b);
            assert_eq!(s, (n as i64) * (n as i64 - 1) / 2, "n = {n}");
        }
    }

    #[test]
    fn fold_order_is_the_documented_one() {
        // Record the association as a string for 10 elements: one block, 8 lanes.
        let s = fold(
            10,
            String::new(),
            |i| i.to_string(),
            |a, b| {
                if a.is_empty() {
                    b
                } else if b.is_empty() {
                    a
                } else {
                    format!("({a}+{b})")
                }
            },
        );
        assert_eq!(s, "((((0+8)+(1+9))+(2+3))+((4+5)+(6+7)))");
    }

    #[test]
    fn compensated_sum_recovers_cancellation() {
        let xs = [1e16, 1.0, -1e16, 1.0];
        assert_eq!(compensated_sum(xs.len(), |i| xs[i]), 2.0);
        assert_ne!(fold(xs.len(), 0.0, |i| xs[i], |a, b| a + b), 2.0);
    }

    #[test]
    fn compensated_sum_keeps_ieee_infinities() {
        let inf = f64::INFINITY;
        assert_eq!(compensated_sum(1, |_| inf), inf);
        assert_eq!(compensated_sum(3, |i| [1.0, inf, 2.0][i]), inf);
        assert_eq!(compensated_sum(2, |i| [-inf, -1.0][i]), -inf);
        assert!(compensated_sum(2, |i| [inf, -inf][i]).is_nan());
        assert!(compensated_sum(2, |i| [1.0, f64::NAN][i]).is_nan());
        // Overflow of finite values gives inf, as the plain sum does.
        assert_eq!(compensated_sum(2, |_| f64::MAX), inf);
        // Across lanes and blocks too.
        let big = |i: usize| if i == 5000 { inf } else { 1.0 };
        assert_eq!(compensated_sum(10_000, big), inf);
    }

    #[test]
    fn compensated_dot_keeps_ieee_infinities_and_is_exact_on_cancellation() {
        let inf = f64::INFINITY;
        assert_eq!(compensated_dot(2, |i| [(inf, 2.0), (1.0, 1.0)][i]), inf);
        assert_eq!(compensated_dot(1, |_| (1e200, 1e200)), inf);
        assert!(compensated_dot(2, |i| [(inf, 1.0), (-inf, 1.0)][i]).is_nan());
        // (1e8 + 1)^2 - 1e16 - 2e8 = 1, lost by a plain dot product.
        let x = 1e8 + 1.0;
        let pairs = [(x, x), (-1e16, 1.0), (-2e8, 1.0)];
        assert_eq!(compensated_dot(3, |i| pairs[i]), 1.0);
    }
}
