//! The host inventory section: what the machine is.

use serde::{Deserialize, Serialize};

/// What a host is for at its school; drives which checks and targets apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The school's server: also polls network devices.
    Server,
    /// A computer-lab PC used for teaching.
    #[default]
    Lab,
    /// An office or administration PC.
    Office,
}

impl Role {
    /// The lowercase name used in config files and metric labels.
    pub const fn as_str(self) -> &'static str {
        match self {
            Role::Server => "server",
            Role::Lab => "lab",
            Role::Office => "office",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The host picture: hardware, OS, disks and interfaces.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Inventory {
    /// Host name as the OS reports it; a label for people, not an identity.
    pub hostname: String,
    /// OS name, e.g. `Debian GNU/Linux`.
    pub os_name: String,
    /// OS version, e.g. `12`.
    pub os_version: String,
    /// Kernel version, e.g. `6.1.0-18-amd64`.
    pub kernel_version: String,
    /// CPU architecture, e.g. `x86_64`.
    pub architecture: String,
    /// CPU model name as the processor reports it.
    pub cpu_model: String,
    /// Physical cores, where the OS tells.
    pub cpu_physical_cores: Option<u32>,
    /// Logical cores (hardware threads) online.
    pub cpu_logical_cores: u32,
    /// Physical memory, bytes.
    pub memory_total_bytes: u64,
    /// Swap space, bytes.
    pub swap_total_bytes: u64,
    /// Boot time, seconds since the Unix epoch.
    pub boot_time_seconds: u64,
    /// Mounted real filesystems.
    pub disks: Vec<DiskInfo>,
    /// Network interfaces.
    pub interfaces: Vec<InterfaceInfo>,
    /// Firmware (DMI/SMBIOS) identity, where readable.
    pub dmi: Dmi,
    /// Version of the agent that made this report.
    pub agent_version: String,
    /// The host's role at its school.
    pub role: Role,
}

/// Whether a disk spins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DiskKind {
    /// Solid-state.
    Ssd,
    /// Rotational.
    Hdd,
    /// The OS does not say.
    Unknown,
}

/// One mounted filesystem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiskInfo {
    /// Where it is mounted, e.g. `/` or `C:\`.
    pub mount_point: String,
    /// The device or source, e.g. `/dev/sda1`.
    pub device: String,
    /// Filesystem type, e.g. `ext4`.
    pub filesystem: String,
    /// Size, bytes.
    pub total_bytes: u64,
    /// Space available to unprivileged users, bytes.
    pub available_bytes: u64,
    /// SSD or HDD, where known.
    pub kind: DiskKind,
    /// Removable media (USB sticks).
    pub removable: bool,
}

/// One network interface.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InterfaceInfo {
    /// Interface name, e.g. `eth0`.
    pub name: String,
    /// Hardware address as `aa:bb:cc:dd:ee:ff`, where it has one.
    pub mac: Option<String>,
    /// Addresses in CIDR form, e.g. `192.0.2.10/24`.
    pub addresses: Vec<String>,
    /// Negotiated link speed in Mbit/s, where the driver tells.
    pub speed_mbps: Option<u64>,
    /// Administratively and operationally up.
    pub up: bool,
}

/// Firmware identity from DMI/SMBIOS; each field where readable.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dmi {
    /// System vendor.
    pub vendor: Option<String>,
    /// Product name.
    pub product: Option<String>,
    /// Serial number (readable by root only on Linux).
    pub serial: Option<String>,
    /// BIOS version.
    pub bios_version: Option<String>,
    /// BIOS release date as the firmware writes it (usually `MM/DD/YYYY`).
    pub bios_date: Option<String>,
}
