//! A [`VirtualBus`] behind a pseudo-terminal: the virtual SO-101's servos answer on a device
//! path exactly as six STS3215s behind a USB adapter would, replies delayed by their return
//! delay and their bytes' time on a 1 Mbps wire, shafts moving in real time.

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use regrasp_firmware::sts::addr;
use serialport::{SerialPort, TTYPort};

use super::virtual_servo::VirtualBus;
use crate::error::{HardwareError, Result};

/// Line rate of the virtual wire (bit/s).
pub const BAUD: u32 = 1_000_000;

/// A running virtual bus on a pseudo-terminal.
pub struct VirtualBusPort {
    /// The device path a host opens.
    pub path: PathBuf,
    symlink: Option<PathBuf>,
    bus: Arc<Mutex<VirtualBus>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl VirtualBusPort {
    /// Puts `bus` on a fresh pseudo-terminal; with `link`, a symlink to it is made there
    /// (replacing an old symlink, never a regular file).
    pub fn start(bus: VirtualBus, link: Option<&Path>) -> Result<Self> {
        let port_err = |message: String| HardwareError::Port { port: "pseudo-terminal".into(), message };
        let (master, slave) = TTYPort::pair().map_err(|e| port_err(e.to_string()))?;
        let slave_name = slave.name().ok_or_else(|| port_err("the pseudo-terminal has no name".into()))?;
        let (path, symlink) = crate::emulator::link_pty(&slave_name, link)?;
        let bus = Arc::new(Mutex::new(bus));
        let stop = Arc::new(AtomicBool::new(false));
        let (b, s) = (Arc::clone(&bus), Arc::clone(&stop));
        let thread = std::thread::Builder::new()
            .name("regrasp-virtual-bus".into())
            .spawn(move || serve(master, slave, b, s))
            .map_err(|e| HardwareError::Config(format!("virtual bus thread: {e}")))?;
        Ok(Self { path, symlink, bus, stop, thread: Some(thread) })
    }

    /// The servos, to inspect them or inject faults while the bus runs.
    pub fn bus(&self) -> std::sync::MutexGuard<'_, VirtualBus> {
        self.bus.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for VirtualBusPort {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        if let Some(p) = &self.symlink {
            let _ = std::fs::remove_file(p);
        }
    }
}

fn serve(mut master: TTYPort, _slave: TTYPort, bus: Arc<Mutex<VirtualBus>>, stop: Arc<AtomicBool>) {
    let _ = master.set_timeout(Duration::from_millis(1));
    let byte_time = Duration::from_nanos(10_000_000_000 / BAUD as u64);
    let mut buf = [0u8; 512];
    let mut outbound: VecDeque<(Instant, Vec<u8>)> = VecDeque::new();
    let mut last_step = Instant::now();
    while !stop.load(Ordering::SeqCst) {
        let waiting = master.bytes_to_read().unwrap_or(0);
        if waiting > 0
            && let Ok(n) = master.read(&mut buf)
            && n > 0
        {
            let arrived = Instant::now();
            let mut out = Vec::new();
            let return_delay = {
                let mut b = bus.lock().unwrap_or_else(|e| e.into_inner());
                b.receive(&buf[..n], &mut out);
                // Register 7 counts 2 µs units (the servos on one bus share the setting).
                b.servos.first().map_or(0, |s| s.reg(addr::RETURN_DELAY)) as u32 * 2
            };
            if !out.is_empty() {
                let due = arrived + Duration::from_micros(return_delay as u64) + byte_time * out.len() as u32;
                outbound.push_back((due, out));
            }
        }
        let now = Instant::now();
        while outbound.front().is_some_and(|(t, _)| *t <= now) {
            if let Some((_, bytes)) = outbound.pop_front() {
                let _ = master.write_all(&bytes);
            }
        }
        let dt = now.duration_since(last_step);
        if dt >= Duration::from_millis(1) {
            bus.lock().unwrap_or_else(|e| e.into_inner()).step(dt.as_secs_f64());
            last_step = now;
        }
        if waiting == 0 && outbound.is_empty() {
            std::thread::sleep(Duration::from_micros(200));
        }
    }
}
