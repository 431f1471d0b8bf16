fn main() -> std::process::ExitCode {
    covcore::cli::main(covselect::run)
}
