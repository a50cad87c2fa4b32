//! The UPER (ITU-T X.691, unaligned) bit machinery and the X.697 JER helpers
//! that the generated codec (`csae::generated`) is built from.
//!
//! Owns: bit-exact reading and writing of constrained whole numbers, length
//! determinants, extension bitmaps and open types; error values that say
//! where (bit offset, field path) and what went wrong.  It must not know any
//! message type; it never panics on input and never allocates more than the
//! input can justify (lengths are checked against the remaining bits first).

use std::fmt;

/// The field path of an error, filled innermost first while the error
/// unwinds through the generated code; shared by every error type here.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FieldPath(Vec<String>);

impl FieldPath {
    /// Add the enclosing field name.
    pub fn field(&mut self, name: &str) {
        self.0.push(name.to_string());
    }
    /// Add the enclosing list index.
    pub fn index(&mut self, i: usize) {
        self.0.push(format!("[{i}]"));
    }
    /// Outermost first, e.g. `mapFrame.nodes[0].inLinks[2].lanes`.
    pub fn render(&self) -> String {
        let mut s = String::new();
        for p in self.0.iter().rev() {
            if !p.starts_with('[') && !s.is_empty() {
                s.push('.');
            }
            s.push_str(p);
        }
        s
    }
}

/// A decoding failure: where in the input, inside which field, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodeError {
    /// Bit offset from the start of the outermost input where the failing read began.
    pub bit_offset: usize,
    /// Field path from the outermost type inwards (filled while unwinding).
    path: FieldPath,
    /// What went wrong.
    pub kind: DecodeErrorKind,
}

/// The reason a decode failed.
#[derive(Debug, Clone, PartialEq)]
pub enum DecodeErrorKind {
    /// The input ended while `needed` more bits were expected.
    OutOfData {
        /// Bits the failing read needed.
        needed: usize,
        /// Bits left in the input (or in the enclosing open type).
        available: usize,
    },
    /// A CHOICE index outside the root alternatives.
    BadChoiceIndex(u64),
    /// An ENUMERATED index outside the root values.
    BadEnumIndex(u64),
    /// A length or count outside the type's size constraint.
    SizeOutOfRange {
        /// The size found.
        value: usize,
        /// Lower bound of the constraint.
        lb: usize,
        /// Upper bound of the constraint.
        ub: usize,
    },
    /// An integer outside its constraint (only possible with extensible constraints).
    IntOutOfRange(i64),
    /// A constrained whole number whose offset from the lower bound exceeds
    /// the range (only possible when the range is not a power of two).
    AboveUpperBound {
        /// The offset read.
        offset: u64,
        /// Bits it was read in.
        span: u32,
    },
    /// A length form this codec does not accept (fragmented, over 16 K).
    UnsupportedLength(usize),
    /// An IA5String byte above 127 cannot occur in UPER; reported for completeness.
    BadCharacter(u8),
    /// Bytes left over after the outermost value.
    TrailingBytes(usize),
    /// The input is larger than any message of this family can be.
    TooLarge {
        /// Input length in bytes.
        len: usize,
        /// The largest accepted input in bytes.
        max: usize,
    },
}

impl DecodeError {
    /// A new error at `bit_offset`.
    pub fn new(bit_offset: usize, kind: DecodeErrorKind) -> Self {
        Self { bit_offset, path: FieldPath::default(), kind }
    }

    /// Add the enclosing field name (called while the error unwinds).
    #[cold]
    pub fn at(mut self, field: &str) -> Self {
        self.path.field(field);
        self
    }

    /// Add the enclosing list index (called while the error unwinds).
    #[cold]
    pub fn at_index(mut self, i: usize) -> Self {
        self.path.index(i);
        self
    }

    /// The field path, outermost first, e.g. `mapFrame.nodes[0].inLinks[2].lanes`.
    pub fn path(&self) -> String {
        self.path.render()
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = self.path();
        let at = if path.is_empty() { "<top>".to_string() } else { path };
        write!(f, "decoding failed at bit {} (byte {}) in {at}: ", self.bit_offset, self.bit_offset / 8)?;
        match &self.kind {
            DecodeErrorKind::OutOfData { needed, available } => {
                write!(f, "input ends: needed {needed} more bits, {available} left (truncated input?)")
            }
            DecodeErrorKind::BadChoiceIndex(i) => write!(f, "CHOICE index {i} names no alternative"),
            DecodeErrorKind::BadEnumIndex(i) => write!(f, "ENUMERATED index {i} names no value"),
            DecodeErrorKind::SizeOutOfRange { value, lb, ub } => {
                write!(f, "size {value} outside the constraint {lb}..{ub}")
            }
            DecodeErrorKind::IntOutOfRange(v) => write!(f, "integer {v} outside its constraint"),
            DecodeErrorKind::AboveUpperBound { offset, span } => {
                write!(f, "lower bound + {offset} (read in {span} bits) is outside its constraint")
            }
            DecodeErrorKind::UnsupportedLength(n) => {
                write!(f, "length form {n} is fragmented or larger than 16383: not used by these messages")
            }
            DecodeErrorKind::BadCharacter(c) => write!(f, "character {c} is not IA5"),
            DecodeErrorKind::TrailingBytes(n) => {
                write!(f, "{n} bytes left after the message (wrong type, or two messages?)")
            }
            DecodeErrorKind::TooLarge { len, max } => {
                write!(f, "input of {len} bytes exceeds the {max}-byte limit of this message family")
            }
        }
    }
}

impl std::error::Error for DecodeError {}

/// An encoding failure: a value outside what the standard can carry.
#[derive(Debug, Clone, PartialEq)]
pub struct EncodeError {
    path: FieldPath,
    /// What is wrong with the value.
    pub message: String,
}

impl EncodeError {
    /// A new error with a message.
    pub fn new(message: impl Into<String>) -> Self {
        Self { path: FieldPath::default(), message: message.into() }
    }
    /// Add the enclosing field name.
    #[cold]
    pub fn at(mut self, field: &str) -> Self {
        self.path.field(field);
        self
    }
    /// The field path, outermost first.
    pub fn path(&self) -> String {
        self.path.render()
    }
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot encode {}: {}", self.path(), self.message)
    }
}

