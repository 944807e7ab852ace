//! The Linux checks. Each reads its files through the [`Root`]; only
//! `firewall_active` on the live machine runs commands (`nft`,
//! `iptables-save`), which only list rules. The sources of every check are
//! in the table of the parent module.

mod apt;
mod nft;
mod sockets;
mod sshd;

use super::root::MAX_FILE_BYTES;
use super::{Ctx, Finding, Root, names};
use schoolwatch_protocol::{ListeningSocket, SocketProtocol};
use std::collections::{BTreeSet, HashMap};
use std::io::{BufReader, Read};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, SystemTime};

/// Process names (as `/proc/PID/comm` shows them) of endpoint protection:
/// Kaspersky Endpoint Security and its Network Agent, ClamAV, Microsoft
/// Defender for Endpoint, Sophos. `[security] endpoint_processes` adds more.
pub const ENDPOINT_PROCESSES: &[&str] = &[
    "kesl",
    "klnagent",
    "klnagent64",
    "clamd",
    "freshclam",
    "clamonacc",
    "wdavdaemon",
    "savd",
    "sophos_threat_detector",
];
/// Time daemons: systemd-timesyncd, chrony, ntpd (also NTPsec and OpenNTPD).
const TIME_DAEMONS: &[&str] = &["systemd-timesyncd", "chronyd", "ntpd", "openntpd"];
/// ClamAV signatures older than this fail the endpoint check.
const MAX_SIGNATURE_AGE_DAYS: u64 = 7;
/// A last package upgrade longer ago than this fails.
const MAX_DAYS_SINCE_UPDATE: u64 = 30;
/// Package lists older than this cannot vouch for "nothing pending".
const MAX_LIST_AGE_DAYS: u64 = 7;
/// `/proc/PID/comm` holds at most this many bytes (TASK_COMM_LEN - 1).
const COMM_LEN: usize = 15;
/// Bound on the `fd` links read to find sockets' processes.
const MAX_FD_LINKS: usize = 200_000;
/// Bound on one firewall command.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(10);
/// Bound on what one firewall command may print.
const MAX_COMMAND_OUTPUT: u64 = 16 << 20;

/// What more than one check reads, computed once per run.
#[derive(Default)]
pub struct Cache {
    processes: OnceLock<Result<Vec<Process>, String>>,
}

#[derive(Debug, Clone)]
struct Process {
    pid: u32,
    comm: String,
}

/// Runs the check `id`.
pub fn evaluate(id: &str, ctx: &Ctx) -> Finding {
    use super::*;
    match id {
        FIREWALL_ACTIVE => firewall(ctx),
        ENDPOINT_PROTECTION_RUNNING => endpoint_protection(ctx),
        OS_UPDATES_PENDING => updates_pending(ctx, false),
        SECURITY_UPDATES_PENDING => updates_pending(ctx, true),
        DAYS_SINCE_LAST_UPDATE => days_since_update(ctx),
        REBOOT_REQUIRED => reboot_required(ctx),
        AUTOMATIC_UPDATES_ENABLED => automatic_updates(ctx),
        SSH_ROOT_LOGIN => ssh_root_login(ctx),
        SSH_PASSWORD_AUTHENTICATION => ssh_password_authentication(ctx),
        EMPTY_PASSWORD_ACCOUNTS => empty_password_accounts(ctx),
        EXTRA_UID0_ACCOUNTS => extra_uid0_accounts(ctx),
        DISK_ENCRYPTION => disk_encryption(ctx),
        TIME_SYNC_ACTIVE => time_sync(ctx),
        other => Finding::unknown(format!("no such check on Linux: {other}")),
    }
}

// === helpers ===

fn age_days(t: SystemTime) -> u64 {
    SystemTime::now()
        .duration_since(t)
        .map_or(0, |d| d.as_secs() / 86_400)
}

fn days(n: u64) -> String {
    match n {
        0 => "today".to_owned(),
        1 => "1 day ago".to_owned(),
        n => format!("{n} days ago"),
    }
}

fn mtime(root: &Root, rel: &str) -> Option<SystemTime> {
    root.metadata(rel).ok()?.modified().ok()
}

/// A why-unknown for a file that exists but cannot be read.
fn unreadable(rel: &str, e: &std::io::Error) -> String {
    if e.kind() == std::io::ErrorKind::PermissionDenied {
        format!("cannot read {} (run the agent as root)", Root::display(rel))
    } else {
        format!("cannot read {}: {e}", Root::display(rel))
    }
}

