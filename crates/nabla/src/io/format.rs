//! Text form of arrays and scalars, matching what `print(x)` shows in NumPy (`str`, not
//! `repr`) with NumPy's default print options.
//!
//! This follows `numpy/_core/arrayprint.py` as of NumPy 2.4 (`legacy=False`):
//! precision 8 in `maxprec` float mode, summarisation above 1000 elements with 3 edge
//! items, line width 75. NumPy's digits come from Dragon4 on the exact binary value;
//! `dragon4` below reproduces its "unique" mode from the exact decimal expansion (which
//! Rust's fixed-point formatting gives) and round-trip parsing, so the shortest,
//! precision-cut and precision-extended digits all agree with NumPy's, float32 included.
//!
//! Checked against NumPy 2.4 on about 9000 generated arrays and scalars (random bit
//! patterns; powers of 2 and 10 and their neighbours; all dtypes; ranks 0 to 4;
//! summarised and wrapped), with no difference.

use std::fmt::Write as _;

use nabla_ir::{Array, Data, Scalar};

/// NumPy's `threshold`: arrays with more elements are summarised.
const THRESHOLD: usize = 1000;
/// NumPy's `edgeitems`: items shown at each end of a summarised axis.
const EDGE_ITEMS: usize = 3;
/// NumPy's `linewidth`.
const LINE_WIDTH: isize = 75;
/// NumPy's `precision`: at most this many fractional digits for array elements.
const PRECISION: usize = 8;

/// The array as NumPy's `print` shows it: `[1.  2.5]`, `[[1 2]\n [3 4]]`, `3.5` for a
/// rank-0 array.
pub fn format_array(a: &Array) -> String {
    if a.rank() == 0 {
        return a.get_flat(0).map_or_else(String::new, format_scalar);
    }
    if a.is_empty() {
        return "[]".to_string();
    }
    let shape = a.shape();
    let strides = nabla_ir::array::strides(shape);
    let summarise = a.len() > THRESHOLD;
    let mut edge = Vec::new();
    gather_edges(shape, &strides, summarise, 0, 0, &mut edge);
    let elem = match a.data() {
        Data::Bool(_) => ElemFormat::Bool,
        Data::I32(v) => ElemFormat::int(edge.iter().map(|&i| i64::from(v[i]))),
        Data::I64(v) => ElemFormat::int(edge.iter().map(|&i| v[i])),
        Data::U32(v) => ElemFormat::int(edge.iter().map(|&i| i64::from(v[i]))),
        Data::F32(v) => ElemFormat::Float(FloatFormat::new(
            &edge.iter().map(|&i| v[i]).collect::<Vec<_>>(),
        )),
        Data::F64(v) => ElemFormat::Float(FloatFormat::new(
            &edge.iter().map(|&i| v[i]).collect::<Vec<_>>(),
        )),
    };
    let printer = Printer {
        a,
        shape,
        strides: &strides,
        summarise,
        elem,
    };
    printer.recurse(0, 0, " ", LINE_WIDTH)
}

/// A scalar as NumPy's `str` shows it: `3.5`, `1e-05`, `7`, `True`, `nan`.
pub fn format_scalar(s: Scalar) -> String {
    match s {
        Scalar::Bool(b) => if b { "True" } else { "False" }.to_string(),
        Scalar::I32(v) => v.to_string(),
        Scalar::I64(v) => v.to_string(),
        Scalar::U32(v) => v.to_string(),
        Scalar::F32(v) => float_scalar_str(v),
        Scalar::F64(v) => float_scalar_str(v),
    }
}

/// Flat indices of the elements NumPy bases its element format on: all of them, or
/// for a summarised array only those shown (`_leading_trailing`).
fn gather_edges(
    shape: &[usize],
    strides: &[usize],
    summarise: bool,
    axis: usize,
    offset: usize,
    out: &mut Vec<usize>,
) {
    if axis == shape.len() {
        out.push(offset);
        return;
    }
    for i in shown(shape[axis], summarise) {
        gather_edges(
            shape,
            strides,
            summarise,
            axis + 1,
            offset + i * strides[axis],
            out,
        );
    }
}

/// Indices shown along an axis of length `n`.
fn shown(n: usize, summarise: bool) -> Vec<usize> {
    if summarise && n > 2 * EDGE_ITEMS {
        (0..EDGE_ITEMS).chain(n - EDGE_ITEMS..n).collect()
    } else {
        (0..n).collect()
    }
}

