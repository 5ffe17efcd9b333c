//! redb storage backends: a file, or memory; either can be wrapped by a
//! [`FailSwitch`] that makes writes fail as a full disk would, for tests.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use redb::StorageBackend;

/// A switch that, when on, makes every write and sync of the wrapped
/// backend fail with "no space left on device".
#[derive(Clone, Debug, Default)]
pub struct FailSwitch(Arc<AtomicBool>);

impl FailSwitch {
    /// A switch that is off.
    pub fn new() -> Self {
        FailSwitch::default()
    }

    /// Turns failure on or off.
    pub fn set(&self, fail: bool) {
        self.0.store(fail, Ordering::SeqCst);
    }

    fn check(&self) -> io::Result<()> {
        if self.0.load(Ordering::SeqCst) {
            Err(io::Error::new(
                io::ErrorKind::StorageFull,
                "no space left on device (simulated)",
            ))
        } else {
            Ok(())
        }
    }
}

/// A backend whose writes fail while its switch is on.
#[derive(Debug)]
pub struct Failing<B> {
    inner: B,
    switch: FailSwitch,
}

impl<B> Failing<B> {
    /// Wraps `inner`.
    pub fn new(inner: B, switch: FailSwitch) -> Self {
        Failing { inner, switch }
    }
}

impl<B: StorageBackend> StorageBackend for Failing<B> {
    fn len(&self) -> Result<u64, io::Error> {
        self.inner.len()
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), io::Error> {
        self.inner.read(offset, out)
    }

    fn set_len(&self, len: u64) -> Result<(), io::Error> {
        self.switch.check()?;
        self.inner.set_len(len)
    }

    fn sync_data(&self) -> Result<(), io::Error> {
        self.switch.check()?;
        self.inner.sync_data()
    }

    fn write(&self, offset: u64, data: &[u8]) -> Result<(), io::Error> {
        self.switch.check()?;
        self.inner.write(offset, data)
    }
}
