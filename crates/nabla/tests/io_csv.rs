//! Tests of `nabla::io::csv`: `np.loadtxt(path, delimiter=",", ndmin=2)` semantics plus
//! a skipped header line; errors name the line and column.

use nabla::io::{read_csv, read_csv_str, IoErrorKind};
use nabla::{Code, Span};
use proptest::prelude::*;

fn table(text: &str) -> (Vec<usize>, Vec<f64>) {
    let a = read_csv_str(text).unwrap_or_else(|e| panic!("{e}"));
    (a.shape().to_vec(), a.to_f64_vec())
}

fn csv_error(text: &str) -> String {
    let e = read_csv_str(text).unwrap_err();
    assert_eq!(e.kind, IoErrorKind::BadCsv, "{e}");
    e.message
}

#[test]
fn reads_a_table_of_numbers() {
    assert_eq!(
        table("1,2,3\n4,5,6\n"),
        (vec![2, 3], vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    );
    // No final newline, spaces around fields, exponents, signs, bare points.
    assert_eq!(
        table(" 1.5 , -2e3\n+.5,5."),
        (vec![2, 2], vec![1.5, -2000.0, 0.5, 5.0])
    );
}

#[test]
fn single_rows_and_columns_stay_two_dimensional() {
    assert_eq!(table("1\n2\n3\n"), (vec![3, 1], vec![1.0, 2.0, 3.0]));
    assert_eq!(table("1,2,3\n"), (vec![1, 3], vec![1.0, 2.0, 3.0]));
    assert_eq!(table("7"), (vec![1, 1], vec![7.0]));
}

#[test]
fn skips_a_header_comments_and_blank_lines() {
    let text = "# exported data\n\nx, y\n1,2 # first\n\n   \n3,4\n# end\n";
    assert_eq!(table(text), (vec![2, 2], vec![1.0, 2.0, 3.0, 4.0]));
    // Quoted names as spreadsheets write them are a header too.
    assert_eq!(table("\"a\",\"b\"\n1,2\n"), (vec![1, 2], vec![1.0, 2.0]));
}

#[test]
fn non_finite_values_are_numbers() {
    let (shape, v) = table("nan,inf,-inf,Infinity,NaN,-nan\n");
    assert_eq!(shape, vec![1, 6]);
    assert!(v[0].is_nan() && v[4].is_nan() && v[5].is_nan());
    assert_eq!(&v[1..4], &[f64::INFINITY, f64::NEG_INFINITY, f64::INFINITY]);
}

#[test]
fn any_line_ending_and_a_byte_order_mark() {
    let expected = (vec![2, 2], vec![1.0, 2.0, 3.0, 4.0]);
    assert_eq!(table("1,2\r\n3,4\r\n"), expected);
    assert_eq!(table("1,2\r3,4\r"), expected);
    assert_eq!(table("\u{feff}a,b\n1,2\n3,4\n"), expected);
}

#[test]
fn ragged_rows_name_both_lines_and_counts() {
    let msg = csv_error("a,b,c\n1,2,3\n\n4,5\n");
    assert!(
        msg.contains("line 4 has 2 columns")
            && msg.contains("line 2, the first row of data, has 3"),
        "{msg}"
    );
    let msg = csv_error("1\n2,3\n");
    assert!(
        msg.contains("line 2 has 2 columns but line 1") && msg.contains("has 1 column;"),
        "{msg}"
    );
}

#[test]
fn bad_fields_name_line_and_column() {
    let msg = csv_error("x,y\n1,2\n3,abc\n");
    assert!(
        msg.contains("line 3, column 2") && msg.contains("`abc`"),
        "{msg}"
    );
    assert!(csv_error("1,,3\n").contains("line 1, column 2: the field is empty"));
    assert!(csv_error("1,2,\n").contains("column 3: the field is empty"));
    // A first line with some numbers is data, not a header.
    assert!(csv_error("x,2\n1,2\n").contains("line 1, column 1"));
    // Like `np.loadtxt`: no underscores, no hex, no space-separated values in a field.
    assert!(csv_error("1,1_000\n").contains("`1_000`"));
    assert!(csv_error("1,0x10\n").contains("`0x10`"));
    assert!(csv_error("1,2 3\n").contains("`2 3`"));
}

#[test]
fn inputs_without_data_give_empty_arrays() {
    assert_eq!(table(""), (vec![0, 1], vec![]));
    assert_eq!(table("# only a comment\n\n"), (vec![0, 1], vec![]));
    assert_eq!(table("a,b,c\n"), (vec![0, 3], vec![]));
}

#[test]
fn files_and_their_errors() {
    let dir = std::env::temp_dir().join(format!("nabla-io-csv-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();

    let good = dir.join("good.csv");
    std::fs::write(&good, "a,b\n1,2\n").unwrap();
    assert_eq!(read_csv(&good).unwrap().shape(), &[1, 2]);

    let ragged = dir.join("ragged.csv");
    std::fs::write(&ragged, "1,2\n3\n").unwrap();
    let err = read_csv(&ragged).unwrap_err();
    assert_eq!(err.path, ragged);
    let d = err.to_diagnostic(Span::DUMMY);
    assert_eq!(d.code, Code::BAD_CSV);
    assert!(
        d.message.contains("ragged.csv") && d.message.contains("line 2"),
        "{}",
        d.message
    );

    let binary = dir.join("binary.csv");
    std::fs::write(&binary, b"1,2\n\xff\xfe\n").unwrap();
    let err = read_csv(&binary).unwrap_err();
    assert_eq!(err.kind, IoErrorKind::BadCsv);
    assert!(
        err.message.contains("not UTF-8") && err.message.contains("line 2"),
        "{err}"
    );

    let missing = read_csv(&dir.join("missing.csv")).unwrap_err();
    assert_eq!(missing.kind, IoErrorKind::NotFound);
    assert_eq!(missing.to_diagnostic(Span::DUMMY).code, Code::IO_ERROR);

    // A folder is not a file: an I/O error, not a panic.
    let folder = read_csv(&dir).unwrap_err();
    assert_eq!(folder.kind, IoErrorKind::Io);

    for f in [good, ragged, binary] {
        std::fs::remove_file(f).unwrap();
    }
}

proptest! {
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(text in "[0-9a-z,.#\\-+ \\r\\n\u{feff}é]{0,80}") {
        if let Ok(a) = read_csv_str(&text) {
            prop_assert_eq!(a.rank(), 2);
            prop_assert_eq!(a.len(), a.shape()[0] * a.shape()[1]);
        }
    }

    #[test]
    fn written_tables_read_back_exactly(
        values in prop::collection::vec(any::<f64>().prop_filter("finite", |v| v.is_finite()), 1..30),
        cols in 1usize..5,
    ) {
        let rows = values.len().div_ceil(cols);
        let cells: Vec<f64> = (0..rows * cols).map(|i| values[i % values.len()]).collect();
        let text: String = cells
            .chunks(cols)
            .map(|r| r.iter().map(|v| format!("{v:?}")).collect::<Vec<_>>().join(","))
            .collect::<Vec<_>>()
            .join("\n");
        let (shape, got) = table(&format!("col_a,col_b\n{text}\n"));
        prop_assert_eq!(shape, vec![rows, cols]);
        prop_assert_eq!(got, cells);
    }
}
