//! Decoding fuzzer bytes into values, and a tiny deterministic generator for the stable test.

/// A cursor over the fuzzer's bytes. Reads past the end give zeros, so every input decodes to
/// something and short inputs still reach the code under test.
pub struct Input<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Input<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Self { data, pos: 0 }
    }

    pub fn is_empty(&self) -> bool {
        self.pos >= self.data.len()
    }

    /// Up to `n` bytes (fewer at the end of the input).
    pub fn bytes(&mut self, n: usize) -> &'a [u8] {
        let start = self.pos.min(self.data.len());
        let end = start.saturating_add(n).min(self.data.len());
        self.pos = end;
        &self.data[start..end]
    }

    /// Everything not read yet.
    pub fn rest(&mut self) -> &'a [u8] {
        self.bytes(usize::MAX)
    }

    fn le<const N: usize>(&mut self) -> [u8; N] {
        let mut b = [0u8; N];
        let src = self.bytes(N);
        b[..src.len()].copy_from_slice(src);
        b
    }

    pub fn u8(&mut self) -> u8 {
        self.le::<1>()[0]
    }
    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes(self.le())
    }
    pub fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.le())
    }
    pub fn u64(&mut self) -> u64 {
        u64::from_le_bytes(self.le())
    }

    /// An access size the buses may see: 1, 2, 4 or 8 bytes, and now and then an odd one (3)
    /// that the bus must refuse.
    pub fn access_len(&mut self) -> usize {
        match self.u8() % 9 {
            0 | 1 => 1,
            2 | 3 => 2,
            4..=6 => 4,
            7 => 8,
            _ => 3,
        }
    }
}

/// xorshift64: the stable test's source of reproducible pseudo-random inputs.
pub struct XorShift(u64);

impl XorShift {
    pub fn new(seed: u64) -> Self {
        Self(seed | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }

    /// `len` random bytes.
    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next_u64() as u8).collect()
    }

    /// A copy of `seed` with a few random edits (bit flips, byte writes, small-integer writes,
    /// truncation or extension), the way a fuzzer's mutator starts from a corpus.
    pub fn mutate(&mut self, seed: &[u8]) -> Vec<u8> {
        let mut v = seed.to_vec();
        for _ in 0..=self.below(4) {
            let at = self.below(v.len().max(1) as u64) as usize;
            match self.below(6) {
                0 if !v.is_empty() => v[at] ^= 1 << self.below(8),
                1 if !v.is_empty() => v[at] = self.next_u64() as u8,
                2 if at + 8 <= v.len() => {
                    let interesting = [0u64, 1, 0x7f, 0x80, 0xff, 0x1000, u64::MAX, u64::MAX - 7, 1 << 32];
                    let x = interesting[self.below(interesting.len() as u64) as usize];
                    let width = [1usize, 2, 4, 8][self.below(4) as usize];
                    v[at..at + width].copy_from_slice(&x.to_le_bytes()[..width]);
                }
                3 => v.truncate(at),
                4 => {
                    let n = self.below(64) as usize;
                    let extra = self.bytes(n);
                    v.extend_from_slice(&extra);
                }
                _ => {
                    if !v.is_empty() {
                        let other = self.below(v.len() as u64) as usize;
                        v.swap(at, other);
                    }
                }
            }
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_past_the_end_are_zero() {
        let mut i = Input::new(&[1, 2, 3]);
        assert_eq!(i.u16(), 0x0201);
        assert_eq!(i.u32(), 3);
        assert!(i.is_empty());
        assert_eq!(i.u64(), 0);
        assert_eq!(i.rest(), &[] as &[u8]);
    }
}
