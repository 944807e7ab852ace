//! The Debian packages, as an IT person's `apt install` would meet them.
//!
//! Both .deb files are made with cargo-deb from the binaries the test
//! command already built (`cargo build --workspace --bins`, the dev
//! profile): they are linked into a staging target directory as
//! `release/` and packaged with `cargo deb --no-build`, so CI pays for no
//! second, optimized build (cargo-deb refuses to treat the dev profile as a
//! release and warns that `--profile dev` will become an error). The
//! packages are installed into a throwaway root with
//! `dpkg --root DIR --force-script-chrootless`, which runs the maintainer
//! scripts on this machine with `DPKG_ROOT=DIR`, and then checked: files and
//! modes, the `schoolwatch` user in DIR/etc/passwd (and not in this
//! machine's), the conffiles dpkg recorded, `systemd-analyze verify` and
//! `security` on the units, an upgrade keeping state, queue and an edited
//! conffile, removal keeping state, purge deleting it and the user. Also the
//! least-privilege trade-off the agent's unit documents: run as the package
//! user with CAP_NET_RAW only, the firewall and empty-password checks are
//! `unknown`; with the example drop-in's grants they are judged.
//!
//! Nothing here starts systemd: the units' sandboxing is verified, not run.
//! Every temporary directory is a `TempDir`, removed when the test ends,
//! also when it fails.

use schoolwatch_tests::{bin, require, run, stdout_of, workspace_root};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// cargo-deb on PATH or in cargo's bin directory.
fn cargo_deb() -> PathBuf {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo")));
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .chain(home.map(|h| h.join("bin")))
        .map(|d| d.join("cargo-deb"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!("`cargo-deb` is missing: install it with `cargo install cargo-deb --locked` (scripts/test.sh does)")
        })
}

/// Builds both packages under `scratch` from the already-built binaries;
/// returns (agent .deb, collector .deb).
fn build_debs(scratch: &Path) -> (PathBuf, PathBuf) {
    let cargo_deb = cargo_deb();
    let staging = scratch.join("target");
    let release = staging.join("release");
    std::fs::create_dir_all(&release).unwrap();
    for name in ["schoolwatch-agent", "schoolwatch-collector"] {
        let built = bin(name);
        let staged = release.join(name);
        // A hard link costs nothing; another file system gets a copy.
        if std::fs::hard_link(&built, &staged).is_err() {
            std::fs::copy(&built, &staged).unwrap();
        }
    }
    let out = scratch.join("debs");
    std::fs::create_dir_all(&out).unwrap();
    let mut debs = Vec::new();
    for package in ["schoolwatch-agent", "schoolwatch-collector"] {
        let started = std::time::Instant::now();
        let printed = stdout_of(
            Command::new(&cargo_deb)
                .current_dir(workspace_root())
                .env("CARGO_TARGET_DIR", &staging)
                .args([
                    "-p",
                    package,
                    "--no-build",
                    "--offline",
                    "--fast",
                    "--output",
                ])
                .arg(&out),
        );
        eprintln!(
            "cargo deb -p {package}: {:.1} s",
            started.elapsed().as_secs_f64()
        );
        let deb = PathBuf::from(printed.lines().last().unwrap_or_default().trim());
        assert!(
            deb.is_file() && deb.extension().is_some_and(|e| e == "deb"),
            "cargo deb -p {package} printed {printed:?}, not a .deb path"
        );
        debs.push(deb);
    }
    (debs[0].clone(), debs[1].clone())
}

/// A throwaway root for dpkg: an empty dpkg database, the base passwd and
/// group files a Debian system starts with, and this machine's systemd
/// units in /lib/systemd/system so `systemd-analyze --root` finds the
/// targets ours depend on.
struct Root {
    dir: tempfile::TempDir,
}

