//! The `cdn-unblock` binary: everything lives in the library, so tests drive
//! it in-process.

fn main() -> std::process::ExitCode {
    cdn_unblock::main()
}
