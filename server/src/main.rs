fn main() -> std::process::ExitCode {
    jobserver_server::cli::main()
}
