//! The numeric OIDs polled. Debian ships no MIB files (licences), and the
//! agent parses none at run time: every object is named here once, with its
//! MIB name beside it.

/// SNMPv2-MIB system group scalars (`.0` instances), in this order:
/// sysDescr, sysObjectID, sysUpTime, sysName, sysLocation.
pub const SYSTEM: [&[u64]; 5] = [
    &[1, 3, 6, 1, 2, 1, 1, 1, 0],
    &[1, 3, 6, 1, 2, 1, 1, 2, 0],
    &[1, 3, 6, 1, 2, 1, 1, 3, 0],
    &[1, 3, 6, 1, 2, 1, 1, 5, 0],
    &[1, 3, 6, 1, 2, 1, 1, 6, 0],
];

/// IF-MIB columns walked together, in this order.
pub const IF_COLUMNS: [&[u64]; 10] = [
    IF_DESCR,
    IF_SPEED,
    IF_OPER_STATUS,
    IF_IN_OCTETS,
    IF_OUT_OCTETS,
    IF_NAME,
    IF_HC_IN_OCTETS,
    IF_HC_OUT_OCTETS,
    IF_HIGH_SPEED,
    IF_ALIAS,
];
/// IF-MIB::ifDescr.
pub const IF_DESCR: &[u64] = &[1, 3, 6, 1, 2, 1, 2, 2, 1, 2];
/// IF-MIB::ifSpeed (bits/s, Gauge32, saturates at 4,294,967,295).
pub const IF_SPEED: &[u64] = &[1, 3, 6, 1, 2, 1, 2, 2, 1, 5];
/// IF-MIB::ifOperStatus (1 up).
pub const IF_OPER_STATUS: &[u64] = &[1, 3, 6, 1, 2, 1, 2, 2, 1, 8];
/// IF-MIB::ifInOctets (Counter32).
pub const IF_IN_OCTETS: &[u64] = &[1, 3, 6, 1, 2, 1, 2, 2, 1, 10];
/// IF-MIB::ifOutOctets (Counter32).
pub const IF_OUT_OCTETS: &[u64] = &[1, 3, 6, 1, 2, 1, 2, 2, 1, 16];
/// IF-MIB::ifName (ifXTable).
pub const IF_NAME: &[u64] = &[1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 1];
/// IF-MIB::ifHCInOctets (Counter64).
pub const IF_HC_IN_OCTETS: &[u64] = &[1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 6];
/// IF-MIB::ifHCOutOctets (Counter64).
pub const IF_HC_OUT_OCTETS: &[u64] = &[1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 10];
/// IF-MIB::ifHighSpeed (Mbit/s).
pub const IF_HIGH_SPEED: &[u64] = &[1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 15];
/// IF-MIB::ifAlias.
pub const IF_ALIAS: &[u64] = &[1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 18];

/// ENTITY-MIB::entPhysicalClass (3 is chassis).
pub const ENT_PHYSICAL_CLASS: &[u64] = &[1, 3, 6, 1, 2, 1, 47, 1, 1, 1, 1, 5];
/// ENTITY-MIB::entPhysicalSerialNum.
pub const ENT_PHYSICAL_SERIAL: &[u64] = &[1, 3, 6, 1, 2, 1, 47, 1, 1, 1, 1, 11];
/// ENTITY-MIB::entPhysicalModelName.
pub const ENT_PHYSICAL_MODEL: &[u64] = &[1, 3, 6, 1, 2, 1, 47, 1, 1, 1, 1, 13];
/// entPhysicalClass value of a chassis.
pub const CLASS_CHASSIS: i64 = 3;

/// UPS-MIB (RFC 1628) scalars, in this order: upsOutputSource,
/// upsBatteryStatus, upsEstimatedMinutesRemaining,
/// upsEstimatedChargeRemaining.
pub const UPS: [&[u64]; 4] = [
    &[1, 3, 6, 1, 2, 1, 33, 1, 4, 1, 0],
    &[1, 3, 6, 1, 2, 1, 33, 1, 2, 1, 0],
    &[1, 3, 6, 1, 2, 1, 33, 1, 2, 3, 0],
    &[1, 3, 6, 1, 2, 1, 33, 1, 2, 4, 0],
];
/// upsOutputSource value when the load runs on battery.
pub const UPS_SOURCE_BATTERY: i64 = 5;

/// Printer-MIB prtMarkerSuppliesTable columns, in this order:
/// prtMarkerSuppliesDescription, prtMarkerSuppliesMaxCapacity,
/// prtMarkerSuppliesLevel.
pub const SUPPLIES: [&[u64]; 3] = [
    &[1, 3, 6, 1, 2, 1, 43, 11, 1, 1, 6],
    &[1, 3, 6, 1, 2, 1, 43, 11, 1, 1, 8],
    &[1, 3, 6, 1, 2, 1, 43, 11, 1, 1, 9],
];