enum ElemFormat {
    Bool,
    /// Right-aligned to the width of the widest of the minimum and maximum.
    Int(usize),
    Float(FloatFormat),
}

impl ElemFormat {
    fn int(values: impl Iterator<Item = i64>) -> ElemFormat {
        let (lo, hi) = values.fold((i64::MAX, i64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
        ElemFormat::Int(lo.to_string().len().max(hi.to_string().len()))
    }

    fn format(&self, s: Scalar) -> String {
        match (self, s) {
            // NumPy pads `True` so that columns of booleans line up.
            (ElemFormat::Bool, Scalar::Bool(b)) => if b { " True" } else { "False" }.to_string(),
            (ElemFormat::Int(w), s) => format!("{:>w$}", s.as_i64(), w = *w),
            (ElemFormat::Float(f), Scalar::F32(v)) => f.format(v),
            (ElemFormat::Float(f), Scalar::F64(v)) => f.format(v),
            // The format is chosen from the array's own dtype, so these do not occur.
            (_, s) => format_scalar(s),
        }
    }
}

/// `_formatArray`: nested brackets, one row of the last axis per line (wrapped at the
/// line width), blank lines between blocks of higher axes.
struct Printer<'a> {
    a: &'a Array,
    shape: &'a [usize],
    strides: &'a [usize],
    summarise: bool,
    elem: ElemFormat,
}

impl Printer<'_> {
    fn recurse(&self, axis: usize, offset: usize, hanging_indent: &str, width: isize) -> String {
        let axes_left = self.shape.len() - axis;
        if axes_left == 0 {
            return self
                .a
                .get_flat(offset)
                .map_or_else(String::new, |s| self.elem.format(s));
        }
        let next_indent = format!("{hanging_indent} ");
        // Each nesting level adds a closing bracket at the end of its last line.
        let next_width = width - 1;
        let n = self.shape[axis];
        let stride = self.strides[axis];
        let indices = shown(n, self.summarise);
        let summary_at = (indices.len() < n).then_some(EDGE_ITEMS);
        let mut s = String::new();
        if axes_left == 1 {
            let elem_width = width - 1;
            let mut line = hanging_indent.to_string();
            for (k, &i) in indices.iter().enumerate() {
                if summary_at == Some(k) {
                    extend_line(&mut s, &mut line, "...", elem_width, hanging_indent);
                    line.push(' ');
                }
                let word = self.recurse(axis + 1, offset + i * stride, &next_indent, next_width);
                extend_line(&mut s, &mut line, &word, elem_width, hanging_indent);
                if k + 1 < indices.len() {
                    line.push(' ');
                }
            }
            s.push_str(&line);
        } else {
            let line_sep = "\n".repeat(axes_left - 1);
            for (k, &i) in indices.iter().enumerate() {
                if summary_at == Some(k) {
                    let _ = write!(s, "{hanging_indent}...{line_sep}");
                }
                let nested = self.recurse(axis + 1, offset + i * stride, &next_indent, next_width);
                s.push_str(hanging_indent);
                s.push_str(&nested);
                if k + 1 < indices.len() {
                    s.push_str(&line_sep);
                }
            }
        }
        format!("[{}]", s.strip_prefix(hanging_indent).unwrap_or(&s))
    }
}

/// `_extendLine`: starts a new line when `word` would overflow, unless the line is
/// still empty (wrapping would not help).
fn extend_line(s: &mut String, line: &mut String, word: &str, width: isize, indent: &str) {
    let too_long = (line.len() + word.len()) as isize > width;
    if too_long && line.len() > indent.len() {
        s.push_str(line.trim_end());
        s.push('\n');
        *line = indent.to_string();
    }
    line.push_str(word);
}

/// The float types, with the few constants where NumPy treats them differently.
trait NpFloat: Copy + PartialOrd + std::fmt::LowerExp {
    /// `str()` of a scalar of this type uses scientific notation from this magnitude
    /// (NumPy 2 uses 1e16 for float64 but 1e6 for float32).
    const SCALAR_SCI_FROM: f64;
    /// An array switches to scientific notation when its largest magnitude reaches
    /// this: `10**min(8, finfo(dtype).precision)` since NumPy 2.3.
    const ARRAY_SCI_FROM: f64;
    fn from_f64(v: f64) -> Self;
    fn to_f64(self) -> f64;
    fn abs(self) -> Self;
    fn div(self, other: Self) -> Self;
    /// Whether the decimal `s` reads back as exactly `|self|` in this type.
    fn reads_back(self, s: &str) -> bool;
}

