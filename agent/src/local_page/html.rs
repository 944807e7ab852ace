//! The local page as HTML: server-rendered with maud (every value escaped),
//! no script, refreshed by the browser every 15 seconds. One string table
//! per language.

use super::snapshot::Snapshot;
use crate::lang::Lang;
use maud::{DOCTYPE, Markup, html};
use schoolwatch_protocol::{CheckStatus, ProbeKind};

/// Seconds between the browser's reloads of the page.
pub const REFRESH_SECS: u32 = 15;

/// The page's words in one language.
struct Strings {
    title: &'static str,
    served_locally: &'static str,
    refresh: &'static str,
    json: &'static str,
    collector: &'static str,
    reachable: &'static str,
    unreachable: &'static str,
    not_tried: &'static str,
    last_delivery: &'static str,
    last_error: &'static str,
    sending_since: &'static str,
    queue: &'static str,
    queue_reports: &'static str,
    queue_bytes: &'static str,
    queue_oldest: &'static str,
    dropped: &'static str,
    dropped_queue_full: &'static str,
    dropped_disk_full: &'static str,
    dropped_corrupt: &'static str,
    dropped_rejected: &'static str,
    send_failures: &'static str,
    host: &'static str,
    hostname: &'static str,
    agent: &'static str,
    school: &'static str,
    os: &'static str,
    cpu: &'static str,
    cores: &'static str,
    memory: &'static str,
    last_report: &'static str,
    sequence: &'static str,
    sample: &'static str,
    cpu_usage: &'static str,
    memory_used: &'static str,
    load: &'static str,
    disks: &'static str,
    mount: &'static str,
    size: &'static str,
    free: &'static str,
    interfaces: &'static str,
    name: &'static str,
    addresses: &'static str,
    link: &'static str,
    up: &'static str,
    down: &'static str,
    receive: &'static str,
    transmit: &'static str,
    probes: &'static str,
    target: &'static str,
    kind: &'static str,
    loss: &'static str,
    rtt: &'static str,
    kind_collector: &'static str,
    kind_gateway: &'static str,
    kind_dns: &'static str,
    kind_extra: &'static str,
    throughput: &'static str,
    download: &'static str,
    upload: &'static str,
    measured: &'static str,
    checks: &'static str,
    check: &'static str,
    status: &'static str,
    pass: &'static str,
    fail: &'static str,
    unknown: &'static str,
    none: &'static str,
    ago: &'static str,
}

static VI: Strings = Strings {
    title: "Trạng thái máy này",
    served_locally: "Trang do chính máy này phục vụ trong mạng của trường, nên vẫn xem được khi mất Internet.",
    refresh: "Trang tự cập nhật mỗi 15 giây.",
    json: "Dữ liệu JSON",
    collector: "Máy chủ trung tâm (collector)",
    reachable: "Kết nối được",
    unreachable: "Không kết nối được",
    not_tried: "Chưa gửi lần nào",
    last_delivery: "Gửi thành công gần nhất",
    last_error: "Lỗi gần nhất",
    sending_since: "Đang gửi từ",
    queue: "Hàng đợi báo cáo",
    queue_reports: "Báo cáo chờ gửi",
    queue_bytes: "Dung lượng hàng đợi",
    queue_oldest: "Báo cáo cũ nhất đã chờ",
    dropped: "Báo cáo bị loại bỏ",
    dropped_queue_full: "hàng đợi đầy",
    dropped_disk_full: "đĩa đầy",
    dropped_corrupt: "tệp hỏng",
    dropped_rejected: "bị từ chối",
    send_failures: "Lần gửi thất bại",
    host: "Máy",
    hostname: "Tên máy",
    agent: "Mã agent",
    school: "Trường",
    os: "Hệ điều hành",
    cpu: "CPU",
    cores: "nhân",
    memory: "Bộ nhớ (RAM)",
    last_report: "Báo cáo gần nhất",
    sequence: "số",
    sample: "Số đo gần nhất",
    cpu_usage: "CPU đang dùng",
    memory_used: "RAM đang dùng",
    load: "Tải hệ thống (1, 5, 15 phút)",
    disks: "Ổ đĩa",
    mount: "Điểm gắn kết",
    size: "Dung lượng",
    free: "Còn trống",
    interfaces: "Card mạng",
    name: "Tên",
    addresses: "Địa chỉ",
    link: "Trạng thái",
    up: "hoạt động",
    down: "ngắt",
    receive: "Nhận",
    transmit: "Gửi",
    probes: "Đo kết nối (ping)",
    target: "Đích",
    kind: "Loại",
    loss: "Mất gói",
    rtt: "Độ trễ (trung vị)",
    kind_collector: "máy chủ trung tâm",
    kind_gateway: "cổng mạng (gateway)",
    kind_dns: "máy chủ DNS",
    kind_extra: "khác",
    throughput: "Đo băng thông gần nhất",
    download: "Tải xuống",
    upload: "Tải lên",
    measured: "Lúc đo",
    checks: "Kiểm tra an toàn thông tin",
    check: "Mục kiểm tra",
    status: "Kết quả",
    pass: "đạt",
    fail: "không đạt",
    unknown: "chưa rõ",
    none: "chưa có",
    ago: "trước",
};

