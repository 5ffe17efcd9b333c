//! Build facts for `rollcall --version`: the git commit the binary was
//! checked out when it was built (`unknown` outside a git checkout) and
//! the build date (UTC; `SOURCE_DATE_EPOCH` when set, for
//! reproducible builds).

use std::process::Command;

fn main() {
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let commit = git(&["rev-parse", "--short=12", "HEAD"])
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| "unknown".to_string());
    let now = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
        .unwrap_or_else(time::OffsetDateTime::now_utc);
    let d = now.date();
    println!("cargo:rustc-env=ROLLCALL_GIT_COMMIT={commit}");
    println!(
        "cargo:rustc-env=ROLLCALL_BUILD_DATE={:04}-{:02}-{:02}",
        d.year(),
        u8::from(d.month()),
        d.day()
    );
    // Rebuilt when the checked-out commit moves.
    if let Some(dir) = git(&["rev-parse", "--git-dir"]) {
        println!("cargo:rerun-if-changed={dir}/HEAD");
        if let Some(r) = git(&["symbolic-ref", "-q", "HEAD"]) {
            println!("cargo:rerun-if-changed={dir}/{r}");
        }
    }
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
}
