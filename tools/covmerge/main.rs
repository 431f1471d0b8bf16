fn main() -> std::process::ExitCode {
    covcore::cli::main(covmerge::run)
}
