//! The journal of one run: what the job logged (through the `log` import and on
//! stdout/stderr) and how far it says it has come. The job writes into memory;
//! the scheduler drains the journal into Postgres a few times a second, so a
//! chatty job costs no database round trip per line.

use super::super::bindings::{current, v0_1};
use super::JournalHost;
use chrono::{DateTime, Utc};
use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};

/// Lines of stderr kept to explain a trap (a Rust panic prints its message there).
const STDERR_TAIL_LINES: usize = 5;

#[derive(Debug, Clone, PartialEq)]
pub struct LogLine {
    pub at: DateTime<Utc>,
    pub level: &'static str,
    pub message: String,
}

/// What has accumulated since the last drain.
#[derive(Debug, Default)]
pub struct JournalBatch {
    pub lines: Vec<LogLine>,
    /// The latest progress, when it changed.
    pub progress: Option<(f32, Option<String>)>,
}

pub struct Journal {
    max_bytes: usize,
    state: Mutex<JournalState>,
}

#[derive(Default)]
struct JournalState {
    pending: Vec<LogLine>,
    bytes_logged: usize,
    dropped_lines: u64,
    progress: Option<(f32, Option<String>)>,
    progress_changed: bool,
    partial_stdout: Vec<u8>,
    partial_stderr: Vec<u8>,
    stderr_tail: VecDeque<String>,
}