/// `KEY=value` (quotes dropped) in a shell-style config file.
fn shell_value<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.lines().rev().find_map(|l| {
        let (k, v) = l.trim().split_once('=')?;
        (k.trim() == key).then(|| v.trim().trim_matches(['"', '\'']))
    })
}

/// Whether a systemd unit is enabled: a link to it in some `*.wants`
/// directory of `/etc/systemd/system`.
fn unit_enabled(root: &Root, unit: &str) -> bool {
    root.read_dir("etc/systemd/system")
        .unwrap_or_default()
        .iter()
        .filter(|d| d.ends_with(".wants"))
        .any(|d| {
            std::fs::symlink_metadata(root.path(&format!("etc/systemd/system/{d}")).join(unit))
                .is_ok()
        })
}

fn processes(ctx: &Ctx) -> Result<&[Process], String> {
    ctx.cache
        .processes
        .get_or_init(|| {
            let names = ctx
                .root
                .read_dir("proc")
                .map_err(|e| format!("no process list: {}", unreadable("proc", &e)))?;
            let list: Vec<Process> = names
                .iter()
                .filter_map(|n| n.parse::<u32>().ok())
                .filter_map(|pid| {
                    let comm = ctx.root.read(&format!("proc/{pid}/comm")).ok()?;
                    Some(Process {
                        pid,
                        comm: comm.trim_end_matches('\n').to_owned(),
                    })
                })
                .collect();
            if list.is_empty() {
                Err("no process list: /proc has no processes".to_owned())
            } else {
                Ok(list)
            }
        })
        .as_deref()
        .map_err(Clone::clone)
}

/// `name` as the kernel shows it in `comm` (cut to 15 bytes).
fn comm_of(name: &str) -> &str {
    let mut end = name.len().min(COMM_LEN);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    &name[..end]
}

/// Which of `wanted` run, by their full names, sorted.
fn running<'a>(procs: &[Process], wanted: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let comms: BTreeSet<&str> = procs.iter().map(|p| p.comm.as_str()).collect();
    let found: BTreeSet<String> = wanted
        .into_iter()
        .filter(|w| comms.contains(comm_of(w)))
        .map(str::to_owned)
        .collect();
    found.into_iter().collect()
}

// === firewall_active ===

/// Outcome of running one command.
enum Ran {
    Output(String),
    /// The tool is not installed.
    Missing,
    Failed(String),
}

/// Runs a listing command from the system directories (not `$PATH`) with a
/// time bound, killing it when it overruns.
fn run_command(tool: &str, args: &[&str]) -> Ran {
    let Some(path) = ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]
        .iter()
        .map(|d| std::path::Path::new(d).join(tool))
        .find(|p| p.is_file())
    else {
        return Ran::Missing;
    };
    let mut child = match std::process::Command::new(&path)
        .args(args)
        .env("LC_ALL", "C")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => return Ran::Failed(format!("{tool}: {e}")),
    };
    let mut pipes = (child.stdout.take(), child.stderr.take());
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        let mut err = Vec::new();
        if let Some(o) = pipes.0.take() {
            let _ = o.take(MAX_COMMAND_OUTPUT).read_to_end(&mut out);
        }
        if let Some(e) = pipes.1.take() {
            let _ = e.take(4096).read_to_end(&mut err);
        }
        (out, err)
    });
    let start = std::time::Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break Ok(s),
            Ok(None) if start.elapsed() > COMMAND_TIMEOUT => {
                // Our own child, by its handle.
                let _ = child.kill();
                let _ = child.wait();
                break Err(format!("{tool} did not finish within {COMMAND_TIMEOUT:?}"));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => break Err(format!("{tool}: {e}")),
        }
    };
    let (out, err) = reader.join().unwrap_or_default();
    match status {
        Ok(s) if s.success() => Ran::Output(String::from_utf8_lossy(&out).into_owned()),
        Ok(s) => {
            let err = String::from_utf8_lossy(&err);
            let first = err.lines().next().unwrap_or("").trim();
            Ran::Failed(format!("{tool} failed ({s}): {first}"))
        }
        Err(e) => Ran::Failed(e),
    }
}

