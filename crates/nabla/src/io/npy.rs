//! `.npy` files (NumPy's binary array format) read into and written from [`Array`].
//!
//! Element decoding and the whole writer come from `npyz`. The header, though, is
//! parsed here, strictly and with bounded work, before `npyz` sees any data: `npyz`
//! trusts the header it parses, so a hostile shape overflows its element count (a panic
//! in debug builds), a hostile header length makes it allocate up to 4 GiB up front, and
//! deeply nested brackets recurse without limit in its Python-literal parser.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;

use nabla_ir::array::check_alloc;
use nabla_ir::{Array, DType, Data};
use npyz::{TypeChar, TypeRead, TypeStr, WriterBuilder};

use super::{IoError, IoErrorKind};

/// The dtypes Nabla reads and writes, as the messages and hints list them.
pub(crate) const SUPPORTED_DTYPES: &str = "bool ('|b1'), int32 ('<i4'), int64 ('<i8'), \
     uint32 ('<u4'), float32 ('<f4') or float64 ('<f8')";

const MAGIC: &[u8; 6] = b"\x93NUMPY";

/// NumPy refuses longer headers by default (`max_header_size`) because parsing them is
/// not safe for untrusted files; a real header for even a 32-dimensional array is a few
/// hundred bytes.
const MAX_HEADER_LEN: usize = 10_000;

/// A valid header nests two levels (dict, shape tuple); structured dtypes a few more.
/// The bound keeps the recursive parser's stack use small.
const MAX_NESTING: usize = 16;

/// Reads a `.npy` file. Big-endian data and Fortran-order files are converted; dtypes
/// other than bool, int32, int64, uint32, float32 and float64 are refused.
pub fn read_npy(path: &Path) -> Result<Array, IoError> {
    let file = File::open(path).map_err(|e| IoError::from_os(&e, path, "open the file"))?;
    let len = file
        .metadata()
        .map_err(|e| IoError::from_os(&e, path, "read the file"))?
        .len();
    read_from(BufReader::new(file), len).map_err(|e| e.with_path(path))
}

/// Reads a `.npy` file held in memory (tests, embedders with their own storage).
pub fn read_npy_bytes(bytes: &[u8]) -> Result<Array, IoError> {
    read_from(bytes, bytes.len() as u64)
}

/// Writes `a` as a version 1.0 `.npy` file, little-endian and C order, which every
/// NumPy version reads.
pub fn write_npy(path: &Path, a: &Array) -> Result<(), IoError> {
    let file = File::create(path).map_err(|e| IoError::from_os(&e, path, "write the file"))?;
    let mut out = BufWriter::new(file);
    write_to(&mut out, a)
        .and_then(|()| out.flush())
        .map_err(|e| IoError::from_os(&e, path, "write the file"))
}

/// The bytes of the `.npy` file [`write_npy`] would write.
pub fn write_npy_bytes(a: &Array) -> Vec<u8> {
    let mut buf = Vec::new();
    // Invariant: the dtype handed to npyz always matches the element type written (see
    // `write_to`), so the only possible failure is the sink's, and a Vec never fails.
    write_to(&mut buf, a).expect("writing .npy data to a Vec cannot fail");
    buf
}

fn write_to<W: Write>(out: W, a: &Array) -> std::io::Result<()> {
    let shape: Vec<u64> = a.shape().iter().map(|&d| d as u64).collect();
    match a.data() {
        Data::Bool(v) => write_typed(out, "|b1", &shape, v),
        Data::I32(v) => write_typed(out, "<i4", &shape, v),
        Data::I64(v) => write_typed(out, "<i8", &shape, v),
        Data::U32(v) => write_typed(out, "<u4", &shape, v),
        Data::F32(v) => write_typed(out, "<f4", &shape, v),
        Data::F64(v) => write_typed(out, "<f8", &shape, v),
    }
}

/// Writes with an explicit little-endian type string rather than npyz's native-endian
/// default, so files are the same on every machine.
fn write_typed<T: npyz::Serialize + Copy, W: Write>(
    out: W,
    type_str: &str,
    shape: &[u64],
    values: &[T],
) -> std::io::Result<()> {
    let ts: TypeStr = type_str
        .parse()
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let mut w = npyz::WriteOptions::<T>::new()
        .dtype(npyz::DType::Plain(ts))
        .shape(shape)
        .writer(out)
        .begin_nd()?;
    w.extend(values.iter().copied())?;
    w.finish()
}

