fn main() -> std::process::ExitCode {
    covcore::cli::main(covkill::run)
}