impl Root {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        // A root directory is world-searchable; the package user runs the
        // installed agent from here.
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
        for d in [
            "etc",
            "var/lib/dpkg/info",
            "var/lib/dpkg/updates",
            "var/lib/dpkg/triggers",
            "var/log",
            "lib/systemd",
        ] {
            std::fs::create_dir_all(p.join(d)).unwrap();
        }
        std::fs::write(p.join("var/lib/dpkg/status"), "").unwrap();
        std::fs::write(p.join("var/lib/dpkg/available"), "").unwrap();
        for f in ["passwd", "group"] {
            std::fs::copy(
                format!("/usr/share/base-passwd/{f}.master"),
                p.join("etc").join(f),
            )
            .unwrap_or_else(|e| {
                panic!("/usr/share/base-passwd/{f}.master: {e} (package base-passwd)")
            });
        }
        run(Command::new("cp")
            .args(["-a", "/usr/lib/systemd/system"])
            .arg(p.join("lib/systemd/")));
        Self { dir }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// `dpkg --root ROOT --force-script-chrootless ... ARGS`; the output,
    /// failing the test when dpkg fails.
    fn dpkg(&self, args: &[&str]) -> Output {
        run(Command::new("dpkg")
            .arg(format!("--root={}", self.dir.path().display()))
            .args([
                "--force-script-chrootless",
                "--force-not-root",
                // The throwaway root has no libc6 or passwd package to
                // satisfy Depends; the files are this machine's anyway.
                "--force-depends",
                "--force-confold",
            ])
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive"))
    }

    /// A field of an installed package, from the root's dpkg database.
    fn query(&self, package: &str, format: &str) -> String {
        stdout_of(
            Command::new("dpkg-query")
                .arg(format!("--root={}", self.dir.path().display()))
                .args(["-W", "-f", format, package]),
        )
    }

    /// (uid, gid, home, shell) of `name` in the root's passwd file.
    fn user(&self, name: &str) -> Option<(u32, u32, String, String)> {
        let text = std::fs::read_to_string(self.path("etc/passwd")).unwrap();
        text.lines().find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.first() == Some(&name)).then(|| {
                (
                    f[2].parse().unwrap(),
                    f[3].parse().unwrap(),
                    f[5].to_owned(),
                    f[6].to_owned(),
                )
            })
        })
    }

    /// The gid of `name` in the root's group file.
    fn group(&self, name: &str) -> Option<u32> {
        let text = std::fs::read_to_string(self.path("etc/group")).unwrap();
        text.lines().find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.first() == Some(&name)).then(|| f[2].parse().unwrap())
        })
    }
}

/// (mode bits, uid, gid) of a path in the root.
fn stat(path: &Path) -> (u32, u32, u32) {
    let m = std::fs::symlink_metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (m.permissions().mode() & 0o7777, m.uid(), m.gid())
}