fn bad(message: impl Into<String>) -> IoError {
    IoError::new(IoErrorKind::BadNpy, message)
}

/// What the header says, validated: the element count fits in memory.
struct Header {
    dtype: DType,
    type_str: TypeStr,
    shape: Vec<usize>,
    fortran_order: bool,
    /// Bytes from the start of the file to the first element.
    data_offset: u64,
}

/// Reads a whole `.npy` file from `r`, which holds `total` bytes in all (known up front
/// so that a header promising more data than exists is refused before allocating).
fn read_from(mut r: impl Read, total: u64) -> Result<Array, IoError> {
    let header = read_header(&mut r, total)?;
    let n = header.shape.iter().product::<usize>();
    let need = n as u64 * header.dtype.size_bytes() as u64;
    let have = total.saturating_sub(header.data_offset);
    if have < need {
        return Err(bad(format!(
            "the file is truncated: shape {} of {} needs {need} bytes of data but only {have} \
             follow the header",
            shape_str(&header.shape),
            numpy_name(&header.type_str),
        )));
    }
    // Bytes after the data are ignored, as NumPy does: several arrays saved one after
    // another to one open file is a known pattern, and `np.load` reads the first.
    let npy_dtype = npyz::DType::Plain(header.type_str.clone());
    let data = match header.dtype {
        DType::Bool => Data::Bool(decode(&mut r, &npy_dtype, n)?),
        DType::I32 => Data::I32(decode(&mut r, &npy_dtype, n)?),
        DType::I64 => Data::I64(decode(&mut r, &npy_dtype, n)?),
        DType::U32 => Data::U32(decode(&mut r, &npy_dtype, n)?),
        DType::F32 => Data::F32(decode(&mut r, &npy_dtype, n)?),
        DType::F64 => Data::F64(decode(&mut r, &npy_dtype, n)?),
    };
    let data = if header.fortran_order {
        fortran_to_c(data, &header.shape)
    } else {
        data
    };
    Array::new(header.shape, data).map_err(|e| bad(format!("internal: {e}")))
}

fn decode<T: npyz::Deserialize>(
    r: &mut impl Read,
    dtype: &npyz::DType,
    n: usize,
) -> Result<Vec<T>, IoError> {
    let reader = T::reader(dtype).map_err(|e| bad(format!("cannot decode the data: {e}")))?;
    // `n` elements were checked to be present in the file, so this reserves no more
    // than the file's own size.
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let x = reader.read_one(&mut *r).map_err(|e| match e.kind() {
            std::io::ErrorKind::UnexpectedEof => bad(format!(
                "the file is truncated: it ends at element {i} of {n}"
            )),
            _ => bad(format!("element {i} cannot be decoded: {e}")),
        })?;
        out.push(x);
    }
    Ok(out)
}

/// Reorders Fortran-order (first index fastest) elements into Nabla's row-major order.
fn fortran_to_c(data: Data, shape: &[usize]) -> Data {
    fn reorder<T: Copy>(v: Vec<T>, shape: &[usize]) -> Vec<T> {
        let rank = shape.len();
        if rank < 2 || v.is_empty() {
            return v;
        }
        let mut f_strides = vec![1usize; rank];
        for ax in 1..rank {
            f_strides[ax] = f_strides[ax - 1] * shape[ax - 1];
        }
        // Walk the row-major index like an odometer, keeping the Fortran offset in step.
        let mut index = vec![0usize; rank];
        let mut offset = 0usize;
        let mut out = Vec::with_capacity(v.len());
        for _ in 0..v.len() {
            // Invariant: `offset` is the Fortran offset of an in-bounds index, < v.len().
            out.push(v[offset]);
            for ax in (0..rank).rev() {
                index[ax] += 1;
                offset += f_strides[ax];
                if index[ax] < shape[ax] {
                    break;
                }
                offset -= f_strides[ax] * shape[ax];
                index[ax] = 0;
            }
        }
        out
    }
    match data {
        Data::Bool(v) => Data::Bool(reorder(v, shape)),
        Data::I32(v) => Data::I32(reorder(v, shape)),
        Data::I64(v) => Data::I64(reorder(v, shape)),
        Data::U32(v) => Data::U32(reorder(v, shape)),
        Data::F32(v) => Data::F32(reorder(v, shape)),
        Data::F64(v) => Data::F64(reorder(v, shape)),
    }
}

