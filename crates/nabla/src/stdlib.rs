//! The standard library's Nabla sources, embedded so the `nabla` binary is
//! self-contained.

/// `(module name, source)` for every standard module.
pub const MODULES: &[(&str, &str)] = &[
    ("nn", include_str!("../../../stdlib/nn.nbl")),
    ("stats", include_str!("../../../stdlib/stats.nbl")),
    ("autodiff", include_str!("../../../stdlib/autodiff.nbl")),
];

pub fn find(name: &str) -> Option<&'static str> {
    MODULES.iter().find(|(n, _)| *n == name).map(|(_, s)| *s)
}