impl std::error::Error for EncodeError {}

/// Adds the enclosing field (or list index) to a boxed error while it
/// unwinds.  The generated codec passes errors as `Box<DecodeError>` /
/// `Box<EncodeError>` between its own functions (a one-pointer error keeps
/// `Result`s small, so they travel in registers); the public `decode` and
/// `encode` functions unbox them, so callers see the same errors.
pub trait ErrorPath {
    /// Add the enclosing field name.
    fn at(self, field: &str) -> Self;
    /// Add the enclosing list index.
    fn at_index(self, i: usize) -> Self;
}

impl ErrorPath for Box<DecodeError> {
    #[cold]
    #[inline(never)]
    fn at(mut self, field: &str) -> Self {
        self.path.field(field);
        self
    }
    #[cold]
    #[inline(never)]
    fn at_index(mut self, i: usize) -> Self {
        self.path.index(i);
        self
    }
}

impl ErrorPath for Box<EncodeError> {
    #[cold]
    #[inline(never)]
    fn at(mut self, field: &str) -> Self {
        self.path.field(field);
        self
    }
    #[cold]
    #[inline(never)]
    fn at_index(mut self, i: usize) -> Self {
        self.path.index(i);
        self
    }
}

/// A JER (JSON) reading failure, with the JSON path.
#[derive(Debug, Clone, PartialEq)]
pub struct JerError {
    path: FieldPath,
    /// What is wrong.
    pub message: String,
}

impl JerError {
    /// A new error with a message.
    pub fn new(message: impl Into<String>) -> Self {
        Self { path: FieldPath::default(), message: message.into() }
    }
    /// Add the enclosing member name.
    #[cold]
    pub fn at(mut self, field: &str) -> Self {
        self.path.field(field);
        self
    }
    /// Add the enclosing array index.
    #[cold]
    pub fn at_index(mut self, i: usize) -> Self {
        self.path.index(i);
        self
    }
    /// The JSON path, outermost first.
    pub fn path(&self) -> String {
        self.path.render()
    }
}

impl fmt::Display for JerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = self.path();
        write!(f, "JER at {}: {}", if p.is_empty() { "<top>" } else { &p }, self.message)
    }
}

impl std::error::Error for JerError {}

/// A BIT STRING of at most 64 bits.  Bit `i` of the ASN.1 value (bit 0 is the
/// first bit on the wire, the one ASN.1 named bits number 0) is `1 << i` here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct BitStr {
    /// The bits, bit `i` at `1 << i`.
    pub bits: u64,
    /// Number of bits in the value.
    pub len: u8,
}

impl BitStr {
    /// A bit string of `len` bits, all clear.
    pub fn new(len: u8) -> Self {
        Self { bits: 0, len }
    }
    /// A bit string of `len` bits with the given named bits set.
    pub fn with(len: u8, set: &[u8]) -> Self {
        let mut b = Self::new(len);
        for &i in set {
            b.set(i, true);
        }
        b
    }
    /// Whether bit `i` is set.
    pub fn get(&self, i: u8) -> bool {
        i < self.len && self.bits >> i & 1 == 1
    }
    /// Set or clear bit `i` (ignored when `i` is beyond the length).
    pub fn set(&mut self, i: u8, on: bool) {
        if i < self.len {
            if on {
                self.bits |= 1 << i;
            } else {
                self.bits &= !(1 << i);
            }
        }
    }
    /// The bits in wire order (first bit most significant), right-aligned.
    #[inline]
    fn wire(&self) -> u64 {
        if self.len == 0 {
            0
        } else {
            self.bits.reverse_bits() >> (64 - self.len as u32)
        }
    }
    #[inline]
    fn from_wire(v: u64, len: u8) -> Self {
        let bits = if len == 0 { 0 } else { (v << (64 - len as u32)).reverse_bits() };
        Self { bits, len }
    }
}

/// Reads UPER fields from a byte slice.
#[derive(Debug, Clone)]
pub struct BitReader<'a> {
    data: &'a [u8],
    pos: usize,
    /// Bit position where this reader's input ends (an open type ends before `data` does).
    end: usize,
    /// Bit offset of `data[0]` in the outermost input (for error messages).
    base: usize,
}