fn read_header(r: &mut impl Read, total: u64) -> Result<Header, IoError> {
    let truncated = || bad("the file is truncated: it ends inside the .npy header");
    let mut prefix = [0u8; 8];
    if total < 8 {
        return Err(if total == 0 {
            bad("the file is empty, not a .npy file")
        } else {
            bad("not a .npy file: it is too short to hold the .npy signature")
        });
    }
    r.read_exact(&mut prefix).map_err(|_| truncated())?;
    if &prefix[..6] != MAGIC {
        return Err(if prefix.starts_with(b"PK\x03\x04") {
            bad(
                "this is a .npz archive (several arrays zipped together), not a .npy file; \
                 save the array you need on its own with `np.save`",
            )
        } else {
            bad("not a .npy file: it does not start with the .npy signature `\\x93NUMPY`")
        });
    }
    let version = (prefix[6], prefix[7]);
    let (len_bytes, utf8) = match version {
        (1, 0) => (2, false),
        (2, 0) => (4, false),
        (3, 0) => (4, true),
        (major, minor) => {
            return Err(bad(format!(
                "unsupported .npy format version {major}.{minor} (Nabla reads versions 1.0, \
                 2.0 and 3.0)"
            )))
        }
    };
    let mut len_buf = [0u8; 4];
    r.read_exact(&mut len_buf[..len_bytes])
        .map_err(|_| truncated())?;
    let header_len = u32::from_le_bytes(len_buf) as usize;
    let data_offset = 8 + len_bytes as u64 + header_len as u64;
    if header_len > MAX_HEADER_LEN {
        return Err(bad(format!(
            "the header is {header_len} bytes long; headers over {MAX_HEADER_LEN} bytes are \
             refused (as NumPy does) because no valid array needs one"
        )));
    }
    if data_offset > total {
        return Err(truncated());
    }
    let mut raw = vec![0u8; header_len];
    r.read_exact(&mut raw).map_err(|_| truncated())?;
    let text = if utf8 {
        String::from_utf8(raw).map_err(|_| bad("the header is not valid UTF-8"))?
    } else {
        // Versions 1 and 2 are latin-1, where every byte is the code point of that value.
        raw.iter().map(|&b| char::from(b)).collect()
    };
    let dict = Parser::new(&text).parse_header()?;
    interpret(dict, &text, data_offset)
}

fn interpret(dict: Vec<(String, Lit)>, text: &str, data_offset: u64) -> Result<Header, IoError> {
    let mut descr = None;
    let mut fortran = None;
    let mut shape = None;
    for (key, value) in dict {
        let slot = match key.as_str() {
            "descr" => &mut descr,
            "fortran_order" => &mut fortran,
            "shape" => &mut shape,
            _ => {
                return Err(bad(format!(
                    "the header has an unexpected entry '{key}' (a .npy header has exactly \
                     'descr', 'fortran_order' and 'shape'): {}",
                    excerpt(text)
                )))
            }
        };
        if slot.replace(value).is_some() {
            return Err(bad(format!(
                "the header has two '{key}' entries: {}",
                excerpt(text)
            )));
        }
    }
    let missing = |key: &str| {
        bad(format!(
            "the header has no '{key}' entry: {}",
            excerpt(text)
        ))
    };
    let descr = descr.ok_or_else(|| missing("descr"))?;
    let fortran = fortran.ok_or_else(|| missing("fortran_order"))?;
    let shape = shape.ok_or_else(|| missing("shape"))?;

    let fortran_order = match fortran {
        Lit::Bool(b) => b,
        _ => return Err(bad("the header's 'fortran_order' is not True or False")),
    };
    let shape = match shape {
        Lit::Seq(dims) => dims
            .iter()
            .map(|d| match d {
                Lit::Int(v) => usize::try_from(*v).map_err(|_| {
                    bad(format!(
                        "the header's shape has an invalid dimension {v}: {}",
                        excerpt(text)
                    ))
                }),
                _ => Err(bad(format!(
                    "the header's shape is not a tuple of integers: {}",
                    excerpt(text)
                ))),
            })
            .collect::<Result<Vec<usize>, IoError>>()?,
        _ => {
            return Err(bad(format!(
                "the header's shape is not a tuple of integers: {}",
                excerpt(text)
            )))
        }
    };
    let type_str = match descr {
        Lit::Str(s) => s.parse::<TypeStr>().map_err(|e| {
            bad(format!(
                "the header's dtype '{s}' is not a valid NumPy type string ({e})"
            ))
        })?,
        Lit::Seq(_) => {
            return Err(bad(format!(
                "unsupported dtype: the file holds a structured array (records with named \
                 fields); Nabla reads plain arrays of {SUPPORTED_DTYPES}"
            )))
        }
        _ => return Err(bad("the header's 'descr' is not a dtype string")),
    };
    let dtype = nabla_dtype(&type_str).ok_or_else(|| {
        bad(format!(
            "unsupported dtype '{type_str}' ({}); Nabla reads {SUPPORTED_DTYPES}, in either \
             byte order",
            numpy_name(&type_str)
        ))
    })?;
    // Checked before anything is allocated or multiplied elsewhere: the product must not
    // overflow and the array must be allocatable.
    if shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .is_none()
    {
        return Err(bad(format!(
            "the header's shape {} has more elements than can exist",
            shape_str(&shape)
        )));
    }
    check_alloc(&shape, dtype).map_err(|e| bad(e.to_string()))?;
    Ok(Header {
        dtype,
        type_str,
        shape,
        fortran_order,
        data_offset,
    })
}

