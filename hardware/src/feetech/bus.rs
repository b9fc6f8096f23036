//! The host side of a Feetech STS bus: requests out, status replies in, over any byte
//! [`Transport`] (a serial port at 1 Mbps, or a [`VirtualLink`] to virtual servos), with
//! byte-level timeouts, bounded retries and every servo's error byte read and reported (LeRobot
//! drops the ones in sync-read replies). [`FeetechBus`] is a `ServoBus`, so the controller core
//! drives it as it drives a microcontroller's bus.

use std::collections::VecDeque;
use std::io;
use std::time::{Duration, Instant};

use regrasp_firmware::servo::{BusError, ServoBus, ServoReading};
use regrasp_firmware::sts::{self, MAX_PACKET, Status, StatusDecoder, addr, from_sign_magnitude, sign_bit};

use super::calibration::{Calibration, RAD_PER_COUNT};
use super::virtual_servo::{COUNTS_PER_S_PER_SPEED_UNIT, VirtualBus};

/// Bytes to and from the servos.
pub trait Transport: Send {
    /// Sends `bytes`.
    fn send(&mut self, bytes: &[u8]) -> io::Result<()>;
    /// Reads into `buf` what arrives within `timeout`; `Ok(0)` when nothing does.
    fn receive(&mut self, buf: &mut [u8], timeout: Duration) -> io::Result<usize>;
    /// Drops every byte received and not read yet.
    fn discard_input(&mut self) -> io::Result<()>;
    /// Whether every reply is ready as soon as its request is sent (a virtual link), so that
    /// an empty read means no reply is coming.
    fn replies_at_once(&self) -> bool {
        false
    }
}

/// A transport straight into a [`VirtualBus`]: what is sent is answered at once.
#[derive(Clone, Debug)]
pub struct VirtualLink {
    /// The servos.
    pub bus: VirtualBus,
    pending: VecDeque<u8>,
    /// Bytes sent so far (the wire's load).
    pub sent: u64,
}

impl VirtualLink {
    /// A link to `bus`.
    pub fn new(bus: VirtualBus) -> Self {
        Self { bus, pending: VecDeque::new(), sent: 0 }
    }
}

impl Transport for VirtualLink {
    fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        let mut out = Vec::new();
        self.bus.receive(bytes, &mut out);
        self.pending.extend(out);
        self.sent += bytes.len() as u64;
        Ok(())
    }

    fn receive(&mut self, buf: &mut [u8], _timeout: Duration) -> io::Result<usize> {
        let n = buf.len().min(self.pending.len());
        for (b, p) in buf.iter_mut().zip(self.pending.drain(..n)) {
            *b = p;
        }
        Ok(n)
    }

    fn discard_input(&mut self) -> io::Result<()> {
        self.pending.clear();
        Ok(())
    }

    fn replies_at_once(&self) -> bool {
        true
    }
}

/// Why a bus transaction failed, naming the servo.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BusFault {
    /// No (complete) status packet from servo `id` in time, after every retry.
    #[error("servo {0} sent no status packet: check its cable, power, ID and baud rate")]
    NoReply(u8),
    /// Servo `id`'s replies kept failing their checksum.
    #[error("servo {0}: corrupted status packets (checksum): check the cable and the supply")]
    BadChecksum(u8),
    /// Servo `id` reported error bits (`sts::error_bit`).
    #[error("servo {id} reports {}", describe_error_bits(*bits))]
    ServoError {
        /// The servo.
        id: u8,
        /// Its error byte.
        bits: u8,
    },
    /// The request could not be encoded (a bug above: an ID or length out of range).
    #[error("request not encodable: {0}")]
    Encode(String),
    /// The port failed.
    #[error("serial port: {0}")]
    Io(String),
}

/// The STS error bits set in `bits`, in words.
pub fn describe_error_bits(bits: u8) -> String {
    let names = [
        (
            sts::error_bit::VOLTAGE,
            "input voltage out of range (check the supply: 7.4 V servos on 5-8.4 V, 12 V ones on 12 V)",
        ),
        (sts::error_bit::ANGLE_SENSOR, "an angle-sensor error"),
        (sts::error_bit::OVERHEAT, "overheating (let it cool; lower the load)"),
        (sts::error_bit::OVERCURRENT, "overcurrent"),
        (sts::error_bit::OVERLOAD, "overload (the joint is blocked or the load too high)"),
    ];
    let set: Vec<&str> = names.iter().filter(|(b, _)| bits & b != 0).map(|(_, n)| *n).collect();
    if set.is_empty() { format!("error bits {bits:#04x}") } else { set.join(", ") }
}

