//! The security posture checks through the real binary.
//!
//! For every check, a tree made here where it passes and one where it
//! fails, evaluated with `schoolwatch-agent check --json --root DIR`. On the
//! live machine: a listener this test opens is reported with its port and
//! this process's name, and the firewall check follows an nftables rule
//! added and removed inside a network namespace made here. Secrets seeded
//! in a tree (a password hash, a private key) never appear in the output.

use schoolwatch_protocol::{Check, CheckStatus, ListeningSocket, Security, SocketProtocol};
use schoolwatch_tests::{Netns, agent_args, bin, require, run, stdout_of};
use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime};

// === trees ===

/// A prepared file system tree in a temporary directory.
struct Tree {
    dir: tempfile::TempDir,
}

impl Tree {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    fn path(&self, rel: &str) -> std::path::PathBuf {
        self.dir.path().join(rel)
    }

    fn file(&self, rel: &str, text: &str) -> &Self {
        let p = self.path(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
        self
    }

    fn gz(&self, rel: &str, text: &str) -> &Self {
        let p = self.path(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        let mut e = flate2::write::GzEncoder::new(
            std::fs::File::create(p).unwrap(),
            flate2::Compression::fast(),
        );
        e.write_all(text.as_bytes()).unwrap();
        e.finish().unwrap();
        self
    }

    fn link(&self, rel: &str, target: &str) -> &Self {
        let p = self.path(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(target, p).unwrap();
        self
    }

    /// Sets the modification time of `rel` to `days` days ago.
    fn age(&self, rel: &str, days: u64) -> &Self {
        let f = std::fs::File::options()
            .write(true)
            .open(self.path(rel))
            .unwrap();
        f.set_modified(SystemTime::now() - Duration::from_secs(days * 86_400))
            .unwrap();
        self
    }

    /// A process `pid` named `comm` in the tree's `/proc`.
    fn process(&self, pid: u32, comm: &str) -> &Self {
        self.file(&format!("proc/{pid}/comm"), &format!("{comm}\n"))
    }

    fn check(&self) -> Security {
        let root = self.dir.path().to_str().unwrap();
        self.check_args(&agent_args(&["check", "--json", "--root", root]))
    }

    /// `check --json` with a config file of `text`.
    fn check_with_config(&self, text: &str) -> Security {
        let config = self.path("agent.toml");
        std::fs::write(&config, text).unwrap();
        let root = self.dir.path().to_str().unwrap();
        self.check_args(&[
            "--config",
            config.to_str().unwrap(),
            "check",
            "--json",
            "--root",
            root,
        ])
    }

    fn check_args(&self, args: &[&str]) -> Security {
        let out = stdout_of(Command::new(bin("schoolwatch-agent")).args(args));
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
    }
}

fn find<'a>(s: &'a Security, id: &str) -> &'a Check {
    s.checks
        .iter()
        .find(|c| c.id == id)
        .unwrap_or_else(|| panic!("no check {id} in {s:#?}"))
}

/// Asserts the status of check `id` on `tree`, returning the check.
fn expect(tree: &Tree, id: &str, status: CheckStatus) -> Check {
    let s = tree.check();
    let c = find(&s, id).clone();
    assert_eq!(c.status, status, "{c:#?}");
    if status == CheckStatus::Unknown {
        assert!(c.reason.is_some(), "{c:#?}");
    } else {
        assert!(!c.evidence.is_empty(), "{c:#?}");
    }
    c
}

fn pass(tree: &Tree, id: &str) -> Check {
    expect(tree, id, CheckStatus::Pass)
}

fn fail(tree: &Tree, id: &str) -> Check {
    expect(tree, id, CheckStatus::Fail)
}

/// `YYYY-MM-DD` of `days_ago` days before now (UTC), as apt logs it.
fn date_days_ago(days_ago: u64) -> String {
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    // Civil from days (Howard Hinnant's algorithm).
    let z = (now / 86_400 - days_ago) as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// A `/proc/net/tcp` line for a socket on `ip:port` in state `st`.
fn tcp_line(ip: [u8; 4], port: u16, st: &str, inode: u64) -> String {
    format!(
        "   0: {:08X}:{port:04X} 00000000:0000 {st} 00000000:00000000 00:00000000 00000000     0        0 {inode} 1 0000000000000000 100 0 0 10 0\n",
        u32::from_ne_bytes(ip)
    )
}

const PROC_NET_HEADER: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n";

const DPKG_STATUS: &str = "Package: bash\nStatus: install ok installed\nArchitecture: amd64\nVersion: 5.2.15-2+b2\n\nPackage: openssl\nStatus: install ok installed\nArchitecture: amd64\nVersion: 3.0.11-1~deb12u2\n\nPackage: unattended-upgrades\nStatus: install ok installed\nArchitecture: all\nVersion: 2.9.1+nmu3\n";
const MAIN_LIST: &str =
    "var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages";
const SECURITY_LIST: &str = "var/lib/apt/lists/deb.debian.org_debian-security_dists_bookworm-security_main_binary-amd64_Packages";

fn package(name: &str, version: &str) -> String {
    format!("Package: {name}\nArchitecture: amd64\nVersion: {version}\nDescription: x\n\n")
}

// === firewall_active ===

#[test]
fn firewall_from_configuration_files() {
    let id = "firewall_active";
    // Nothing configured at all.
    let c = fail(&Tree::new(), id);
    assert!(c.evidence.contains("no firewall configured"), "{c:?}");

    let t = Tree::new();
    t.file("etc/ufw/ufw.conf", "# ufw\nENABLED=yes\nLOGLEVEL=low\n");
    assert!(pass(&t, id).evidence.contains("ufw enabled"));
    let t = Tree::new();
    t.file("etc/ufw/ufw.conf", "ENABLED=no\n");
    assert!(fail(&t, id).evidence.contains("ufw disabled"));

    // Debian's shipped nftables.conf filters nothing.
    let debian_default = "#!/usr/sbin/nft -f\nflush ruleset\ntable inet filter {\n\tchain input {\n\t\ttype filter hook input priority filter;\n\t}\n}\n";
    let rules = "#!/usr/sbin/nft -f\nflush ruleset\ntable inet filter {\n\tchain input {\n\t\ttype filter hook input priority filter; policy drop;\n\t\tct state established,related accept\n\t\ttcp dport { 22, 443 } accept\n\t}\n}\n";
    let t = Tree::new();
    t.file("etc/nftables.conf", debian_default).link(
        "etc/systemd/system/sysinit.target.wants/nftables.service",
        "/lib/systemd/system/nftables.service",
    );
    assert!(fail(&t, id).evidence.contains("no input filtering"));
    // Rules, but the service that loads them at boot is not enabled.
    let t = Tree::new();
    t.file("etc/nftables.conf", rules);
    assert!(fail(&t, id).evidence.contains("not enabled"));
    t.link(
        "etc/systemd/system/sysinit.target.wants/nftables.service",
        "/lib/systemd/system/nftables.service",
    );
    let c = pass(&t, id);
    assert!(c.evidence.contains("2 input rules, policy drop"), "{c:?}");

    let t = Tree::new();
    t.file("etc/firewalld/firewalld.conf", "DefaultZone=public\n")
        .link(
            "etc/systemd/system/multi-user.target.wants/firewalld.service",
            "/lib/systemd/system/firewalld.service",
        );
    assert!(pass(&t, id).evidence.contains("firewalld enabled"));
    t.file("etc/firewalld/firewalld.conf", "DefaultZone=trusted\n");
    assert!(fail(&t, id).evidence.contains("trusted"));

    let t = Tree::new();
    t.file(
        "etc/iptables/rules.v4",
        "*filter\n:INPUT DROP [0:0]\n-A INPUT -i lo -j ACCEPT\nCOMMIT\n",
    );
    pass(&t, id);
}

/// On the live machine the firewall check asks the kernel: inside a
/// namespace made here, it follows an nftables rule added and removed.
#[test]
fn firewall_follows_nftables_in_a_namespace() {
    require("nft", "nftables");
    let ns = Netns::new("fw");
    let check = || -> Check {
        let out = stdout_of(
            ns.command(bin("schoolwatch-agent").to_str().unwrap())
                .args(agent_args(&["check", "--json"])),
        );
        let s: Security = serde_json::from_str(&out).unwrap();
        find(&s, "firewall_active").clone()
    };
    let nft = |args: &[&str]| {
        run(ns.command("nft").args(args));
    };
    let c = check();
    assert_eq!(c.status, CheckStatus::Fail, "{c:?}");

    nft(&["add", "table", "inet", "swtest"]);
    nft(&[
        "add",
        "chain",
        "inet",
        "swtest",
        "input",
        "{ type filter hook input priority 0; policy accept; }",
    ]);
    // A table and an input chain that accepts everything filter nothing.
    assert_eq!(check().status, CheckStatus::Fail);

    nft(&[
        "add", "rule", "inet", "swtest", "input", "tcp", "dport", "23", "drop",
    ]);
    let c = check();
    assert_eq!(c.status, CheckStatus::Pass, "{c:?}");
    assert_eq!(c.evidence, "nftables: 1 input rule");

    nft(&["delete", "table", "inet", "swtest"]);
    let c = check();
    assert_eq!(c.status, CheckStatus::Fail, "{c:?}");
}

// === endpoint_protection_running ===

#[test]
fn endpoint_protection() {
    let id = "endpoint_protection_running";
    let t = Tree::new();
    t.process(1, "systemd").process(200, "bash");
    assert!(fail(&t, id).evidence.contains("no endpoint protection"));

    // Kaspersky Endpoint Security for Linux.
    let t = Tree::new();
    t.process(1, "systemd").process(310, "kesl");
    assert!(pass(&t, id).evidence.contains("kesl"));

    // ClamAV with fresh and with stale signatures.
    let t = Tree::new();
    t.process(1, "systemd")
        .process(410, "clamd")
        .process(411, "freshclam")
        .file("var/lib/clamav/daily.cld", "signatures")
        .file("var/lib/clamav/main.cvd", "signatures")
        .age("var/lib/clamav/daily.cld", 1);
    let c = pass(&t, id);
    assert!(c.evidence.contains("clamd, freshclam"), "{c:?}");
    assert!(c.evidence.contains("1 day ago"), "{c:?}");
    t.age("var/lib/clamav/daily.cld", 20);
    assert!(fail(&t, id).evidence.contains("20 days ago"));

    // A product not in the built-in list counts once configured.
    let t = Tree::new();
    t.process(1, "systemd").process(512, "bdsecd");
    fail(&t, id);
    let s = t.check_with_config("[security]\nendpoint_processes = [\"bdsecd\"]\n");
    assert_eq!(find(&s, id).status, CheckStatus::Pass, "{s:#?}");

    // No process list at all: unknown, with why.
    let c = expect(&Tree::new(), id, CheckStatus::Unknown);
    assert!(c.reason.unwrap().contains("/proc"));
}

// === os_updates_pending, security_updates_pending ===

#[test]
fn updates_pending_from_apt_lists() {
    let (os, sec) = ("os_updates_pending", "security_updates_pending");
    // Everything installed is the newest version offered.
    let t = Tree::new();
    t.file("var/lib/dpkg/status", DPKG_STATUS)
        .file(
            MAIN_LIST,
            &(package("bash", "5.2.15-2+b2") + &package("openssl", "3.0.11-1~deb12u2")),
        )
        .file(SECURITY_LIST, &package("zlib1g", "1:1.3"));
    pass(&t, os);
    pass(&t, sec);

    // A newer bash in the main suite: an update, not a security update.
    t.file(
        MAIN_LIST,
        &(package("bash", "5.2.15-2+b7") + &package("openssl", "3.0.11-1~deb12u2")),
    );
    assert_eq!(
        fail(&t, os).evidence,
        "1 update pending: bash, apt lists from today"
    );
    pass(&t, sec);

    // A newer openssl from the security suite (gzip-compressed list).
    std::fs::remove_file(t.path(SECURITY_LIST)).unwrap();
    t.gz(
        &format!("{SECURITY_LIST}.gz"),
        &package("openssl", "3.0.15-1~deb12u1"),
    );
    assert!(
        fail(&t, os)
            .evidence
            .starts_with("2 updates pending: bash, openssl")
    );
    assert!(
        fail(&t, sec)
            .evidence
            .starts_with("1 security update pending: openssl")
    );

    // Lists that old cannot vouch for "nothing pending".
    let t = Tree::new();
    t.file("var/lib/dpkg/status", DPKG_STATUS)
        .file(MAIN_LIST, &package("bash", "5.2.15-2+b2"))
        .age(MAIN_LIST, 30);
    assert!(
        expect(&t, os, CheckStatus::Unknown)
            .reason
            .unwrap()
            .contains("30 days ago")
    );

    // Ubuntu's update-notifier counts when no list is readable.
    let t = Tree::new();
    t.file(
        "var/lib/update-notifier/updates-available",
        "\n12 updates can be applied immediately.\n5 of these updates are standard security updates.\n",
    );
    assert!(fail(&t, os).evidence.starts_with("12 updates pending"));
    assert!(
        fail(&t, sec)
            .evidence
            .starts_with("5 security updates pending")
    );
    t.file(
        "var/lib/update-notifier/updates-available",
        "0 updates can be applied immediately.\n",
    );
    pass(&t, os);
    pass(&t, sec);

    // Neither source: unknown.
    let c = expect(&Tree::new(), os, CheckStatus::Unknown);
    assert!(c.reason.unwrap().contains("/var/lib/apt/lists"));
}

/// Ground truth: on this machine's own package lists and dpkg database,
/// the agent counts the same upgradable packages as `apt list
/// --upgradable`. The lists are copied into a tree uncompressed (apt may
/// keep them lz4-compressed, which the agent does not read), by apt's own
/// helper.
#[test]
fn updates_pending_agree_with_apt() {
    let helper = Path::new("/usr/lib/apt/apt-helper");
    assert!(
        helper.exists(),
        "apt is missing: this test needs a Debian machine"
    );
    let lists: Vec<String> = std::fs::read_dir("/var/lib/apt/lists")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.contains("_Packages"))
        .collect();
    assert!(
        !lists.is_empty(),
        "no apt package lists: run `apt-get update` (scripts/test.sh does when it installs packages)"
    );
    let t = Tree::new();
    for name in &lists {
        let text = stdout_of(
            Command::new(helper)
                .arg("cat-file")
                .arg(format!("/var/lib/apt/lists/{name}")),
        );
        let plain = name.split("_Packages").next().unwrap().to_owned() + "_Packages";
        t.file(&format!("var/lib/apt/lists/{plain}"), &text);
    }
    t.file(
        "var/lib/dpkg/status",
        &std::fs::read_to_string("/var/lib/dpkg/status").unwrap(),
    );
    let apt = stdout_of(Command::new("apt").args(["list", "--upgradable"]));
    let upgradable: std::collections::BTreeSet<&str> = apt
        .lines()
        .filter(|l| l.contains("[upgradable from"))
        .filter_map(|l| l.split('/').next())
        .collect();
    let from_security = apt
        .lines()
        .filter(|l| l.contains("[upgradable from"))
        .filter(|l| {
            l.split_whitespace()
                .next()
                .is_some_and(|s| s.contains("-security"))
        })
        .count();
    let s = t.check();
    let count = |id: &str| -> usize {
        let c = find(&s, id);
        if c.status == CheckStatus::Pass {
            return 0;
        }
        assert_eq!(c.status, CheckStatus::Fail, "{c:?}");
        c.evidence
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    eprintln!(
        "apt: {} upgradable, {from_security} from a security suite",
        upgradable.len()
    );
    assert_eq!(count("os_updates_pending"), upgradable.len(), "{apt}");
    // apt names only the suite of the candidate; the agent also counts a
    // package whose security fix is superseded by a newer point release.
    let security = count("security_updates_pending");
    assert!(
        (from_security..=upgradable.len()).contains(&security),
        "{security} security updates; apt: {from_security} of {}",
        upgradable.len()
    );
}

// === days_since_last_update ===

#[test]
fn days_since_last_update() {
    let id = "days_since_last_update";
    // Logged at midnight, so whole days have passed whatever the hour now.
    let log = |days_ago: u64| {
        format!(
            "\nStart-Date: {d}  00:00:00\nCommandline: /usr/bin/unattended-upgrade\nUpgrade: openssl:amd64 (3.0.11-1~deb12u1, 3.0.11-1~deb12u2)\nEnd-Date: {d}  00:00:09\n\nStart-Date: {today}  09:00:00\nCommandline: apt-get install vim\nInstall: vim:amd64 (2:9.0.1378-2)\nEnd-Date: {today}  09:00:05\n",
            d = date_days_ago(days_ago),
            today = date_days_ago(0)
        )
    };
    let t = Tree::new();
    t.file("var/log/apt/history.log", &log(2));
    let c = pass(&t, id);
    assert!(c.evidence.contains("2 days ago"), "{c:?}");
    // An install is not an upgrade: 45 days since the last upgrade.
    t.file("var/log/apt/history.log", &log(45));
    assert!(fail(&t, id).evidence.contains("45 days ago"));
    // Rotated logs are read when the current one has no upgrade.
    let t = Tree::new();
    t.file("var/log/apt/history.log", "")
        .gz("var/log/apt/history.log.1.gz", &log(3));
    assert!(pass(&t, id).evidence.contains("history.log.1.gz"));
    // Without a log, dpkg's status file's age.
    let t = Tree::new();
    t.file("var/lib/dpkg/status", DPKG_STATUS)
        .age("var/lib/dpkg/status", 90);
    assert!(fail(&t, id).evidence.contains("/var/lib/dpkg/status"));
    expect(&Tree::new(), id, CheckStatus::Unknown);
}

// === reboot_required ===

#[test]
fn reboot_required() {
    let id = "reboot_required";
    let t = Tree::new();
    t.file("proc/sys/kernel/osrelease", "6.1.0-18-amd64\n")
        .file("boot/vmlinuz-6.1.0-17-amd64", "")
        .file("boot/vmlinuz-6.1.0-18-amd64", "");
    pass(&t, id);
    // A newer kernel installed than the one running.
    t.file("boot/vmlinuz-6.1.0-20-amd64", "");
    assert!(fail(&t, id).evidence.contains("6.1.0-20-amd64"));
    // The flag file update-notifier and unattended-upgrades leave.
    let t = Tree::new();
    t.file(
        "var/run/reboot-required",
        "*** System restart required ***\n",
    )
    .file(
        "var/run/reboot-required.pkgs",
        "linux-image-6.1.0-20-amd64\nlibc6\n",
    );
    let c = fail(&t, id);
    assert!(c.evidence.contains("libc6"), "{c:?}");
    // /var/run is a link to /run on a real system: followed inside the tree.
    let t = Tree::new();
    t.file("run/reboot-required", "").link("var/run", "/run");
    fail(&t, id);
}

// === automatic_updates_enabled ===

#[test]
fn automatic_updates() {
    let id = "automatic_updates_enabled";
    let auto =
        "APT::Periodic::Update-Package-Lists \"1\";\nAPT::Periodic::Unattended-Upgrade \"1\";\n";
    let t = Tree::new();
    t.file("etc/apt/apt.conf.d/20auto-upgrades", auto)
        .file("var/lib/dpkg/status", DPKG_STATUS);
    let c = pass(&t, id);
    assert!(c.evidence.contains("20auto-upgrades"), "{c:?}");
    // A later file turns it off.
    t.file(
        "etc/apt/apt.conf.d/99local",
        "APT { Periodic { Unattended-Upgrade \"0\"; }; };\n",
    );
    assert!(fail(&t, id).evidence.contains("99local"));
    // Set, but the package that does the work is not installed.
    let t = Tree::new();
    t.file("etc/apt/apt.conf.d/20auto-upgrades", auto).file(
        "var/lib/dpkg/status",
        "Package: bash\nStatus: install ok installed\nArchitecture: amd64\nVersion: 5.2\n",
    );
    assert!(fail(&t, id).evidence.contains("not installed"));
    // Not an apt system.
    expect(&Tree::new(), id, CheckStatus::Unknown);
}

// === ssh_root_login, ssh_password_authentication ===

#[test]
fn ssh_settings() {
    let (root_login, passwords) = ("ssh_root_login", "ssh_password_authentication");
    // No SSH server: nothing to log into.
    pass(&Tree::new(), root_login);
    pass(&Tree::new(), passwords);

    let t = Tree::new();
    t.file(
        "etc/ssh/sshd_config",
        "Include /etc/ssh/sshd_config.d/*.conf\nPermitRootLogin no\nPasswordAuthentication no\nMatch User backup\n  PasswordAuthentication yes\n",
    );
    assert_eq!(
        pass(&t, root_login).evidence,
        "PermitRootLogin no (/etc/ssh/sshd_config)"
    );
    pass(&t, passwords);

    // A drop-in read before the main file's lines wins, as in sshd.
    t.file(
        "etc/ssh/sshd_config.d/50-local.conf",
        "PermitRootLogin yes\n",
    );
    assert_eq!(
        fail(&t, root_login).evidence,
        "PermitRootLogin yes (/etc/ssh/sshd_config.d/50-local.conf)"
    );

    // Unset means sshd's defaults: keys only for root, passwords for others.
    let t = Tree::new();
    t.file("etc/ssh/sshd_config", "Port 22\n");
    assert!(pass(&t, root_login).evidence.contains("prohibit-password"));
    assert_eq!(
        fail(&t, passwords).evidence,
        "PasswordAuthentication yes (sshd default)"
    );
}

// === listening_ports ===

#[test]
fn listening_ports_from_a_tree() {
    let id = "listening_ports";
    let t = Tree::new();
    t.file(
        "proc/net/tcp",
        &format!(
            "{PROC_NET_HEADER}{}{}{}",
            tcp_line([0, 0, 0, 0], 22, "0A", 4242),
            tcp_line([127, 0, 0, 1], 23, "0A", 4343),
            // An established connection is not a listener.
            tcp_line([192, 0, 2, 5], 40000, "01", 4444),
        ),
    )
    .process(77, "sshd")
    .link("proc/77/fd/3", "socket:[4242]")
    .link("proc/77/fd/0", "/dev/null")
    .process(78, "inetd")
    .link("proc/78/fd/5", "socket:[4343]");
    let s = t.check();
    let c = find(&s, id);
    assert_eq!(c.status, CheckStatus::Pass, "{c:?}");
    assert!(c.evidence.contains("tcp/22 (sshd)"), "{c:?}");
    assert_eq!(
        s.listening,
        [
            ListeningSocket {
                protocol: SocketProtocol::Tcp,
                address: "0.0.0.0".into(),
                port: 22,
                process: Some("sshd".into()),
            },
            ListeningSocket {
                protocol: SocketProtocol::Tcp,
                address: "127.0.0.1".into(),
                port: 23,
                process: Some("inetd".into()),
            },
        ]
    );

    // Telnet open to the network fails.
    t.file(
        "proc/net/tcp",
        &format!(
            "{PROC_NET_HEADER}{}",
            tcp_line([0, 0, 0, 0], 23, "0A", 4343)
        ),
    );
    assert!(fail(&t, id).evidence.contains("telnet (tcp/23)"));

    // No socket tables: unknown.
    expect(&Tree::new(), id, CheckStatus::Unknown);
}

/// A listener opened by this test shows with its port and this process's
/// name in the live machine's report.
#[test]
fn live_listener_is_reported_with_its_process() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let me = std::fs::read_to_string("/proc/self/comm").unwrap();
    let out =
        stdout_of(Command::new(bin("schoolwatch-agent")).args(agent_args(&["check", "--json"])));
    let s: Security = serde_json::from_str(&out).unwrap();
    let found: Vec<&ListeningSocket> = s
        .listening
        .iter()
        .filter(|l| l.port == port && l.protocol == SocketProtocol::Tcp)
        .collect();
    assert_eq!(
        found,
        [&ListeningSocket {
            protocol: SocketProtocol::Tcp,
            address: "127.0.0.1".into(),
            port,
            process: Some(me.trim_end().to_owned()),
        }],
        "{out}"
    );
    assert_eq!(find(&s, "listening_ports").status, CheckStatus::Pass);
    drop(listener);
}

// === empty_password_accounts, extra_uid0_accounts ===

const PASSWD: &str = "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\nteacher:x:1000:1000:Teacher:/home/teacher:/bin/bash\n";

#[test]
fn accounts() {
    let (empty, uid0) = ("empty_password_accounts", "extra_uid0_accounts");
    let t = Tree::new();
    t.file("etc/passwd", PASSWD).file(
        "etc/shadow",
        "root:$y$j9T$abc$def:19700:0:99999:7:::\ndaemon:*:19700:0:99999:7:::\nteacher:!:19700:0:99999:7:::\n",
    );
    pass(&t, empty);
    pass(&t, uid0);

    t.file(
        "etc/passwd",
        &format!("{PASSWD}toor:x:0:0:backdoor:/root:/bin/sh\nguest:x:1001:1001::/home/guest:/bin/bash\n"),
    )
    .file(
        "etc/shadow",
        "root:$y$j9T$abc$def:19700:0:99999:7:::\ndaemon:*:19700:0:99999:7:::\nteacher:!:19700:0:99999:7:::\ntoor:$y$j9T$x$y:19700::::::\nguest::19700:0:99999:7:::\n",
    );
    assert_eq!(
        fail(&t, empty).evidence,
        "1 account without a password: guest"
    );
    assert_eq!(fail(&t, uid0).evidence, "UID 0 besides root: toor");

    // Without /etc/shadow, an empty field in /etc/passwd is no password.
    let t = Tree::new();
    t.file(
        "etc/passwd",
        "root:x:0:0::/root:/bin/sh\nkiosk::1002:1002::/home/kiosk:/bin/sh\n",
    );
    assert!(fail(&t, empty).evidence.contains("kiosk"));
    expect(&Tree::new(), empty, CheckStatus::Unknown);
    expect(&Tree::new(), uid0, CheckStatus::Unknown);
}

// === disk_encryption ===

#[test]
fn disk_encryption() {
    let id = "disk_encryption";
    let t = Tree::new();
    t.file(
        "etc/crypttab",
        "# <target name> <source device> <key file> <options>\n",
    );
    fail(&t, id);
    t.file(
        "etc/crypttab",
        "# <target name> <source device> <key file> <options>\nsda3_crypt UUID=0f1e2d3c none luks,discard\n",
    );
    assert!(pass(&t, id).evidence.contains("sda3_crypt"));

    let t = Tree::new();
    t.file("sys/block/dm-0/dm/uuid", "LVM-abcdef\n")
        .file("sys/block/dm-0/dm/name", "vg-root\n");
    fail(&t, id);
    t.file(
        "sys/block/dm-1/dm/uuid",
        "CRYPT-LUKS2-0f1e2d3c4b5a69788796a5b4c3d2e1f0-cryptroot\n",
    )
    .file("sys/block/dm-1/dm/name", "cryptroot\n");
    assert_eq!(pass(&t, id).evidence, "dm-crypt active: cryptroot");
}

// === time_sync_active ===

#[test]
fn time_sync() {
    let id = "time_sync_active";
    let t = Tree::new();
    t.process(1, "systemd").process(300, "cron");
    fail(&t, id);
    // comm is cut to 15 characters by the kernel.
    t.process(301, "systemd-timesyn");
    assert!(pass(&t, id).evidence.contains("systemd-timesyncd"));

    let t = Tree::new();
    t.process(1, "systemd").process(320, "chronyd");
    pass(&t, id);

    let t = Tree::new();
    t.process(1, "systemd")
        .file("run/systemd/timesync/synchronized", "");
    pass(&t, id);
    expect(&Tree::new(), id, CheckStatus::Unknown);
}

// === secrets, output forms ===

/// Recognisable secrets seeded in a tree where every check has something to
/// read never appear in the output, as JSON or as a table.
#[test]
fn no_secret_leaves_the_machine() {
    const HASH: &str = "$6$swSALTswtest$SWTESTPASSWORDHASHMARKERq1w2e3r4t5y6u7i8o9p0";
    const KEY: &str = "SWTESTPRIVATEKEYMARKERb3BlbnNzaC1rZXktdjEAAAAABG5vbmU";
    const KEYFILE: &str = "SWTESTLUKSKEYFILEMARKER";
    let t = Tree::new();
    t.file(
        "etc/passwd",
        &format!("{PASSWD}toor:x:0:0::/root:/bin/sh\nguest:x:1001:1001::/home/guest:/bin/bash\n"),
    )
    .file(
        "etc/shadow",
        &format!("root:{HASH}:19700:0:99999:7:::\nteacher:{HASH}:19700:0:99999:7:::\ntoor:{HASH}:19700::::::\nguest::19700:0:99999:7:::\n"),
    )
    .file(
        "etc/ssh/ssh_host_ed25519_key",
        &format!("-----BEGIN OPENSSH PRIVATE KEY-----\n{KEY}\n-----END OPENSSH PRIVATE KEY-----\n"),
    )
    .file(
        "etc/ssh/sshd_config",
        "HostKey /etc/ssh/ssh_host_ed25519_key\nInclude /etc/ssh/ssh_host_*\nPermitRootLogin yes\n",
    )
    .file("etc/crypttab", "data_crypt UUID=1234 /etc/keys/data.key luks\n")
    .file("etc/keys/data.key", KEYFILE)
    .process(1, "systemd");
    let root = t.dir.path().to_str().unwrap();
    for json in [true, false] {
        let mut args = vec!["check", "--root", root];
        if json {
            args.push("--json");
        }
        let out = Command::new(bin("schoolwatch-agent"))
            .args(agent_args(&args))
            .output()
            .unwrap();
        assert!(out.status.success());
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        for secret in [
            HASH,
            "SWTESTPASSWORDHASHMARKER",
            "swSALT",
            KEY,
            "SWTESTPRIVATEKEYMARKER",
            KEYFILE,
        ] {
            assert!(!all.contains(secret), "{secret} leaked: {all}");
        }
        // The checks did read those files: names, never contents.
        assert!(all.contains("guest"), "{all}");
        assert!(all.contains("toor"), "{all}");
        assert!(all.contains("data_crypt"), "{all}");
    }
}

#[test]
fn table_for_people_and_exit_codes() {
    let t = Tree::new();
    t.file(
        "etc/passwd",
        "root:x:0:0::/root:/bin/sh\ntoor:x:0:0::/root:/bin/sh\n",
    );
    let root = t.dir.path().to_str().unwrap();
    // Failed checks are findings: exit 0.
    let out = stdout_of(
        Command::new(bin("schoolwatch-agent")).args(agent_args(&["check", "--root", root])),
    );
    let line = out
        .lines()
        .find(|l| l.starts_with("extra_uid0_accounts"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        line.contains("fail") && line.contains("critical") && line.contains("toor"),
        "{line}"
    );
    assert!(out.starts_with("check"), "{out}");
    assert!(out.contains("proto  address  port  process"), "{out}");
    // Every check is listed once, in the JSON too.
    let s = t.check();
    assert_eq!(s.checks.len(), 14);
    // A root that is not a directory is a usage error.
    let out = Command::new(bin("schoolwatch-agent"))
        .args(agent_args(&[
            "check",
            "--root",
            "/nonexistent/schoolwatch-root",
        ]))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--root"));
}
