//! Character sinks devices write to. A guest console is often written by more than one device
//! (a UART and a virtio console) and must outlive a machine rebuilt after a guest reset, so it is
//! shared rather than owned.

use std::io::Write;
use std::sync::{Arc, Mutex};

/// A writer that many devices (and machine incarnations) share; clones write to the same sink.
#[derive(Clone)]
pub struct SharedWriter(Arc<Mutex<Box<dyn Write + Send>>>);

impl SharedWriter {
    pub fn new(sink: Box<dyn Write + Send>) -> Self {
        Self(Arc::new(Mutex::new(sink)))
    }
}

/// A sink that keeps everything written to it in memory; clones share the buffer (QEMU's
/// `-chardev memory` idea). Tests read what a guest printed with [`BufferWriter::contents`].
#[derive(Clone, Default)]
pub struct BufferWriter(Arc<Mutex<Vec<u8>>>);

impl BufferWriter {
    /// Everything written so far.
    pub fn contents(&self) -> Vec<u8> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// [`Self::contents`] as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.contents()).into_owned()
    }
}

impl Write for BufferWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Write for SharedWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_write_to_one_sink() {
        let cap = BufferWriter::default();
        let mut a = SharedWriter::new(Box::new(cap.clone()));
        let mut b = a.clone();
        a.write_all(b"ab").unwrap();
        b.write_all(b"cd").unwrap();
        assert_eq!(cap.contents(), b"abcd");
    }
}