impl<'a> BitReader<'a> {
    /// A reader over `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Self { data, pos: 0, end: data.len() * 8, base: 0 }
    }

    /// Current bit position in the outermost input.
    #[inline]
    pub fn position(&self) -> usize {
        self.base + self.pos
    }

    /// Bits not read yet.
    #[inline]
    pub fn remaining(&self) -> usize {
        self.end - self.pos
    }

    #[cold]
    fn out_of_data(&self, needed: usize) -> DecodeError {
        DecodeError::new(self.position(), DecodeErrorKind::OutOfData { needed, available: self.remaining() })
    }

    /// The 64 input bits starting at byte `byte` (big-endian; bytes past the
    /// end of `data` read as zero).  Callers mask off what lies past `end`.
    #[inline(always)]
    fn window(&self, byte: usize) -> u64 {
        match self.data.get(byte..byte + 8) {
            Some(s) => {
                let mut a = [0u8; 8];
                a.copy_from_slice(s);
                u64::from_be_bytes(a)
            }
            None => self.window_tail(byte),
        }
    }

    /// [`Self::window`] for the last 7 bytes of `data`: no `memcpy` call, the
    /// last 8 bytes are loaded at once and shifted into place.
    #[inline(never)]
    fn window_tail(&self, byte: usize) -> u64 {
        let len = self.data.len();
        if byte >= len {
            return 0;
        }
        if len >= 8 {
            let mut a = [0u8; 8];
            a.copy_from_slice(&self.data[len - 8..]);
            // 1..=7 bytes of the window lie past the end
            u64::from_be_bytes(a) << ((byte + 8 - len) * 8)
        } else {
            let mut v = 0u64;
            for (i, b) in self.data[byte..].iter().enumerate() {
                v |= (*b as u64) << (56 - 8 * i);
            }
            v
        }
    }

    /// Read `n` bits (0..=64) as an unsigned number, first bit most significant.
    #[inline(always)]
    pub fn read_bits(&mut self, n: u32) -> Result<u64, DecodeError> {
        if n as usize > self.remaining() {
            return Err(self.out_of_data(n as usize));
        }
        if n > 56 {
            return Ok(self.read_wide(n));
        }
        let w = self.window(self.pos >> 3) << (self.pos & 7);
        self.pos += n as usize;
        // `>> (63 - n) >> 1` is `>> (64 - n)`, and also right (0) for n == 0
        Ok(w >> (63 - n) >> 1)
    }

    /// [`Self::read_bits`] for 57..=64 bits, after the length check.
    #[inline(never)]
    fn read_wide(&mut self, n: u32) -> u64 {
        let hi = self.window(self.pos >> 3) << (self.pos & 7) >> (96 - n);
        self.pos += n as usize - 32;
        let lo = self.window(self.pos >> 3) << (self.pos & 7) >> 32;
        self.pos += 32;
        hi << 32 | lo
    }

    /// Read `k` (1..=64) one-bit flags at once (a SEQUENCE preamble: extension
    /// bit and presence bits), first flag most significant.  On short input it
    /// fails exactly as `k` calls of [`Self::read_bit`] would: at the first
    /// missing bit, needing 1 bit with none left.
    #[inline(always)]
    pub fn read_flags(&mut self, k: u32) -> Result<u64, DecodeError> {
        if k as usize > self.remaining() {
            return Err(self.flags_out_of_data());
        }
        self.read_bits(k)
    }

    #[cold]
    #[inline(never)]
    fn flags_out_of_data(&self) -> DecodeError {
        DecodeError::new(self.base + self.end, DecodeErrorKind::OutOfData { needed: 1, available: 0 })
    }

    /// Read one bit.
    #[inline(always)]
    pub fn read_bit(&mut self) -> Result<bool, DecodeError> {
        if self.pos >= self.end {
            return Err(self.out_of_data(1));
        }
        let b = self.data[self.pos >> 3] >> (7 - (self.pos & 7)) & 1;
        self.pos += 1;
        Ok(b == 1)
    }

    /// Read `N` whole octets (not aligned).
    #[inline]
    pub fn read_array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        if N * 8 > self.remaining() {
            return Err(self.out_of_data(N * 8));
        }
        let mut a = [0u8; N];
        let shift = (self.pos & 7) as u32;
        let start = self.pos >> 3;
        if shift == 0 {
            a.copy_from_slice(&self.data[start..start + N]);
        } else {
            for (i, b) in a.iter_mut().enumerate() {
                *b = (self.window(start + i) << shift >> 56) as u8;
            }
        }
        self.pos += N * 8;
        Ok(a)
    }

    fn read_octets(&mut self, n: usize) -> Result<Vec<u8>, DecodeError> {
        if n * 8 > self.remaining() {
            return Err(self.out_of_data(n * 8));
        }
        let mut v = Vec::with_capacity(n);
        if self.pos & 7 == 0 {
            let s = self.pos >> 3;
            v.extend_from_slice(&self.data[s..s + n]);
            self.pos += n * 8;
        } else {
            for _ in 0..n {
                v.push(self.read_bits(8)? as u8);
            }
        }
        Ok(v)
    }

    /// A length determinant without upper bound (X.691 11.9.3.6-8, unfragmented).
    pub fn unconstrained_len(&mut self) -> Result<usize, DecodeError> {
        let start = self.position();
        if !self.read_bit()? {
            return Ok(self.read_bits(7)? as usize);
        }
        if !self.read_bit()? {
            return Ok(self.read_bits(14)? as usize);
        }
        let m = self.read_bits(6)? as usize;
        Err(DecodeError::new(start, DecodeErrorKind::UnsupportedLength(m * 16384)))
    }

    /// A length or count constrained to `lb..=ub` (optionally extensible).
    #[inline]
    pub fn seq_len(&mut self, lb: usize, ub: usize, ext: bool) -> Result<usize, DecodeError> {
        let start = self.position();
        if ub >= UNBOUNDED {
            return self.unconstrained_len();
        }
        if ext && self.read_bit()? {
            let n = self.unconstrained_len()?;
            // each element needs at least one bit? not for NULL; bound by input anyway
            if n > self.remaining().max(1) * 8 {
                return Err(self.out_of_data(n));
            }
            return Ok(n);
        }
        let nb = bits_for(ub - lb + 1);
        let n = lb + self.read_bits(nb)? as usize;
        if n > ub {
            return Err(DecodeError::new(start, DecodeErrorKind::SizeOutOfRange { value: n, lb, ub }));
        }
        Ok(n)
    }

    /// A constrained whole number in `nb` bits whose offset from the lower
    /// bound may not exceed `span` (= ub - lb): a range that is not a power of
    /// two leaves bit patterns that no value has.
    #[inline(always)]
    pub fn read_constrained(&mut self, nb: u32, span: u64) -> Result<u64, DecodeError> {
        let x = self.read_bits(nb)?;
        if x > span {
            return Err(self.constrained_out_of_range(nb, x));
        }
        Ok(x)
    }

    /// The error of [`Self::read_constrained`], at the start of the `nb` bits just read.
    #[cold]
    #[inline(never)]
    fn constrained_out_of_range(&self, nb: u32, x: u64) -> DecodeError {
        DecodeError::new(self.position() - nb as usize, DecodeErrorKind::AboveUpperBound { offset: x, span: nb })
    }

    /// An integer with an extensible constraint `(lb..ub, ...)`.
    pub fn ext_int(&mut self, lb: i64, ub: i64) -> Result<i64, DecodeError> {
        if self.read_bit()? {
            // outside the root: unconstrained whole number, two's complement
            let start = self.position();
            let n = self.unconstrained_len()?;
            if n == 0 || n > 8 {
                return Err(DecodeError::new(start, DecodeErrorKind::UnsupportedLength(n)));
            }
            let raw = self.read_bits(n as u32 * 8)?;
            let shift = 64 - n as u32 * 8;
            return Ok(((raw << shift) as i64) >> shift);
        }
        let nb = bits_for_i(lb, ub);
        let start = self.position();
        let v = lb.wrapping_add(self.read_bits(nb)? as i64);
        if v > ub {
            return Err(DecodeError::new(start, DecodeErrorKind::IntOutOfRange(v)));
        }
        Ok(v)
    }

    /// A normally small non-negative whole number (X.691 11.6).
    pub fn normally_small(&mut self) -> Result<u64, DecodeError> {
        if !self.read_bit()? {
            return self.read_bits(6);
        }
        let start = self.position();
        let n = self.unconstrained_len()?;
        // indexes of extension values and alternatives: no schema has 2^32 of them
        if n == 0 || n > 4 {
            return Err(DecodeError::new(start, DecodeErrorKind::UnsupportedLength(n)));
        }
        self.read_bits(n as u32 * 8)
    }

    /// The extension-addition presence bitmap of a SEQUENCE.
    pub fn ext_bitmap(&mut self) -> Result<Vec<bool>, DecodeError> {
        let start = self.position();
        let n = if !self.read_bit()? {
            self.read_bits(6)? as usize + 1
        } else {
            let n = self.unconstrained_len()?;
            if n > self.remaining() {
                return Err(DecodeError::new(start, DecodeErrorKind::UnsupportedLength(n)));
            }
            n
        };
        let mut v = Vec::with_capacity(n);
        for _ in 0..n {
            v.push(self.read_bit()?);
        }
        Ok(v)
    }

    /// An open type: a length in octets, then a complete encoding.  Returns a
    /// reader over exactly that encoding (error offsets still count from the
    /// outermost input) and skips it in `self`.
    pub fn open_type(&mut self) -> Result<BitReader<'a>, DecodeError> {
        let n = self.unconstrained_len()?;
        if n * 8 > self.remaining() {
            return Err(self.out_of_data(n * 8));
        }
        let sub = BitReader { data: self.data, pos: self.pos, end: self.pos + n * 8, base: self.base };
        self.pos += n * 8;
        Ok(sub)
    }

    /// The unread bits of this reader as octets (for keeping unknown extensions).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut r = self.clone();
        let mut v = Vec::with_capacity(r.remaining() / 8);
        while r.remaining() >= 8 {
            v.push(r.read_bits(8).unwrap_or(0) as u8);
        }
        v
    }

    /// A BIT STRING with size `lb..=ub` (fixed when equal).
    #[inline]
    pub fn bit_string(&mut self, lb: usize, ub: usize, ext: bool) -> Result<BitStr, DecodeError> {
        let n = if lb == ub && !ext {
            lb
        } else if lb == ub {
            let start = self.position();
            if self.read_bit()? {
                let n = self.unconstrained_len()?;
                if n > 64 {
                    return Err(DecodeError::new(start, DecodeErrorKind::SizeOutOfRange { value: n, lb, ub: 64 }));
                }
                n
            } else {
                lb
            }
        } else {
            self.seq_len(lb, ub, ext)?
        };
        if n > 64 {
            return Err(DecodeError::new(self.position(), DecodeErrorKind::SizeOutOfRange { value: n, lb, ub: 64 }));
        }
        let v = self.read_bits(n as u32)?;
        Ok(BitStr::from_wire(v, n as u8))
    }

    /// An OCTET STRING with size `lb..=ub`.
    pub fn octet_string(&mut self, lb: usize, ub: usize, ext: bool) -> Result<Vec<u8>, DecodeError> {
        let n = if lb == ub && ext {
            if self.read_bit()? {
                self.unconstrained_len()?
            } else {
                lb
            }
        } else {
            self.seq_len(lb, ub, ext)?
        };
        self.read_octets(n)
    }

    /// An IA5String with size `lb..=ub` (7 bits per character).
    pub fn ia5_string(&mut self, lb: usize, ub: usize, ext: bool) -> Result<String, DecodeError> {
        let n = self.seq_len(lb, ub, ext)?;
        if n * 7 > self.remaining() {
            return Err(self.out_of_data(n * 7));
        }
        let mut s = String::with_capacity(n);
        for _ in 0..n {
            s.push(self.read_bits(7)? as u8 as char);
        }
        Ok(s)
    }

    /// Finish a top-level decode: only zero padding (less than a byte) may remain.
    pub fn finish(&self) -> Result<(), DecodeError> {
        let left = self.remaining();
        if left >= 8 {
            return Err(DecodeError::new(self.position(), DecodeErrorKind::TrailingBytes(left / 8)));
        }
        Ok(())
    }
}

