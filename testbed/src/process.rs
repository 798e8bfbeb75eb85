//! One child process, its log, and how it stops.

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};

use crate::TestbedError;

/// A running child process whose stdout and stderr go to a log file. Dropping it kills it.
#[derive(Debug)]
pub struct Process {
    name: String,
    child: Child,
    pid: u32,
    log: PathBuf,
    status: Option<ExitStatus>,
}

impl Process {
    /// Starts `command` as `name`, appending its output to `log`.
    ///
    /// The child gets `PR_SET_PDEATHSIG(SIGKILL)`: the kernel kills it when the thread that
    /// started it exits, which for a program on a tokio runtime means when the program ends,
    /// however it ends. Start processes from async tasks, not from `spawn_blocking` threads
    /// (those exit when idle).
    pub fn spawn(name: &str, command: Command, log: &Path) -> Result<Process, TestbedError> {
        Self::spawn_to(name, command, log, None)
    }

    /// Like [`spawn`](Self::spawn), but the process's standard output goes to `stdout` (a new
    /// file) and only its standard error to `log`: for commands whose output is their result.
    pub fn spawn_capturing(name: &str, command: Command, log: &Path, stdout: &Path) -> Result<Process, TestbedError> {
        Self::spawn_to(name, command, log, Some(stdout))
    }

