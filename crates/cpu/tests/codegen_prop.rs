//! Random fused elementwise programs (and reductions of them) over random layouts,
//! compiled scalar and vectorised, against the interpreter bit for bit.

mod codegen_support;

use codegen_support::*;
use nabla_cpu::kernel::{Kernel, Node, Output};
use nabla_ir::{Array, BinaryOp, CmpOp, DType, Prim, ReduceOp, Scalar, UnaryOp};
use proptest::prelude::*;

const FAMILIES: [DType; 5] = [DType::F64, DType::F32, DType::I32, DType::I64, DType::U32];

#[derive(Clone, Debug)]
struct Spec {
    family: usize,
    outer: Vec<usize>,
    inner: usize,
    layouts: Vec<u8>,
    ops: Vec<(u8, u8, u8)>,
    output: u8,
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        0..FAMILIES.len(),
        prop::collection::vec(0..5usize, 0..3),
        prop_oneof![Just(1usize), 2..12usize, Just(33usize), Just(64usize)],
        prop::collection::vec(0..5u8, 2),
        prop::collection::vec((any::<u8>(), any::<u8>(), any::<u8>()), 1..10),
        0..5u8,
    )
        .prop_map(|(family, outer, inner, layouts, ops, output)| Spec {
            family,
            outer,
            inner,
            layouts,
            ops,
            output,
        })
}

/// How input `which` reads the iteration space.
fn layout(shape: &[usize], which: u8) -> Layout {
    let rank = shape.len();
    let c = Layout::contiguous(shape);
    let n: usize = shape.iter().product();
    match which {
        // Broadcast along the first axis.
        1 if rank >= 2 => {
            let mut strides = c.strides.clone();
            strides[0] = 0;
            Layout {
                strides,
                offset: 0,
                len: shape[1..].iter().product(),
            }
        }
        // Every axis reversed.
        2 if n > 0 => Layout {
            strides: c.strides.iter().map(|s| -s).collect(),
            offset: n as isize - 1,
            len: n,
        },
        // Column-major.
        3 => {
            let mut strides = vec![0isize; rank];
            let mut s = 1isize;
            for (a, &d) in shape.iter().enumerate() {
                strides[a] = s;
                s *= d as isize;
            }
            Layout {
                strides,
                offset: 0,
                len: n,
            }
        }
        // Broadcast along the innermost axis.
        4 if rank >= 1 => {
            let mut strides = c.strides.clone();
            strides[rank - 1] = 0;
            let len = if n == 0 { 0 } else { n / shape[rank - 1] };
            let strides = strides
                .iter()
                .map(|&s| {
                    if s == 0 {
                        0
                    } else {
                        s / shape[rank - 1].max(1) as isize
                    }
                })
                .collect();
            Layout {
                strides,
                offset: 0,
                len,
            }
        }
        _ => c,
    }
}

fn build(s: &Spec) -> (Kernel, Vec<Array>) {
    let d = FAMILIES[s.family];
    let mut shape = s.outer.clone();
    shape.push(s.inner);
    let la = layout(&shape, s.layouts[0]);
    let lb = layout(&shape, s.layouts[1]);
    let lit = match d {
        DType::F64 => Scalar::F64(1.5),
        DType::F32 => Scalar::F32(-0.75),
        DType::I32 => Scalar::I32(3),
        DType::I64 => Scalar::I64(-2),
        _ => Scalar::U32(5),
    };
    let mut nodes: Vec<(Node, DType)> =
        vec![(Node::Load(0), d), (Node::Load(1), d), (Node::Lit(lit), d)];
    let mut of_d: Vec<usize> = vec![0, 1, 2];
    let pick = |of_d: &Vec<usize>, k: u8| of_d[k as usize % of_d.len()];
    for &(sel, a, b) in &s.ops {
        let (x, y) = (pick(&of_d, a), pick(&of_d, b));
        let n = nodes.len();
        match sel % 7 {
            0 => {
                let op = UnaryOp::ALL[(sel / 6) as usize % UnaryOp::ALL.len()];
                if result_dtype(&Prim::Unary(op), &[d]) == Some(d) {
                    nodes.push((Node::Unary(op, x), d));
                } else {
                    continue;
                }
            }
            1 | 2 => {
                let op = BinaryOp::ALL[(sel / 6) as usize % BinaryOp::ALL.len()];
                if result_dtype(&Prim::Binary(op), &[d, d]) == Some(d) {
                    nodes.push((Node::Binary(op, x, y), d));
                } else {
                    continue;
                }
            }
            3 => {
                let op = CmpOp::ALL[(sel / 6) as usize % CmpOp::ALL.len()];
                nodes.push((Node::Compare(op, x, y), DType::Bool));
                nodes.push((Node::Select(n, y, x), d));
            }
            4 => {
                let e = [0i64, 1, 2, 3, -1, 7][(sel / 6) as usize % 6];
                nodes.push((Node::IntPow(e, x), d));
            }
            5 => {
                let to = DType::ALL[(sel / 6) as usize % DType::ALL.len()];
                nodes.push((Node::Convert(to, x), to));
                nodes.push((Node::Convert(d, n), d));
            }
            _ => {
                // The iteration index along some axis, in the family's dtype.
                let axis = (sel / 7) as usize % shape.len();
                nodes.push((Node::Index(axis), DType::I64));
                nodes.push((Node::Convert(d, n), d));
                nodes.push((Node::Binary(BinaryOp::Add, n + 1, x), d));
            }
        }
        of_d.push(nodes.len() - 1);
    }
    let last = nodes.len() - 1;
    let rank = shape.len();
    let outputs = match s.output {
        0 => vec![Output::Store { node: last }],
        1 => vec![
            Output::Store { node: last },
            Output::Store {
                node: of_d[of_d.len() / 2],
            },
        ],
        2 => vec![Output::Reduce {
            node: last,
            op: ReduceOp::Sum,
            nreduce: 1,
        }],
        3 => vec![Output::Reduce {
            node: last,
            op: ReduceOp::Max,
            nreduce: rank,
        }],
        _ => vec![
            Output::Reduce {
                node: last,
                op: ReduceOp::Min,
                nreduce: rank.min(2),
            },
            Output::Reduce {
                node: of_d[of_d.len() / 2],
                op: ReduceOp::Prod,
                nreduce: rank.min(2),
            },
        ],
    };
    let k = kernel(&shape, vec![la.input(d), lb.input(d)], nodes, outputs);
    let inputs = vec![data(d, la.len, 2), data(d, lb.len, 5)];
    (k, inputs)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 384, ..ProptestConfig::default() })]

    #[test]
    fn random_programs_match_the_interpreter(s in spec()) {
        let (k, inputs) = build(&s);
        check("random program", &k, &inputs);
    }
}
