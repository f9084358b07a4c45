//! Tests of `nabla::io::npy`: files written by NumPy 2.4 (`np.save`, embedded below as
//! bytes) read back exactly; Nabla's files round-trip; unsupported dtypes and broken
//! files are errors, never panics.

use std::path::PathBuf;

use nabla::io::{read_npy, read_npy_bytes, write_npy, write_npy_bytes, IoErrorKind};
use nabla::{Array, Code, Data, Scalar, Span};
use proptest::prelude::*;

/// `np.save` of `array([ 1.5, -2. ,  nan])`
const F64_NAN: &[u8] = b"\x93NUMPY\x01\x00v\x00{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }                                                            \x0a\x00\x00\x00\x00\x00\x00\xf8?\x00\x00\x00\x00\x00\x00\x00\xc0\x00\x00\x00\x00\x00\x00\xf8\x7f";
/// `np.save` of `array([[0, 1, 2],        [3, 4, 5]], dtype='>i4')`
const I32_BIG_ENDIAN: &[u8] = b"\x93NUMPY\x01\x00v\x00{'descr': '>i4', 'fortran_order': False, 'shape': (2, 3), }                                                          \x0a\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x02\x00\x00\x00\x03\x00\x00\x00\x04\x00\x00\x00\x05";
/// `np.save` of `array([[0, 1, 2],        [3, 4, 5]])`
const I64_FORTRAN: &[u8] = b"\x93NUMPY\x01\x00v\x00{'descr': '<i8', 'fortran_order': True, 'shape': (2, 3), }                                                           \x0a\x00\x00\x00\x00\x00\x00\x00\x00\x03\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x04\x00\x00\x00\x00\x00\x00\x00\x02\x00\x00\x00\x00\x00\x00\x00\x05\x00\x00\x00\x00\x00\x00\x00";
/// `np.save` of `array([ True, False,  True])`
const BOOL: &[u8] = b"\x93NUMPY\x01\x00v\x00{'descr': '|b1', 'fortran_order': False, 'shape': (3,), }                                                            \x0a\x01\x00\x01";
/// `np.save` of `array(2.5, dtype=float32)`
const F32_SCALAR: &[u8] = b"\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': False, 'shape': (), }                                                              \x0a\x00\x00 @";
/// `np.save` of `array([         1, 4000000000], dtype=uint32)`
const U32: &[u8] = b"\x93NUMPY\x01\x00v\x00{'descr': '<u4', 'fortran_order': False, 'shape': (2,), }                                                            \x0a\x01\x00\x00\x00\x00(k\xee";
/// `np.save` of `array([], shape=(0, 3), dtype=float64)`
const F64_EMPTY_0X3: &[u8] = b"\x93NUMPY\x01\x00v\x00{'descr': '<f8', 'fortran_order': False, 'shape': (0, 3), }                                                          \x0a";
/// `np.save` of `array([[[ 0.,  1.,  2.,  3.],         [ 4.,  5.,  6.,  7.],         [ 8.,  9., 10., 11.]],         [[12., 13., 14., 15.],         [16., 17., 18., 19.],         [20., 21., 22., 23.]]], dtype='>f8')`
const F64_BIG_ENDIAN_FORTRAN_3D: &[u8] = b"\x93NUMPY\x01\x00v\x00{'descr': '>f8', 'fortran_order': True, 'shape': (2, 3, 4), }                                                        \x0a\x00\x00\x00\x00\x00\x00\x00\x00@(\x00\x00\x00\x00\x00\x00@\x10\x00\x00\x00\x00\x00\x00@0\x00\x00\x00\x00\x00\x00@ \x00\x00\x00\x00\x00\x00@4\x00\x00\x00\x00\x00\x00?\xf0\x00\x00\x00\x00\x00\x00@*\x00\x00\x00\x00\x00\x00@\x14\x00\x00\x00\x00\x00\x00@1\x00\x00\x00\x00\x00\x00@\"\x00\x00\x00\x00\x00\x00@5\x00\x00\x00\x00\x00\x00@\x00\x00\x00\x00\x00\x00\x00@,\x00\x00\x00\x00\x00\x00@\x18\x00\x00\x00\x00\x00\x00@2\x00\x00\x00\x00\x00\x00@$\x00\x00\x00\x00\x00\x00@6\x00\x00\x00\x00\x00\x00@\x08\x00\x00\x00\x00\x00\x00@.\x00\x00\x00\x00\x00\x00@\x1c\x00\x00\x00\x00\x00\x00@3\x00\x00\x00\x00\x00\x00@&\x00\x00\x00\x00\x00\x00@7\x00\x00\x00\x00\x00\x00";
/// `np.save` of `array([1, 2], dtype=int16)`
const I16: &[u8] = b"\x93NUMPY\x01\x00v\x00{'descr': '<i2', 'fortran_order': False, 'shape': (2,), }                                                            \x0a\x01\x00\x02\x00";
/// `np.save` of `array([0.+1.j])`
const C128: &[u8] = b"\x93NUMPY\x01\x00v\x00{'descr': '<c16', 'fortran_order': False, 'shape': (1,), }                                                           \x0a\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\xf0?";
/// `np.save` of `array(['ab'], dtype='<U2')`
const STR: &[u8] = b"\x93NUMPY\x01\x00v\x00{'descr': '<U2', 'fortran_order': False, 'shape': (1,), }                                                            \x0aa\x00\x00\x00b\x00\x00\x00";
/// `np.save` of `array([(0., 0), (0., 0)], dtype=[('x', '<f8'), ('y', '<i4')])`
const STRUCTURED: &[u8] = b"\x93NUMPY\x01\x00v\x00{'descr': [('x', '<f8'), ('y', '<i4')], 'fortran_order': False, 'shape': (2,), }                                     \x0a\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00";
/// `np.save` of `array([None, 1], dtype=object)`
const OBJECT: &[u8] = b"\x93NUMPY\x01\x00v\x00{'descr': '|O', 'fortran_order': False, 'shape': (2,), }                                                             \x0a\x80\x04\x95\x8d\x00\x00\x00\x00\x00\x00\x00\x8c\x16numpy._core.multiarray\x94\x8c\x0c_reconstruct\x94\x93\x94\x8c\x05numpy\x94\x8c\x07ndarray\x94\x93\x94K\x00\x85\x94C\x01b\x94\x87\x94R\x94(K\x01K\x02\x85\x94h\x03\x8c\x05dtype\x94\x93\x94\x8c\x02O8\x94\x89\x88\x87\x94R\x94(K\x03\x8c\x01|\x94NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK?t\x94b\x89]\x94(NK\x01et\x94b.";
/// `np.save` of `array(['2020-01-01'], dtype='datetime64[D]')`
const DATETIME: &[u8] = b"\x93NUMPY\x01\x00v\x00{'descr': '<M8[D]', 'fortran_order': False, 'shape': (1,), }                                                         \x0aVG\x00\x00\x00\x00\x00\x00";
/// `np.save` of `array([1], dtype=uint64)`
const U64: &[u8] = b"\x93NUMPY\x01\x00v\x00{'descr': '<u8', 'fortran_order': False, 'shape': (1,), }                                                            \x0a\x01\x00\x00\x00\x00\x00\x00\x00";
/// `np.lib.format.write_array(f, array([[1., 2.]]), version=(2, 0))`
const F64_V2: &[u8] = b"\x93NUMPY\x02\x00t\x00\x00\x00{'descr': '<f8', 'fortran_order': False, 'shape': (1, 2), }                                                        \x0a\x00\x00\x00\x00\x00\x00\xf0?\x00\x00\x00\x00\x00\x00\x00@";
/// `np.lib.format.write_array(f, array([[1., 2.]]), version=(3, 0))`
const F64_V3: &[u8] = b"\x93NUMPY\x03\x00t\x00\x00\x00{'descr': '<f8', 'fortran_order': False, 'shape': (1, 2), }                                                        \x0a\x00\x00\x00\x00\x00\x00\xf0?\x00\x00\x00\x00\x00\x00\x00@";

