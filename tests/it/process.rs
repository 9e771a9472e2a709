//! Running the real `cogsync` binary as a child process.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

pub struct Proc {
    pub child: Child,
    pub endpoint: String,
    pub stdout: Vec<String>,
}

impl Proc {
    /// The admin listener's base URL, as the server printed it.
    pub fn admin(&self) -> Option<String> {
        self.stdout.iter().find_map(|l| {
            l.strip_prefix("cogsync admin (health, metrics) on ")
                .map(str::to_owned)
        })
    }
}

/// Starts `cogsync serve` on a free port with `extra` arguments; `creds` None leaves the
/// credential variables unset. Returns once the server has printed its address.
pub fn spawn(data_dir: &Path, creds: Option<(&str, &str)>, extra: &[&str]) -> Proc {
    spawn_with_env(data_dir, creds, extra, &[])
}

/// [`spawn`] with extra environment variables.
pub fn spawn_with_env(
    data_dir: &Path,
    creds: Option<(&str, &str)>,
    extra: &[&str],
    env: &[(&str, &str)],
) -> Proc {
    spawn_logging(data_dir, creds, extra, env, None)
}

/// [`spawn_with_env`] that also writes the server's log (stderr) to `log`.
pub fn spawn_logging(
    data_dir: &Path,
    creds: Option<(&str, &str)>,
    extra: &[&str],
    env: &[(&str, &str)],
    log: Option<&Path>,
) -> Proc {
    spawn_command(
        Command::new(env!("CARGO_BIN_EXE_cogsync")),
        data_dir,
        creds,
        extra,
        env,
        log,
    )
}

/// [`spawn`] under an open-file limit of `nofile` (soft and hard), as `ulimit -n` sets it.
pub fn spawn_with_open_files(
    data_dir: &Path,
    creds: Option<(&str, &str)>,
    extra: &[&str],
    nofile: u32,
) -> Proc {
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(format!("ulimit -n {nofile} && exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_cogsync"));
    spawn_command(cmd, data_dir, creds, extra, &[], None)
}

/// Runs `cmd` (the binary, or a shell that execs it) with `serve` and the arguments.
fn spawn_command(
    mut cmd: Command,
    data_dir: &Path,
    creds: Option<(&str, &str)>,
    extra: &[&str],
    env: &[(&str, &str)],
    log: Option<&Path>,
) -> Proc {
    cmd.envs(env.iter().copied());
    cmd.args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--admin-listen",
        "127.0.0.1:0",
        "--data-dir",
    ])
    .arg(data_dir)
    .args(extra)
    .env_remove("COGSYNC_ACCESS_KEY_ID")
    .env_remove("COGSYNC_SECRET_ACCESS_KEY")
    .env("RUST_LOG", "warn")
    .envs(env.iter().copied())
    .stdout(Stdio::piped())
    .stderr(match log {
        Some(path) => Stdio::from(std::fs::File::create(path).unwrap()),
        None => Stdio::null(),
    });
    if let Some((k, s)) = creds {
        cmd.env("COGSYNC_ACCESS_KEY_ID", k)
            .env("COGSYNC_SECRET_ACCESS_KEY", s);
    }
    let mut p = Proc {
        child: cmd.spawn().unwrap(),
        endpoint: String::new(),
        stdout: Vec::new(),
    };
    let mut reader = BufReader::new(p.child.stdout.take().unwrap());
    loop {
        let mut line = String::new();
        assert!(
            reader.read_line(&mut line).unwrap() > 0,
            "cogsync exited early: {:?}",
            p.stdout
        );
        let line = line.trim_end().to_string();
        if let Some(addr) = line.strip_prefix("cogsync listening on ") {
            p.endpoint = addr.to_string();
            p.stdout.push(line);
            return p;
        }
        p.stdout.push(line);
    }
}

impl Drop for Proc {
    /// A failing test must not leave a server behind.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends SIGTERM and waits for the exit.
pub fn sigterm(p: &mut Proc) -> std::process::ExitStatus {
    let status = Command::new("kill")
        .arg("-TERM")
        .arg(p.child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
    p.child.wait().unwrap()
}