/// An upper size bound at or above this means "no SIZE constraint": the
/// length is a general length determinant (X.691 11.9.3.6).
pub const UNBOUNDED: usize = 65536;

/// Bits of a constrained whole number with `range` values.
#[inline]
pub fn bits_for(range: usize) -> u32 {
    if range <= 1 {
        0
    } else {
        usize::BITS - (range - 1).leading_zeros()
    }
}

fn bits_for_i(lb: i64, ub: i64) -> u32 {
    let range = (ub as i128 - lb as i128) as u128;
    if range == 0 {
        0
    } else {
        128 - range.leading_zeros()
    }
}

/// The error of [`BitWriter::write_constrained`] (kept out of line: the
/// check is on every integer field, the formatting almost never runs).
#[cold]
#[inline(never)]
fn out_of_range(what: &str, v: i64, lb: i64, ub: i64) -> EncodeError {
    EncodeError::new(format!("{what} {v} is outside the standard's range {lb}..{ub}"))
}

/// Writes UPER fields into a growing buffer.
///
/// Bits collect in a 64-bit accumulator (`acc`, first bit at bit 63) that is
/// stored as 8 bytes at once when full, so a field costs a shift and an OR
/// rather than one `Vec::push` per byte.
#[derive(Debug, Default, Clone)]
pub struct BitWriter {
    buf: Vec<u8>,
    /// Pending bits, left-aligned: the first `nacc` bits of `acc`, the rest zero.
    acc: u64,
    /// Number of pending bits, 0..=63.
    nacc: u32,
}

impl BitWriter {
    /// An empty writer.
    pub fn new() -> Self {
        Self { buf: Vec::with_capacity(256), acc: 0, nacc: 0 }
    }

