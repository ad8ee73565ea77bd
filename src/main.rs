//! The `mimic` binary: QEMU-style command line → machine configuration → run.
//!
//! QEMU spells long options with one dash (`-machine`, `-kernel`); clap wants two, so
//! [`cli::normalize`] rewrites known single-dash long options before parsing. Every user error
//! (unknown option, unreadable or malformed file) is one line on stderr and exit status 1.

mod cli;
mod console;

use std::process::ExitCode;

fn main() -> ExitCode {
    match cli::parse(std::env::args_os().collect()) {
        Ok(cli::Action::Exit(code)) => ExitCode::from(code),
        Ok(cli::Action::Run(run)) => {
            cli::init_logging(&run);
            match cli::run(run) {
                Ok(status) => ExitCode::from(status),
                Err(e) => {
                    eprintln!("mimic: {e}");
                    ExitCode::from(1)
                }
            }
        }
        Err(e) => {
            eprintln!("mimic: {e}");
            ExitCode::from(1)
        }
    }
}
