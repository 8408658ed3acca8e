//! A child process with its stderr collected into a log for assertions, killed on drop.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A running process whose stderr is collected line by line into a log; killed on drop.
pub struct LoggedChild {
    child: Child,
    log: Arc<Mutex<String>>,
    /// The thread reading stderr: joined once the process has exited, so the log then holds
    /// everything it wrote (the pipe ends when the process does).
    reader: Option<std::thread::JoinHandle<()>>,
    /// What the process is, for failure messages ("agent").
    what: &'static str,
}

impl LoggedChild {
    /// Spawns `cmd` with stderr piped (stdout as configured), collecting stderr on a thread.
    /// Panics naming `what` if it cannot start.
    pub fn spawn(what: &'static str, cmd: &mut Command) -> Self {
        let mut child = cmd
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("start {what}: {e}"));
        let stderr = child.stderr.take().expect("stderr");
        let log = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&log);
        let reader = std::thread::spawn(move || collect_lines(BufReader::new(stderr), sink));
        Self {
            child,
            log,
            reader: Some(reader),
            what,
        }
    }

    /// The stderr collected so far.
    pub fn log(&self) -> String {
        self.log.lock().expect("log").clone()
    }

    /// Waits up to `timeout` until the log satisfies `done` and returns it; panics with the log
    /// if it never does.
    pub fn wait_log(&self, timeout: Duration, done: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let log = self.log();
            if done(&log) {
                return log;
            }
            assert!(
                start.elapsed() < timeout,
                "{}'s log never got there:\n{log}",
                self.what
            );
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// The process id (to signal it).
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// The exit code if the process has exited (`Some(None)`: killed by a signal), without waiting
    /// for it to; once it has, the log is complete.
    pub fn try_exit(&mut self) -> Option<Option<i32>> {
        let code = self
            .child
            .try_wait()
            .expect("try_wait")
            .map(|status| status.code())?;
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        Some(code)
    }

    /// Waits up to `timeout` for the process to exit and returns its code; panics with its log
    /// if it is still running by then.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let start = Instant::now();
        loop {
            if let Some(code) = self.try_exit() {
                return code;
            }
            assert!(
                start.elapsed() < timeout,
                "{} still running; its log:\n{}",
                self.what,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// Kills the process (SIGKILL) and reaps it.
    pub fn kill(&mut self) -> std::io::Result<()> {
        self.child.kill()?;
        let _ = self.child.wait();
        Ok(())
    }
}

impl Drop for LoggedChild {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Appends every line `reader` yields to `log` until it ends (the process closed the pipe);
/// run it on a thread of its own.
pub fn collect_lines(reader: impl BufRead, log: Arc<Mutex<String>>) {
    for line in reader.lines().map_while(Result::ok) {
        append_line(&log, &line);
    }
}

/// Appends `line` and a newline to `log` (skipped if a panicking reader poisoned it).
pub fn append_line(log: &Mutex<String>, line: &str) {
    if let Ok(mut log) = log.lock() {
        log.push_str(line);
        log.push('\n');
    }
}
