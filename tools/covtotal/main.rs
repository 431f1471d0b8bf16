fn main() -> std::process::ExitCode {
    covcore::cli::main(covtotal::run)
}