fn nabla_dtype(ts: &TypeStr) -> Option<DType> {
    match (ts.type_char(), ts.size_field()) {
        (TypeChar::Bool, 1) => Some(DType::Bool),
        (TypeChar::Int, 4) => Some(DType::I32),
        (TypeChar::Int, 8) => Some(DType::I64),
        (TypeChar::Uint, 4) => Some(DType::U32),
        (TypeChar::Float, 4) => Some(DType::F32),
        (TypeChar::Float, 8) => Some(DType::F64),
        _ => None,
    }
}

/// The name NumPy users know a type string by (`<i2` is `int16`).
fn numpy_name(ts: &TypeStr) -> String {
    let bits = ts.size_field().saturating_mul(8);
    match ts.type_char() {
        TypeChar::Bool => "bool".into(),
        TypeChar::Int => format!("int{bits}"),
        TypeChar::Uint => format!("uint{bits}"),
        TypeChar::Float => format!("float{bits}"),
        TypeChar::Complex => format!("complex{bits}"),
        TypeChar::TimeDelta => "timedelta64".into(),
        TypeChar::DateTime => "datetime64".into(),
        TypeChar::ByteStr => "bytes".into(),
        TypeChar::UnicodeStr => "str".into(),
        TypeChar::Object => "object, i.e. pickled Python objects".into(),
        TypeChar::RawData => "void, i.e. raw bytes".into(),
        _ => "an unknown kind".into(),
    }
}

fn shape_str(shape: &[usize]) -> String {
    match shape {
        [d] => format!("({d},)"),
        _ => {
            let dims: Vec<String> = shape.iter().map(ToString::to_string).collect();
            format!("({})", dims.join(", "))
        }
    }
}

/// The header text for a message, shortened so a garbage header cannot flood it.
fn excerpt(text: &str) -> String {
    let t = text.trim_end();
    let mut s: String = t.chars().take(120).collect();
    if s.len() < t.len() {
        s.push('…');
    }
    format!("`{}`", s.escape_debug())
}

/// A Python literal, as far as `.npy` headers use them.
#[derive(Debug)]
enum Lit {
    Str(String),
    Bool(bool),
    None,
    Int(i128),
    /// A tuple or a list.
    Seq(Vec<Lit>),
    Dict(Vec<(Lit, Lit)>),
}

/// A recursive-descent parser for the Python dict literal of a `.npy` header.
struct Parser<'a> {
    text: &'a str,
    pos: usize,
    depth: usize,
}

impl<'a> Parser<'a> {
    fn new(text: &'a str) -> Parser<'a> {
        Parser {
            text,
            pos: 0,
            depth: 0,
        }
    }

    fn error(&self, what: &str) -> IoError {
        bad(format!(
            "the header is malformed ({what} at byte {}): {}",
            self.pos,
            excerpt(self.text)
        ))
    }

    fn peek(&self) -> Option<char> {
        self.text[self.pos..].chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(' ' | '\t' | '\n' | '\r')) {
            self.pos += 1;
        }
    }