/// Timing and retries of a bus.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BusConfig {
    /// Line rate (bit/s); the STS3215 ships at 1 Mbps.
    pub baud: u32,
    /// Extra attempts after a failed transaction (LeRobot's SO arms use 2 for reads).
    pub retries: u32,
    /// Time (s) allowed for a reply beyond its bytes' transmission time: the adapter's latency
    /// and the servo's return delay.
    pub reply_margin: f64,
}

impl Default for BusConfig {
    fn default() -> Self {
        Self { baud: 1_000_000, retries: 2, reply_margin: 0.005 }
    }
}

impl BusConfig {
    /// Time (s) to send `bytes` bytes (10 bits each: 8N1).
    pub fn wire_time(&self, bytes: usize) -> f64 {
        bytes as f64 * 10.0 / self.baud as f64
    }
}

/// Counters of a bus's life.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BusStats {
    /// Transactions attempted (each retry counts).
    pub attempts: u64,
    /// Retries after a failed attempt.
    pub retries: u64,
    /// Transactions that failed after every retry.
    pub failures: u64,
    /// Bytes the status decoder skipped (noise, echoes, broken packets).
    pub skipped: u64,
}

/// The host's Feetech bus to an arm's servos (the calibration's motors, in its order).
pub struct FeetechBus<T: Transport> {
    transport: T,
    /// The arm's calibration: IDs, homing, ranges, the counts ↔ radians mapping.
    pub calibration: Calibration,
    /// Timing and retries.
    pub config: BusConfig,
    decoder: StatusDecoder,
    /// Each motor's last error byte (0 = none), in the calibration's order.
    pub last_errors: Vec<u8>,
    /// Counters.
    pub stats: BusStats,
}

impl<T: Transport> FeetechBus<T> {
    /// A bus over `transport` for the motors of `calibration`.
    pub fn new(transport: T, calibration: Calibration, config: BusConfig) -> Self {
        let n = calibration.motors.len();
        Self {
            transport,
            calibration,
            config,
            decoder: StatusDecoder::new(),
            last_errors: vec![0; n],
            stats: BusStats::default(),
        }
    }

    /// The transport (to inspect a virtual link in tests).
    pub fn transport(&mut self) -> &mut T {
        &mut self.transport
    }

    fn encode(&self, f: impl FnOnce(&mut [u8]) -> Result<usize, sts::EncodeError>) -> Result<Vec<u8>, BusFault> {
        let mut buf = [0u8; MAX_PACKET];
        let n = f(&mut buf).map_err(|e| BusFault::Encode(format!("{e:?}")))?;
        Ok(buf[..n].to_vec())
    }

    /// Sends `request` and collects one status packet from each of `ids`, in that order, each
    /// carrying `data_len` bytes; retries the whole transaction on any failure. Error bits are
    /// recorded in `last_errors`, and reported as [`BusFault::ServoError`] after the replies are
    /// in.
    fn transact(&mut self, request: &[u8], ids: &[u8], data_len: usize) -> Result<Vec<Status>, BusFault> {
        let replies = self.transact_raw(request, ids, data_len)?;
        match replies.iter().find(|r| !r.is_ok()) {
            Some(r) => Err(BusFault::ServoError { id: r.id, bits: r.error }),
            None => Ok(replies),
        }
    }

    /// [`Self::transact`] that returns replies with error bits as they are.
    fn transact_raw(&mut self, request: &[u8], ids: &[u8], data_len: usize) -> Result<Vec<Status>, BusFault> {
        let mut last = BusFault::NoReply(ids.first().copied().unwrap_or(0));
        for attempt in 0..=self.config.retries {
            self.stats.attempts += 1;
            if attempt > 0 {
                self.stats.retries += 1;
            }
            match self.attempt(request, ids, data_len) {
                Ok(replies) => {
                    for r in &replies {
                        if let Some(i) = self.calibration.motors.iter().position(|(_, m)| m.id == r.id) {
                            self.last_errors[i] = r.error;
                        }
                    }
                    return Ok(replies);
                }
                Err(e) => last = e,
            }
        }
        self.stats.failures += 1;
        Err(last)
    }

