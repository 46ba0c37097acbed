//! `ferrostack-media`: the CLI workers call; exit 0 ok, 1 task failure, 2 usage.
mod cli;

use clap::Parser;

fn main() {
    let cli = cli::Cli::parse();
    std::process::exit(cli::run(cli));
}