fn firewall(ctx: &Ctx) -> Finding {
    if !ctx.root.is_live() {
        return firewall_from_files(&ctx.root, "");
    }
    // The live machine: ask the kernel. nft sees nftables and iptables-nft
    // rules; iptables-save also sees rules of the legacy backend.
    let mut seen = Vec::new();
    let mut failures = Vec::new();
    match run_command("nft", &["-j", "list", "ruleset"]) {
        Ran::Output(text) => match nft::from_json(&text) {
            Ok(f) if f.active() => return Finding::pass(format!("nftables: {}", f.describe())),
            Ok(_) => seen.push("nftables: no input filtering".to_owned()),
            Err(e) => failures.push(e),
        },
        Ran::Missing => {}
        Ran::Failed(e) => failures.push(e),
    }
    match run_command("iptables-save", &[]) {
        Ran::Output(text) => {
            let f = nft::from_iptables_save(&text);
            if f.active() {
                return Finding::pass(format!("iptables: {}", f.describe()));
            }
            seen.push("iptables: no input filtering".to_owned());
        }
        Ran::Missing => {}
        Ran::Failed(e) => failures.push(e),
    }
    if !seen.is_empty() {
        return Finding::fail(seen.join("; "));
    }
    if !failures.is_empty() {
        return Finding::unknown(failures.join("; "));
    }
    // Neither tool is installed: without nft or iptables there is no
    // netfilter ruleset to speak of, but say what is configured.
    firewall_from_files(
        &ctx.root,
        " (configuration only: nft and iptables-save are not installed)",
    )
}

/// The firewall as configured in files: nftables' boot script, ufw,
/// firewalld, iptables-persistent.
fn firewall_from_files(root: &Root, note: &str) -> Finding {
    let mut active = Vec::new();
    let mut inactive = Vec::new();
    if let Ok(t) = root.read("etc/ufw/ufw.conf") {
        if shell_value(&t, "ENABLED").is_some_and(|v| v.eq_ignore_ascii_case("yes")) {
            active.push("ufw enabled (/etc/ufw/ufw.conf)".to_owned());
        } else {
            inactive.push("ufw disabled".to_owned());
        }
    }
    if let Ok(t) = root.read("etc/firewalld/firewalld.conf") {
        let zone = shell_value(&t, "DefaultZone").unwrap_or("public");
        if !unit_enabled(root, "firewalld.service") {
            inactive.push("firewalld.service not enabled".to_owned());
        } else if zone == "trusted" {
            inactive.push("firewalld default zone `trusted` accepts everything".to_owned());
        } else {
            active.push(format!("firewalld enabled, default zone {zone}"));
        }
    }
    if let Ok(t) = root.read("etc/nftables.conf") {
        let f = nft::from_script(&t);
        if !f.active() {
            inactive.push("/etc/nftables.conf has no input filtering".to_owned());
        } else if !unit_enabled(root, "nftables.service") {
            inactive.push(format!(
                "/etc/nftables.conf has {} but nftables.service is not enabled",
                f.describe()
            ));
        } else {
            active.push(format!(
                "/etc/nftables.conf: {}, nftables.service enabled",
                f.describe()
            ));
        }
    }
    for rel in ["etc/iptables/rules.v4", "etc/iptables/rules.v6"] {
        if let Ok(t) = root.read(rel) {
            let f = nft::from_iptables_save(&t);
            if f.active() {
                active.push(format!("{}: {}", Root::display(rel), f.describe()));
            } else {
                inactive.push(format!("{} has no input filtering", Root::display(rel)));
            }
        }
    }
    if !active.is_empty() {
        Finding::pass(format!("{}{note}", active.join("; ")))
    } else if inactive.is_empty() {
        Finding::fail(format!(
            "no firewall configured: no nftables, ufw, firewalld or iptables rules{note}"
        ))
    } else {
        Finding::fail(format!("{}{note}", inactive.join("; ")))
    }
}

// === endpoint_protection_running ===

