//! The set of sources a read consults, published atomically.
//!
//! A reader loads the current [`ReadSet`] once (lock-free, through
//! `arc-swap`) and reads only from it; a flush or a memtable seal builds a
//! new set and swaps it in. Sources stay alive while any reader holds a set
//! that contains them, so a segment file is unmapped only after its last
//! reader is done.

use crate::sync::Arc;

use super::memtable::Memtable;
use super::segment::Segment;

#[derive(Debug, Clone)]
pub struct ReadSet {
    /// The memtable taking writes.
    pub mem: Arc<Memtable>,
    /// Sealed memtables waiting to be flushed, newest first.
    pub imm: Vec<Arc<Memtable>>,
    /// Segments, newest first.
    pub segments: Vec<Arc<Segment>>,
}

impl ReadSet {
    /// All memtables, newest first.
    pub fn memtables(&self) -> impl Iterator<Item = &Arc<Memtable>> {
        std::iter::once(&self.mem).chain(self.imm.iter())
    }
}