    fn spawn_to(name: &str, mut command: Command, log: &Path, stdout: Option<&Path>) -> Result<Process, TestbedError> {
        let io = |what: String| move |source| TestbedError::Io { what, source };
        if let Some(dir) = log.parent() {
            std::fs::create_dir_all(dir).map_err(io(format!("creating {}", dir.display())))?;
        }
        let err = std::fs::OpenOptions::new().create(true).append(true).open(log).map_err(io(format!("opening {}", log.display())))?;
        let out = match stdout {
            Some(path) => std::fs::File::create(path).map_err(io(format!("creating {}", path.display())))?,
            None => err.try_clone().map_err(io(format!("opening {}", log.display())))?,
        };
        command.stdin(Stdio::null()).stdout(out).stderr(err).kill_on_drop(true);
        // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
        unsafe {
            command.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == -1 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = command.spawn().map_err(|source| TestbedError::Spawn { name: name.into(), source })?;
        let pid = child.id().expect("a just-spawned child has a pid");
        Ok(Process { name: name.into(), child, pid, log: log.to_path_buf(), status: None })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// The last `lines` lines of the log.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read(&self.log).map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// The exit status, if the process has ended.
    pub fn exit_status(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().ok().flatten();
        }
        self.status
    }

    /// An error naming the process and its log tail if it has exited; `during` says when.
    pub fn ensure_running(&mut self, during: &str) -> Result<(), TestbedError> {
        match self.exit_status() {
            None => Ok(()),
            Some(status) => Err(self.exited_error(status, during)),
        }
    }

    fn exited_error(&self, status: ExitStatus, during: &str) -> TestbedError {
        TestbedError::Exited { name: self.name.clone(), status: status.to_string(), during: during.into(), log: self.log.clone(), tail: self.log_tail(20) }
    }

    /// Waits up to `timeout` for the process to exit by itself.
    pub async fn wait(&mut self, timeout: Duration) -> Result<ExitStatus, TestbedError> {
        if let Some(s) = self.status {
            return Ok(s);
        }
        match tokio::time::timeout(timeout, self.child.wait()).await {
            Ok(Ok(status)) => {
                self.status = Some(status);
                Ok(status)
            }
            Ok(Err(source)) => Err(TestbedError::Io { what: format!("waiting for {}", self.name), source }),
            Err(_) => {
                Err(TestbedError::Setup(format!("{} still running after {timeout:?}; last lines of {}:\n{}", self.name, self.log.display(), self.log_tail(20))))
            }
        }
    }

    /// Like [`wait`](Self::wait), but an exit status other than success is an error.
    pub async fn wait_success(&mut self, timeout: Duration) -> Result<(), TestbedError> {
        let status = self.wait(timeout).await?;
        if status.success() {
            Ok(())
        } else {
            Err(self.exited_error(status, "before finishing its work"))
        }
    }

    /// Asks the process to stop (SIGTERM), and kills it (SIGKILL) if it is still running
    /// after `grace`. Returns its exit status.
    pub async fn stop(&mut self, grace: Duration) -> Option<ExitStatus> {
        if self.exit_status().is_none() {
            // SAFETY: a plain syscall on a pid this process owns and has not reaped.
            unsafe { libc::kill(self.pid as libc::pid_t, libc::SIGTERM) };
            if tokio::time::timeout(grace, self.child.wait()).await.is_err() {
                let _ = self.child.kill().await;
            }
        }
        self.status = self.child.wait().await.ok();
        self.status
    }

    /// Kills the process with SIGKILL and reaps it.
    pub async fn kill(&mut self) -> Option<ExitStatus> {
        let _ = self.child.kill().await;
        self.status = self.child.wait().await.ok();
        self.status
    }
}

/// A process that serves HTTP on `127.0.0.1:port`.
#[derive(Debug)]
pub struct Service {
    pub process: Process,
    pub port: u16,
}

impl Service {
    /// `http://127.0.0.1:port`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `127.0.0.1:port`, as a service names itself.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Waits until `GET url + path` answers 2xx, failing early (with the log tail) if the
    /// process exits, and after `timeout`.
    pub async fn wait_ready(mut process: Process, port: u16, path: &str, timeout: Duration) -> Result<Service, TestbedError> {
        let url = format!("http://127.0.0.1:{port}{path}");
        let client = reqwest::Client::builder().timeout(Duration::from_secs(2)).build().expect("HTTP client");
        let start = Instant::now();
        loop {
            process.ensure_running("while starting")?;
            if client.get(&url).send().await.is_ok_and(|r| r.status().is_success()) {
                return Ok(Service { process, port });
            }
            if start.elapsed() > timeout {
                let (log, tail) = (process.log_path().to_path_buf(), process.log_tail(20));
                return Err(TestbedError::NotReady { name: process.name().into(), url, waited: timeout, log, tail });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Stops the service (SIGTERM, then SIGKILL after `grace`).
    pub async fn stop(&mut self, grace: Duration) -> Option<ExitStatus> {
        self.process.stop(grace).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alive(pid: u32) -> bool {
        // A reaped process has no /proc entry; a zombie would still be listed with state Z.
        std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z "))
    }

    #[tokio::test]
    async fn a_dropped_process_is_killed_and_its_log_kept() {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo started; exec sleep 60"]);
        let p = Process::spawn("sleeper", cmd, &dir.path().join("logs/sleeper.log")).unwrap();
        let pid = p.pid();
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(alive(pid));
        assert_eq!(p.log_tail(5), "started");
        drop(p);
        for _ in 0..100 {
            if !alive(pid) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("process {pid} survived its handle");
    }

    #[tokio::test]
    async fn stop_escalates_to_sigkill_after_the_grace_period() {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = Command::new("sh");
        // Ignores SIGTERM.
        cmd.args(["-c", "trap '' TERM; echo ready; while true; do sleep 0.1; done"]);
        let mut p = Process::spawn("stubborn", cmd, &dir.path().join("stubborn.log")).unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        let start = Instant::now();
        let status = p.stop(Duration::from_millis(300)).await.unwrap();
        assert!(start.elapsed() >= Duration::from_millis(300));
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(libc::SIGKILL));
    }

    #[tokio::test]
    async fn a_service_that_exits_while_starting_reports_its_log() {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo 'bad config: PDS_HOSTNAME is missing' >&2; exit 3"]);
        let p = Process::spawn("broken", cmd, &dir.path().join("broken.log")).unwrap();
        let e = Service::wait_ready(p, crate::free_port(), "/_health", Duration::from_secs(5)).await.unwrap_err();
        let text = e.to_string();
        assert!(text.contains("broken exited") && text.contains("PDS_HOSTNAME is missing"), "{text}");
    }
}