fn endpoint_protection(ctx: &Ctx) -> Finding {
    let procs = match processes(ctx) {
        Ok(p) => p,
        Err(reason) => return Finding::unknown(reason),
    };
    let wanted = ENDPOINT_PROCESSES
        .iter()
        .copied()
        .chain(ctx.endpoint_processes.iter().map(String::as_str));
    let found = running(procs, wanted);
    if found.is_empty() {
        return Finding::fail(format!(
            "no endpoint protection running (looked for {})",
            names(ENDPOINT_PROCESSES, 4)
        ));
    }
    let mut evidence = format!("running: {}", names(&found, 4));
    if found
        .iter()
        .any(|p| p.starts_with("clam") || p == "freshclam")
    {
        let newest = ["var/lib/clamav/daily.cvd", "var/lib/clamav/daily.cld"]
            .iter()
            .filter_map(|f| mtime(&ctx.root, f))
            .max();
        match newest {
            Some(t) if age_days(t) > MAX_SIGNATURE_AGE_DAYS => {
                return Finding::fail(format!(
                    "{evidence}; ClamAV signatures from {} (over {MAX_SIGNATURE_AGE_DAYS} days)",
                    days(age_days(t))
                ));
            }
            Some(t) => {
                evidence.push_str(&format!("; ClamAV signatures from {}", days(age_days(t))))
            }
            None => evidence.push_str("; ClamAV signature age unknown"),
        }
    }
    Finding::pass(evidence)
}

// === os_updates_pending, security_updates_pending ===

/// What was found about pending updates, shared by both checks.
#[derive(Debug, Clone)]
struct UpdateState {
    pending: apt::Pending,
    /// Counts only (Ubuntu's update-notifier file), when no list was read.
    counts: Option<(u64, u64)>,
    /// Age of the newest list read, days.
    list_age_days: Option<u64>,
    source: &'static str,
}

/// The last computation and the files it came from (name, size, mtime), so
/// that the hourly run reads tens of megabytes of lists only when apt
/// changed them.
type UpdateCache = Option<(
    Vec<(String, u64, Option<SystemTime>)>,
    Result<UpdateState, String>,
)>;
static UPDATE_CACHE: Mutex<UpdateCache> = Mutex::new(None);

const LISTS: &str = "var/lib/apt/lists";
const DPKG_STATUS: &str = "var/lib/dpkg/status";
const UPDATES_AVAILABLE: &str = "var/lib/update-notifier/updates-available";

fn update_state(root: &Root) -> Result<UpdateState, String> {
    let lists: Vec<String> = root
        .read_dir(LISTS)
        .unwrap_or_default()
        .into_iter()
        .filter(|n| n.contains("_Packages"))
        .collect();
    let mut key: Vec<(String, u64, Option<SystemTime>)> = lists
        .iter()
        .map(|n| format!("{LISTS}/{n}"))
        .chain([DPKG_STATUS.to_owned(), UPDATES_AVAILABLE.to_owned()])
        .map(|rel| {
            let m = root.metadata(&rel).ok();
            let size = m.as_ref().map_or(0, std::fs::Metadata::len);
            let t = m.and_then(|m| m.modified().ok());
            (root.path(&rel).display().to_string(), size, t)
        })
        .collect();
    key.sort();
    // A poisoned lock only means an earlier check panicked; the cache is
    // still a plain value.
    let mut cache = UPDATE_CACHE.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((k, v)) = cache.as_ref()
        && *k == key
    {
        return v.clone();
    }
    let v = compute_updates(root, &lists);
    *cache = Some((key, v.clone()));
    v
}

fn compute_updates(root: &Root, lists: &[String]) -> Result<UpdateState, String> {
    let readable: Vec<&String> = lists
        .iter()
        .filter(|n| n.ends_with("_Packages") || n.ends_with("_Packages.gz"))
        .collect();
    if !readable.is_empty() {
        let status = root
            .open(DPKG_STATUS)
            .map_err(|e| unreadable(DPKG_STATUS, &e))?;
        let installed =
            apt::installed(BufReader::new(status)).map_err(|e| unreadable(DPKG_STATUS, &e))?;
        let mut pending = apt::Pending::default();
        let mut newest = None;
        for name in readable {
            let rel = format!("{LISTS}/{name}");
            let file = root.open(&rel).map_err(|e| unreadable(&rel, &e))?;
            newest = newest.max(mtime(root, &rel));
            let security = apt::is_security_list(name);
            let result = if name.ends_with(".gz") {
                pending.add_list(
                    &installed,
                    BufReader::new(flate2::read::MultiGzDecoder::new(file)),
                    security,
                )
            } else {
                pending.add_list(&installed, BufReader::new(file), security)
            };
            result.map_err(|e| unreadable(&rel, &e))?;
        }
        return Ok(UpdateState {
            pending,
            counts: None,
            list_age_days: newest.map(age_days),
            source: "apt lists",
        });
    }
    if let Ok(text) = root.read(UPDATES_AVAILABLE) {
        let counts = apt::parse_updates_available(&text)
            .ok_or_else(|| format!("{} has no update counts", Root::display(UPDATES_AVAILABLE)))?;
        return Ok(UpdateState {
            pending: apt::Pending::default(),
            counts: Some(counts),
            list_age_days: mtime(root, UPDATES_AVAILABLE).map(age_days),
            source: "update-notifier",
        });
    }
    if !lists.is_empty() {
        return Err(format!(
            "the apt lists in {} are compressed in a form the agent does not read (only plain and .gz)",
            Root::display(LISTS)
        ));
    }
    Err(format!(
        "no apt package lists in {} and no {}",
        Root::display(LISTS),
        Root::display(UPDATES_AVAILABLE)
    ))
}