    /// An empty writer that reuses `buf`'s allocation.
    pub fn with_buffer(mut buf: Vec<u8>) -> Self {
        buf.clear();
        Self { buf, acc: 0, nacc: 0 }
    }

    /// Write the low `n` bits of `v` (n <= 64), most significant first.
    #[inline(always)]
    pub fn write_bits(&mut self, v: u64, n: u32) {
        if n == 0 {
            return;
        }
        let v = v & (u64::MAX >> (64 - n));
        let free = 64 - self.nacc; // 1..=64
        if n < free {
            self.acc |= v << (free - n);
            self.nacc += n;
        } else {
            let rest = n - free; // 0..=63 bits that do not fit
            self.acc |= v >> rest;
            self.buf.extend_from_slice(&self.acc.to_be_bytes());
            self.acc = if rest == 0 { 0 } else { v << (64 - rest) };
            self.nacc = rest;
        }
    }

    /// Write one bit.
    #[inline(always)]
    pub fn write_bit(&mut self, b: bool) {
        self.write_bits(b as u64, 1);
    }

    /// Move the whole pending bytes of the accumulator into `buf` (keeps any
    /// partial byte pending).
    #[inline]
    fn flush_bytes(&mut self) {
        let whole = (self.nacc / 8) as usize;
        if whole > 0 {
            self.buf.extend_from_slice(&self.acc.to_be_bytes()[..whole]);
            self.acc = if whole == 8 { 0 } else { self.acc << (whole * 8) };
            self.nacc -= whole as u32 * 8;
        }
    }

    /// Write whole octets (not aligned).
    pub fn write_bytes(&mut self, b: &[u8]) {
        self.flush_bytes();
        if self.nacc == 0 {
            self.buf.extend_from_slice(b);
        } else {
            self.buf.reserve(b.len() + 8);
            for chunk in b.chunks(8) {
                let mut a = [0u8; 8];
                a[..chunk.len()].copy_from_slice(chunk);
                let bits = chunk.len() as u32 * 8;
                self.write_bits(u64::from_be_bytes(a) >> (64 - bits), bits);
            }
        }
    }

    /// Bits written so far.
    pub fn bit_len(&self) -> usize {
        self.buf.len() * 8 + self.nacc as usize
    }

    /// Unconstrained length determinant (unfragmented, < 16384).
    pub fn unconstrained_len(&mut self, n: usize) -> Result<(), EncodeError> {
        if n < 128 {
            self.write_bits(n as u64, 8);
        } else if n < 16384 {
            self.write_bits(0b10 << 14 | n as u64, 16);
        } else {
            return Err(EncodeError::new(format!("length {n} needs fragmentation (limit 16383)")));
        }
        Ok(())
    }

    /// A count constrained to `lb..=ub`; `what` names the type for the error.
    #[inline]
    pub fn seq_len(&mut self, n: usize, lb: usize, ub: usize, ext: bool, what: &str) -> Result<(), EncodeError> {
        if ub >= UNBOUNDED {
            return self.unconstrained_len(n);
        }
        if n < lb || n > ub {
            if ext && n > ub {
                self.write_bit(true);
                return self.unconstrained_len(n);
            }
            return Err(EncodeError::new(format!("{what} has {n} elements; the standard allows {lb} to {ub}")));
        }
        if ext {
            self.write_bit(false);
        }
        self.write_bits((n - lb) as u64, bits_for(ub - lb + 1));
        Ok(())
    }

    /// A constrained whole number `lb..=ub` in `nb` bits; a value outside the
    /// constraint is refused (`what` names the type).
    #[inline(always)]
    pub fn write_constrained(&mut self, v: i64, lb: i64, ub: i64, nb: u32, what: &str) -> Result<(), EncodeError> {
        if v < lb || v > ub {
            return Err(out_of_range(what, v, lb, ub));
        }
        self.write_bits((v - lb) as u64, nb);
        Ok(())
    }

    /// An integer with an extensible constraint.
    pub fn ext_int(&mut self, v: i64, lb: i64, ub: i64) {
        if v < lb || v > ub {
            self.write_bit(true);
            let bytes = v.to_be_bytes();
            // minimal two's complement octets
            let mut i = 0;
            while i < 7
                && ((bytes[i] == 0 && bytes[i + 1] & 0x80 == 0) || (bytes[i] == 0xff && bytes[i + 1] & 0x80 != 0))
            {
                i += 1;
            }
            let n = 8 - i;
            self.write_bits(n as u64, 8);
            self.write_bytes(&bytes[i..]);
        } else {
            self.write_bit(false);
            self.write_bits((v as i128 - lb as i128) as u64, bits_for_i(lb, ub));
        }
    }

    /// A normally small non-negative whole number.
    pub fn normally_small(&mut self, v: u64) {
        if v < 64 {
            self.write_bits(v, 7);
        } else {
            self.write_bit(true);
            let n = (8 - v.leading_zeros() / 8).max(1);
            self.write_bits(n as u64, 8);
            self.write_bits(v, n * 8);
        }
    }

    /// The length of an extension-addition bitmap (`n` >= 1).
    pub fn normally_small_len(&mut self, n: usize) {
        self.normally_small(n as u64 - 1);
    }

    /// An open type: length in octets, then the bytes.
    pub fn open_type(&mut self, body: &[u8]) {
        // lengths beyond 16383 do not occur for the open types of these messages;
        // an overlong body is truncated to fail loudly at decode rather than panic here
        let n = body.len().min(16383);
        self.buf.reserve(n + 16);
        let _ = self.unconstrained_len(n);
        self.write_bytes(&body[..n]);
    }

    /// A BIT STRING.
    pub fn bit_string(&mut self, v: &BitStr, lb: usize, ub: usize, ext: bool, what: &str) -> Result<(), EncodeError> {
        let n = v.len as usize;
        if lb == ub && !ext {
            if n != lb {
                return Err(EncodeError::new(format!("{what} must have {lb} bits, has {n}")));
            }
        } else if lb == ub {
            if n == lb {
                self.write_bit(false);
            } else {
                self.write_bit(true);
                self.unconstrained_len(n)?;
            }
        } else {
            self.seq_len(n, lb, ub, ext, what)?;
        }
        self.write_bits(v.wire(), n as u32);
        Ok(())
    }

