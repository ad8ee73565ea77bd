//! x86-64 boards (KVM): `microvm`, its kernel loader and firmware tables.

pub mod boot32;
pub mod linux;
pub mod microvm;
pub mod mptable;