impl NpFloat for f64 {
    const SCALAR_SCI_FROM: f64 = 1e16;
    const ARRAY_SCI_FROM: f64 = 1e8;
    fn from_f64(v: f64) -> f64 {
        v
    }
    fn to_f64(self) -> f64 {
        self
    }
    fn abs(self) -> f64 {
        f64::abs(self)
    }
    fn div(self, other: f64) -> f64 {
        self / other
    }
    fn reads_back(self, s: &str) -> bool {
        s.parse::<f64>() == Ok(self.abs())
    }
}

impl NpFloat for f32 {
    const SCALAR_SCI_FROM: f64 = 1e6;
    const ARRAY_SCI_FROM: f64 = 1e6;
    fn from_f64(v: f64) -> f32 {
        v as f32
    }
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
    fn abs(self) -> f32 {
        f32::abs(self)
    }
    fn div(self, other: f32) -> f32 {
        self / other
    }
    fn reads_back(self, s: &str) -> bool {
        s.parse::<f32>() == Ok(self.abs())
    }
}

/// `FloatingFormat`: one layout shared by all elements of an array.
struct FloatFormat {
    exp_format: bool,
    /// Width of the integer part, sign included.
    pad_left: usize,
    /// Width of what follows the point: fractional digits, and the exponent in
    /// scientific notation.
    pad_right: usize,
    /// Scientific notation: fractional digits of every mantissa.
    precision: usize,
    /// Scientific notation: digits of every exponent.
    exp_digits: usize,
}

impl FloatFormat {
    /// `FloatingFormat.fillFormat`, from the elements that will be shown.
    fn new<T: NpFloat>(values: &[T]) -> FloatFormat {
        let finite: Vec<T> = values
            .iter()
            .copied()
            .filter(|v| v.to_f64().is_finite())
            .collect();
        let nonzero = finite.iter().map(|v| v.abs()).filter(|v| v.to_f64() != 0.0);
        // Compared in the array's own type, as NumPy does: float32 1e-4 is just below
        // the float64 1e-4.
        let min_max = nonzero.fold(None, |acc: Option<(T, T)>, v| match acc {
            None => Some((v, v)),
            Some((lo, hi)) => Some((if v < lo { v } else { lo }, if v > hi { v } else { hi })),
        });
        let exp_format = min_max.is_some_and(|(lo, hi)| {
            hi >= T::from_f64(T::ARRAY_SCI_FROM)
                || lo < T::from_f64(1e-4)
                || hi.div(lo) > T::from_f64(1000.0)
        });
        let mut f = FloatFormat {
            exp_format,
            pad_left: 0,
            pad_right: 0,
            precision: 0,
            exp_digits: 0,
        };
        if exp_format {
            for &v in &finite {
                let d = dragon4(v, Notation::Scientific, Some(PRECISION), 0);
                f.pad_left = f.pad_left.max(1 + usize::from(is_negative(v)));
                f.precision = f.precision.max(d.digits.len() - 1);
                f.exp_digits = f.exp_digits.max(exponent_digits(d.exp));
            }
            f.pad_right = f.exp_digits + 2 + f.precision;
        } else {
            for &v in &finite {
                let (int, frac) = dragon4(v, Notation::Positional, Some(PRECISION), 0).positional();
                f.pad_left = f.pad_left.max(int.len() + usize::from(is_negative(v)));
                f.pad_right = f.pad_right.max(frac.len());
            }
        }
        // Room for `nan`, `inf`, `-inf`, which replace the integer part, point and
        // fraction together.
        if finite.len() < values.len() {
            let neg_inf = values
                .iter()
                .any(|v| v.to_f64().is_infinite() && v.to_f64() < 0.0);
            let non_finite = 3 + usize::from(neg_inf);
            f.pad_left = f.pad_left.max(non_finite.saturating_sub(f.pad_right + 1));
        }
        f
    }

    fn format<T: NpFloat>(&self, v: T) -> String {
        let x = v.to_f64();
        let width = self.pad_left + self.pad_right + 1;
        if !x.is_finite() {
            let word = if x.is_nan() {
                "nan"
            } else if x < 0.0 {
                "-inf"
            } else {
                "inf"
            };
            return format!("{word:>width$}");
        }
        let sign = if is_negative(v) { "-" } else { "" };
        if self.exp_format {
            // Every mantissa gets exactly `precision` digits, the true digits of the
            // value rather than zero padding where the shortest form is shorter.
            let d = dragon4(
                v,
                Notation::Scientific,
                Some(self.precision),
                self.precision,
            );
            let mantissa = format!("{sign}{}", d.digits[0]);
            let frac = digit_str(&d.digits[1..]);
            format!(
                "{mantissa:>pl$}.{frac:0<prec$}e{}{:0>ed$}",
                if d.exp < 0 { '-' } else { '+' },
                d.exp.unsigned_abs(),
                pl = self.pad_left,
                prec = self.precision,
                ed = self.exp_digits,
            )
        } else {
            let (int, frac) = dragon4(v, Notation::Positional, Some(PRECISION), 0).positional();
            let int = format!("{sign}{int}");
            format!(
                "{int:>pl$}.{frac:<pr$}",
                pl = self.pad_left,
                pr = self.pad_right
            )
        }
    }
}

