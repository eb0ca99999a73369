//! The job's log, kept by the server with the job and served by
//! `GET /jobs/{id}/logs`.
//!
//! Each function takes a finished message; the macros of the same names at
//! the crate root ([`info!`](crate::info) and so on) format one like
//! [`format!`]. Call the macros by path (`job_sdk::info!`) if your crate also
//! uses the `log` or `tracing` macros, whose names they share.

#[cfg(target_arch = "wasm32")]
use crate::__private::bindings::jobserver::job::log as host;
#[cfg(not(target_arch = "wasm32"))]
use crate::native::log as host;

pub use crate::__private::bindings::jobserver::job::log::Level;

pub fn log(level: Level, message: impl AsRef<str>) {
    host::log(level, message.as_ref());
}

pub fn trace(message: impl AsRef<str>) {
    log(Level::Trace, message);
}

pub fn debug(message: impl AsRef<str>) {
    log(Level::Debug, message);
}

pub fn info(message: impl AsRef<str>) {
    log(Level::Info, message);
}

pub fn warn(message: impl AsRef<str>) {
    log(Level::Warn, message);
}

pub fn error(message: impl AsRef<str>) {
    log(Level::Error, message);
}

/// Logs a [`format!`]ted message at trace level.
#[macro_export]
macro_rules! trace {
    ($($arg:tt)+) => { $crate::log::trace(::std::format!($($arg)+)) };
}

/// Logs a [`format!`]ted message at debug level.
#[macro_export]
macro_rules! debug {
    ($($arg:tt)+) => { $crate::log::debug(::std::format!($($arg)+)) };
}

/// Logs a [`format!`]ted message at info level.
#[macro_export]
macro_rules! info {
    ($($arg:tt)+) => { $crate::log::info(::std::format!($($arg)+)) };
}

/// Logs a [`format!`]ted message at warn level.
#[macro_export]
macro_rules! warn {
    ($($arg:tt)+) => { $crate::log::warn(::std::format!($($arg)+)) };
}

/// Logs a [`format!`]ted message at error level.
#[macro_export]
macro_rules! error {
    ($($arg:tt)+) => { $crate::log::error(::std::format!($($arg)+)) };
}