#[test]
fn packages_install_upgrade_remove_and_purge_in_a_throwaway_root() {
    require("dpkg", "dpkg");
    require("dpkg-shlibdeps", "dpkg-dev");
    require("systemd-analyze", "systemd");
    require("systemd-sysusers", "systemd");
    require("setpriv", "util-linux");
    let host_passwd = std::fs::read_to_string("/etc/passwd").unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let (agent_deb, collector_deb) = build_debs(scratch.path());
    let root = Root::new();
    let agent_deb = agent_deb.to_str().unwrap();
    let collector_deb = collector_deb.to_str().unwrap();

    // === install ===
    root.dpkg(&["--install", agent_deb, collector_deb]);
    for p in ["schoolwatch-agent", "schoolwatch-collector"] {
        assert_eq!(root.query(p, "${db:Status-Abbrev}"), "ii ", "{p} installed");
    }

    // The user, in the root's files only.
    let (uid, gid, home, shell) = root.user("schoolwatch").expect("schoolwatch user created");
    assert!(uid < 1000 && uid > 0, "a system uid, got {uid}");
    assert_eq!(root.group("schoolwatch"), Some(gid));
    assert_eq!(
        (home.as_str(), shell.as_str()),
        ("/var/lib/schoolwatch", "/usr/sbin/nologin")
    );
    assert_eq!(
        std::fs::read_to_string("/etc/passwd").unwrap(),
        host_passwd,
        "the maintainer scripts must change the root's passwd, not this machine's"
    );

    // Files, with modes and owners.
    let expect: &[(&str, u32, u32, u32)] = &[
        ("usr/bin/schoolwatch-agent", 0o755, 0, 0),
        ("usr/bin/schoolwatch-collector", 0o755, 0, 0),
        ("etc/schoolwatch/agent.toml", 0o644, 0, 0),
        ("etc/schoolwatch/collector.toml", 0o644, 0, 0),
        ("etc/schoolwatch/targets.toml", 0o644, 0, 0),
        ("etc/schoolwatch/schools.csv", 0o644, 0, 0),
        ("etc/schoolwatch/tls", 0o750, 0, gid),
        (
            "usr/lib/systemd/system/schoolwatch-agent.service",
            0o644,
            0,
            0,
        ),
        (
            "usr/lib/systemd/system/schoolwatch-collector.service",
            0o644,
            0,
            0,
        ),
        ("usr/lib/sysusers.d/schoolwatch-agent.conf", 0o644, 0, 0),
        ("usr/lib/sysusers.d/schoolwatch-collector.conf", 0o644, 0, 0),
        (
            "usr/share/doc/schoolwatch-agent/examples/security-checks.conf",
            0o644,
            0,
            0,
        ),
        ("var/lib/schoolwatch", 0o755, 0, 0),
        ("var/lib/schoolwatch/agent", 0o750, uid, gid),
        ("var/lib/schoolwatch/collector", 0o750, uid, gid),
    ];
    for (rel, mode, u, g) in expect {
        assert_eq!(
            stat(&root.path(rel)),
            (*mode, *u, *g),
            "{rel}: (mode, uid, gid)"
        );
    }
    let ws = workspace_root();
    for (installed, source) in [
        ("etc/schoolwatch/agent.toml", "config/agent.toml"),
        (
            "etc/schoolwatch/collector.toml",
            "packaging/collector/collector.toml",
        ),
        ("etc/schoolwatch/targets.toml", "config/targets.toml"),
        ("etc/schoolwatch/schools.csv", "config/schools.csv"),
    ] {
        assert_eq!(
            std::fs::read(root.path(installed)).unwrap(),
            std::fs::read(ws.join(source)).unwrap(),
            "{installed} is {source}"
        );
    }
    // The installed binaries are the ones the tests ran.
    assert_eq!(
        stdout_of(Command::new(root.path("usr/bin/schoolwatch-agent")).arg("--version")),
        stdout_of(Command::new(bin("schoolwatch-agent")).arg("--version"))
    );
    // deb-systemd-helper enabled the units inside the root.
    for unit in ["schoolwatch-agent.service", "schoolwatch-collector.service"] {
        let link = root.path(&format!(
            "etc/systemd/system/multi-user.target.wants/{unit}"
        ));
        assert!(
            std::fs::symlink_metadata(&link).is_ok(),
            "{unit} enabled in the root ({} missing)",
            link.display()
        );
    }

    // Conffiles, as dpkg recorded them.
    let conffiles = |p: &str| -> Vec<String> {
        root.query(p, "${Conffiles}\n")
            .lines()
            .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
            .collect()
    };
    assert_eq!(
        conffiles("schoolwatch-agent"),
        ["/etc/schoolwatch/agent.toml"]
    );
    let mut c = conffiles("schoolwatch-collector");
    c.sort();
    assert_eq!(
        c,
        [
            "/etc/schoolwatch/collector.toml",
            "/etc/schoolwatch/schools.csv",
            "/etc/schoolwatch/targets.toml"
        ]
    );

    // The installed collector.toml parses, with its data in the state dir.
    let data = stdout_of(
        Command::new(root.path("usr/bin/schoolwatch-collector"))
            .arg("--config")
            .arg(root.path("etc/schoolwatch/collector.toml"))
            .args([
                "--data",
                scratch.path().join("parse-check").to_str().unwrap(),
            ])
            .args(["agents", "list", "--json"]),
    );
    assert_eq!(data.trim(), "[]");

    check_units(&root);
    check_least_privilege(&root, uid, gid);

    // === upgrade: state, queue and an edited conffile survive ===
    let agent_state = root.path("var/lib/schoolwatch/agent");
    std::fs::write(agent_state.join("credential.json"), "{\"kept\":true}").unwrap();
    std::fs::create_dir_all(agent_state.join("queue")).unwrap();
    std::fs::write(agent_state.join("queue/00000001.seg"), b"queued reports").unwrap();
    let db = root.path("var/lib/schoolwatch/collector/schoolwatch.db");
    std::fs::write(&db, b"a database").unwrap();
    let edited = std::fs::read_to_string(root.path("etc/schoolwatch/agent.toml"))
        .unwrap()
        .replace("role = \"lab\"", "role = \"server\"");
    std::fs::write(root.path("etc/schoolwatch/agent.toml"), &edited).unwrap();
    // Installing over the installed version runs the upgrade path of every
    // maintainer script (prerm upgrade, postinst configure OLD-VERSION).
    root.dpkg(&["--install", agent_deb, collector_deb]);
    assert_eq!(
        std::fs::read_to_string(agent_state.join("credential.json")).unwrap(),
        "{\"kept\":true}"
    );
    assert_eq!(
        std::fs::read(agent_state.join("queue/00000001.seg")).unwrap(),
        b"queued reports"
    );
    assert_eq!(std::fs::read(&db).unwrap(), b"a database");
    assert_eq!(
        std::fs::read_to_string(root.path("etc/schoolwatch/agent.toml")).unwrap(),
        edited,
        "an administrator's edit of a conffile survives the upgrade"
    );
    assert_eq!(
        root.user("schoolwatch").map(|u| u.0),
        Some(uid),
        "same user"
    );

    // === remove: the binary goes, state and configuration stay ===
    root.dpkg(&["--remove", "schoolwatch-agent"]);
    assert!(!root.path("usr/bin/schoolwatch-agent").exists());
    assert!(agent_state.join("queue/00000001.seg").exists());
    assert!(root.path("etc/schoolwatch/agent.toml").exists());
    assert_eq!(
        root.query("schoolwatch-agent", "${db:Status-Abbrev}"),
        "rc "
    );

    // === purge, one package after the other ===
    root.dpkg(&["--purge", "schoolwatch-agent"]);
    assert!(!agent_state.exists(), "purge deletes the agent's state");
    assert!(!root.path("etc/schoolwatch/agent.toml").exists());
    assert!(
        db.exists(),
        "the collector's state is not the agent's to delete"
    );
    assert!(
        root.user("schoolwatch").is_some(),
        "the user stays while the collector is installed"
    );
    root.dpkg(&["--purge", "schoolwatch-collector"]);
    for gone in [
        "var/lib/schoolwatch",
        "etc/schoolwatch",
        "usr/bin/schoolwatch-collector",
    ] {
        assert!(!root.path(gone).exists(), "{gone} left after purge");
    }
    assert_eq!(root.user("schoolwatch"), None, "purge deletes the user");
    assert_eq!(root.group("schoolwatch"), None, "and its group");
    assert_eq!(std::fs::read_to_string("/etc/passwd").unwrap(), host_passwd);
}