/// NumPy's `str` of a float scalar: the shortest digits that round-trip, positional
/// with at least one fractional digit (`1.0`) for moderate magnitudes, otherwise
/// scientific without a bare point (`1e+16`, `1.5e-05`).
fn float_scalar_str<T: NpFloat>(v: T) -> String {
    let x = v.to_f64();
    if x.is_nan() {
        return "nan".into();
    }
    if x.is_infinite() {
        return if x < 0.0 { "-inf" } else { "inf" }.into();
    }
    let sign = if is_negative(v) { "-" } else { "" };
    let a = x.abs();
    if a == 0.0 || (1e-4..T::SCALAR_SCI_FROM).contains(&a) {
        let (int, frac) = dragon4(v, Notation::Positional, None, 0).positional();
        let frac = if frac.is_empty() { "0" } else { &frac };
        format!("{sign}{int}.{frac}")
    } else {
        let d = dragon4(v, Notation::Scientific, None, 0);
        let frac = digit_str(&d.digits[1..]);
        let point = if frac.is_empty() { "" } else { "." };
        format!(
            "{sign}{}{point}{frac}e{}{:02}",
            d.digits[0],
            if d.exp < 0 { '-' } else { '+' },
            d.exp.unsigned_abs()
        )
    }
}

fn is_negative<T: NpFloat>(v: T) -> bool {
    // The sign bit, so that -0.0 prints as `-0.` as in NumPy.
    v.to_f64().is_sign_negative()
}

/// Digits NumPy prints for an exponent: at least two.
fn exponent_digits(exp: i32) -> usize {
    exp.unsigned_abs().to_string().len().max(2)
}