static EN: Strings = Strings {
    title: "This machine's status",
    served_locally: "Served by this machine on the school network: it works while the Internet link is down.",
    refresh: "This page refreshes every 15 seconds.",
    json: "JSON data",
    collector: "Collector",
    reachable: "Reachable",
    unreachable: "Not reachable",
    not_tried: "No send yet",
    last_delivery: "Last delivered",
    last_error: "Last error",
    sending_since: "Sending since",
    queue: "Report queue",
    queue_reports: "Reports waiting",
    queue_bytes: "Queue size",
    queue_oldest: "Oldest report waiting for",
    dropped: "Reports dropped",
    dropped_queue_full: "queue full",
    dropped_disk_full: "disk full",
    dropped_corrupt: "damaged files",
    dropped_rejected: "refused",
    send_failures: "Failed sends",
    host: "Machine",
    hostname: "Host name",
    agent: "Agent id",
    school: "School",
    os: "Operating system",
    cpu: "CPU",
    cores: "cores",
    memory: "Memory (RAM)",
    last_report: "Last report",
    sequence: "sequence",
    sample: "Last sample",
    cpu_usage: "CPU in use",
    memory_used: "Memory in use",
    load: "Load average (1, 5, 15 min)",
    disks: "Disks",
    mount: "Mount point",
    size: "Size",
    free: "Free",
    interfaces: "Network interfaces",
    name: "Name",
    addresses: "Addresses",
    link: "Link",
    up: "up",
    down: "down",
    receive: "Receive",
    transmit: "Transmit",
    probes: "Probes (ping)",
    target: "Target",
    kind: "Kind",
    loss: "Loss",
    rtt: "Round trip (median)",
    kind_collector: "collector",
    kind_gateway: "gateway",
    kind_dns: "DNS server",
    kind_extra: "other",
    throughput: "Last throughput test",
    download: "Download",
    upload: "Upload",
    measured: "Measured",
    checks: "Security checks",
    check: "Check",
    status: "Result",
    pass: "pass",
    fail: "fail",
    unknown: "unknown",
    none: "none yet",
    ago: "ago",
};

fn strings(lang: Lang) -> &'static Strings {
    match lang {
        Lang::Vi => &VI,
        Lang::En => &EN,
    }
}

/// The stylesheet, served at `/local.css` (the page allows no inline style).
pub const CSS: &str = "body{font-family:system-ui,'DejaVu Sans',sans-serif;margin:1.5rem;color:#1b1b1b;max-width:70rem}\
h1{font-size:1.4rem;margin-bottom:.2rem}h2{font-size:1.1rem;margin-top:1.6rem;border-bottom:1px solid #ccc}\
table{border-collapse:collapse;margin:.4rem 0}th,td{padding:.25rem .6rem;text-align:left;border-bottom:1px solid #e4e4e4;vertical-align:top}\
th{background:#f3f5f7}td.n{text-align:right;font-variant-numeric:tabular-nums}\
.ok{color:#0a6b2d;font-weight:600}.bad{color:#b00020;font-weight:600}.muted{color:#666}\
.badge{display:inline-block;padding:.1rem .5rem;border-radius:.3rem}.badge.ok{background:#dff3e4}.badge.bad{background:#fde2e4}\
nav a{margin-right:1rem}";

