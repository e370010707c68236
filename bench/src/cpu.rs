//! CPU time spent during a phase, read from Linux's `/proc`: the whole
//! machine's (time stolen by a hypervisor left out) and the server
//! process's. CPU per request moves far less with a noisy neighbour than a
//! rate does, and it says where the two cores went: a share of the peer's
//! SQL can be no better than the peer's machine CPU per reservation over
//! berth's per booking.

/// Clock ticks per second of `/proc`'s counters (`USER_HZ`: 100 on every
/// Linux architecture berth builds for).
const TICKS_PER_SECOND: f64 = 100.0;

/// Busy ticks of the whole machine (user, nice, system, irq, softirq).
fn machine_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let fields: Vec<u64> = stat.lines().next()?.split_whitespace().skip(1).filter_map(|f| f.parse().ok()).collect();
    let [user, nice, system, _idle, _iowait, irq, softirq, ..] = fields[..] else { return None };
    Some(user + nice + system + irq + softirq)
}

/// User and system ticks of process `pid`, all its threads.
fn process_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces: the fields start after its ')'.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let (utime, stime): (u64, u64) = (fields.get(11)?.parse().ok()?, fields.get(12)?.parse().ok()?);
    Some(utime + stime)
}

/// Readings at the start of a phase.
pub struct Spent {
    machine: Option<u64>,
    server: Option<(u32, u64)>,
}

impl Spent {
    /// Starts counting; `server` is the berth server's process, if any.
    pub fn start(server: Option<u32>) -> Self {
        Self { machine: machine_ticks(), server: server.and_then(|pid| Some((pid, process_ticks(pid)?))) }
    }

    /// Microseconds of CPU per one of `done` requests since the start:
    /// the machine's and the server's, as a note.
    pub fn per(&self, done: u64) -> String {
        let per = |ticks: u64| ticks as f64 / TICKS_PER_SECOND * 1e6 / done.max(1) as f64;
        let machine = self.machine.zip(machine_ticks()).map(|(from, to)| per(to.saturating_sub(from)));
        let server = self.server.and_then(|(pid, from)| Some(per(process_ticks(pid)?.saturating_sub(from))));
        match (machine, server) {
            (Some(machine), Some(server)) => format!("CPU per request: {machine:.0} µs machine, {server:.0} µs server"),
            (Some(machine), None) => format!("CPU per transaction: {machine:.0} µs machine"),
            _ => "CPU not read (no /proc)".to_owned(),
        }
    }
}
