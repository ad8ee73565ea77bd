//! Accelerators: the one interface machines drive vCPUs through, and its implementations.

pub mod tcg;
