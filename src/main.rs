//! The `ferrostack` command: parses arguments, runs the library, renders reports.

mod cli;

fn main() {
    std::process::exit(cli::main());
}
