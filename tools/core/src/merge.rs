//! Merge rules (gocovmerge semantics, made exact).
