fn main() -> std::process::ExitCode {
    covcore::cli::main(covpull::run)
}
