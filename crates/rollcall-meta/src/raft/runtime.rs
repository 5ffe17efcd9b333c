//! openraft's async runtime for rollcall: tokio, exactly as openraft's own
//! `TokioRuntime`, except that the random election timeouts can be drawn
//! from a seeded generator. Production never seeds it (the thread RNG is
//! used); the deterministic simulation seeds it per run, so a failing
//! seed replays with the same elections.

use std::cell::RefCell;
use std::future::Future;
use std::time::Duration;

use openraft::{AsyncRuntime, OptionalSend, TokioInstant, TokioRuntime};
use rand08::rngs::StdRng;
use rand08::{RngCore, SeedableRng};

thread_local! {
    static SEEDED: RefCell<Option<StdRng>> = const { RefCell::new(None) };
}

/// Makes Raft nodes created on this thread draw their election timeouts
/// from a generator seeded with `seed` (`None`: the thread RNG again).
/// For simulations, which run every server on one thread.
pub fn seed_election_timeouts(seed: Option<u64>) {
    SEEDED.with(|s| *s.borrow_mut() = seed.map(StdRng::seed_from_u64));
}

/// The runtime named in [`super::TypeConfig`].
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Runtime;

/// A handle on this thread's generator: the seeded one if any, else the
/// thread RNG.
pub struct ElectionRng;

impl RngCore for ElectionRng {
    fn next_u32(&mut self) -> u32 {
        self.next_u64() as u32
    }

    fn next_u64(&mut self) -> u64 {
        SEEDED.with(|s| match s.borrow_mut().as_mut() {
            Some(r) => r.next_u64(),
            None => rand08::thread_rng().next_u64(),
        })
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        SEEDED.with(|s| match s.borrow_mut().as_mut() {
            Some(r) => r.fill_bytes(dest),
            None => rand08::thread_rng().fill_bytes(dest),
        })
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand08::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl AsyncRuntime for Runtime {
    type JoinError = <TokioRuntime as AsyncRuntime>::JoinError;
    type JoinHandle<T: OptionalSend + 'static> = <TokioRuntime as AsyncRuntime>::JoinHandle<T>;
    type Sleep = <TokioRuntime as AsyncRuntime>::Sleep;
    type Instant = TokioInstant;
    type TimeoutError = <TokioRuntime as AsyncRuntime>::TimeoutError;
    type Timeout<R, T: Future<Output = R> + OptionalSend> =
        <TokioRuntime as AsyncRuntime>::Timeout<R, T>;
    type ThreadLocalRng = ElectionRng;
    type OneshotSender<T: OptionalSend> = <TokioRuntime as AsyncRuntime>::OneshotSender<T>;
    type OneshotReceiverError = <TokioRuntime as AsyncRuntime>::OneshotReceiverError;
    type OneshotReceiver<T: OptionalSend> = <TokioRuntime as AsyncRuntime>::OneshotReceiver<T>;

    fn spawn<T>(future: T) -> Self::JoinHandle<T::Output>
    where
        T: Future + OptionalSend + 'static,
        T::Output: OptionalSend + 'static,
    {
        TokioRuntime::spawn(future)
    }

    fn sleep(duration: Duration) -> Self::Sleep {
        TokioRuntime::sleep(duration)
    }

    fn sleep_until(deadline: Self::Instant) -> Self::Sleep {
        TokioRuntime::sleep_until(deadline)
    }

    fn timeout<R, F: Future<Output = R> + OptionalSend>(
        duration: Duration,
        future: F,
    ) -> Self::Timeout<R, F> {
        TokioRuntime::timeout(duration, future)
    }

    fn timeout_at<R, F: Future<Output = R> + OptionalSend>(
        deadline: Self::Instant,
        future: F,
    ) -> Self::Timeout<R, F> {
        TokioRuntime::timeout_at(deadline, future)
    }

    fn is_panic(join_error: &Self::JoinError) -> bool {
        TokioRuntime::is_panic(join_error)
    }

    fn thread_rng() -> Self::ThreadLocalRng {
        ElectionRng
    }

    fn oneshot<T>() -> (Self::OneshotSender<T>, Self::OneshotReceiver<T>)
    where
        T: OptionalSend,
    {
        TokioRuntime::oneshot()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand08::Rng;

    #[test]
    fn a_seed_fixes_the_draws() {
        seed_election_timeouts(Some(7));
        let a: Vec<u64> = (0..4).map(|_| ElectionRng.gen_range(500..1000)).collect();
        seed_election_timeouts(Some(7));
        let b: Vec<u64> = (0..4).map(|_| ElectionRng.gen_range(500..1000)).collect();
        seed_election_timeouts(None);
        assert_eq!(a, b);
        assert!(a.iter().all(|t| (500..1000).contains(t)));
    }
}