fn updates_pending(ctx: &Ctx, security: bool) -> Finding {
    let state = match update_state(&ctx.root) {
        Ok(s) => s,
        Err(reason) => return Finding::unknown(reason),
    };
    let what = if security {
        "security update"
    } else {
        "update"
    };
    let (count, list) = match state.counts {
        Some((all, sec)) => (if security { sec } else { all }, Vec::new()),
        None => {
            let set = if security {
                &state.pending.security
            } else {
                &state.pending.all
            };
            (set.len() as u64, set.iter().cloned().collect())
        }
    };
    let age = state.list_age_days.map_or_else(String::new, |d| {
        format!(", {} from {}", state.source, days(d))
    });
    if count > 0 {
        let detail = if list.is_empty() {
            String::new()
        } else {
            format!(": {}", names(&list, 5))
        };
        return Finding::fail(format!(
            "{count} {what}{} pending{detail}{age}",
            if count == 1 { "" } else { "s" }
        ));
    }
    match state.list_age_days {
        Some(d) if d > MAX_LIST_AGE_DAYS => Finding::unknown(format!(
            "no {what}s in the package lists, but they are from {} (apt update is not running)",
            days(d)
        )),
        _ => Finding::pass(format!("no {what}s pending{age}")),
    }
}

// === days_since_last_update ===

fn days_since_update(ctx: &Ctx) -> Finding {
    let root = &ctx.root;
    let mut last = None;
    for i in 0..=12 {
        let (rel, text) = if i == 0 {
            let rel = "var/log/apt/history.log".to_owned();
            let t = root.read(&rel).ok();
            (rel, t)
        } else {
            let rel = format!("var/log/apt/history.log.{i}.gz");
            let t = root.open(&rel).ok().and_then(|f| {
                let mut s = String::new();
                flate2::read::MultiGzDecoder::new(f)
                    .take(MAX_FILE_BYTES)
                    .read_to_string(&mut s)
                    .ok()
                    .map(|_| s)
            });
            (rel, t)
        };
        let Some(text) = text else {
            continue;
        };
        if let Some(t) = apt::last_upgrade(&text) {
            last = Some((t, rel));
            break;
        }
    }
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (age, source) = match last {
        Some((t, rel)) => (now.saturating_sub(t) / 86_400, Root::display(&rel)),
        None => match mtime(root, DPKG_STATUS) {
            Some(t) => (
                age_days(t),
                format!("{} changed", Root::display(DPKG_STATUS)),
            ),
            None => {
                return Finding::unknown(format!(
                    "no package upgrade in {} and no {}",
                    Root::display("var/log/apt/history.log"),
                    Root::display(DPKG_STATUS)
                ));
            }
        },
    };
    let evidence = format!("last package upgrade {} ({source})", days(age));
    if age > MAX_DAYS_SINCE_UPDATE {
        Finding::fail(format!("{evidence}; over {MAX_DAYS_SINCE_UPDATE} days"))
    } else {
        Finding::pass(evidence)
    }
}

// === reboot_required ===

