//! RISC-V rv64gc: CPU state, decoder and translation to IR, helpers, privileged architecture.
