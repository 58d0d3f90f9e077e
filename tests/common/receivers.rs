//! Real receivers of what the notifier sends, for the tests: an SMTP server (aiosmtpd,
//! tests/smtp) and an HTTP server that takes SMS requests in the Twilio form, each on a free port
//! of 127.0.0.1.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use axum::extract::{Form, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::IntoResponse;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use uuid::Uuid;

use super::python::venv;

pub const SMTP_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/smtp");

/// tests/smtp/server.py, running until dropped; it saves what it accepts to `inbox`.
pub struct SmtpServer {
    pub port: u16,
    pub inbox: PathBuf,
    pub _stdin: ChildStdin,
    pub _process: Child,
}

impl SmtpServer {
    pub async fn start() -> Self {
        let python = venv("smtp-venv", &Path::new(SMTP_DIR).join("requirements.txt"))
            .await
            .join("bin/python");
        let inbox = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join("smtp-inbox")
            .join(Uuid::new_v4().to_string());
        std::fs::create_dir_all(&inbox).unwrap();
        let mut process = Command::new(python)
            .arg(format!("{SMTP_DIR}/server.py"))
            .arg(&inbox)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("the SMTP server starts");
        let stdout = process.stdout.take().unwrap();
        let mut first = String::new();
        BufReader::new(stdout)
            .read_line(&mut first)
            .await
            .expect("the SMTP server prints its port");
        Self {
            port: first.trim().parse().expect("a port"),
            inbox,
            _stdin: process.stdin.take().unwrap(),
            _process: process,
        }
    }

    /// The messages accepted so far, oldest first.
    pub fn messages(&self) -> Vec<Value> {
        let mut paths: Vec<_> = std::fs::read_dir(&self.inbox)
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.extension().is_some_and(|e| e == "json"))
            .collect();
        paths.sort_by_key(|path| {
            path.file_stem()
                .unwrap()
                .to_str()
                .unwrap()
                .parse::<u32>()
                .unwrap()
        });
        paths
            .iter()
            .map(|path| serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap())
            .collect()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.inbox);
    }
}

/// A request as the SMS receiver got it.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub authorization: Option<String>,
    pub content_type: Option<String>,
    pub form: HashMap<String, String>,
}

/// The statuses (and `Retry-After`s) the SMS receiver answers with, in order.
pub type Answers = VecDeque<(StatusCode, Option<&'static str>)>;

/// An HTTP server in the test that records each request and answers the next status queued.
#[derive(Clone, Default)]
pub struct SmsReceiver {
    pub received: Arc<Mutex<Vec<Received>>>,
    pub answers: Arc<Mutex<Answers>>,
}

async fn receive(
    State(receiver): State<SmsReceiver>,
    uri: Uri,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> impl IntoResponse {
    let header = |name: &str| headers.get(name).map(|v| v.to_str().unwrap().to_owned());
    receiver.received.lock().unwrap().push(Received {
        path: uri.path().to_owned(),
        authorization: header("authorization"),
        content_type: header("content-type"),
        form,
    });
    let (status, retry_after) = receiver
        .answers
        .lock()
        .unwrap()
        .pop_front()
        .expect("an answer is queued");
    let mut answer = HeaderMap::new();
    if let Some(seconds) = retry_after {
        answer.insert("retry-after", seconds.parse().unwrap());
    }
    (status, answer, "{}")
}

impl SmsReceiver {
    /// Serves on a free port of 127.0.0.1 until the test ends; returns its base URL.
    pub async fn serve(&self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let router = axum::Router::new()
            .fallback(receive)
            .with_state(self.clone());
        tokio::spawn(async move { axum::serve(listener, router).await });
        format!("http://{address}")
    }
}
