fn main() -> std::process::ExitCode {
    covcore::cli::main(covjob::cli::run)
}
