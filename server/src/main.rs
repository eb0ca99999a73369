fn main() -> std::process::ExitCode {
    jobserver::cli::main()
}