fn reboot_required(ctx: &Ctx) -> Finding {
    let root = &ctx.root;
    for rel in ["run/reboot-required", "var/run/reboot-required"] {
        if let Some(t) = mtime(root, rel) {
            let pkgs: Vec<String> = root
                .read(&format!("{rel}.pkgs"))
                .unwrap_or_default()
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            let by = if pkgs.is_empty() {
                String::new()
            } else {
                format!(" by {}", names(&pkgs, 3))
            };
            return Finding::fail(format!(
                "reboot requested {}{by} ({})",
                days(age_days(t)),
                Root::display(rel)
            ));
        }
    }
    // Debian has no reboot flag unless update-notifier is installed; a
    // newer kernel in /boot than the running one says the same.
    let running = root
        .read("proc/sys/kernel/osrelease")
        .ok()
        .map(|s| s.trim().to_owned());
    let newest = root
        .read_dir("boot")
        .unwrap_or_default()
        .into_iter()
        .filter_map(|n| n.strip_prefix("vmlinuz-").map(str::to_owned))
        .max_by(|a, b| apt::compare_versions(a, b));
    if let (Some(running), Some(newest)) = (&running, &newest)
        && apt::compare_versions(newest, running) == std::cmp::Ordering::Greater
    {
        return Finding::fail(format!(
            "kernel {newest} is installed but {running} is running"
        ));
    }
    Finding::pass(match running {
        Some(r) => format!("no reboot requested; kernel {r} running"),
        None => "no reboot requested (/run/reboot-required absent)".to_owned(),
    })
}

// === automatic_updates_enabled ===

fn automatic_updates(ctx: &Ctx) -> Finding {
    let root = &ctx.root;
    if !root.exists("etc/apt") {
        return Finding::unknown("not an apt system (no /etc/apt)");
    }
    let mut conf = HashMap::new();
    let mut origin: HashMap<String, String> = HashMap::new();
    // apt reads the parts first, then apt.conf; later values win.
    let files: Vec<String> = root
        .read_dir("etc/apt/apt.conf.d")
        .unwrap_or_default()
        .into_iter()
        .filter(|n| apt::is_apt_conf_part(n))
        .map(|n| format!("etc/apt/apt.conf.d/{n}"))
        .chain(["etc/apt/apt.conf".to_owned()])
        .collect();
    for rel in &files {
        if let Ok(t) = root.read(rel) {
            let mut one = HashMap::new();
            apt::parse_apt_conf(&t, &mut one);
            for k in one.keys() {
                origin.insert(k.clone(), Root::display(rel));
            }
            conf.extend(one);
        }
    }
    const KEY: &str = "apt::periodic::unattended-upgrade";
    let value = conf.get(KEY).cloned();
    let disabled_all = conf
        .get("apt::periodic::enable")
        .is_some_and(|v| !apt::periodic_on(v));
    let installed = match root.open(DPKG_STATUS) {
        Ok(f) => match apt::installed(BufReader::new(f)) {
            Ok(i) => apt::is_installed(&i, "unattended-upgrades"),
            Err(e) => return Finding::unknown(unreadable(DPKG_STATUS, &e)),
        },
        Err(e) => return Finding::unknown(unreadable(DPKG_STATUS, &e)),
    };
    match value {
        Some(v) if apt::periodic_on(&v) => {
            let at = origin.get(KEY).cloned().unwrap_or_default();
            if disabled_all {
                Finding::fail(format!(
                    "APT::Periodic::Unattended-Upgrade \"{v}\" ({at}) but APT::Periodic::Enable is off"
                ))
            } else if !installed {
                Finding::fail(format!(
                    "APT::Periodic::Unattended-Upgrade \"{v}\" ({at}) but unattended-upgrades is not installed"
                ))
            } else {
                Finding::pass(format!(
                    "APT::Periodic::Unattended-Upgrade \"{v}\" ({at}); unattended-upgrades installed"
                ))
            }
        }
        Some(v) => Finding::fail(format!(
            "APT::Periodic::Unattended-Upgrade \"{v}\" ({})",
            origin.get(KEY).cloned().unwrap_or_default()
        )),
        None => Finding::fail(format!(
            "APT::Periodic::Unattended-Upgrade not set{}",
            if installed {
                ""
            } else {
                "; unattended-upgrades not installed"
            }
        )),
    }
}

// === ssh_root_login, ssh_password_authentication ===

const SSH_KEYS: &[&str] = &["permitrootlogin", "passwordauthentication"];