/// `systemd-analyze verify` finds nothing to say about either unit (its
/// warnings, such as an unknown key, leave the exit code 0, so any output
/// fails), and `systemd-analyze security` rates them.
fn check_units(root: &Root) {
    let dir = root.dir.path().to_str().unwrap();
    for (unit, most_exposure) in [
        ("schoolwatch-agent.service", 2.0),
        ("schoolwatch-collector.service", 1.2),
    ] {
        let path = format!("/usr/lib/systemd/system/{unit}");
        let out = Command::new("systemd-analyze")
            .args(["verify", &format!("--root={dir}"), &path])
            .output()
            .unwrap();
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.status.success() && said.trim().is_empty(),
            "systemd-analyze verify {unit}: {}\n{said}",
            out.status
        );
        let report = stdout_of(Command::new("systemd-analyze").args([
            "security",
            "--offline=true",
            &format!("--root={dir}"),
            &path,
        ]));
        let exposure: f64 = report
            .lines()
            .find_map(|l| {
                l.split_once("Overall exposure level for ")?
                    .1
                    .split_once(": ")?
                    .1
                    .split_whitespace()
                    .next()?
                    .parse()
                    .ok()
            })
            .unwrap_or_else(|| panic!("no exposure level in:\n{report}"));
        eprintln!("systemd-analyze security {unit}: exposure {exposure}");
        assert!(
            exposure <= most_exposure,
            "{unit}: exposure {exposure} > {most_exposure}:\n{report}"
        );
    }
}

