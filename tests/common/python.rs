//! Python tools the tests run (schemathesis, an SMTP server), each in a venv of its own in the
//! target directory, installed from the project's pinned requirements when the venv is missing
//! or was made from other ones.

use std::path::{Path, PathBuf};

use tokio::process::Command;
use tokio::sync::Mutex;

/// Held while a venv is made: the tests of one binary that need the same venv run at once.
static INSTALLING: Mutex<()> = Mutex::const_new(());

/// The venv `name`, holding what `requirements` pins.
pub async fn venv(name: &str, requirements: &Path) -> PathBuf {
    let _installing = INSTALLING.lock().await;
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let installed = venv.join("requirements.txt");
    let wanted = std::fs::read_to_string(requirements).unwrap();
    if std::fs::read_to_string(&installed).ok() != Some(wanted.clone()) {
        let mut create = Command::new("python3");
        create.args(["-m", "venv", "--clear"]).arg(&venv);
        succeed(&mut create).await;
        let mut install = Command::new(venv.join("bin/pip"));
        install.args(["install", "--quiet", "--disable-pip-version-check", "-r"]);
        install.arg(requirements);
        succeed(&mut install).await;
        std::fs::write(&installed, wanted).unwrap();
    }
    venv
}

/// Runs `command` to its end; panics with its output unless it succeeded.
pub async fn succeed(command: &mut Command) -> String {
    let output = command.output().await.expect("the command starts");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{command:?} failed:\n{text}");
    text
}
