//! The tensors an architecture's checkpoint holds, as data: named integers computed from
//! config.json ([`Symbol`]), and groups of tensor templates repeated over layers ([`Group`]).
//! [`crate::shapes`] evaluates a [`Layout`] against a config and compares it with the weights.

/// The tensors that transformers `save_pretrained` writes for one architecture, computed from
/// config.json. An architecture may have several (quantized and not); the first whose
/// [`Layout::when`] holds is the one checked.
#[derive(Debug)]
pub struct Layout {
    /// When this layout applies.
    pub when: When,
    /// The named integers that shapes and repeat counts use, in the order they are computed.
    pub symbols: &'static [Symbol],
    /// The tensor templates, in groups that share a repetition and a condition.
    pub groups: &'static [Group],
}

/// A named integer computed from config.json.
///
/// The name is how shapes and repeat counts refer to it and how messages print it, so it reads
/// like its formula: `hidden_size`, `num_attention_heads*head_dim`, `text_config.vocab_size+8`.
#[derive(Debug)]
pub struct Symbol {
    /// The name, unique within its layout.
    pub name: &'static str,
    /// How it is computed.
    pub value: Expr,
}

/// An integer expression over config.json. Every failure (a missing key, a value that is not a
/// positive integer, an inexact division) becomes a CF011 finding that names the key.
#[derive(Debug)]
pub enum Expr {
    /// The positive integer at a dotted path, such as `vision_config.depth`.
    Key(&'static str),
    /// The positive integer at the first of several dotted paths that is present and not null.
    First(&'static [&'static str]),
    /// The positive integer at a dotted path, or the expression when the key is absent or null.
    Or(&'static str, &'static Expr),
    /// A constant.
    Const(u64),
    /// A symbol defined earlier in the same layout.
    Sym(&'static str),
    /// A product.
    Mul(&'static Expr, &'static Expr),
    /// A sum.
    Add(&'static Expr, &'static Expr),
    /// A quotient that must be exact.
    Div(&'static Expr, &'static Expr),
    /// One of two expressions, chosen by a boolean key (or its default when absent or null).
    IfTrue {
        /// The dotted path of the boolean.
        key: &'static str,
        /// Its value when absent or null.
        default: bool,
        /// The value when the key is true.
        then: &'static Expr,
        /// The value when the key is false.
        otherwise: &'static Expr,
    },
    /// The length of the list at a dotted path; 0 when absent or null.
    Len(&'static str),
}

/// Tensor templates that share a repetition and a condition.
#[derive(Debug)]
pub struct Group {
    /// The values that `{i}` takes in the templates' names.
    pub repeat: Repeat,
    /// When the group's tensors are written at all.
    pub when: When,
    /// The templates.
    pub tensors: &'static [TensorTemplate],
}

/// The indices a [`Group`] repeats over (`{i}` in tensor names).
#[derive(Debug, Clone, Copy)]
pub enum Repeat {
    /// Once, with no index.
    Once,
    /// `0..count`, where count is a symbol.
    Range(&'static str),
    /// The indices of a config list (each below count, a symbol), such as Mllama's
    /// `text_config.cross_attention_layers`.
    Listed {
        /// The symbol every listed index must stay below.
        count: &'static str,
        /// The dotted path of the list.
        list: &'static str,
    },
    /// `0..count` without the indices of a config list.
    Unlisted {
        /// The symbol of the number of layers.
        count: &'static str,
        /// The dotted path of the list.
        list: &'static str,
    },
    /// Qwen3-MoE's sparse layers of `0..count`: not in `mlp_only_layers` and
    /// `(index + 1) % decoder_sparse_step == 0`.
    Qwen3MoeSparse(&'static str),
    /// Qwen3-MoE's dense layers of `0..count`: the others.
    Qwen3MoeDense(&'static str),
}

/// A condition on config.json.
#[derive(Debug, Clone, Copy)]
pub enum When {
    /// Always.
    Always,
    /// A boolean at a dotted path (`default` when absent or null) equals `is`.
    Flag {
        /// The dotted path.
        key: &'static str,
        /// The value when absent or null.
        default: bool,
        /// The value that makes the condition hold.
        is: bool,
    },
    /// The string at a dotted path equals `value`.
    Equals {
        /// The dotted path.
        key: &'static str,
        /// The value that makes the condition hold.
        value: &'static str,
    },
    /// The dotted path is absent or null.
    Absent(&'static str),
    /// Whether the string at a dotted path starts with `prefix` (false when absent) equals `is`.
    StartsWith {
        /// The dotted path.
        key: &'static str,
        /// The prefix.
        prefix: &'static str,
        /// The value that makes the condition hold.
        is: bool,
    },
}

/// One expected tensor, repeated by its group.
#[derive(Debug, Clone, Copy)]
pub struct TensorTemplate {
    /// The name; `{i}` is the group's index, `{e}` the expert's.
    pub name: &'static str,
    /// The shape, as symbol names.
    pub shape: &'static [&'static str],
    /// When set, the tensor repeats with `{e}` over `0..each` (a symbol).
    pub each: Option<&'static str>,
}

/// A [`TensorTemplate`]: `t!(name, [symbols])`, or `t!(name, [symbols], each "experts")`.
macro_rules! t {
    ($name:literal, [$($dim:literal),* $(,)?]) => {
        $crate::arch::layout::TensorTemplate { name: $name, shape: &[$($dim),*], each: None }
    };
    ($name:literal, [$($dim:literal),* $(,)?], each $each:literal) => {
        $crate::arch::layout::TensorTemplate { name: $name, shape: &[$($dim),*], each: Some($each) }
    };
}
pub(crate) use t;

/// The symbol names a layout refers to: shape entries, repeat counts, `each` counts and
/// [`Expr::Sym`] references.
pub fn references(layout: &Layout) -> Vec<&'static str> {
    let mut out = Vec::new();
    for symbol in layout.symbols {
        expr_references(&symbol.value, &mut out);
    }
    for group in layout.groups {
        match group.repeat {
            Repeat::Once => {}
            Repeat::Range(count)
            | Repeat::Listed { count, .. }
            | Repeat::Unlisted { count, .. }
            | Repeat::Qwen3MoeSparse(count)
            | Repeat::Qwen3MoeDense(count) => out.push(count),
        }
        for tensor in group.tensors {
            out.extend(tensor.shape.iter().copied());
            out.extend(tensor.each);
        }
    }
    out
}

fn expr_references(expr: &Expr, out: &mut Vec<&'static str>) {
    match expr {
        Expr::Sym(name) => out.push(name),
        Expr::Or(_, e) => expr_references(e, out),
        Expr::Mul(a, b) | Expr::Add(a, b) | Expr::Div(a, b) => {
            expr_references(a, out);
            expr_references(b, out);
        }
        Expr::IfTrue {
            then, otherwise, ..
        } => {
            expr_references(then, out);
            expr_references(otherwise, out);
        }
        Expr::Key(_) | Expr::First(_) | Expr::Const(_) | Expr::Len(_) => {}
    }
}

/// How a newer transformers names the same tensors: prefix renames from the newer layout back
/// to the one transformers 4.51.3 loads. Checkpoints in the newer layout load in 4.51.3 only
/// with the renamed modules initialized at random (SH004).
#[derive(Debug)]
pub struct NewerLayout {
    /// The transformers version that introduced the newer names.
    pub since: &'static str,
    /// `(newer prefix, 4.51.3 prefix)`, tried in order; the first match renames a tensor.
    pub renames: &'static [(&'static str, &'static str)],
}

impl NewerLayout {
    /// The 4.51.3 name of a tensor named in the newer layout; `None` when no rename applies.
    pub fn legacy_name(&self, name: &str) -> Option<String> {
        self.renames.iter().find_map(|(newer, legacy)| {
            name.strip_prefix(newer)
                .map(|rest| format!("{legacy}{rest}"))
        })
    }
}