    fn attempt(&mut self, request: &[u8], ids: &[u8], data_len: usize) -> Result<Vec<Status>, BusFault> {
        self.transport.discard_input().map_err(|e| BusFault::Io(e.to_string()))?;
        self.decoder.clear();
        self.transport.send(request).map_err(|e| BusFault::Io(e.to_string()))?;
        let reply_bytes = ids.len() * (6 + data_len);
        let budget = self.config.wire_time(request.len() + reply_bytes) + self.config.reply_margin;
        let deadline = Instant::now() + Duration::from_secs_f64(budget);
        let mut replies = Vec::with_capacity(ids.len());
        let mut buf = [0u8; 256];
        while replies.len() < ids.len() {
            let now = Instant::now();
            if now >= deadline {
                return Err(BusFault::NoReply(ids[replies.len()]));
            }
            let n = self.transport.receive(&mut buf, deadline - now).map_err(|e| BusFault::Io(e.to_string()))?;
            if n == 0 {
                if self.transport.replies_at_once() {
                    return Err(BusFault::NoReply(ids[replies.len()]));
                }
                continue;
            }
            for &b in &buf[..n] {
                let skipped = self.decoder.skipped;
                match self.decoder.push(b) {
                    Some(Ok(s)) if s.id == ids[replies.len()] && s.params().len() == data_len => replies.push(s),
                    Some(Ok(_)) => {} // another servo's or a stale reply: not ours
                    Some(Err(_)) => return Err(BusFault::BadChecksum(ids[replies.len()])),
                    None => {}
                }
                self.stats.skipped += self.decoder.skipped - skipped;
                if replies.len() == ids.len() {
                    break;
                }
            }
        }
        Ok(replies)
    }

    /// PING servo `id`.
    pub fn ping(&mut self, id: u8) -> Result<(), BusFault> {
        let req = self.encode(|b| sts::ping(id, b))?;
        self.transact(&req, &[id], 0).map(|_| ())
    }

    /// Reads `len` bytes at `address` of servo `id`.
    pub fn read_register(&mut self, id: u8, address: u8, len: u8) -> Result<Vec<u8>, BusFault> {
        let req = self.encode(|b| sts::read(id, address, len, b))?;
        Ok(self.transact(&req, &[id], len as usize)?[0].params().to_vec())
    }

    /// Reads the little-endian word at `address` of servo `id`.
    pub fn read_word(&mut self, id: u8, address: u8) -> Result<u16, BusFault> {
        let d = self.read_register(id, address, 2)?;
        Ok(u16::from_le_bytes([d[0], d[1]]))
    }

    /// Writes `data` at `address` of servo `id` and waits for its acknowledgement.
    pub fn write_register(&mut self, id: u8, address: u8, data: &[u8]) -> Result<(), BusFault> {
        let req = self.encode(|b| sts::write(id, address, data, b))?;
        self.transact(&req, &[id], 0).map(|_| ())
    }

    /// Reads `len` bytes at `address` from every motor in one SYNC_READ.
    pub fn sync_read(&mut self, address: u8, len: u8) -> Result<Vec<Status>, BusFault> {
        let ids = self.calibration.ids();
        let req = self.encode(|b| sts::sync_read(address, len, &ids, b))?;
        self.transact(&req, &ids, len as usize)
    }

    /// Writes each motor's `data` (in the calibration's order, all the same length) at
    /// `address` in one SYNC_WRITE (no replies).
    pub fn sync_write(&mut self, address: u8, data: &[Vec<u8>]) -> Result<(), BusFault> {
        let ids = self.calibration.ids();
        let len = data.first().map_or(0, |d| d.len()) as u8;
        let entries: Vec<(u8, &[u8])> = ids.iter().zip(data).map(|(&id, d)| (id, d.as_slice())).collect();
        let req = self.encode(|b| sts::sync_write(address, len, &entries, b))?;
        self.stats.attempts += 1;
        self.transport.send(&req).map_err(|e| BusFault::Io(e.to_string()))
    }

    /// Sends goal positions (rad, the calibration's order); each is clamped into its motor's
    /// calibrated range, so no goal outside it is ever written.
    pub fn write_goals(&mut self, radians: &[f64]) -> Result<(), BusFault> {
        let data: Vec<Vec<u8>> = self
            .calibration
            .motors
            .iter()
            .zip(radians)
            .map(|((_, m), &r)| m.counts(r).to_le_bytes().to_vec())
            .collect();
        self.sync_write(addr::GOAL_POSITION, &data)
    }

    /// Reads every motor's present position (counts, as the servo reports it).
    pub fn read_counts(&mut self) -> Result<Vec<i32>, BusFault> {
        let replies = self.sync_read(addr::PRESENT_POSITION, 2)?;
        Ok(replies.iter().map(|r| from_sign_magnitude(r.word(0).unwrap_or(0), sign_bit::POSITION)).collect())
    }

