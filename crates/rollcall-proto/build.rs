//! Compiles `proto/rollcall.proto` with protox (pure Rust), so building
//! rollcall needs no `protoc` on the machine.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../proto");
    let file = format!("{proto_dir}/rollcall.proto");
    println!("cargo:rerun-if-changed={file}");
    let fds = protox::compile([&file], [proto_dir])?;
    tonic_prost_build::configure().compile_fds(fds)?;
    Ok(())
}
