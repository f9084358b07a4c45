//! The registry of stable diagnostic codes; `docs/diagnostics.md` explains each one.
//!
//! Codes never change meaning once published: scripts and tests match on them.
//! Ranges: E01xx lexical, E02xx syntax, E03xx names and items, E04xx types and shapes,
//! E05xx runtime and I/O, E06xx backends, E07xx transforms, E08xx usage of builtins.

/// A stable diagnostic code such as `E0401`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Code(&'static str);

macro_rules! codes {
    ($($name:ident = $code:literal, $summary:literal;)*) => {
        impl Code {
            $(#[doc = $summary] pub const $name: Code = Code($code);)*

            /// Every code with its one-line summary, for documentation and `nabla explain`.
            pub const ALL: &'static [(Code, &'static str)] = &[$((Code($code), $summary)),*];
        }
    };
}

codes! {
    // lexical
    UNKNOWN_CHAR = "E0101", "a character that cannot start any token";
    UNTERMINATED_STRING = "E0102", "a string literal without its closing quote";
    BAD_ESCAPE = "E0103", "an unknown escape sequence in a string literal";
    INT_OUT_OF_RANGE = "E0104", "an integer literal that does not fit in 64 bits";
    BAD_NUMBER = "E0105", "a malformed numeric literal";
    // syntax
    UNEXPECTED_TOKEN = "E0201", "a token where the grammar expects something else";
    UNCLOSED_DELIMITER = "E0202", "an opening bracket without its closing bracket";
    CHAINED_COMPARISON = "E0203", "comparisons do not chain (`a < b < c`)";
    INVALID_ASSIGN_TARGET = "E0204", "the left side of `=` is not a variable";
    STATEMENT_IN_FUNCTION = "E0205", "a script-only statement (`var`, `for`, assignment) inside a function";
    BAD_PATTERN = "E0206", "a malformed `let` pattern";
    // names and items
    UNKNOWN_NAME = "E0301", "a name that is not defined";
    DUPLICATE_FN = "E0302", "two `fn` items with the same name in one file";
    ASSIGN_TO_LET = "E0303", "assignment to a name bound by `let` rather than `var`";
    UNKNOWN_MODULE = "E0304", "a `use` of a module or file that does not exist";
    DUPLICATE_PARAM = "E0305", "two parameters with the same name";
    RECURSION = "E0306", "a function that calls itself (functions are traced, not recursive)";
    UNKNOWN_KEYWORD_ARG = "E0307", "a keyword argument the function does not take";
    ARITY = "E0308", "a call with the wrong number of arguments";
    UNKNOWN_ATTRIBUTE = "E0309", "an unknown `x.name` attribute or method";
    NOT_CALLABLE = "E0310", "a call of a value that is not a function";
    // types and shapes
    SHAPE_MISMATCH = "E0401", "operand shapes are incompatible for the operation";
    DTYPE_MISMATCH = "E0402", "an operand has a dtype the operation does not accept";
    ANNOTATION_MISMATCH = "E0403", "an argument does not match its shape/dtype annotation";
    ARRAY_CONDITION = "E0404", "an `if` whose condition is an array (use `where`)";
    AXIS_OUT_OF_RANGE = "E0405", "an axis outside the array's rank";
    INDEX_OUT_OF_RANGE = "E0406", "a static index outside the array's bounds";
    NOT_STATIC = "E0407", "a value that must be known at trace time (a shape, an axis) is traced";
    TUPLE_MISMATCH = "E0408", "a tuple where an array is expected, or tuple structures that differ";
    BAD_RESHAPE = "E0409", "a reshape that changes the number of elements";
    BRANCH_MISMATCH = "E0410", "the branches of an `if` or the carry of a loop change type";
    BAD_ARGUMENT = "E0411", "an argument of the wrong kind for a builtin";
    // runtime and I/O
    IO_ERROR = "E0501", "a file could not be read or written";
    BAD_NPY = "E0502", "a `.npy` file that is malformed or has an unsupported dtype";
    BAD_CSV = "E0503", "a CSV file that is not a rectangular table of numbers";
    ALLOCATION_TOO_LARGE = "E0504", "an array too large to allocate";
    INTEGER_DIVISION_BY_ZERO = "E0505", "integer division or remainder by zero";
    ASSERTION = "E0506", "a failed runtime check";
    // backends
    BACKEND_UNAVAILABLE = "E0601", "the requested backend is not available";
    BACKEND_UNSUPPORTED = "E0602", "the backend cannot compile this operation";
    // transforms
    NOT_DIFFERENTIABLE = "E0701", "a transform applied where it is not defined";
    TRANSFORM_UNSUPPORTED = "E0702", "this transform is not implemented yet";
    VMAP_SIZE_MISMATCH = "E0703", "mapped axes of different sizes in `vmap`";
    // internal
    INTERNAL = "E0901", "an internal compiler error (a bug: please report it)";
}

impl Code {
    pub fn as_str(&self) -> &'static str {
        self.0
    }
}