fn ssh_setting(ctx: &Ctx, key: &str, default: &str) -> Result<(String, String), Finding> {
    if !ctx.root.exists(sshd::CONFIG) {
        return Err(Finding::pass(format!(
            "no SSH server configured ({} absent)",
            Root::display(sshd::CONFIG)
        )));
    }
    let settings = sshd::effective(&ctx.root, SSH_KEYS).map_err(Finding::unknown)?;
    Ok(match settings.get(key) {
        Some(s) => (s.value.clone(), s.file.clone()),
        None => (default.to_owned(), "sshd default".to_owned()),
    })
}

fn ssh_root_login(ctx: &Ctx) -> Finding {
    // Since OpenSSH 7.0 the default is prohibit-password.
    let (value, from) = match ssh_setting(ctx, "permitrootlogin", "prohibit-password") {
        Ok(v) => v,
        Err(f) => return f,
    };
    let evidence = format!("PermitRootLogin {value} ({from})");
    match value.as_str() {
        "no" | "prohibit-password" | "without-password" | "forced-commands-only" => {
            Finding::pass(evidence)
        }
        _ => Finding::fail(evidence),
    }
}

fn ssh_password_authentication(ctx: &Ctx) -> Finding {
    let (value, from) = match ssh_setting(ctx, "passwordauthentication", "yes") {
        Ok(v) => v,
        Err(f) => return f,
    };
    let evidence = format!("PasswordAuthentication {value} ({from})");
    if value == "no" {
        Finding::pass(evidence)
    } else {
        Finding::fail(evidence)
    }
}

// === listening_ports ===

/// The listening sockets with their processes, sorted by protocol, port
/// and address, duplicates removed.
pub fn listening(ctx: &Ctx) -> Result<Vec<ListeningSocket>, String> {
    let root = &ctx.root;
    let mut raw = Vec::new();
    let mut read_any = false;
    for (file, protocol) in [
        ("proc/net/tcp", SocketProtocol::Tcp),
        ("proc/net/tcp6", SocketProtocol::Tcp),
        ("proc/net/udp", SocketProtocol::Udp),
        ("proc/net/udp6", SocketProtocol::Udp),
    ] {
        if let Ok(t) = root.read(file) {
            read_any = true;
            raw.extend(sockets::parse_table(&t, protocol));
        }
    }
    if !read_any {
        return Err("cannot read the socket tables in /proc/net".to_owned());
    }
    let wanted: BTreeSet<u64> = raw.iter().map(|s| s.inode).filter(|i| *i != 0).collect();
    let mut owner: HashMap<u64, String> = HashMap::new();
    if !wanted.is_empty()
        && let Ok(procs) = processes(ctx)
    {
        let mut links = 0;
        'procs: for p in procs {
            let dir = format!("proc/{}/fd", p.pid);
            for fd in root.read_dir(&dir).unwrap_or_default() {
                links += 1;
                if links > MAX_FD_LINKS || owner.len() == wanted.len() {
                    break 'procs;
                }
                if let Ok(target) = root.read_link(&format!("{dir}/{fd}"))
                    && let Some(inode) = sockets::socket_inode(&target.to_string_lossy())
                    && wanted.contains(&inode)
                {
                    owner.entry(inode).or_insert_with(|| p.comm.clone());
                }
            }
        }
    }
    let mut out: Vec<ListeningSocket> = raw
        .into_iter()
        .map(|s| ListeningSocket {
            protocol: s.protocol,
            address: s.address.to_string(),
            port: s.port,
            process: owner.get(&s.inode).cloned(),
        })
        .collect();
    out.sort_by(|a, b| {
        (a.protocol, a.port, &a.address, &a.process)
            .cmp(&(b.protocol, b.port, &b.address, &b.process))
    });
    out.dedup();
    Ok(out)
}

// === empty_password_accounts, extra_uid0_accounts ===

