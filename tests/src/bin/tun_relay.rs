//! A userspace link for tests: packets read from one TUN device are written
//! to the other after a delay (with jitter) or dropped, both ways. This
//! kernel has no `netem`; this stands in for it.
//!
//! `tun_relay NAME_A NAME_B DELAY_MS JITTER_MS LOSS_PERCENT_A_TO_B`
//! creates both devices, prints `ready`, and relays until killed. The test
//! then moves each device into its own network namespace (the open file
//! descriptors follow) and gives them addresses. Each direction adds
//! DELAY_MS ± JITTER_MS (uniform); loss applies to packets from A to B.

use std::sync::Arc;
use std::time::Duration;
use tun_rs::{AsyncDevice, DeviceBuilder};

fn random_unit() -> f64 {
    let mut b = [0u8; 8];
    let _ = getrandom::fill(&mut b);
    (u64::from_le_bytes(b) >> 11) as f64 / (1u64 << 53) as f64
}

async fn relay(
    from: Arc<AsyncDevice>,
    to: Arc<AsyncDevice>,
    delay_ms: f64,
    jitter_ms: f64,
    loss: f64,
) {
    let mut buf = vec![0u8; 65536];
    loop {
        let Ok(n) = from.recv(&mut buf).await else {
            return;
        };
        if random_unit() < loss {
            continue;
        }
        let packet = buf[..n].to_vec();
        let wait = (delay_ms + (random_unit() * 2.0 - 1.0) * jitter_ms).max(0.0);
        let to = to.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs_f64(wait / 1000.0)).await;
            let _ = to.send(&packet).await;
        });
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 6 {
        eprintln!("usage: tun_relay NAME_A NAME_B DELAY_MS JITTER_MS LOSS_PERCENT_A_TO_B");
        std::process::exit(2);
    }
    let number = |i: usize| -> f64 { args[i].parse().expect("a number") };
    let open = |name: &str| -> std::io::Result<Arc<AsyncDevice>> {
        Ok(Arc::new(
            DeviceBuilder::new()
                .name(name)
                .mtu(1500)
                .packet_information(false)
                .build_async()?,
        ))
    };
    let a = open(&args[1])?;
    let b = open(&args[2])?;
    let (delay, jitter, loss) = (number(3), number(4), number(5) / 100.0);
    println!("ready");
    tokio::join!(
        relay(a.clone(), b.clone(), delay, jitter, loss),
        relay(b, a, delay, jitter, 0.0),
    );
    Ok(())
}