    /// An OCTET STRING.
    pub fn octet_string(&mut self, v: &[u8], lb: usize, ub: usize, ext: bool, what: &str) -> Result<(), EncodeError> {
        if lb == ub && ext {
            if v.len() == lb {
                self.write_bit(false);
            } else {
                self.write_bit(true);
                self.unconstrained_len(v.len())?;
            }
        } else {
            self.seq_len(v.len(), lb, ub, ext, what)?;
        }
        self.write_bytes(v);
        Ok(())
    }

    /// An IA5String.
    pub fn ia5_string(&mut self, v: &str, lb: usize, ub: usize, ext: bool, what: &str) -> Result<(), EncodeError> {
        if let Some(c) = v.chars().find(|c| !c.is_ascii()) {
            return Err(EncodeError::new(format!("{what} `{v}` holds `{c}`, which is not IA5 (ASCII)")));
        }
        self.seq_len(v.len(), lb, ub, ext, what)?;
        for b in v.bytes() {
            self.write_bits(b as u64, 7);
        }
        Ok(())
    }

    /// The bytes, padded with zero bits to a whole octet.
    pub fn finish(mut self) -> Vec<u8> {
        let used = self.nacc.div_ceil(8) as usize;
        self.buf.extend_from_slice(&self.acc.to_be_bytes()[..used]);
        self.buf
    }

    /// The bytes of a complete encoding used as an open type (at least one octet).
    pub fn finish_open(self) -> Vec<u8> {
        let mut b = self.finish();
        if b.is_empty() {
            b.push(0);
        }
        b
    }
}

/// X.697 JER helpers used by the generated code.
pub mod jer {
    use super::{BitStr, JerError};
    use serde_json::{Map, Value};
    use std::fmt::Write;

    /// Start a member `"name":`.
    #[inline]
    pub fn key(o: &mut String, first: &mut bool, name: &str) {
        if !*first {
            o.push(',');
        }
        *first = false;
        o.push('"');
        o.push_str(name);
        o.push_str("\":");
    }
    /// An integer (decimal, as `write!(o, "{v}")` would give, without the
    /// formatting machinery).
    #[inline]
    pub fn write_int(o: &mut String, v: i64) {
        let mut buf = [0u8; 20];
        let mut i = buf.len();
        let mut n = v.unsigned_abs();
        loop {
            i -= 1;
            buf[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        if v < 0 {
            o.push('-');
        }
        for &d in &buf[i..] {
            o.push(d as char);
        }
    }
    /// A boolean.
    pub fn write_bool(o: &mut String, v: bool) {
        o.push_str(if v { "true" } else { "false" });
    }
    /// A JSON string with escaping (the same escapes as `serde_json`: `"`,
    /// `\\`, and control characters below U+0020).
    #[inline]
    pub fn write_str(o: &mut String, v: &str) {
        o.push('"');
        if v.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\') {
            write_escaped(o, v);
        } else {
            o.push_str(v);
        }
        o.push('"');
    }

    #[cold]
    fn write_escaped(o: &mut String, v: &str) {
        for c in v.chars() {
            match c {
                '"' => o.push_str("\\\""),
                '\\' => o.push_str("\\\\"),
                '\n' => o.push_str("\\n"),
                '\r' => o.push_str("\\r"),
                '\t' => o.push_str("\\t"),
                '\u{8}' => o.push_str("\\b"),
                '\u{c}' => o.push_str("\\f"),
                c if (c as u32) < 0x20 => {
                    let _ = write!(o, "\\u{:04x}", c as u32);
                }
                c => o.push(c),
            }
        }
    }

    /// Upper-case hex of octets, as a JSON string.
    pub fn write_hex(o: &mut String, v: &[u8]) {
        const HEX: &[u8; 16] = b"0123456789ABCDEF";
        o.reserve(v.len() * 2 + 2);
        o.push('"');
        for &b in v {
            o.push(HEX[(b >> 4) as usize] as char);
            o.push(HEX[(b & 15) as usize] as char);
        }
        o.push('"');
    }
    /// A BIT STRING: hex when fixed-size, else `{"value": hex, "length": n}` (X.697 24).
    pub fn write_bits(o: &mut String, v: &BitStr, fixed: bool) {
        let n = v.len as usize;
        let wire = if n == 0 { 0 } else { v.bits.reverse_bits() };
        let bytes = wire.to_be_bytes();
        let used = n.div_ceil(8);
        if fixed {
            write_hex(o, &bytes[..used]);
        } else {
            o.push_str("{\"value\":");
            write_hex(o, &bytes[..used]);
            let _ = write!(o, ",\"length\":{n}}}");
        }
    }

    fn kind(v: &Value) -> &'static str {
        match v {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Number(_) => "a number",
            Value::String(_) => "a string",
            Value::Array(_) => "an array",
            Value::Object(_) => "an object",
        }
    }

