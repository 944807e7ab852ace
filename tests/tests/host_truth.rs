//! The agent's picture of its own host equals the ground truth of the
//! machine the test runs on: `hostname`, `nproc`, `/proc`, `ip`, `df`.

use schoolwatch_protocol::Inventory;
use schoolwatch_tests::{agent, require, stdout_of};
use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

fn inventory() -> Inventory {
    serde_json::from_str(&agent(&["inventory", "--json"]))
        .expect("inventory --json is an Inventory")
}

fn proc_field(file: &str, key: &str) -> u64 {
    let text = std::fs::read_to_string(file).unwrap();
    let line = text
        .lines()
        .find(|l| l.split_whitespace().next() == Some(key))
        .unwrap_or_else(|| panic!("{key} not in {file}"));
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn hostname_equals_hostname_command() {
    assert_eq!(
        inventory().hostname,
        stdout_of(&mut Command::new("hostname")).trim()
    );
}

#[test]
fn logical_cores_equal_nproc() {
    let nproc: u32 = stdout_of(&mut Command::new("nproc"))
        .trim()
        .parse()
        .unwrap();
    assert_eq!(inventory().cpu_logical_cores, nproc);
}

#[test]
fn memory_and_swap_equal_meminfo() {
    let inv = inventory();
    assert_eq!(
        inv.memory_total_bytes,
        proc_field("/proc/meminfo", "MemTotal:") * 1024
    );
    assert_eq!(
        inv.swap_total_bytes,
        proc_field("/proc/meminfo", "SwapTotal:") * 1024
    );
}

#[test]
fn boot_time_within_a_second_of_btime() {
    let btime = proc_field("/proc/stat", "btime");
    let got = inventory().boot_time_seconds;
    assert!(
        got.abs_diff(btime) <= 1,
        "agent {got}, /proc/stat btime {btime}"
    );
}

#[test]
fn cpu_model_and_kernel_equal_proc() {
    let inv = inventory();
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_owned())
        .expect("model name in /proc/cpuinfo");
    assert_eq!(inv.cpu_model, model);
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    assert_eq!(inv.kernel_version, release.trim());
    assert_eq!(inv.architecture, std::env::consts::ARCH);
}

#[test]
fn interfaces_macs_state_and_addresses_equal_ip() {
    require("ip", "iproute2");
    let links: Vec<serde_json::Value> =
        serde_json::from_str(&stdout_of(Command::new("ip").args(["-j", "addr"]))).unwrap();
    let inv = inventory();
    let ours: BTreeMap<&str, _> = inv
        .interfaces
        .iter()
        .map(|i| (i.name.as_str(), i))
        .collect();
    let names: BTreeSet<&str> = links
        .iter()
        .map(|l| l["ifname"].as_str().unwrap())
        .collect();
    assert_eq!(ours.keys().copied().collect::<BTreeSet<_>>(), names);
    for l in &links {
        let name = l["ifname"].as_str().unwrap();
        let i = ours[name];
        let mac = l["address"].as_str().filter(|m| *m != "00:00:00:00:00:00");
        assert_eq!(i.mac.as_deref(), mac, "{name} MAC");
        let flags: Vec<&str> = l["flags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f.as_str().unwrap())
            .collect();
        let up = flags.contains(&"UP") && flags.contains(&"LOWER_UP");
        assert_eq!(i.up, up, "{name} state, flags {flags:?}");
        let addrs: BTreeSet<String> = l["addr_info"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| format!("{}/{}", a["local"].as_str().unwrap(), a["prefixlen"]))
            .collect();
        assert_eq!(
            i.addresses.iter().cloned().collect::<BTreeSet<_>>(),
            addrs,
            "{name} addresses"
        );
    }
}

/// Filesystems on a block device, as `/proc/mounts` lists them: one per
/// device, at its shortest mount point (longer ones are bind mounts).
fn real_mounts() -> BTreeMap<String, (String, String)> {
    let mut by_device: BTreeMap<String, (String, String)> = BTreeMap::new();
    for l in std::fs::read_to_string("/proc/mounts").unwrap().lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.len() < 3 || !f[0].starts_with("/dev/") {
            continue;
        }
        let entry = by_device
            .entry(f[0].to_owned())
            .or_insert_with(|| (f[1].to_owned(), f[2].to_owned()));
        if f[1].len() < entry.0.len() {
            *entry = (f[1].to_owned(), f[2].to_owned());
        }
    }
    by_device
        .into_iter()
        .map(|(dev, (mount, fs))| (mount, (dev, fs)))
        .collect()
}

#[test]
fn disks_equal_proc_mounts_and_df() {
    let inv = inventory();
    let mounts = real_mounts();
    let ours: BTreeSet<&str> = inv.disks.iter().map(|d| d.mount_point.as_str()).collect();
    assert_eq!(
        ours,
        mounts.keys().map(String::as_str).collect(),
        "mount points"
    );
    for d in &inv.disks {
        let (device, fs) = &mounts[&d.mount_point];
        assert_eq!(&d.device, device, "{} device", d.mount_point);
        assert_eq!(&d.filesystem, fs, "{} filesystem", d.mount_point);
        let df = stdout_of(Command::new("df").args(["-B1", "--output=size,avail", &d.mount_point]));
        let nums: Vec<u64> = df
            .lines()
            .nth(1)
            .unwrap()
            .split_whitespace()
            .map(|n| n.parse().unwrap())
            .collect();
        assert_eq!(d.total_bytes, nums[0], "{} size", d.mount_point);
        // Free space moves while tests write files; allow 64 MiB of drift.
        assert!(
            d.available_bytes.abs_diff(nums[1]) <= 64 << 20,
            "{} available: agent {}, df {}",
            d.mount_point,
            d.available_bytes,
            nums[1]
        );
    }
}

#[test]
fn table_output_shows_the_same_host() {
    let table = agent(&["inventory"]);
    let inv = inventory();
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("hostname") && l.ends_with(&inv.hostname))
    );
    for i in &inv.interfaces {
        assert!(
            table
                .lines()
                .any(|l| l.starts_with(&format!("{} ", i.name))),
            "{table}"
        );
    }
}
