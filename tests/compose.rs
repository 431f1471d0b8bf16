//! The compose runtime (`[run] runtime = "compose"`): an example stack's own
//! compose file run by the real Compose CLI on the real engine, its Go
//! service measured from its instrumented image in place of its own, its
//! database (redis:7 from `cargo xtask dep-images`) as the file says.
//! `kvstore`: the example end to end, block for block against the native
//! oracle of tests/util/compose.rs; `replicas`: a scaled service collected
//! from every replica; `bad_input`: every refusal and fault, each exit 2
//! on one line with nothing of the run left.

mod bad_input;
mod kvstore;
mod replicas;