fn empty_password_accounts(ctx: &Ctx) -> Finding {
    let root = &ctx.root;
    let passwd = match root.read("etc/passwd") {
        Ok(t) => t,
        Err(e) => return Finding::unknown(unreadable("etc/passwd", &e)),
    };
    let shadow = match root.read("etc/shadow") {
        Ok(t) => Some(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Finding::unknown(unreadable("etc/shadow", &e)),
    };
    // Only the name and whether the password field is empty are looked at;
    // the field itself is never copied.
    let empty_in = |text: &str| -> Vec<String> {
        text.lines()
            .filter_map(|l| {
                let mut f = l.split(':');
                let name = f.next()?.trim();
                let pw = f.next()?;
                (!name.is_empty() && !name.starts_with('#') && pw.is_empty())
                    .then(|| name.to_owned())
            })
            .collect()
    };
    let mut empty: BTreeSet<String> = empty_in(&passwd).into_iter().collect();
    let checked = if let Some(s) = &shadow {
        empty.extend(empty_in(s));
        "/etc/shadow and /etc/passwd"
    } else {
        "/etc/passwd (no /etc/shadow)"
    };
    let empty: Vec<String> = empty.into_iter().collect();
    if empty.is_empty() {
        Finding::pass(format!("no account without a password ({checked})"))
    } else {
        Finding::fail(format!(
            "{} account{} without a password: {}",
            empty.len(),
            if empty.len() == 1 { "" } else { "s" },
            names(&empty, 5)
        ))
    }
}

fn extra_uid0_accounts(ctx: &Ctx) -> Finding {
    let passwd = match ctx.root.read("etc/passwd") {
        Ok(t) => t,
        Err(e) => return Finding::unknown(unreadable("etc/passwd", &e)),
    };
    let extra: Vec<String> = passwd
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            let name = f.first()?.trim();
            (f.len() > 2 && f[2].trim() == "0" && name != "root").then(|| name.to_owned())
        })
        .collect();
    if extra.is_empty() {
        Finding::pass("only root has UID 0")
    } else {
        Finding::fail(format!("UID 0 besides root: {}", names(&extra, 5)))
    }
}

// === disk_encryption ===

fn disk_encryption(ctx: &Ctx) -> Finding {
    let root = &ctx.root;
    let active: Vec<String> = root
        .read_dir("sys/block")
        .unwrap_or_default()
        .into_iter()
        .filter(|d| d.starts_with("dm-"))
        .filter(|d| {
            root.read(&format!("sys/block/{d}/dm/uuid"))
                .is_ok_and(|u| u.trim_start().starts_with("CRYPT-"))
        })
        .map(|d| {
            root.read(&format!("sys/block/{d}/dm/name"))
                .map(|n| n.trim().to_owned())
                .unwrap_or(d)
        })
        .collect();
    if !active.is_empty() {
        return Finding::pass(format!("dm-crypt active: {}", names(&active, 4)));
    }
    let configured: Vec<String> = root
        .read("etc/crypttab")
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect();
    if !configured.is_empty() {
        return Finding::pass(format!(
            "encrypted volumes in /etc/crypttab: {}",
            names(&configured, 4)
        ));
    }
    Finding::fail("no encrypted volume: no dm-crypt device, /etc/crypttab empty or absent")
}

// === time_sync_active ===

fn time_sync(ctx: &Ctx) -> Finding {
    let procs = processes(ctx);
    if let Ok(p) = procs {
        let found = running(p, TIME_DAEMONS.iter().copied());
        if !found.is_empty() {
            return Finding::pass(format!("running: {}", names(&found, 3)));
        }
    }
    if ctx.root.exists("run/systemd/timesync/synchronized") {
        return Finding::pass(
            "synchronized by systemd-timesyncd (/run/systemd/timesync/synchronized)",
        );
    }
    match procs {
        Ok(_) => Finding::fail(format!(
            "no time synchronization running (looked for {})",
            names(TIME_DAEMONS, 4)
        )),
        Err(reason) => Finding::unknown(reason),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comm_names_are_cut_like_the_kernel() {
        assert_eq!(comm_of("sophos_threat_detector"), "sophos_threat_d");
        assert_eq!(comm_of("systemd-timesyncd"), "systemd-timesyn");
        assert_eq!(comm_of("kesl"), "kesl");
        let procs = [Process {
            pid: 1,
            comm: "systemd-timesyn".into(),
        }];
        assert_eq!(
            running(&procs, TIME_DAEMONS.iter().copied()),
            ["systemd-timesyncd"]
        );
    }

    #[test]
    fn shell_values() {
        assert_eq!(
            shell_value("# ENABLED=no\nENABLED=yes\n", "ENABLED"),
            Some("yes")
        );
        assert_eq!(shell_value("ENABLED=\"no\"\n", "ENABLED"), Some("no"));
        assert_eq!(shell_value("DefaultZone=public\n", "ENABLED"), None);
    }
}