    /// An object with only the given member names.
    pub fn object<'v>(v: &'v Value, allowed: &[&str]) -> Result<&'v Map<String, Value>, JerError> {
        let obj = v.as_object().ok_or_else(|| JerError::new(format!("expected an object, found {}", kind(v))))?;
        for k in obj.keys() {
            if !allowed.contains(&k.as_str()) {
                return Err(JerError::new(format!("unknown member `{k}`, expected one of {}", allowed.join(", "))));
            }
        }
        Ok(obj)
    }
    /// A mandatory member.
    pub fn field<'v>(obj: &'v Map<String, Value>, name: &str) -> Result<&'v Value, JerError> {
        obj.get(name).ok_or_else(|| JerError::new(format!("missing mandatory member `{name}`")))
    }
    /// A CHOICE: an object with exactly one member.
    pub fn choice(v: &Value) -> Result<(&str, &Value), JerError> {
        let obj = v.as_object().ok_or_else(|| JerError::new(format!("expected a CHOICE object, found {}", kind(v))))?;
        let mut it = obj.iter();
        match (it.next(), it.next()) {
            (Some((k, x)), None) => Ok((k.as_str(), x)),
            _ => Err(JerError::new("a CHOICE object must have exactly one member")),
        }
    }
    /// An extension alternative this codec does not know, as written by the
    /// generated `write_jer`: `{"index": n, "encoding": "<hex>"}`.
    pub fn unknown_extension(v: &Value) -> Result<(u32, Vec<u8>), JerError> {
        let obj = object(v, &["index", "encoding"])?;
        let i = read_int(field(obj, "index")?, 0, u32::MAX as i64, false).map_err(|e| e.at("index"))? as u32;
        let b = read_hex(field(obj, "encoding")?, 0, 16383, false).map_err(|e| e.at("encoding"))?;
        Ok((i, b))
    }

    /// A string.
    pub fn string(v: &Value) -> Result<&str, JerError> {
        v.as_str().ok_or_else(|| JerError::new(format!("expected a string, found {}", kind(v))))
    }
    /// An integer within `lb..=ub` (or any i64 when the constraint is extensible).
    pub fn read_int(v: &Value, lb: i64, ub: i64, ext: bool) -> Result<i64, JerError> {
        let x = v.as_i64().ok_or_else(|| JerError::new(format!("expected an integer, found {v}")))?;
        if !ext && (x < lb || x > ub) {
            return Err(JerError::new(format!("{x} is outside {lb}..{ub}")));
        }
        Ok(x)
    }
    /// A boolean.
    pub fn read_bool(v: &Value) -> Result<bool, JerError> {
        v.as_bool().ok_or_else(|| JerError::new(format!("expected true or false, found {}", kind(v))))
    }
    /// NULL.
    pub fn read_null(v: &Value) -> Result<(), JerError> {
        if v.is_null() {
            Ok(())
        } else {
            Err(JerError::new(format!("expected null, found {}", kind(v))))
        }
    }
    fn hex_bytes(s: &str) -> Result<Vec<u8>, JerError> {
        if !s.len().is_multiple_of(2) {
            return Err(JerError::new(format!("hex string `{s}` has an odd number of digits")));
        }
        (0..s.len())
            .step_by(2)
            .map(|i| {
                u8::from_str_radix(s.get(i..i + 2).unwrap_or("zz"), 16)
                    .map_err(|_| JerError::new(format!("`{s}` is not a hex string")))
            })
            .collect()
    }
    /// Octets from hex, size `lb..=ub`.
    pub fn read_hex(v: &Value, lb: usize, ub: usize, ext: bool) -> Result<Vec<u8>, JerError> {
        let b = hex_bytes(string(v)?)?;
        if !ext && (b.len() < lb || b.len() > ub) {
            return Err(JerError::new(format!("{} octets, expected {lb} to {ub}", b.len())));
        }
        Ok(b)
    }
    /// Exactly `N` octets from hex.
    pub fn read_hex_array<const N: usize>(v: &Value) -> Result<[u8; N], JerError> {
        let b = hex_bytes(string(v)?)?;
        b.as_slice().try_into().map_err(|_| JerError::new(format!("{} octets, expected exactly {N}", b.len())))
    }
    /// A BIT STRING (hex when fixed, `{"value","length"}` otherwise).
    pub fn read_bits(v: &Value, lb: usize, ub: usize, ext: bool) -> Result<BitStr, JerError> {
        let (hex, n) = match v {
            Value::String(s) => (s.as_str(), lb),
            Value::Object(o) => {
                let hex = string(o.get("value").ok_or_else(|| JerError::new("BIT STRING object needs `value`"))?)?;
                let n = o
                    .get("length")
                    .and_then(Value::as_u64)
                    .ok_or_else(|| JerError::new("BIT STRING object needs an integer `length`"))?
                    as usize;
                (hex, n)
            }
            _ => return Err(JerError::new(format!("expected a BIT STRING, found {}", kind(v)))),
        };
        if n > 64 || (!ext && (n < lb || n > ub)) {
            return Err(JerError::new(format!("{n} bits, expected {lb} to {ub}")));
        }
        let bytes = hex_bytes(hex)?;
        if bytes.len() != n.div_ceil(8) {
            return Err(JerError::new(format!("{n} bits need {} hex octets, found {}", n.div_ceil(8), bytes.len())));
        }
        let mut a = [0u8; 8];
        a[..bytes.len()].copy_from_slice(&bytes);
        let wire = u64::from_be_bytes(a);
        let mut b = BitStr::new(n as u8);
        b.bits = wire.reverse_bits() & if n == 64 { u64::MAX } else { (1u64 << n) - 1 };
        Ok(b)
    }
    /// An IA5String of `lb..=ub` characters.
    pub fn read_ia5(v: &Value, lb: usize, ub: usize, ext: bool) -> Result<String, JerError> {
        let s = string(v)?;
        if !s.is_ascii() {
            return Err(JerError::new(format!("`{s}` is not IA5 (ASCII)")));
        }
        if !ext && (s.len() < lb || s.len() > ub) {
            return Err(JerError::new(format!("{} characters, expected {lb} to {ub}", s.len())));
        }
        Ok(s.to_string())
    }
    /// An array of `lb..=ub` elements.
    pub fn read_array(v: &Value, lb: usize, ub: usize, ext: bool) -> Result<&Vec<Value>, JerError> {
        let a = v.as_array().ok_or_else(|| JerError::new(format!("expected an array, found {}", kind(v))))?;
        if !ext && (a.len() < lb || a.len() > ub) {
            return Err(JerError::new(format!("{} elements, the standard allows {lb} to {ub}", a.len())));
        }
        Ok(a)
    }
}

/// Constrained generation of values for property tests and fuzzing.
pub mod arb {
    use super::BitStr;
    use arbitrary::{Result, Unstructured};

    /// Cap on generated list lengths beyond the lower bound (keeps cases small).
    const EXTRA: usize = 4;