#[derive(Debug, Clone, Copy)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Journal {
    /// `max_bytes` bounds what the job may log in all; later lines are counted
    /// and dropped, and a last line says how many.
    pub fn new(max_bytes: usize) -> Journal {
        Journal {
            max_bytes,
            state: Mutex::new(JournalState::default()),
        }
    }

    pub fn log(&self, level: &'static str, message: String) {
        self.lock().push(self.max_bytes, level, message);
    }

    pub fn progress(&self, fraction: f32, message: Option<String>) {
        let fraction = if fraction.is_nan() {
            0.0
        } else {
            fraction.clamp(0.0, 1.0)
        };
        let mut state = self.lock();
        state.progress = Some((fraction, message));
        state.progress_changed = true;
    }

    /// Output on stdout or stderr becomes log lines, one per line of text.
    pub fn output(&self, stream: Stream, bytes: &[u8]) {
        let mut state = self.lock();
        let state = &mut *state;
        let partial = match stream {
            Stream::Stdout => &mut state.partial_stdout,
            Stream::Stderr => &mut state.partial_stderr,
        };
        partial.extend_from_slice(bytes);
        let mut complete = Vec::new();
        while let Some(end) = partial.iter().position(|&byte| byte == b'\n') {
            let line: Vec<u8> = partial.drain(..=end).collect();
            complete.push(String::from_utf8_lossy(&line[..end]).into_owned());
        }
        // A job printing without newlines must not grow the buffer without bound.
        if partial.len() > self.max_bytes {
            complete.push(String::from_utf8_lossy(partial).into_owned());
            partial.clear();
        }
        for line in complete {
            state.record_output(self.max_bytes, stream, line);
        }
    }

    /// Drops everything written so far, as if nothing had been: the output of
    /// a `validate` that shares the run's instance, which a check's journal
    /// would have thrown away with the check.
    pub fn forget(&self) {
        *self.lock() = JournalState::default();
    }

    /// Takes what accumulated since the last call.
    pub fn drain(&self) -> JournalBatch {
        let mut state = self.lock();
        let progress = if state.progress_changed {
            state.progress_changed = false;
            state.progress.clone()
        } else {
            None
        };
        JournalBatch {
            lines: std::mem::take(&mut state.pending),
            progress,
        }
    }

    /// At the end of a run: unterminated output becomes a line, and a note
    /// says how many lines the limit dropped.
    pub fn close(&self) {
        let mut state = self.lock();
        for stream in [Stream::Stdout, Stream::Stderr] {
            let partial = match stream {
                Stream::Stdout => std::mem::take(&mut state.partial_stdout),
                Stream::Stderr => std::mem::take(&mut state.partial_stderr),
            };
            if !partial.is_empty() {
                let line = String::from_utf8_lossy(&partial).into_owned();
                state.record_output(self.max_bytes, stream, line);
            }
        }
        if state.dropped_lines > 0 {
            let note = format!(
                "{} more log lines were dropped: the job reached its log limit of {} bytes",
                state.dropped_lines, self.max_bytes
            );
            state.dropped_lines = 0;
            state.pending.push(LogLine {
                at: Utc::now(),
                level: "WARN",
                message: note,
            });
        }
    }

    /// The last lines the job wrote to stderr, oldest first.
    pub fn stderr_tail(&self) -> Vec<String> {
        self.lock().stderr_tail.iter().cloned().collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, JournalState> {
        // A panic while holding the lock cannot leave the state inconsistent
        // (every update is a single push or assignment), so carry on.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl JournalState {
    fn push(&mut self, max_bytes: usize, level: &'static str, mut message: String) {
        let room = max_bytes.saturating_sub(self.bytes_logged);
        if room == 0 {
            self.dropped_lines += 1;
            return;
        }
        if message.len() > room {
            let mut cut = room;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
        }
        self.bytes_logged += message.len().max(1);
        self.pending.push(LogLine {
            at: Utc::now(),
            level,
            message,
        });
    }

    fn record_output(&mut self, max_bytes: usize, stream: Stream, line: String) {
        let level = match stream {
            Stream::Stdout => "STDOUT",
            Stream::Stderr => {
                if self.stderr_tail.len() == STDERR_TAIL_LINES {
                    self.stderr_tail.pop_front();
                }
                self.stderr_tail.push_back(line.chars().take(1000).collect());
                "STDERR"
            }
        };
        self.push(max_bytes, level, line);
    }
}

/// `log`, `progress` and `types` are the same in every contract version; only
/// the generated types differ.
macro_rules! journal_host {
    ($version:ident) => {
        impl $version::jobserver::job::log::Host for JournalHost {
            fn log(&mut self, level: $version::jobserver::job::log::Level, message: String) {
                use $version::jobserver::job::log::Level;
                let level = match level {
                    Level::Trace => "TRACE",
                    Level::Debug => "DEBUG",
                    Level::Info => "INFO",
                    Level::Warn => "WARN",
                    Level::Error => "ERROR",
                };
                self.0.log(level, message);
            }
        }

        impl $version::jobserver::job::progress::Host for JournalHost {
            fn report(&mut self, fraction: f32, message: Option<String>) {
                self.0.progress(fraction, message);
            }
        }

        impl $version::jobserver::job::types::Host for JournalHost {}
    };
}

journal_host!(v0_1);
journal_host!(current);

/// The job's stdout or stderr: writes land in the journal and never fail, so
/// a job that prints a lot loses lines past its log limit, not its run.
#[derive(Clone)]
pub struct OutputSink {
    journal: Arc<Journal>,
    stream: Stream,
}

impl OutputSink {
    pub fn new(journal: Arc<Journal>, stream: Stream) -> OutputSink {
        OutputSink { journal, stream }
    }
}

impl IsTerminal for OutputSink {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for OutputSink {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl AsyncWrite for OutputSink {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, bytes: &[u8]) -> Poll<io::Result<usize>> {
        self.journal.output(self.stream, bytes);
        Poll::Ready(Ok(bytes.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_is_split_into_lines() {
        let journal = Journal::new(1 << 20);
        journal.output(Stream::Stdout, b"one\ntw");
        journal.output(Stream::Stdout, b"o\nthree");
        journal.close();
        let lines: Vec<_> = journal
            .drain()
            .lines
            .into_iter()
            .map(|l| (l.level, l.message))
            .collect();
        assert_eq!(
            lines,
            [
                ("STDOUT", "one".to_string()),
                ("STDOUT", "two".into()),
                ("STDOUT", "three".into())
            ]
        );
    }

    #[test]
    fn the_log_limit_drops_lines_and_says_so() {
        let journal = Journal::new(10);
        journal.log("INFO", "12345".into());
        journal.log("INFO", "1234567890".into());
        journal.log("INFO", "dropped".into());
        journal.close();
        let lines = journal.drain().lines;
        assert_eq!(lines[0].message, "12345");
        assert_eq!(lines[1].message, "12345", "the second line is cut to what room is left");
        assert_eq!(lines.len(), 3);
        assert!(lines[2].message.starts_with("1 more log lines were dropped"));
    }

    #[test]
    fn progress_is_clamped_and_reported_once() {
        let journal = Journal::new(100);
        journal.progress(1.5, Some("done".into()));
        assert_eq!(journal.drain().progress, Some((1.0, Some("done".into()))));
        assert_eq!(journal.drain().progress, None);
    }

    #[test]
    fn stderr_tail_keeps_the_last_lines() {
        let journal = Journal::new(1 << 20);
        for n in 0..8 {
            journal.output(Stream::Stderr, format!("line {n}\n").as_bytes());
        }
        assert_eq!(
            journal.stderr_tail(),
            ["line 3", "line 4", "line 5", "line 6", "line 7"]
        );
    }
}
