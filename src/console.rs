//! The host side of the guest console: stdin in raw mode feeding the guest's serial port, with
//! QEMU's escape keys (Ctrl-A X quits, Ctrl-A C is reserved for the monitor, Ctrl-A H lists the
//! keys, Ctrl-A Ctrl-A sends one Ctrl-A). The terminal is restored on every exit path: normal
//! return (guard drop), `std::process::exit` after a run, panics (hook), and the signals that
//! end the process by default (SIGTERM, SIGHUP, SIGINT, SIGQUIT: handler, then the default).

use std::io::{Read, Write};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Mutex, OnceLock};

use mimic_machines::ConsoleInput;

const CTRL_A: u8 = 0x01;

/// The terminal settings before raw mode, restored by [`restore_terminal`].
static SAVED: OnceLock<Mutex<Option<libc::termios>>> = OnceLock::new();

fn saved() -> &'static Mutex<Option<libc::termios>> {
    SAVED.get_or_init(|| Mutex::new(None))
}

/// The same settings for the signal handler, which must not take a lock.
static SAVED_FOR_SIGNALS: OnceLock<libc::termios> = OnceLock::new();

/// Restore the terminal, then die of the signal as if there were no handler.
extern "C" fn restore_on_signal(sig: libc::c_int) {
    if let Some(t) = SAVED_FOR_SIGNALS.get() {
        // SAFETY: tcsetattr, signal and raise are async-signal-safe; `t` was read from this
        // descriptor before the handler was installed and is never written again.
        unsafe { libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, t) };
    }
    // SAFETY: as above.
    unsafe {
        libc::signal(sig, libc::SIG_DFL);
        libc::raise(sig);
    }
}

fn install_signal_restore(t: libc::termios) {
    if SAVED_FOR_SIGNALS.set(t).is_err() {
        return; // already installed
    }
    for sig in [libc::SIGTERM, libc::SIGHUP, libc::SIGINT, libc::SIGQUIT] {
        // SAFETY: a zeroed sigaction with a valid handler and an empty mask is well formed; the
        // handler only makes async-signal-safe calls.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = restore_on_signal as *const () as usize;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }
}

/// Put stdin in raw mode if it is a terminal. Returns whether it did.
pub fn enter_raw_mode() -> bool {
    // SAFETY: isatty only inspects the descriptor.
    if unsafe { libc::isatty(libc::STDIN_FILENO) } != 1 {
        return false;
    }
    // SAFETY: termios is plain data; tcgetattr fills it for a valid terminal descriptor.
    let mut t: libc::termios = unsafe { std::mem::zeroed() };
    // SAFETY: STDIN_FILENO is a terminal (checked above) and `t` is a valid termios.
    if unsafe { libc::tcgetattr(libc::STDIN_FILENO, &mut t) } != 0 {
        return false;
    }
    *saved().lock().unwrap_or_else(|p| p.into_inner()) = Some(t);
    install_signal_restore(t);
    let mut raw = t;
    // SAFETY: cfmakeraw only edits the struct.
    unsafe { libc::cfmakeraw(&mut raw) };
    // Keep output processing so the guest's "\n" still moves to column 0 on the host terminal
    // the way QEMU's stdio backend does.
    raw.c_oflag |= libc::OPOST;
    // SAFETY: valid descriptor and settings derived from the current ones.
    unsafe { libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &raw) };
    let prev = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore_terminal();
        prev(info);
    }));
    true
}

pub fn restore_terminal() {
    if let Some(t) = saved().lock().unwrap_or_else(|p| p.into_inner()).take() {
        // SAFETY: restoring settings previously read from the same descriptor.
        unsafe { libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &t) };
    }
}

/// Restores the terminal when dropped.
pub struct RawModeGuard;

impl Drop for RawModeGuard {
    fn drop(&mut self) {
        restore_terminal();
    }
}

/// Escape-key state machine, separate from I/O so it can be tested.
#[derive(Default)]
pub struct EscapeDecoder {
    after_ctrl_a: bool,
}

pub enum Decoded {
    Input(u8),
    Quit,
    Help,
    Monitor,
    Nothing,
}

impl EscapeDecoder {
    pub fn feed(&mut self, b: u8) -> Decoded {
        if self.after_ctrl_a {
            self.after_ctrl_a = false;
            return match b {
                b'x' | b'X' => Decoded::Quit,
                b'h' | b'H' | b'?' => Decoded::Help,
                b'c' | b'C' => Decoded::Monitor,
                CTRL_A => Decoded::Input(CTRL_A),
                _ => Decoded::Nothing,
            };
        }
        if b == CTRL_A {
            self.after_ctrl_a = true;
            return Decoded::Nothing;
        }
        Decoded::Input(b)
    }
}

/// Start the stdin reader thread. With `escapes` (a terminal in raw mode) Ctrl-A sequences are
/// interpreted; otherwise bytes pass through untouched (pipes, scripted tests).
pub fn spawn_stdin_reader(escapes: bool) -> Receiver<ConsoleInput> {
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .name("stdin".into())
        .spawn(move || {
            let mut dec = EscapeDecoder::default();
            let mut buf = [0u8; 256];
            let stdin = std::io::stdin();
            let mut lock = stdin.lock();
            loop {
                let n = match lock.read(&mut buf) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                for &b in &buf[..n] {
                    let ev = if escapes { dec.feed(b) } else { Decoded::Input(b) };
                    let msg = match ev {
                        Decoded::Input(b) => ConsoleInput::Byte(b),
                        Decoded::Quit => {
                            // QEMU says "QEMU: Terminated" on its console when quitting this way.
                            let mut out = std::io::stdout();
                            let _ = write!(out, "\r\nMimic: Terminated\r\n");
                            let _ = out.flush();
                            ConsoleInput::Quit
                        }
                        Decoded::Help => {
                            let mut e = std::io::stderr();
                            let _ = write!(e, "\r\nC-a h    print this help\r\nC-a x    exit emulator\r\nC-a c    monitor (not available yet)\r\nC-a C-a  sends C-a\r\n");
                            continue;
                        }
                        Decoded::Monitor => {
                            let _ = write!(std::io::stderr(), "\r\nmimic: the monitor is not available yet\r\n");
                            continue;
                        }
                        Decoded::Nothing => continue,
                    };
                    if tx.send(msg).is_err() {
                        return;
                    }
                }
            }
        })
        .ok();
    rx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes() {
        let mut d = EscapeDecoder::default();
        assert!(matches!(d.feed(b'a'), Decoded::Input(b'a')));
        assert!(matches!(d.feed(CTRL_A), Decoded::Nothing));
        assert!(matches!(d.feed(b'x'), Decoded::Quit));
        assert!(matches!(d.feed(CTRL_A), Decoded::Nothing));
        assert!(matches!(d.feed(CTRL_A), Decoded::Input(CTRL_A)));
        assert!(matches!(d.feed(CTRL_A), Decoded::Nothing));
        assert!(matches!(d.feed(b'c'), Decoded::Monitor));
        assert!(matches!(d.feed(b'x'), Decoded::Input(b'x')));
    }
}