fn digit_str(digits: &[u8]) -> String {
    digits.iter().map(|&d| char::from(b'0' + d)).collect()
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Notation {
    Positional,
    Scientific,
}

/// A non-negative decimal `d0.d1d2… × 10^exp`, without trailing zeros (`[0]` for zero).
#[derive(Debug)]
struct Decimal {
    digits: Vec<u8>,
    exp: i32,
}

impl Decimal {
    /// Integer and fractional digits in positional notation, padding the integer part
    /// with zeros when the digits end before the point (1e20 has one digit).
    fn positional(&self) -> (String, String) {
        let digits = digit_str(&self.digits);
        if self.exp >= 0 {
            let int_len = self.exp as usize + 1;
            if digits.len() <= int_len {
                (format!("{digits:0<int_len$}"), String::new())
            } else {
                (digits[..int_len].to_string(), digits[int_len..].to_string())
            }
        } else {
            let zeros = "0".repeat(self.exp.unsigned_abs() as usize - 1);
            ("0".to_string(), format!("{zeros}{digits}"))
        }
    }

    fn reads_back<T: NpFloat>(&self, v: T) -> bool {
        v.reads_back(&format!("0.{}e{}", digit_str(&self.digits), self.exp + 1))
    }

    fn trimmed(mut self) -> Decimal {
        while self.digits.len() > 1 && self.digits.last() == Some(&0) {
            self.digits.pop();
        }
        self
    }
}

/// The exact decimal expansion of a finite `|x|`. Every binary fraction terminates in
/// decimal: `m·2^-q` has `q` fractional digits, so printing that many is exact.
fn exact_decimal(x: f64) -> Decimal {
    let x = x.abs();
    // Callers print NaN and infinities themselves; zero digits keep this total.
    if x == 0.0 || !x.is_finite() {
        return Decimal {
            digits: vec![0],
            exp: 0,
        };
    }
    let bits = x.to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i32;
    let mut mantissa = bits & ((1u64 << 52) - 1);
    let mut q = if biased == 0 {
        -1074
    } else {
        mantissa |= 1 << 52;
        biased - 1075
    };
    while mantissa & 1 == 0 && mantissa != 0 {
        mantissa >>= 1;
        q += 1;
    }
    let places = q.min(0).unsigned_abs() as usize;
    let s = format!("{x:.places$}");
    let (int, frac) = s.split_once('.').unwrap_or((&s, ""));
    let int = int.trim_start_matches('0');
    let (digits, exp) = if int.is_empty() {
        let significant = frac.trim_start_matches('0');
        let zeros = frac.len() - significant.len();
        (significant.to_string(), -(zeros as i32) - 1)
    } else {
        (format!("{int}{frac}"), int.len() as i32 - 1)
    };
    Decimal {
        digits: digits.bytes().map(|b| b - b'0').collect(),
        exp,
    }
    .trimmed()
}

/// NumPy's Dragon4 in "unique" digit mode (`dragon4_positional`/`dragon4_scientific`
/// with `unique=True`), reproduced on the exact decimal expansion of `v`.
///
/// Digits are generated from the leading one. Generation stops at the first digit
/// where truncating (`low`) or rounding up (`high`) already reads back as `v`, but not
/// before `min_digits` (fractional digits, or mantissa digits in scientific notation)
/// and never after `precision`. The last digit then goes whichever way reads back; if
/// both or neither do, to the nearer one, ties to even. So unique values print their
/// shortest form, and a value cut off or extended by the precision prints its true
/// digits correctly rounded.
fn dragon4<T: NpFloat>(
    v: T,
    notation: Notation,
    precision: Option<usize>,
    min_digits: usize,
) -> Decimal {
    let exact = exact_decimal(v.to_f64());
    if exact.digits == [0] {
        return exact;
    }
    let lead = exact.exp;
    let place = |n: usize| -> i32 {
        let n = i32::try_from(n).unwrap_or(i32::MAX);
        match notation {
            Notation::Scientific => lead.saturating_sub(n),
            Notation::Positional => n.saturating_neg(),
        }
    };
    // The place of the last digit allowed, and the place generation must reach. At
    // least the leading digit is generated: NumPy prints positionally with a precision
    // only values of at least 1e-4, whose leading digit comes before any cutoff.
    let last_allowed = precision.map(|p| place(p).min(lead));
    let must_reach = match (notation, min_digits) {
        (Notation::Positional, 0) => i32::MAX,
        _ => place(min_digits),
    };
    // No digit before the shortest round-tripping length can stop generation, so start
    // there (Rust's `{:e}` gives that length; a shortest form that rounded up to the
    // next power of ten starts one place later than the exact value).
    let shortest = format!("{:e}", v.abs());
    let (mantissa, exp) = shortest.split_once('e').unwrap_or((&shortest, "0"));
    let shortest_len = mantissa.bytes().filter(u8::is_ascii_digit).count() as i32;
    let shift = exp.parse::<i32>().unwrap_or(lead).saturating_sub(lead);
    let mut last = lead - (shortest_len - shift - 1).max(0);
    if let Some(allowed) = last_allowed {
        last = last.max(allowed);
    }
    loop {
        let n = usize::try_from(lead - last + 1).unwrap_or(usize::MAX);
        let mut down: Vec<u8> = exact.digits.iter().copied().take(n).collect();
        down.resize(n, 0);
        let down = Decimal {
            digits: down,
            exp: lead,
        };
        let up = round_up(&down);
        let low = down.reads_back(v);
        let high = up.reads_back(v);
        if ((low || high) && last <= must_reach) || last_allowed == Some(last) {
            let take_up = if low != high {
                high
            } else {
                let rest = exact.digits.get(n..).unwrap_or(&[]);
                match rest.first().copied().unwrap_or(0).cmp(&5) {
                    std::cmp::Ordering::Greater => true,
                    std::cmp::Ordering::Less => false,
                    std::cmp::Ordering::Equal if rest.len() > 1 => true,
                    std::cmp::Ordering::Equal => down.digits.last().is_some_and(|d| d % 2 == 1),
                }
            };
            return if take_up { up } else { down }.trimmed();
        }
        last -= 1;
    }
}

/// `d` plus one unit in its last digit, carrying (9.99 becomes 1.00 × 10).
fn round_up(d: &Decimal) -> Decimal {
    let mut digits = d.digits.clone();
    for i in (0..digits.len()).rev() {
        if digits[i] == 9 {
            digits[i] = 0;
        } else {
            digits[i] += 1;
            return Decimal { digits, exp: d.exp };
        }
    }
    digits.insert(0, 1);
    digits.pop();
    Decimal {
        digits,
        exp: d.exp + 1,
    }
}