/// Renders the page for `s` in `lang`.
pub fn page(s: &Snapshot, lang: Lang) -> Markup {
    let t = strings(lang);
    let ago = |ms: Option<u64>| -> String {
        match ms {
            Some(ms) => format!(
                "{} {}",
                lang.duration(s.now_ms.saturating_sub(ms) / 1000),
                t.ago
            ),
            None => t.none.to_owned(),
        }
    };
    let utc = |ms: u64| {
        humantime::format_rfc3339_seconds(
            std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms),
        )
        .to_string()
    };
    let link = &s.collector_link;
    let q = &s.queue;
    html! {
        (DOCTYPE)
        html lang=(lang.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta http-equiv="refresh" content=(REFRESH_SECS);
                title { (t.title) " — " (s.inventory.as_ref().map_or("", |i| i.hostname.as_str())) }
                link rel="stylesheet" href="/local.css";
            }
            body {
                nav {
                    a href={ "?lang=" (lang.other().code()) } { (lang.other().name()) }
                    a href={ "/status.json" } { (t.json) }
                }
                h1 { (t.title) }
                p.muted { (t.served_locally) " " (t.refresh) }

                h2 { (t.collector) }
                table #collector {
                    tr { th { (t.collector) } td { (s.collector) } }
                    tr {
                        th { (t.status) }
                        td #reachable data-value=(link.reachable.map_or("", |r| if r { "true" } else { "false" })) {
                            @match link.reachable {
                                Some(true) => span.badge.ok { (t.reachable) },
                                Some(false) => span.badge.bad { (t.unreachable) },
                                None => span.muted { (t.not_tried) },
                            }
                        }
                    }
                    tr { th { (t.last_delivery) } td #last-delivery { (ago(link.last_delivery_ms)) } }
                    @if let Some(since) = link.sending_since_ms {
                        tr { th { (t.sending_since) } td { (ago(Some(since))) } }
                    }
                    @if let Some(e) = &link.last_error {
                        tr { th { (t.last_error) } td #last-error { (e) " (" (ago(link.last_error_ms)) ")" } }
                    }
                }

                h2 { (t.queue) }
                table #queue {
                    tr { th { (t.queue_reports) } td.n #queue-reports data-value=(q.queue_reports) { (lang.integer(q.queue_reports)) } }
                    tr { th { (t.queue_bytes) } td.n #queue-bytes { (lang.bytes(q.queue_bytes)) } }
                    tr { th { (t.queue_oldest) } td.n #queue-oldest data-value=(q.queue_oldest_age_seconds) {
                        @if q.queue_reports == 0 { "-" } @else { (lang.duration(q.queue_oldest_age_seconds)) }
                    } }
                    tr {
                        th { (t.dropped) }
                        td.n #dropped data-value=(q.dropped_total()) {
                            (lang.integer(q.dropped_total()))
                            @if q.dropped_total() > 0 {
                                " (" (t.dropped_queue_full) " " (q.dropped_queue_full) ", "
                                (t.dropped_disk_full) " " (q.dropped_disk_full) ", "
                                (t.dropped_corrupt) " " (q.dropped_corrupt) ", "
                                (t.dropped_rejected) " " (q.dropped_rejected) ")"
                            }
                        }
                    }
                    tr { th { (t.send_failures) } td.n #send-failures { (lang.integer(q.send_failures)) } }
                }

                h2 { (t.host) }
                table #host {
                    @if let Some(i) = &s.inventory {
                        tr { th { (t.hostname) } td #hostname { (i.hostname) } }
                        tr { th { (t.os) } td { (i.os_name) " " (i.os_version) " (" (i.kernel_version) ", " (i.architecture) ")" } }
                        tr { th { (t.cpu) } td { (i.cpu_model) ", " (i.cpu_logical_cores) " " (t.cores) } }
                        tr { th { (t.memory) } td.n #memory-total data-value=(i.memory_total_bytes) { (lang.bytes(i.memory_total_bytes)) } }
                    }
                    tr { th { (t.agent) } td { (s.agent_id) " (agent " (s.agent_version) ")" } }
                    tr { th { (t.school) } td { (s.school_id) } }
                    tr {
                        th { (t.last_report) }
                        td #last-report data-value=(s.last_report.map_or(0, |r| r.sequence)) {
                            @match s.last_report {
                                Some(r) => { (t.sequence) " " (r.sequence) ", " span title=(utc(r.sampled_at_ms)) { (ago(Some(r.sampled_at_ms))) } },
                                None => (t.none),
                            }
                        }
                    }
                }

                h2 { (t.sample) }
                @match &s.sample {
                    None => p.muted { (t.none) },
                    Some(sample) => {
                        table #sample {
                            tr { th { (t.cpu_usage) } td.n #cpu-usage data-value=(sample.cpu_usage_ratio) { (lang.percent(sample.cpu_usage_ratio)) } }
                            tr {
                                th { (t.memory_used) }
                                td.n #memory-used data-value=(sample.memory_used_bytes) {
                                    (lang.bytes(sample.memory_used_bytes))
                                    @if let Some(i) = &s.inventory { " / " (lang.bytes(i.memory_total_bytes)) }
                                }
                            }
                            tr { th { (t.load) } td.n { (lang.number(sample.load[0], 2)) ", " (lang.number(sample.load[1], 2)) ", " (lang.number(sample.load[2], 2)) } }
                        }
                        h2 { (t.interfaces) }
                        table #interfaces {
                            tr { th { (t.name) } th { (t.addresses) } th { (t.link) } th { (t.receive) } th { (t.transmit) } }
                            @for n in &sample.interfaces {
                                @let info = s.inventory.as_ref().and_then(|i| i.interfaces.iter().find(|x| x.name == n.name));
                                tr data-key=(n.name) {
                                    td { (n.name) }
                                    td { @if let Some(i) = info { (i.addresses.join(", ")) } }
                                    td {
                                        @match info.map(|i| i.up) {
                                            Some(true) => span.ok { (t.up) },
                                            Some(false) => span.bad { (t.down) },
                                            None => "",
                                        }
                                        @if let Some(speed) = info.and_then(|i| i.speed_mbps) { " " (speed) " Mbit/s" }
                                    }
                                    td.n { (lang.bits_per_second(n.rx_bits_per_second)) br; span.muted { (lang.bytes(n.rx_bytes)) } }
                                    td.n { (lang.bits_per_second(n.tx_bits_per_second)) br; span.muted { (lang.bytes(n.tx_bytes)) } }
                                }
                            }
                        }
                    }
                }

                @if let Some(i) = &s.inventory {
                    h2 { (t.disks) }
                    table #disks {
                        tr { th { (t.mount) } th { (t.size) } th { (t.free) } }
                        @for d in &i.disks {
                            tr { td { (d.mount_point) " " span.muted { (d.device) } } td.n { (lang.bytes(d.total_bytes)) } td.n { (lang.bytes(d.available_bytes)) } }
                        }
                    }
                }

                h2 { (t.probes) }
                @if s.probes.is_empty() {
                    p.muted { (t.none) }
                } @else {
                    p.muted { (ago(s.probes_at_ms)) }
                    table #probes {
                        tr { th { (t.target) } th { (t.kind) } th { (t.loss) } th { (t.rtt) } }
                        @for p in &s.probes {
                            tr {
                                td { (p.target) }
                                td { (match p.kind {
                                    ProbeKind::Collector => t.kind_collector,
                                    ProbeKind::Gateway => t.kind_gateway,
                                    ProbeKind::Dns => t.kind_dns,
                                    ProbeKind::Extra => t.kind_extra,
                                }) }
                                td.n.bad[p.received == 0] { (lang.percent(p.loss_ratio)) " (" (p.received) "/" (p.sent) ")" }
                                td.n { @match p.rtt_median_seconds { Some(r) => { (lang.number(r * 1000.0, if r < 0.001 { 3 } else { 1 })) " ms" }, None => "-" } }
                            }
                        }
                    }
                }

                h2 { (t.throughput) }
                @match &s.throughput {
                    None => p.muted { (t.none) },
                    Some(tp) => table #throughput {
                        tr { th { (t.download) } td.n { (lang.bits_per_second(tp.download_bytes_per_second * 8.0)) } }
                        tr { th { (t.upload) } td.n { (lang.bits_per_second(tp.upload_bytes_per_second * 8.0)) } }
                        tr { th { (t.measured) } td { span title=(utc(tp.measured_at_ms)) { (ago(Some(tp.measured_at_ms))) } } }
                    },
                }

                @if !s.checks.is_empty() {
                    h2 { (t.checks) }
                    table #checks {
                        tr { th { (t.check) } th { (t.status) } }
                        @for c in &s.checks {
                            tr {
                                td { (c.id) }
                                td {
                                    @match c.status {
                                        CheckStatus::Pass => span.ok { (t.pass) },
                                        CheckStatus::Fail => span.bad { (t.fail) },
                                        CheckStatus::Unknown => span.muted { (t.unknown) },
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_is_escaped() {
        let s = Snapshot {
            collector: "https://<script>alert(1)</script>".into(),
            school_id: "a\"b".into(),
            ..Snapshot::default()
        };
        let html = page(&s, Lang::En).into_string();
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("&lt;script&gt;"), "{html}");
        assert!(html.contains("a&quot;b"), "{html}");
    }

    #[test]
    fn both_languages_render() {
        let s = Snapshot::default();
        assert!(
            page(&s, Lang::Vi)
                .into_string()
                .contains("Hàng đợi báo cáo")
        );
        assert!(page(&s, Lang::En).into_string().contains("Report queue"));
    }
}
