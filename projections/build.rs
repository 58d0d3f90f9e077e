//! The read models need PostgreSQL extensions beyond the server's contrib: `rum`, the index that
//! hands the knowledge base's best matches over in rank order. Where the server runs on this
//! machine from Debian's packages and the extension is missing, it is installed from Debian's
//! package for that server's version, so that the service and its tests run on a fresh machine.
//! Elsewhere (a server on another host, no root, no apt) the build says what to install.

use std::path::Path;
use std::process::Command;

const SERVERS: &str = "/usr/lib/postgresql";
const EXTENSIONS: &str = "/usr/share/postgresql";

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let Ok(servers) = std::fs::read_dir(SERVERS) else {
        return;
    };
    for server in servers.flatten() {
        let major = server.file_name().to_string_lossy().into_owned();
        if !server.path().join("bin/postgres").exists() {
            continue;
        }
        let control = format!("{EXTENSIONS}/{major}/extension/rum.control");
        // Once there, nothing to do until it goes; while missing, every build looks again.
        println!("cargo:rerun-if-changed={control}");
        if Path::new(&control).exists() {
            continue;
        }
        let package = format!("postgresql-{major}-rum");
        if let Err(why) = install(&package) {
            println!(
                "cargo:warning=the PostgreSQL {major} server here lacks the rum extension, which \
                 the migrations create, and {package} could not be installed ({why}): install it \
                 (docs/operations.md)"
            );
        }
    }
}

/// Installs a Debian package, refreshing the package lists once if they do not know it.
fn install(package: &str) -> Result<(), String> {
    if !Path::new("/usr/bin/apt-get").exists() {
        return Err("no apt-get".into());
    }
    let apt = |args: &[&str]| {
        Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .map_err(|e| e.to_string())
            .and_then(|status| {
                status
                    .success()
                    .then_some(())
                    .ok_or_else(|| format!("apt-get {} {status}", args.join(" ")))
            })
    };
    let install = ["install", "-y", "-q", package];
    apt(&install).or_else(|_| apt(&["update", "-q"]).and_then(|()| apt(&install)))
}