    fn eat(&mut self, c: char) -> bool {
        self.skip_ws();
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// The header: one dict with string keys, then only padding.
    fn parse_header(mut self) -> Result<Vec<(String, Lit)>, IoError> {
        self.skip_ws();
        if self.peek() != Some('{') {
            return Err(self.error("expected a `{` dictionary"));
        }
        let Lit::Dict(entries) = self.value()? else {
            return Err(self.error("expected a dictionary"));
        };
        self.skip_ws();
        if self.pos != self.text.len() {
            return Err(self.error("unexpected text after the dictionary"));
        }
        entries
            .into_iter()
            .map(|(k, v)| match k {
                Lit::Str(k) => Ok((k, v)),
                _ => Err(self.error("a dictionary key that is not a string")),
            })
            .collect()
    }

    fn value(&mut self) -> Result<Lit, IoError> {
        self.skip_ws();
        match self.peek() {
            Some('{') => self.nested('}', true),
            Some('(') => self.nested(')', false),
            Some('[') => self.nested(']', false),
            Some('\'' | '"') => self.string(),
            Some(c) if c.is_ascii_digit() || c == '-' || c == '+' => self.int(),
            Some(c) if c.is_ascii_alphabetic() || c == '_' => self.word(),
            Some(_) => Err(self.error("unexpected character")),
            None => Err(self.error("unexpected end")),
        }
    }

    /// A dict, tuple or list; the caller has seen the opening bracket.
    fn nested(&mut self, close: char, dict: bool) -> Result<Lit, IoError> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return Err(self.error("brackets nested too deeply"));
        }
        self.pos += 1;
        let mut items = Vec::new();
        let mut entries = Vec::new();
        // Python allows a trailing comma; `(3)` without one is just 3, but NumPy always
        // writes `(3,)`, so a parenthesised single value is accepted as a tuple too.
        while !self.eat(close) {
            let v = self.value()?;
            if dict {
                if !self.eat(':') {
                    return Err(self.error("expected `:`"));
                }
                entries.push((v, self.value()?));
            } else {
                items.push(v);
            }
            if !self.eat(',') {
                if self.eat(close) {
                    break;
                }
                return Err(self.error(&format!("expected `,` or `{close}`")));
            }
        }
        self.depth -= 1;
        Ok(if dict {
            Lit::Dict(entries)
        } else {
            Lit::Seq(items)
        })
    }

    fn string(&mut self) -> Result<Lit, IoError> {
        let Some(quote) = self.bump() else {
            return Err(self.error("unexpected end"));
        };
        let mut s = String::new();
        loop {
            match self.bump() {
                None | Some('\n') => return Err(self.error("unterminated string")),
                Some(c) if c == quote => return Ok(Lit::Str(s)),
                Some('\\') => match self.bump() {
                    None => return Err(self.error("unterminated string")),
                    Some('n') => s.push('\n'),
                    Some('t') => s.push('\t'),
                    Some('r') => s.push('\r'),
                    Some('0') => s.push('\0'),
                    // Other escapes (\xNN, \u…) do not occur in dtype strings or the
                    // field names worth reporting; keeping the character is enough.
                    Some(c) => s.push(c),
                },
                Some(c) => s.push(c),
            }
        }
    }

    fn int(&mut self) -> Result<Lit, IoError> {
        let start = self.pos;
        if matches!(self.peek(), Some('-' | '+')) {
            self.pos += 1;
        }
        while matches!(self.peek(), Some(c) if c.is_ascii_digit()) {
            self.pos += 1;
        }
        let digits = &self.text[start..self.pos];
        // Python 2 wrote long integers with an `L` suffix, as in `(3L, 4L)`.
        if matches!(self.peek(), Some('L' | 'l')) {
            self.pos += 1;
        }
        digits
            .parse::<i128>()
            .map(Lit::Int)
            .map_err(|_| self.error("a malformed or oversized integer"))
    }

    /// `True`, `False`, `None`, or a string prefix such as `u'…'`.
    fn word(&mut self) -> Result<Lit, IoError> {
        let start = self.pos;
        while matches!(self.peek(), Some(c) if c.is_ascii_alphanumeric() || c == '_') {
            self.pos += 1;
        }
        let word = &self.text[start..self.pos];
        match word {
            "True" => Ok(Lit::Bool(true)),
            "False" => Ok(Lit::Bool(false)),
            "None" => Ok(Lit::None),
            "u" | "b" | "U" | "B" if matches!(self.peek(), Some('\'' | '"')) => self.string(),
            _ => {
                self.pos = start;
                Err(self.error(&format!("unexpected name `{word}`")))
            }
        }
    }
}
