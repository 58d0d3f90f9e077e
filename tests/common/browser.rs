//! A real browser for the pages people read: headless Chromium from Debian's `chromium` package,
//! installed with apt-get on first use when the machine lacks it (the project installs what its
//! tests need).

use std::path::{Path, PathBuf};

use tokio::process::Command;
use tokio::sync::Mutex;

use super::python::succeed;

const CHROMIUM: &str = "/usr/bin/chromium";

/// Held while Chromium is installed: the tests of one binary that need it run at once.
static INSTALLING: Mutex<()> = Mutex::const_new(());

async fn chromium() -> &'static str {
    let _installing = INSTALLING.lock().await;
    if !Path::new(CHROMIUM).exists() {
        let apt = |args: &[&str]| {
            let mut command = Command::new("apt-get");
            command.args(args).env("DEBIAN_FRONTEND", "noninteractive");
            command
        };
        succeed(&mut apt(&["update", "-q"])).await;
        succeed(&mut apt(&["install", "-y", "-q", "chromium"])).await;
    }
    CHROMIUM
}

fn headless(chromium: &str) -> Command {
    let mut command = Command::new(chromium);
    command.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--virtual-time-budget=5000",
    ]);
    command
}

/// The document at `url` as the browser built it.
pub async fn dom(url: &str) -> String {
    let mut command = headless(chromium().await);
    command.arg("--dump-dom").arg(url);
    let output = command.output().await.expect("chromium starts");
    assert!(
        output.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("the DOM is UTF-8")
}

/// A screenshot of `url`, kept as a test artefact under the target directory; returns its path.
pub async fn screenshot(url: &str, name: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}.png"));
    let mut command = headless(chromium().await);
    command
        .arg(format!("--screenshot={}", path.display()))
        .arg("--window-size=1280,1600")
        .arg(url);
    succeed(&mut command).await;
    assert!(
        std::fs::metadata(&path).is_ok_and(|m| m.len() > 0),
        "no screenshot"
    );
    path
}
