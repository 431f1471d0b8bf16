fn main() -> std::process::ExitCode {
    covcore::cli::main(covreport::run)
}
