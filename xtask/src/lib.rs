//! The reusable part of the xtask, also a library so that the integration
//! tests (tests/services.rs, tests/kill_pull.rs) build the example's services
//! and images with the very code `cargo xtask` runs.

pub mod build_services;
pub mod config;
pub mod consumers;
pub mod cover;
pub mod docker_images;
pub mod progress;
pub mod runtime;
pub mod util;
