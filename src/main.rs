use std::process::ExitCode;

use clap::Parser;
use loyalty_gateway::cli::{self, Cli};

/// mimalloc rather than glibc's malloc: a request allocates and frees many small values (its
/// JSON, its spans, its Redis reply), and glibc's allocator took about a tenth of the
/// gateway's CPU under load (perf, `cargo bench --bench gateway -- process`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    cli::run(Cli::parse()).await
}