fn arr(shape: &[usize], data: Data) -> Array {
    Array::new(shape.to_vec(), data).unwrap()
}

fn assert_reads(bytes: &[u8], expected: &Array) {
    let got = read_npy_bytes(bytes).unwrap_or_else(|e| panic!("{e}"));
    assert!(got.bit_eq(expected), "got {got:?}, expected {expected:?}");
    assert_eq!(got.dtype(), expected.dtype());
}

fn bad_npy(bytes: &[u8]) -> String {
    match read_npy_bytes(bytes) {
        Ok(a) => panic!("expected an error, read {a:?}"),
        Err(e) => {
            assert_eq!(e.kind, IoErrorKind::BadNpy, "{e}");
            e.message
        }
    }
}

/// A fresh path under the system's temporary folder.
fn temp_path(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("nabla-io-npy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// A version 1.0 file with the given header dict text and data bytes.
fn npy_with_header(dict: &str, data: &[u8]) -> Vec<u8> {
    // Pad as NumPy does, so the data starts at a multiple of 64 bytes.
    let pad = (64 - (10 + dict.len() + 1) % 64) % 64;
    let text = format!("{dict}{}\n", " ".repeat(pad));
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(text.len() as u16).to_le_bytes());
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(data);
    out
}

#[test]
fn reads_files_written_by_numpy() {
    assert_reads(F64_NAN, &arr(&[3], Data::F64(vec![1.5, -2.0, f64::NAN])));
    assert_reads(I32_BIG_ENDIAN, &arr(&[2, 3], Data::I32((0..6).collect())));
    assert_reads(I64_FORTRAN, &arr(&[2, 3], Data::I64((0..6).collect())));
    assert_reads(BOOL, &arr(&[3], Data::Bool(vec![true, false, true])));
    assert_reads(F32_SCALAR, &Array::scalar(Scalar::F32(2.5)));
    assert_reads(U32, &arr(&[2], Data::U32(vec![1, 4_000_000_000])));
    assert_reads(F64_EMPTY_0X3, &arr(&[0, 3], Data::F64(vec![])));
    assert_reads(
        F64_BIG_ENDIAN_FORTRAN_3D,
        &arr(&[2, 3, 4], Data::F64((0..24).map(f64::from).collect())),
    );
    assert_reads(F64_V2, &arr(&[1, 2], Data::F64(vec![1.0, 2.0])));
    assert_reads(F64_V3, &arr(&[1, 2], Data::F64(vec![1.0, 2.0])));
}

#[test]
fn unsupported_dtypes_are_named_with_the_supported_list() {
    for (bytes, found) in [
        (I16, "'<i2' (int16)"),
        (C128, "'<c16' (complex128)"),
        (U64, "'<u8' (uint64)"),
        (STR, "'<U2' (str)"),
        (OBJECT, "'|O' (object"),
        (DATETIME, "'<M8[D]' (datetime64)"),
        (STRUCTURED, "structured array"),
    ] {
        let msg = bad_npy(bytes);
        assert!(msg.contains(found), "{msg}");
        assert!(
            msg.contains("float64 ('<f8')") && msg.contains("bool ('|b1')"),
            "{msg}"
        );
    }
}

#[test]
fn every_dtype_round_trips_bit_exactly() {
    let arrays = [
        arr(&[4], Data::Bool(vec![true, false, false, true])),
        arr(&[2, 2], Data::I32(vec![i32::MIN, -1, 0, i32::MAX])),
        arr(&[3], Data::I64(vec![i64::MIN, 0, i64::MAX])),
        arr(&[1, 3], Data::U32(vec![0, 7, u32::MAX])),
        arr(
            &[2, 1, 2],
            Data::F32(vec![
                f32::from_bits(0x7fc0_1234),
                -0.0,
                f32::MIN_POSITIVE / 4.0,
                f32::INFINITY,
            ]),
        ),
        arr(
            &[3],
            Data::F64(vec![f64::from_bits(0x7ff8_dead_beef_0001), -0.0, 5e-324]),
        ),
        Array::scalar(Scalar::F64(3.5)),
        Array::scalar(Scalar::Bool(true)),
        arr(&[0], Data::I64(vec![])),
        arr(&[2, 0, 4], Data::F32(vec![])),
        arr(
            &[3, 5, 7],
            Data::F64((0..105).map(|i| f64::from(i) / 7.0).collect()),
        ),
    ];
    for a in &arrays {
        let bytes = write_npy_bytes(a);
        let back = read_npy_bytes(&bytes).unwrap();
        assert!(
            back.bit_eq(a) && back.dtype() == a.dtype(),
            "{a:?} came back as {back:?}"
        );
    }
}

#[test]
fn written_files_have_numpys_header_layout() {
    let bytes = write_npy_bytes(&arr(&[3], Data::F64(vec![1.0, 2.0, 3.0])));
    assert_eq!(&bytes[..8], b"\x93NUMPY\x01\x00");
    let len = usize::from(u16::from_le_bytes([bytes[8], bytes[9]]));
    let header = std::str::from_utf8(&bytes[10..10 + len]).unwrap();
    // npyz writes `(3, )` where NumPy writes `(3,)`; both are the same Python tuple.
    assert!(
        header.starts_with("{'descr': '<f8', 'fortran_order': False, 'shape': (3,"),
        "{header}"
    );
    assert!(header.ends_with('\n'));
    // The data starts on an aligned boundary, so NumPy can memory-map the file.
    assert_eq!((10 + len) % 16, 0);
    assert_eq!(bytes.len(), 10 + len + 24);

    let scalar = write_npy_bytes(&Array::scalar(Scalar::I32(-3)));
    let text = String::from_utf8_lossy(&scalar);
    assert!(
        text.contains("'descr': '<i4'") && text.contains("'shape': ()"),
        "{text}"
    );
    let flags = write_npy_bytes(&arr(&[1], Data::Bool(vec![true])));
    assert!(String::from_utf8_lossy(&flags).contains("'descr': '|b1'"));
}

#[test]
fn files_round_trip_through_the_file_system() {
    let path = temp_path("round_trip.npy");
    let a = arr(&[2, 3], Data::I64(vec![1, -2, 3, -4, 5, -6]));
    write_npy(&path, &a).unwrap();
    assert!(read_npy(&path).unwrap().bit_eq(&a));
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn missing_files_report_not_found_with_a_diagnostic() {
    let path = temp_path("does_not_exist.npy");
    let err = read_npy(&path).unwrap_err();
    assert_eq!(err.kind, IoErrorKind::NotFound);
    assert_eq!(err.path, path);
    assert!(err.to_string().contains("does_not_exist.npy"), "{err}");
    let d = err.to_diagnostic(Span::DUMMY);
    assert_eq!(d.code, Code::IO_ERROR);
    assert!(d.message.contains("no such file"), "{}", d.message);
    assert_eq!(d.hint.as_deref(), Some("check the path"));

    let relative = read_npy(std::path::Path::new("surely/not/here.npy")).unwrap_err();
    let hint = relative.to_diagnostic(Span::DUMMY).hint.unwrap();
    assert!(hint.contains("current directory"), "{hint}");

    let folder = temp_path("no_such_folder").join("out.npy");
    let err = write_npy(&folder, &Array::scalar(Scalar::F64(1.0))).unwrap_err();
    assert_eq!(err.kind, IoErrorKind::NotFound);
    assert!(err.message.contains("folder does not exist"), "{err}");
}

#[test]
fn bad_files_give_bad_npy_diagnostics() {
    let err = read_npy_bytes(I16).unwrap_err();
    let d = err.to_diagnostic(Span::DUMMY);
    assert_eq!(d.code, Code::BAD_NPY);
    assert!(d.hint.unwrap().contains("astype"));

    let path = temp_path("not_npy.npy");
    std::fs::write(&path, "a,b\n1,2\n").unwrap();
    let err = read_npy(&path).unwrap_err();
    assert_eq!(err.kind, IoErrorKind::BadNpy);
    assert!(
        err.to_string().starts_with(&path.display().to_string()),
        "{err}"
    );
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn malformed_and_truncated_files_are_errors() {
    assert!(bad_npy(b"").contains("empty"));
    assert!(bad_npy(b"\x93NUM").contains("too short"));
    assert!(bad_npy(b"hello, world, this is text").contains("signature"));
    assert!(bad_npy(b"PK\x03\x04 rest of a zip").contains(".npz"));
    let mut v4 = F64_NAN.to_vec();
    v4[6] = 4;
    assert!(bad_npy(&v4).contains("version 4.0"));
    assert!(bad_npy(&F64_NAN[..40]).contains("truncated"));
    let short_data = &F64_NAN[..F64_NAN.len() - 1];
    let msg = bad_npy(short_data);
    assert!(
        msg.contains("truncated") && msg.contains("24 bytes"),
        "{msg}"
    );

    // Data after the array is ignored, as NumPy does.
    let mut extra = F64_NAN.to_vec();
    extra.extend_from_slice(&[0; 5]);
    assert_eq!(read_npy_bytes(&extra).unwrap().shape(), &[3]);

    let mut huge_header = b"\x93NUMPY\x02\x00".to_vec();
    huge_header.extend_from_slice(&u32::MAX.to_le_bytes());
    assert!(bad_npy(&huge_header).contains("header is 4294967295 bytes"));

    let cases = [
        ("{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296, 4294967296), }", "more elements"),
        ("{'descr': '<f8', 'fortran_order': False, 'shape': (1000000, 1000000, 1000000), }", "bytes"),
        ("{'descr': '<f8', 'fortran_order': False, 'shape': (-1,), }", "invalid dimension -1"),
        ("{'descr': '<f8', 'fortran_order': False, 'shape': (99999999999999999999999999,), }", "invalid dimension"),
        ("{'descr': '<f8', 'fortran_order': False, 'shape': ((((((((((((((((((((1,),),),),),),),),),),),),),),),),),),),), }", "nested too deeply"),
        ("{'descr': '<f8', 'fortran_order': False}", "no 'shape'"),
        ("{'descr': '<f8', 'fortran_order': False, 'shape': (1,), 'extra': 1}", "unexpected entry 'extra'"),
        ("{'descr': '<f8', 'descr': '<f8', 'fortran_order': False, 'shape': (1,)}", "two 'descr'"),
        ("{'descr': '<f8', 'fortran_order': 0, 'shape': (1,)}", "'fortran_order'"),
        ("{'descr': '<f8', 'fortran_order': False, 'shape': 1}", "not a tuple"),
        ("{'descr': 'zz', 'fortran_order': False, 'shape': (1,)}", "not a valid NumPy type string"),
        ("{'descr': '<f8', 'fortran_order': False, 'shape': (1,), } trailing", "after the dictionary"),
        ("{'descr': '<f8, 'fortran_order': False, 'shape': (1,)}", "malformed"),
        ("[1, 2]", "dictionary"),
    ];
    for (dict, expected) in cases {
        let msg = bad_npy(&npy_with_header(dict, &[0; 8]));
        assert!(msg.contains(expected), "{dict}: {msg}");
    }

    // Python 2 headers: `L` suffixes and unicode string prefixes.
    let py2 = npy_with_header(
        "{u'descr': u'<f8', 'fortran_order': False, 'shape': (1L,), }",
        &[0; 8],
    );
    assert_eq!(read_npy_bytes(&py2).unwrap().shape(), &[1]);
    // A bool that is neither 0 nor 1.
    let two = npy_with_header(
        "{'descr': '|b1', 'fortran_order': False, 'shape': (2,), }",
        &[1, 2],
    );
    assert!(bad_npy(&two).contains("element 1"));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let _ = read_npy_bytes(&bytes);
        let mut with_magic = b"\x93NUMPY\x01\x00".to_vec();
        with_magic.extend_from_slice(&bytes);
        let _ = read_npy_bytes(&with_magic);
    }

    #[test]
    fn mutated_numpy_files_never_panic(
        which in 0usize..6,
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..6),
    ) {
        let base = [F64_NAN, I32_BIG_ENDIAN, I64_FORTRAN, BOOL, F32_SCALAR, F64_BIG_ENDIAN_FORTRAN_3D][which];
        let mut bytes = base.to_vec();
        for (at, byte, op) in edits {
            // Edits aim at the header, where parsing happens, most of the time.
            let limit = if op == 2 { bytes.len() } else { bytes.len().min(128) };
            if limit == 0 { break; }
            let i = at.index(limit);
            match op {
                0 => bytes[i] = byte,
                1 => bytes.insert(i, byte),
                _ => bytes.truncate(i),
            }
        }
        if let Ok(a) = read_npy_bytes(&bytes) {
            prop_assert_eq!(a.len(), a.shape().iter().product::<usize>());
        }
    }

    #[test]
    fn arbitrary_header_values_never_panic(
        descr in "[<>|=]?[bciufmMOSUV][0-9]{0,3}",
        fortran in prop::bool::ANY,
        dims in prop::collection::vec(0u64..=u64::MAX, 0..5),
        data in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        let shape: Vec<String> = dims.iter().map(|d| format!("{}", d >> (d % 64))).collect();
        let dict = format!(
            "{{'descr': '{descr}', 'fortran_order': {}, 'shape': ({}{}), }}",
            if fortran { "True" } else { "False" },
            shape.join(", "),
            if shape.len() == 1 { "," } else { "" },
        );
        if let Ok(a) = read_npy_bytes(&npy_with_header(&dict, &data)) {
            prop_assert_eq!(a.len(), a.shape().iter().product::<usize>());
        }
    }

    #[test]
    fn written_files_read_back(values in prop::collection::vec(any::<f64>(), 0..40), cols in 1usize..5) {
        let rows = values.len() / cols;
        let a = Array::new(vec![rows, cols], Data::F64(values[..rows * cols].to_vec())).unwrap();
        prop_assert!(read_npy_bytes(&write_npy_bytes(&a)).unwrap().bit_eq(&a));
    }
}
