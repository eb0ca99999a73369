//! The jobserver binary, built inside the test package so that end-to-end
//! tests can start it as a process (and kill it, and restart it).

fn main() -> std::process::ExitCode {
    jobserver_server::cli::main()
}
