//! The CPU time a process has used (user + system, all its threads), read from
//! `/proc/<pid>/stat`, so a workload can be charged with what the process answering it spent.
//! On systems without `/proc` every reading is `None` and the reports show "-".

use std::time::Duration;

/// A process whose CPU time the benchmark reads before and after a workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Process {
    pub pid: u32,
}

impl Process {
    pub fn new(pid: u32) -> Self {
        Process { pid }
    }

    /// User plus system time used so far, or None when it cannot be read (the process is
    /// gone, or there is no `/proc`).
    pub fn cpu_time(&self) -> Option<Duration> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid)).ok()?;
        let ticks = stat_ticks(&stat)?;
        let per_second = ticks_per_second()?;
        let nanos = u128::from(ticks) * 1_000_000_000 / u128::from(per_second);
        Some(Duration::from_nanos(u64::try_from(nanos).ok()?))
    }
}

/// utime + stime (fields 14 and 15, in clock ticks) of a `/proc/<pid>/stat` line.
fn stat_ticks(stat: &str) -> Option<u64> {
    // Field 2 is the command name in parentheses, which may itself hold spaces and ')': the
    // numbered fields resume after the last ')', with field 3 (the state).
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace();
    let utime: u64 = fields.nth(14 - 3)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// The CPU time used so far by every process named `name` (e.g. the database's `postgres`
/// processes, which come and go with connections): summed over those alive now.
pub fn cpu_time_of_all(name: &str) -> Option<Duration> {
    let per_second = ticks_per_second()?;
    let mut ticks: u64 = 0;
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let command = stat
            .split_once('(')
            .and_then(|(_, rest)| rest.rsplit_once(')'));
        if command.is_some_and(|(c, _)| c == name) {
            ticks += stat_ticks(&stat).unwrap_or(0);
        }
    }
    let nanos = u128::from(ticks) * 1_000_000_000 / u128::from(per_second);
    Some(Duration::from_nanos(u64::try_from(nanos).ok()?))
}

/// The kernel's clock ticks per second (USER_HZ), the unit of the `/proc` CPU times.
fn ticks_per_second() -> Option<u64> {
    // SAFETY: sysconf reads a configuration value; it touches no memory of ours.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    u64::try_from(hz).ok().filter(|hz| *hz > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_utime_and_stime_past_an_awkward_command_name() {
        let stat = "4242 (a) b (c)) S 1 4242 4242 0 -1 4194560 100 0 0 0 1234 56 0 0 20 0 9 0";
        assert_eq!(stat_ticks(stat), Some(1234 + 56));
        assert_eq!(stat_ticks("4242 (truncated"), None);
        assert_eq!(stat_ticks("4242 (x) S 1 2 3"), None);
    }

    #[test]
    fn this_process_has_a_cpu_time_that_grows() {
        let me = Process::new(std::process::id());
        let before = me.cpu_time().unwrap();
        let spin = std::time::Instant::now();
        let mut x = 0u64;
        while spin.elapsed() < Duration::from_millis(100) {
            x = std::hint::black_box(x.wrapping_add(1));
        }
        assert!(me.cpu_time().unwrap() > before);
    }
}
