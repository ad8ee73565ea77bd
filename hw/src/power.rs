//! Machine power and reset requests raised by devices (HTIF, `sifive_test`, i8042, isa-debug-exit)
//! and consumed by the run loop, which stops every vCPU and ends or restarts the machine.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PowerEvent {
    /// Power off; the process exits with this status (HTIF and isa-debug-exit carry one).
    Shutdown { exit_code: i32 },
    Reset,
}

#[derive(Default)]
pub struct PowerControl {
    pending: AtomicBool,
    event: Mutex<Option<PowerEvent>>,
}

impl PowerControl {
    pub fn new() -> Self {
        Self::default()
    }

    /// Record a request; the first one wins until it is taken.
    pub fn request(&self, event: PowerEvent) {
        let mut slot = self.event.lock().unwrap_or_else(|p| p.into_inner());
        if slot.is_none() {
            *slot = Some(event);
            self.pending.store(true, Ordering::Release);
        }
    }

    /// Cheap check for the run loop's hot path.
    pub fn is_pending(&self) -> bool {
        self.pending.load(Ordering::Acquire)
    }

    pub fn take(&self) -> Option<PowerEvent> {
        let mut slot = self.event.lock().unwrap_or_else(|p| p.into_inner());
        self.pending.store(false, Ordering::Release);
        slot.take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_request_wins() {
        let p = PowerControl::new();
        assert!(!p.is_pending());
        p.request(PowerEvent::Shutdown { exit_code: 3 });
        p.request(PowerEvent::Reset);
        assert!(p.is_pending());
        assert_eq!(p.take(), Some(PowerEvent::Shutdown { exit_code: 3 }));
        assert!(!p.is_pending());
        assert_eq!(p.take(), None);
    }
}