/// The agent's documented trade-off, run for real with the installed
/// binary on this machine: as the package user with CAP_NET_RAW only (the
/// unit's grant), the firewall and empty-password checks are `unknown`;
/// with the example drop-in's grants (CAP_NET_ADMIN, group shadow) they are
/// judged.
fn check_least_privilege(root: &Root, uid: u32, gid: u32) {
    let shadow_gid = std::fs::metadata("/etc/shadow").unwrap().gid();
    let check = |caps: &str, groups: Option<u32>| -> serde_json::Value {
        let state = tempfile::tempdir().unwrap();
        std::os::unix::fs::chown(state.path(), Some(uid), Some(gid)).unwrap();
        let mut cmd = Command::new("setpriv");
        cmd.args([
            &format!("--reuid={uid}"),
            &format!("--regid={gid}"),
            &format!("--inh-caps=-all,{caps}"),
            &format!("--ambient-caps=-all,{caps}"),
            &format!("--bounding-set=-all,{caps}"),
            "--no-new-privs",
        ]);
        match groups {
            Some(g) => cmd.arg(format!("--groups={g}")),
            None => cmd.arg("--clear-groups"),
        };
        let out = stdout_of(
            cmd.arg(root.path("usr/bin/schoolwatch-agent"))
                .arg("--config")
                .arg(root.path("etc/schoolwatch/agent.toml"))
                .arg("--state")
                .arg(state.path())
                .args(["check", "--json"]),
        );
        serde_json::from_str(&out).unwrap()
    };
    let status = |v: &serde_json::Value, id: &str| -> String {
        v["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .unwrap_or_else(|| panic!("no {id} in {v}"))["status"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let unit_grant = check("+net_raw", None);
    for id in ["firewall_active", "empty_password_accounts"] {
        assert_eq!(
            status(&unit_grant, id),
            "unknown",
            "{id} with CAP_NET_RAW only, as the unit grants"
        );
    }
    let drop_in = check("+net_raw,+net_admin", Some(shadow_gid));
    for id in ["firewall_active", "empty_password_accounts"] {
        assert_ne!(
            status(&drop_in, id),
            "unknown",
            "{id} with the drop-in's grants: {drop_in}"
        );
    }
}

/// The packaged collector.toml is config/collector.toml with the packaged
/// data directory: every setting but `data_dir` must stay the same (the
/// comments may say more), so a new key in the example reaches the
/// package too.
#[test]
fn packaged_collector_config_follows_the_example() {
    let settings = |rel: &str| -> Vec<String> {
        std::fs::read_to_string(workspace_root().join(rel))
            .unwrap()
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(str::to_owned)
            .collect()
    };
    let example = settings("config/collector.toml");
    let packaged = settings("packaging/collector/collector.toml");
    let differ: Vec<(&String, &String)> = example
        .iter()
        .zip(&packaged)
        .filter(|(a, b)| a != b)
        .collect();
    assert_eq!(
        differ,
        [(
            &"data_dir = \"/var/lib/schoolwatch\"".to_owned(),
            &"data_dir = \"/var/lib/schoolwatch/collector\"".to_owned()
        )],
        "packaging/collector/collector.toml drifted from config/collector.toml: \
         bring the example's change over (only data_dir differs)"
    );
    assert_eq!(
        example.len(),
        packaged.len(),
        "packaging/collector/collector.toml drifted from config/collector.toml"
    );
}
