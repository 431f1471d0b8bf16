//! Reading Go source the way `go tool cover -func` does, for `covtotal --src`.
//!
//! `go tool cover -func` (cmd/cover/func.go) parses every source file of a
//! profile with go/parser, takes the extent of each function declaration
//! with a body, from its `func` keyword (`FuncDecl.Pos`) to just after the
//! closing brace (`FuncDecl.End`), and counts a profile block in a function
//! when the block overlaps that extent: its `coverage()` walks the blocks
//! sorted by start, stops (`break`) at the first block starting at or after
//! the function's end and skips (`continue`) blocks ending at or before the
//! function's start. Blocks outside every function declaration (function
//! literals in package-level `var` initialisers, for example) count nowhere,
//! and a block that overlaps two extents counts in both. Declarations without
//! a body (assembly functions) are not listed. The total is the sum of the
//! per-function covered statements over the sum of their statements, printed
//! with `%.1f` (0 when there are no statements).
//!
//! Positions are 1-based lines and byte columns. Like go/token's
//! `fset.Position`, which cover -func uses, the extents honour `//line` and
//! `/*line*/` directives, while the profile's blocks are physical positions
//! (cmd/cover records them with `PositionFor(pos, false)`): in a file with
//! line directives Go compares the two anyway, and so do we, to print the
//! same numbers. A malformed line directive is a parse error, as it is for Go.
//!
//! The scanner here is Go's lexical grammar (comments, interpreted, raw and
//! rune literals, numbers, automatic semicolons) plus just enough syntax to
//! find top-level `func` declarations: receiver, name, type parameters,
//! parameters, a result type (struct, interface and func types included) and
//! a balanced body. It does not check the rest of the grammar: a file that
//! Go's parser rejects may still get extents here instead of an error.
//!
//! The pieces: [`lex`] (Go's lexical grammar and line directives), [`parse`]
//! (function declarations and their extents), [`gomod`] (go.mod files),
//! [`root`] (where a profile's file is on disk), [`funcs`] (per-function
//! figures) and [`render`] (the text `go tool cover -func` prints).

pub mod funcs;
pub mod gomod;
mod lex;
pub mod parse;
pub mod render;
pub mod root;

pub use funcs::{func_coverage, func_total, percent, FuncCoverage};
pub use parse::{func_decls, Func, FuncExtent};
pub use render::render_cover_func;
pub use root::SourceRoot;
