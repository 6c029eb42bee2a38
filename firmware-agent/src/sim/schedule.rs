//! The shared schedule: a min-heap of `(due instant, device index)` that a
//! fixed pool of worker threads takes the earliest due device from.
//!
//! Thousands of devices mostly wait; one thread each would spend memory and
//! scheduler time on sleeping. With the heap, `--threads T` bounds the
//! concurrency (and the open connections) whatever `--devices N` is, and a
//! device is in the heap at most once, so no two threads ever step the same
//! device.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

#[derive(Default)]
pub struct Schedule {
    heap: Mutex<BinaryHeap<Reverse<(Instant, usize)>>>,
    wake: Condvar,
    stopped: AtomicBool,
}

impl Schedule {
    pub fn new() -> Self {
        Schedule::default()
    }

    fn lock(&self) -> MutexGuard<'_, BinaryHeap<Reverse<(Instant, usize)>>> {
        // A worker that panicked mid-push leaves a heap that is still a heap.
        self.heap.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Schedules `device` at `due`.
    pub fn push(&self, due: Instant, device: usize) {
        self.lock().push(Reverse((due, device)));
        self.wake.notify_one();
    }

    /// Wakes every waiting worker and makes [`Schedule::take`] return `None`.
    pub fn stop(&self) {
        let _heap = self.lock();
        self.stopped.store(true, Ordering::SeqCst);
        self.wake.notify_all();
    }

    pub fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::SeqCst)
    }

    /// How many devices wait in the heap.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Blocks until the earliest device is due and takes it, or returns
    /// `None` once stopped.
    pub fn take(&self) -> Option<usize> {
        let mut heap = self.lock();
        loop {
            if self.is_stopped() {
                return None;
            }
            let now = Instant::now();
            match heap.peek() {
                Some(Reverse((due, _))) if *due <= now => return heap.pop().map(|Reverse((_, device))| device),
                Some(Reverse((due, _))) => {
                    let wait = *due - now;
                    heap = self.wake.wait_timeout(heap, wait).unwrap_or_else(PoisonError::into_inner).0;
                }
                None => heap = self.wake.wait(heap).unwrap_or_else(PoisonError::into_inner),
            }
        }
    }

    /// One worker thread's loop: take the earliest due device, step it, and
    /// put it back after the wait the step asks for (`None` retires it).
    pub fn work(&self, step: &(dyn Fn(usize) -> Option<Duration> + Sync)) {
        while let Some(device) = self.take() {
            if let Some(wait) = step(device) {
                self.push(Instant::now() + wait, device);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn the_earliest_due_device_goes_first() {
        let s = Schedule::new();
        let t = Instant::now();
        s.push(t + Duration::from_millis(40), 1);
        s.push(t + Duration::from_millis(10), 2);
        s.push(t, 3);
        assert_eq!(s.take(), Some(3));
        assert_eq!(s.take(), Some(2));
        assert_eq!(s.take(), Some(1));
        assert!(t.elapsed() >= Duration::from_millis(40), "waited for the due time");
        s.stop();
        assert_eq!(s.take(), None);
    }

    #[test]
    fn many_devices_run_on_no_more_than_the_given_threads() {
        let (devices, threads, rounds) = (60, 4, 5);
        let s = Schedule::new();
        let now = Instant::now();
        for d in 0..devices {
            s.push(now, d);
        }
        let runs: Vec<AtomicUsize> = (0..devices).map(|_| AtomicUsize::new(0)).collect();
        let (active, peak, total) = (AtomicUsize::new(0), AtomicUsize::new(0), AtomicUsize::new(0));
        let thread_ids = Mutex::new(HashSet::new());
        let in_step = Mutex::new(HashSet::new());
        let step = |d: usize| {
            thread_ids.lock().unwrap().insert(std::thread::current().id());
            assert!(in_step.lock().unwrap().insert(d), "device {d} stepped twice at once");
            let a = active.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(a, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(2));
            active.fetch_sub(1, Ordering::SeqCst);
            in_step.lock().unwrap().remove(&d);
            total.fetch_add(1, Ordering::SeqCst);
            (runs[d].fetch_add(1, Ordering::SeqCst) + 1 < rounds).then_some(Duration::from_millis(1))
        };
        std::thread::scope(|scope| {
            for _ in 0..threads {
                scope.spawn(|| s.work(&step));
            }
            let started = Instant::now();
            while total.load(Ordering::SeqCst) < devices * rounds && started.elapsed() < Duration::from_secs(30) {
                std::thread::sleep(Duration::from_millis(5));
            }
            s.stop();
        });
        assert!(runs.iter().all(|r| r.load(Ordering::SeqCst) == rounds), "every device ran every round");
        assert!(peak.load(Ordering::SeqCst) <= threads, "peak {} > {threads}", peak.load(Ordering::SeqCst));
        assert!(thread_ids.lock().unwrap().len() <= threads);
        assert!(s.is_empty(), "retired devices are not rescheduled");
    }
}
