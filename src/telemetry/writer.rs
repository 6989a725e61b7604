//! Where log lines go: a buffer that a thread of its own writes out in batches.
//!
//! A request must never wait for the terminal or the log collector, and it should not pay for
//! waking a thread either. `tracing-appender`'s writer hands every line to its thread through
//! a channel, and at a few thousand lines a second the wake-ups (a futex call, a context switch
//! and a `write` per line) cost the gateway more CPU than formatting the lines: measured with
//! the bench's `-- process` phase, the gateway at info spent 1.5 to 1.9 times the CPU per earn
//! that it spent at warn. Here a line is appended to a shared buffer under a lock held for a
//! copy, and the thread, woken only when the buffer goes from empty to not empty, waits
//! [`BATCH_WINDOW`] for more lines and writes them all in one call.
//!
//! Nothing is dropped: a buffer grown past [`MAX_PENDING`] (a writer stuck on a full pipe) is
//! written by the caller itself, in order, so memory stays bounded and callers wait rather than
//! lose lines, as with `tracing-appender`'s lossless mode. Dropping the [`FlushGuard`] writes
//! what is left.

use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

/// How long the writing thread waits, after the first line of a batch, for the lines that
/// follow it: the most a line waits before it is written.
pub const BATCH_WINDOW: Duration = Duration::from_millis(20);
/// Bytes waiting past which the caller writes them itself.
pub const MAX_PENDING: usize = 1 << 20;

/// The `MakeWriter` of the log subscriber: cheap to clone, one per process.
#[derive(Clone)]
pub struct BatchedWriter {
    shared: Arc<Shared>,
}

/// Writes what is still buffered and stops the writing thread when dropped.
#[must_use = "dropping the guard stops the log writer"]
pub struct FlushGuard {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

struct Shared {
    pending: Mutex<Pending>,
    /// Signalled when a line arrives while the thread waits, and when it must stop.
    wake: Condvar,
    /// Held while a batch is written, so batches go out in the order they were taken.
    output: Mutex<Box<dyn Write + Send>>,
}

#[derive(Default)]
struct Pending {
    bytes: Vec<u8>,
    /// The writing thread is waiting for a first line (not inside a batch window).
    idle: bool,
    stopping: bool,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves bytes, not a broken invariant: carry on.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl BatchedWriter {
    /// A writer to `output` and the guard of its thread.
    pub fn new(output: impl Write + Send + 'static) -> (Self, FlushGuard) {
        let shared = Arc::new(Shared {
            pending: Mutex::new(Pending::default()),
            wake: Condvar::new(),
            output: Mutex::new(Box::new(output)),
        });
        let worker = shared.clone();
        let thread = std::thread::Builder::new()
            .name("log-writer".to_owned())
            .spawn(move || worker.run())
            .expect("the log writer thread starts");
        let guard = FlushGuard {
            shared: shared.clone(),
            thread: Some(thread),
        };
        (Self { shared }, guard)
    }
}

impl Shared {
    fn run(&self) {
        loop {
            let mut pending = lock(&self.pending);
            while pending.bytes.is_empty() && !pending.stopping {
                pending.idle = true;
                pending = self
                    .wake
                    .wait(pending)
                    .unwrap_or_else(PoisonError::into_inner);
            }
            pending.idle = false;
            let stopping = pending.stopping;
            drop(pending);
            if !stopping {
                // Let the lines that follow the first one join its batch.
                let pending = lock(&self.pending);
                drop(
                    self.wake
                        .wait_timeout_while(pending, BATCH_WINDOW, |p| !p.stopping)
                        .unwrap_or_else(PoisonError::into_inner),
                );
            }
            self.write_pending();
            if stopping {
                return;
            }
        }
    }

    /// Writes every byte buffered so far, after any batch being written.
    fn write_pending(&self) {
        let mut output = lock(&self.output);
        let bytes = std::mem::take(&mut lock(&self.pending).bytes);
        if bytes.is_empty() {
            return;
        }
        // Nowhere to report a failure to write the log: the bytes are given up.
        let _ = output.write_all(&bytes).and_then(|()| output.flush());
    }

    fn append(&self, line: &[u8]) {
        let mut pending = lock(&self.pending);
        let was_empty = pending.bytes.is_empty();
        pending.bytes.extend_from_slice(line);
        let too_much = pending.bytes.len() > MAX_PENDING;
        let wake = was_empty && pending.idle;
        drop(pending);
        if wake {
            self.wake.notify_one();
        }
        if too_much {
            self.write_pending();
        }
    }
}

impl Drop for FlushGuard {
    fn drop(&mut self) {
        lock(&self.shared.pending).stopping = true;
        self.shared.wake.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        self.shared.write_pending();
    }
}

/// One event's writer: the formatter writes its whole line, then it is appended.
pub struct LineWriter<'a> {
    shared: &'a Shared,
}

impl Write for LineWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.shared.append(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for BatchedWriter {
    type Writer = LineWriter<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        LineWriter {
            shared: &self.shared,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{BatchedWriter, MAX_PENDING};
    use std::io::Write;
    use std::sync::{Arc, Mutex};
    use tracing_subscriber::fmt::MakeWriter;

    /// An output that keeps what it was given and counts the calls.
    #[derive(Clone, Default)]
    struct Kept(Arc<Mutex<(Vec<u8>, usize)>>);

    impl Write for Kept {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let mut kept = self.0.lock().unwrap();
            kept.0.extend_from_slice(buf);
            kept.1 += 1;
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_of_four_threads_come_out_whole_in_each_threads_order_once_the_guard_drops() {
        let kept = Kept::default();
        let (writer, guard) = BatchedWriter::new(kept.clone());
        std::thread::scope(|scope| {
            for thread in 0..4 {
                let writer = writer.clone();
                scope.spawn(move || {
                    for line in 0..2_000 {
                        let text = format!("{{\"thread\":{thread},\"line\":{line}}}\n");
                        writer.make_writer().write_all(text.as_bytes()).unwrap();
                    }
                });
            }
        });
        drop(guard);
        let (bytes, _) = kept.0.lock().unwrap().clone();
        let text = String::from_utf8(bytes).unwrap();
        let mut next = [0; 4];
        for line in text.lines() {
            let value: serde_json::Value = serde_json::from_str(line).unwrap();
            let thread = value["thread"].as_u64().unwrap() as usize;
            assert_eq!(
                value["line"], next[thread],
                "thread {thread}'s lines in order"
            );
            next[thread] += 1;
        }
        assert_eq!(next, [2_000; 4], "every line, once");
    }

    #[test]
    fn lines_written_together_go_out_in_fewer_writes_than_lines() {
        let kept = Kept::default();
        let (writer, guard) = BatchedWriter::new(kept.clone());
        for line in 0..1_000 {
            writeln!(writer.make_writer(), "line {line}").unwrap();
        }
        drop(guard);
        let (bytes, writes) = kept.0.lock().unwrap().clone();
        assert_eq!(bytes.iter().filter(|b| **b == b'\n').count(), 1_000);
        assert!(writes < 1_000, "{writes} writes for 1,000 lines");
    }

    #[test]
    fn a_caller_past_the_limit_writes_the_buffer_itself() {
        let kept = Kept::default();
        let (writer, guard) = BatchedWriter::new(kept.clone());
        let big = vec![b'x'; MAX_PENDING + 1];
        writer.make_writer().write_all(&big).unwrap();
        // Written by this thread before write_all returned, not by the writer thread later.
        assert_eq!(kept.0.lock().unwrap().0.len(), big.len());
        drop(guard);
    }
}
