//! Totals: covered statements over all statements.