    /// A length in `lb..=ub`, mostly small.
    pub fn len(u: &mut Unstructured<'_>, lb: usize, ub: usize) -> Result<usize> {
        u.int_in_range(lb..=ub.min(lb + EXTRA))
    }
    /// A bit string of `lb..=ub` bits.
    pub fn bits(u: &mut Unstructured<'_>, lb: usize, ub: usize) -> Result<BitStr> {
        let n = u.int_in_range(lb..=ub)?;
        let v: u64 = u.arbitrary()?;
        let mut b = BitStr::new(n as u8);
        b.bits = if n == 64 { v } else { v & ((1u64 << n) - 1) };
        Ok(b)
    }
    /// Octets, `lb..=ub` of them.
    pub fn bytes(u: &mut Unstructured<'_>, lb: usize, ub: usize) -> Result<Vec<u8>> {
        let n = len(u, lb, ub)?;
        (0..n).map(|_| u.arbitrary::<u8>()).collect()
    }
    /// Printable IA5 text, `lb..=ub` characters.
    pub fn ia5(u: &mut Unstructured<'_>, lb: usize, ub: usize) -> Result<String> {
        let n = len(u, lb, ub)?;
        (0..n).map(|_| u.int_in_range(0x20u8..=0x7e).map(|c| c as char)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reference bit-serial writer: one bit at a time, most significant first.
    fn serial(fields: &[(u64, u32)]) -> Vec<u8> {
        let mut bits = Vec::new();
        for &(v, n) in fields {
            for i in (0..n).rev() {
                bits.push(v >> i & 1 == 1);
            }
        }
        bits.chunks(8).map(|c| c.iter().enumerate().fold(0u8, |b, (i, &x)| b | (x as u8) << (7 - i))).collect()
    }

    /// Fields of every width 0..=64 at every alignment, with values that
    /// use all their bits.
    fn fields() -> Vec<(u64, u32)> {
        let mut f = Vec::new();
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for round in 0..3 {
            for n in 0..=64u32 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let v = if n == 64 { x } else { x & ((1u64 << n) - 1) };
                f.push((v, n));
                f.push((round & 1, 1)); // shift the alignment of the next field
            }
        }
        f
    }

    #[test]
    fn writer_and_reader_agree_with_a_bit_serial_reference() {
        let f = fields();
        let mut w = BitWriter::new();
        for &(v, n) in &f {
            w.write_bits(v | if n < 64 { u64::MAX << n } else { 0 }, n); // high bits are ignored
        }
        let total: u32 = f.iter().map(|x| x.1).sum();
        assert_eq!(w.bit_len(), total as usize);
        let bytes = w.finish();
        assert_eq!(bytes, serial(&f));
        let mut r = BitReader::new(&bytes);
        for &(v, n) in &f {
            assert_eq!(r.read_bits(n).unwrap(), v, "{n} bits at {}", r.position());
        }
        assert!(r.finish().is_ok());
    }

    #[test]
    fn reads_near_the_end_and_on_short_inputs() {
        for len in 0..12usize {
            let data: Vec<u8> = (0..len as u8).map(|i| i.wrapping_mul(37) ^ 0xa5).collect();
            for start in 0..=len * 8 {
                for n in 0..=(len * 8 - start).min(64) as u32 {
                    let mut r = BitReader::new(&data);
                    r.read_bits(start as u32 % 57).unwrap(); // move to `start` in up to two reads
                    r.read_bits((start - start % 57) as u32).unwrap();
                    let mut want = 0u64;
                    for i in start..start + n as usize {
                        want = want << 1 | (data[i / 8] >> (7 - i % 8) & 1) as u64;
                    }
                    assert_eq!(r.read_bits(n).unwrap(), want, "len {len} start {start} n {n}");
                }
                let mut r = BitReader::new(&data);
                r.read_bits(start as u32 % 57).unwrap();
                r.read_bits((start - start % 57) as u32).unwrap();
                let e = r.read_bits(len as u32 * 8 - start as u32 + 1).unwrap_err();
                assert_eq!(e.bit_offset, start);
            }
        }
    }

    #[test]
    fn write_bytes_at_any_alignment() {
        let body: Vec<u8> = (0..37u8).map(|i| i.wrapping_mul(91)).collect();
        for lead in 0..16u32 {
            let mut w = BitWriter::new();
            w.write_bits(0x5a5a, lead);
            w.write_bytes(&body);
            w.write_bits(1, 1);
            let mut f = vec![(0x5a5a & ((1u64 << lead) - 1), lead)];
            f.extend(body.iter().map(|&b| (b as u64, 8)));
            f.push((1, 1));
            assert_eq!(w.finish(), serial(&f), "lead {lead}");
            let bytes = serial(&f);
            let mut r = BitReader::new(&bytes);
            r.read_bits(lead).unwrap();
            assert_eq!(r.read_array::<8>().unwrap()[..], body[..8]);
        }
    }

    #[test]
    fn read_flags_fails_where_the_first_missing_bit_is() {
        let data = [0b1010_0000u8];
        let mut r = BitReader::new(&data);
        r.read_bits(5).unwrap();
        let e = r.read_flags(4).unwrap_err();
        let mut bitwise = BitReader::new(&data);
        bitwise.read_bits(5).unwrap();
        let e2 = (0..4).map(|_| bitwise.read_bit()).find_map(Result::err).unwrap();
        assert_eq!(e, e2);
        assert_eq!(e.bit_offset, 8);
        assert_eq!(e.kind, DecodeErrorKind::OutOfData { needed: 1, available: 0 });
        let mut r = BitReader::new(&data);
        assert_eq!(r.read_flags(3).unwrap(), 0b101);
    }

    #[test]
    fn jer_writers_match_serde_json_and_std() {
        for s in ["", "rsu", "a\"b", "back\\slash", "nl\nx", "\u{0}\u{1}\u{1f}\u{7f}", "\t\r\u{8}\u{c}", "ünï中文/"]
        {
            let mut o = String::new();
            jer::write_str(&mut o, s);
            assert_eq!(o, serde_json::Value::String(s.to_string()).to_string(), "{s:?}");
        }
        for v in [0i64, 7, -7, 10, -10, 999, 1000, 65535, -2048, i64::MAX, i64::MIN] {
            let mut o = String::new();
            jer::write_int(&mut o, v);
            assert_eq!(o, v.to_string());
        }
        let mut o = String::new();
        jer::write_hex(&mut o, &[0x00, 0x0f, 0xa5, 0xff]);
        assert_eq!(o, "\"000FA5FF\"");
    }
}