    /// Reads every motor's position, velocity, load, temperature and error bits (one SYNC_READ
    /// of addresses 56–63); a servo's error bits are in its reading, not an error, so that the
    /// controller core sees them and stops.
    pub fn read_state(&mut self) -> Result<Vec<ServoReading>, BusFault> {
        let ids = self.calibration.ids();
        let req = self.encode(|b| sts::sync_read(addr::PRESENT_POSITION, 8, &ids, b))?;
        let replies = self.transact_raw(&req, &ids, 8)?;
        Ok(replies
            .iter()
            .zip(&self.calibration.motors)
            .map(|(r, (_, m))| {
                let word = |o: usize| r.word(o).unwrap_or(0);
                let counts = from_sign_magnitude(word(0), sign_bit::POSITION);
                let speed = from_sign_magnitude(word(2), sign_bit::VELOCITY) as f64 * COUNTS_PER_S_PER_SPEED_UNIT;
                let load = from_sign_magnitude(word(4), sign_bit::LOAD) as f64 / 1000.0;
                ServoReading {
                    position: m.radians(counts) as f32,
                    velocity: (speed * RAD_PER_COUNT) as f32,
                    load: load as f32,
                    temperature: r.params()[7] as f32,
                    error: r.error,
                }
            })
            .collect())
    }
}

impl<T: Transport> ServoBus for FeetechBus<T> {
    fn joints(&self) -> usize {
        self.calibration.motors.len().saturating_sub(1)
    }

    fn read(&mut self, joints: &mut [ServoReading], gripper: &mut ServoReading) -> Result<(), BusError> {
        let state = self.read_state().map_err(|_| BusError)?;
        let n = self.joints();
        for (j, s) in joints.iter_mut().zip(&state[..n]) {
            *j = *s;
        }
        *gripper = state[n];
        Ok(())
    }

    fn write_targets(&mut self, joints: &[f32], gripper: f32) -> Result<(), BusError> {
        let n = self.joints();
        let mut radians: Vec<f64> = joints.iter().take(n).map(|&j| j as f64).collect();
        radians.push(gripper as f64);
        self.write_goals(&radians).map_err(|_| BusError)
    }

    /// Torque on first sets every goal to the present position (clamped into the calibrated
    /// range), so a stale Goal_Position never makes a servo jump when its torque comes on.
    fn set_torque(&mut self, on: bool) -> Result<(), BusError> {
        let n = self.calibration.motors.len();
        if on {
            let present = self.sync_read(addr::PRESENT_POSITION, 2).map_err(|_| BusError)?;
            let goals: Vec<Vec<u8>> = present
                .iter()
                .zip(&self.calibration.motors)
                .map(|(r, (_, m))| {
                    let counts = from_sign_magnitude(r.word(0).unwrap_or(0), sign_bit::POSITION);
                    (counts.clamp(m.range_min as i32, m.range_max as i32) as u16).to_le_bytes().to_vec()
                })
                .collect();
            self.sync_write(addr::GOAL_POSITION, &goals).map_err(|_| BusError)?;
        }
        self.sync_write(addr::TORQUE_ENABLE, &vec![vec![u8::from(on)]; n]).map_err(|_| BusError)
    }
}

/// A serial port as a [`Transport`] (a USB adapter at 1 Mbps, or a pseudo-terminal).
pub struct SerialTransport {
    port: Box<dyn serialport::SerialPort>,
    /// The port's path, for errors.
    pub path: String,
}

impl SerialTransport {
    /// Opens `path` at `baud` (8N1).
    pub fn open(path: &str, baud: u32) -> crate::error::Result<Self> {
        let port = serialport::new(path, baud).timeout(Duration::from_millis(1)).open().map_err(|e| {
            crate::error::HardwareError::Port {
                port: path.to_string(),
                message: format!(
                    "{e} (is the arm's USB adapter plugged in, and may you use it? Add yourself to the `dialout` \
                     group or install a udev rule; see the README)"
                ),
            }
        })?;
        Ok(Self { port, path: path.to_string() })
    }
}

impl Transport for SerialTransport {
    fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        use std::io::Write;
        self.port.write_all(bytes)?;
        self.port.flush()
    }

    fn receive(&mut self, buf: &mut [u8], timeout: Duration) -> io::Result<usize> {
        use std::io::Read;
        self.port.set_timeout(timeout.max(Duration::from_micros(100))).map_err(io::Error::other)?;
        match self.port.read(buf) {
            Ok(n) => Ok(n),
            Err(e) if e.kind() == io::ErrorKind::TimedOut => Ok(0),
            Err(e) => Err(e),
        }
    }

    fn discard_input(&mut self) -> io::Result<()> {
        self.port.clear(serialport::ClearBuffer::Input).map_err(io::Error::other)
    }
}

impl<T: Transport + 'static> crate::emulator::Plant for FeetechBus<T> {
    /// Real (or virtual) servos move by themselves: nothing to advance.
    fn advance(&mut self, _dt_s: f64) {}
}
