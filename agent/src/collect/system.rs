//! Host inventory and the CPU/memory/load part of a sample, from sysinfo
//! (and sysfs for firmware identity).

use super::sysfs;
use schoolwatch_protocol::SourceError;
use schoolwatch_protocol::{DiskInfo, DiskKind, Dmi, InterfaceSample, Inventory, Role, Sample};
use sysinfo::{CpuRefreshKind, Disks, MemoryRefreshKind, RefreshKind, System};

/// Owns sysinfo's `System`, refreshed only for what we read.
pub struct SystemSource {
    sys: System,
}

impl SystemSource {
    /// Takes the CPU baseline so the first sample has a usage figure.
    pub fn new() -> Result<Self, sysinfo::Error> {
        let sys = System::new_with_specifics(
            RefreshKind::nothing()
                .with_cpu(CpuRefreshKind::nothing().with_usage())
                .with_memory(MemoryRefreshKind::everything()),
        )?;
        Ok(Self { sys })
    }

    /// Everything but the interfaces (the net source owns those). A value
    /// the OS would not give is left empty and its error added to `errors`.
    pub fn inventory(&mut self, role: Role, errors: &mut Vec<SourceError>) -> Inventory {
        let mut or_note = |what: &str, r: Result<String, sysinfo::Error>| -> String {
            r.unwrap_or_else(|e| {
                errors.push(SourceError {
                    source: "system".into(),
                    message: format!("{what}: {e}"),
                });
                String::new()
            })
        };
        let hostname = or_note("hostname", System::host_name());
        let os_name = or_note("os name", System::name());
        let os_version = or_note("os version", System::os_version());
        let kernel_version = or_note("kernel version", System::kernel_version());
        let boot_time_seconds = System::boot_time().unwrap_or_else(|e| {
            errors.push(SourceError {
                source: "system".into(),
                message: format!("boot time: {e}"),
            });
            0
        });
        self.sys
            .refresh_cpu_specifics(CpuRefreshKind::nothing().with_frequency());
        self.sys.refresh_memory();
        let cpus = self.sys.cpus();
        Inventory {
            hostname,
            os_name,
            os_version,
            kernel_version,
            architecture: System::cpu_arch(),
            cpu_model: cpus
                .first()
                .map(|c| c.brand().trim().to_owned())
                .unwrap_or_default(),
            cpu_physical_cores: System::physical_core_count()
                .ok()
                .and_then(|n| u32::try_from(n).ok()),
            cpu_logical_cores: u32::try_from(cpus.len()).unwrap_or(u32::MAX).max(1),
            memory_total_bytes: self.sys.total_memory(),
            swap_total_bytes: self.sys.total_swap(),
            boot_time_seconds,
            disks: disks(errors),
            interfaces: Vec::new(),
            dmi: Dmi {
                vendor: sysfs::dmi("sys_vendor"),
                product: sysfs::dmi("product_name"),
                serial: sysfs::dmi("product_serial"),
                bios_version: sysfs::dmi("bios_version"),
                bios_date: sysfs::dmi("bios_date"),
            },
            agent_version: env!("CARGO_PKG_VERSION").to_owned(),
            role,
        }
    }

    /// CPU use since the previous call, memory and load now.
    pub fn sample(&mut self, interval_ms: u64, interfaces: Vec<InterfaceSample>) -> Sample {
        self.sys.refresh_cpu_usage();
        self.sys.refresh_memory();
        // Windows has no load average; zeros there, as the protocol says.
        let load = System::load_average().map_or([0.0; 3], |l| [l.one, l.five, l.fifteen]);
        let total = self.sys.total_memory();
        let available = self.sys.available_memory();
        Sample {
            interval_ms,
            cpu_usage_ratio: (f64::from(self.sys.global_cpu_usage()) / 100.0).clamp(0.0, 1.0),
            memory_used_bytes: total.saturating_sub(available),
            memory_available_bytes: available,
            swap_used_bytes: self.sys.used_swap(),
            load: load.map(|l| if l.is_finite() { l.max(0.0) } else { 0.0 }),
            interfaces,
        }
    }
}

/// Mounted real filesystems (sysinfo leaves out proc, sysfs, tmpfs and the
/// like), one entry per device.
fn disks(errors: &mut Vec<SourceError>) -> Vec<DiskInfo> {
    let disks = match Disks::new_with_refreshed_list() {
        Ok(d) => d,
        Err(e) => {
            errors.push(SourceError {
                source: "system".into(),
                message: format!("disks: {e}"),
            });
            return Vec::new();
        }
    };
    let mut out: Vec<DiskInfo> = disks
        .iter()
        .map(|d| DiskInfo {
            mount_point: d.mount_point().to_string_lossy().into_owned(),
            device: d.name().to_string_lossy().into_owned(),
            filesystem: d.file_system().to_string_lossy().into_owned(),
            total_bytes: d.total_space(),
            available_bytes: d.available_space().min(d.total_space()),
            kind: match d.kind() {
                sysinfo::DiskKind::SSD => DiskKind::Ssd,
                sysinfo::DiskKind::HDD => DiskKind::Hdd,
                _ => DiskKind::Unknown,
            },
            removable: d.is_removable(),
        })
        .collect();
    // One entry per device: bind mounts (containers, `ip netns`) show the
    // same filesystem again under another path, which is not another disk.
    // The shortest path is where the filesystem itself is mounted.
    out.sort_by(|a, b| {
        (&a.device, a.mount_point.len(), &a.mount_point).cmp(&(
            &b.device,
            b.mount_point.len(),
            &b.mount_point,
        ))
    });
    out.dedup_by(|later, first| later.device == first.device);
    out.sort_by(|a, b| a.mount_point.cmp(&b.mount_point));
    out
}
