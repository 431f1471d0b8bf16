//! Where `covtools cover` runs the services and how it always gets rid
//! of them: what a run started and its teardown ([`control`]), local
//! processes ([`process`]), Docker ([`docker`]), Swarm services and their
//! volumes ([`swarm`]), the Compose CLI ([`compose`]) and loopback
//! networking ([`net`]).

pub mod compose;
pub mod control;
pub mod docker;
pub mod net;
pub mod process;
pub mod swarm;
