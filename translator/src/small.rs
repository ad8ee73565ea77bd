//! A scratch slice that lives on the stack when short. The IR passes run on every translated
//! block (tens of thousands in a Linux boot) and heap buffers for their per-op, per-temp and
//! per-label state showed in translation profiles; nearly every block fits in a few hundred.

use std::ops::{Deref, DerefMut};

pub(crate) enum SmallBuf<T: Copy, const N: usize> {
    Inline([T; N], usize),
    Heap(Vec<T>),
}

impl<T: Copy, const N: usize> SmallBuf<T, N> {
    /// `len` copies of `value`.
    pub(crate) fn filled(len: usize, value: T) -> Self {
        if len <= N { Self::Inline([value; N], len) } else { Self::Heap(vec![value; len]) }
    }
}

impl<T: Copy, const N: usize> Deref for SmallBuf<T, N> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        match self {
            Self::Inline(a, n) => &a[..*n],
            Self::Heap(v) => v,
        }
    }
}

impl<T: Copy, const N: usize> DerefMut for SmallBuf<T, N> {
    fn deref_mut(&mut self) -> &mut [T] {
        match self {
            Self::Inline(a, n) => &mut a[..*n],
            Self::Heap(v) => v,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::SmallBuf;

    #[test]
    fn short_and_long_buffers_behave_alike() {
        for len in [0, 3, 4, 5, 100] {
            let mut b = SmallBuf::<u32, 4>::filled(len, 7);
            assert_eq!(b.len(), len);
            assert!(b.iter().all(|&x| x == 7));
            if let Some(x) = b.last_mut() {
                *x = 9;
            }
            assert_eq!(b.iter().filter(|&&x| x == 9).count(), usize::from(len > 0));
            assert_eq!(matches!(b, SmallBuf::Heap(_)), len > 4);
        }
    }
}
