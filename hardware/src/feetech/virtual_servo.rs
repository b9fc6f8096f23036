//! Virtual Feetech STS3215 servos that answer the real protocol byte for byte: a register table
//! with its EEPROM and lock, the position loop's limits, homing offset and single-turn wrap,
//! status replies with error bits, and injectable faults. [`VirtualBus`] is six (or any number
//! of) them on one half-duplex bus: bytes in, replies out, as a USB adapter would see them.
//!
//! Register addresses, sizes, defaults and semantics: `real-arms.md` §1.5 (Feetech's STS memory
//! table, cross-checked with LeRobot's `tables.py`). Where the table is silent the model picks
//! the simplest behaviour and says so: writes to read-only or unknown addresses are ignored,
//! reads of unknown addresses return 0.

use regrasp_firmware::sts::{
    self, BROADCAST_ID, Instruction, InstructionDecoder, MAX_PACKET, addr, error_bit, from_sign_magnitude, instruction,
    sign_bit, to_sign_magnitude,
};

/// Addresses below this are EEPROM (persisted only while Lock = 0).
pub const EEPROM_END: u8 = 40;

/// The firmware version a factory STS3215 reports (major, minor).
pub const FIRMWARE: (u8, u8) = (3, 10);

/// Top speed of the position loop with Goal_Velocity = 0 (counts/s): the STS3215's 4.7 rad/s.
pub const MAX_SPEED_COUNTS: f64 = 4.7 * 4096.0 / std::f64::consts::TAU;

/// Counts per second per unit of Goal_Velocity (0.732 rpm).
pub const COUNTS_PER_S_PER_SPEED_UNIT: f64 = 50.0;

/// Faults a virtual servo can be given; `Default` is a healthy servo.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ServoFault {
    /// Executes requests but sends no status reply.
    pub silent: bool,
    /// Executes requests but drops this many replies from now (a transient "no status packet").
    pub drop_replies: u32,
    /// Gone from the bus: neither executes nor replies.
    pub gone: bool,
    /// Replies with a wrong checksum.
    pub bad_checksum: bool,
    /// Error bits (`sts::error_bit`) set in every reply and in the Status register.
    pub error_bits: u8,
    /// The shaft does not move (a blocked joint): load and current grow with the error.
    pub stalled: bool,
    /// EEPROM writes are ignored (a failing or write-protected EEPROM).
    pub eeprom_stuck: bool,
}

/// One virtual STS3215.
#[derive(Clone, Debug)]
pub struct VirtualServo {
    /// The live register table (EEPROM and RAM), as READ returns it.
    regs: [u8; 256],
    /// The EEPROM as saved (restored on [`Self::power_cycle`]).
    saved: [u8; EEPROM_END as usize],
    /// A REG_WRITE waiting for ACTION: its address and data.
    pending: Option<(u8, Vec<u8>)>,
    /// The shaft's position (counts, before the homing offset; continuous).
    pub actual: f64,
    /// The shaft's velocity (counts/s).
    pub velocity: f64,
    /// Supply voltage (V).
    pub voltage: f64,
    /// Motor temperature (°C).
    pub temperature: f64,
    /// The load (fraction of full duty, signed) when something else knows it (the twin's motor);
    /// `None`: from the position error, as a position loop's duty grows with it.
    pub load: Option<f64>,
    /// Injected faults.
    pub fault: ServoFault,
}

impl VirtualServo {
    /// A factory-fresh STS3215 with ID `id`, its shaft at `actual` counts.
    pub fn new(id: u8, actual: f64) -> Self {
        let mut regs = [0u8; 256];
        regs[addr::FIRMWARE_MAJOR as usize] = FIRMWARE.0;
        regs[addr::FIRMWARE_MINOR as usize] = FIRMWARE.1;
        put_word(&mut regs, addr::MODEL_NUMBER, sts::MODEL_STS3215);
        regs[addr::ID as usize] = id;
        regs[addr::RETURN_DELAY as usize] = 250; // 500 µs, the factory value LeRobot clears
        regs[addr::RESPONSE_STATUS_LEVEL as usize] = 1;
        put_word(&mut regs, addr::MIN_POSITION_LIMIT, 0);
        put_word(&mut regs, addr::MAX_POSITION_LIMIT, 4095);
        regs[addr::MAX_TEMPERATURE as usize] = 70;
        regs[addr::MAX_VOLTAGE as usize] = 80;
        regs[addr::MIN_VOLTAGE as usize] = 40;
        put_word(&mut regs, addr::MAX_TORQUE_LIMIT, 1000);
        regs[addr::P_COEFFICIENT as usize] = 32;
        regs[addr::D_COEFFICIENT as usize] = 32;
        put_word(&mut regs, addr::PROTECTION_CURRENT, 511);
        regs[addr::PROTECTIVE_TORQUE as usize] = 20;
        regs[addr::PROTECTION_TIME as usize] = 200;
        regs[addr::OVERLOAD_TORQUE as usize] = 80;
        put_word(&mut regs, addr::TORQUE_LIMIT, 1000);
        regs[addr::LOCK as usize] = 1;
        let mut saved = [0u8; EEPROM_END as usize];
        saved.copy_from_slice(&regs[..EEPROM_END as usize]);
        let mut s = Self {
            regs,
            saved,
            pending: None,
            actual,
            velocity: 0.0,
            voltage: 7.4,
            load: None,
            temperature: 30.0,
            fault: ServoFault::default(),
        };
        let present = s.present_position();
        s.set_goal_raw(present);
        s.refresh();
        s
    }

    /// The servo's ID (register 5).
    pub fn id(&self) -> u8 {
        self.regs[addr::ID as usize]
    }

    /// A register byte.
    pub fn reg(&self, address: u8) -> u8 {
        self.regs[address as usize]
    }

    /// A little-endian register word.
    pub fn word(&self, address: u8) -> u16 {
        u16::from_le_bytes([self.regs[address as usize], self.regs[address as usize + 1]])
    }

    /// Sets a register byte directly (a misconfigured servo, another firmware), as saved EEPROM.
    pub fn set_reg(&mut self, address: u8, value: u8) {
        self.regs[address as usize] = value;
        if address < EEPROM_END {
            self.saved[address as usize] = value;
        }
    }

    /// The saved EEPROM byte at `address` (what survives a power cycle).
    pub fn saved(&self, address: u8) -> u8 {
        self.saved[address.min(EEPROM_END - 1) as usize]
    }

    /// Power off and on: unsaved EEPROM writes are lost, torque is off, the live torque limit
    /// is copied from Max_Torque_Limit, Lock is 1.
    pub fn power_cycle(&mut self) {
        self.regs[..EEPROM_END as usize].copy_from_slice(&self.saved);
        self.regs[EEPROM_END as usize..].fill(0);
        let max_torque = self.word(addr::MAX_TORQUE_LIMIT);
        put_word(&mut self.regs, addr::TORQUE_LIMIT, max_torque);
        self.regs[addr::LOCK as usize] = 1;
        self.pending = None;
        let present = self.present_position();
        self.set_goal_raw(present);
        self.refresh();
    }

    /// Whether torque is on.
    pub fn torque_on(&self) -> bool {
        self.regs[addr::TORQUE_ENABLE as usize] == 1
    }

    /// The homing offset (counts).
    pub fn homing_offset(&self) -> i32 {
        from_sign_magnitude(self.word(addr::HOMING_OFFSET), sign_bit::HOMING_OFFSET)
    }

    /// The goal position (counts, in the present-position frame).
    pub fn goal(&self) -> i32 {
        from_sign_magnitude(self.word(addr::GOAL_POSITION), sign_bit::POSITION)
    }

    /// Present_Position (counts): the shaft minus the homing offset, wrapped into 0..4095 in
    /// single-turn mode (Phase bit 4 clear), unwrapped in multi-turn mode.
    pub fn present_position(&self) -> i32 {
        let p = self.actual.round() as i32 - self.homing_offset();
        if self.regs[addr::PHASE as usize] & 0x10 == 0 { p.rem_euclid(4096) } else { p }
    }

    /// Moves the shaft for `dt` seconds: towards the goal at the speed limit while torque is on
    /// and the shaft is free; a stalled shaft stays.
    pub fn step(&mut self, dt: f64) {
        let before = self.actual;
        if self.torque_on() && !self.fault.stalled {
            let target = self.goal() as f64 + self.homing_offset() as f64;
            let speed = match self.word(addr::GOAL_VELOCITY) {
                0 => MAX_SPEED_COUNTS,
                v => (from_sign_magnitude(v, sign_bit::VELOCITY).unsigned_abs() as f64 * COUNTS_PER_S_PER_SPEED_UNIT)
                    .min(MAX_SPEED_COUNTS),
            };
            let max = speed * dt;
            self.actual += (target - self.actual).clamp(-max, max);
        }
        self.velocity = if dt > 0.0 { (self.actual - before) / dt } else { 0.0 };
        self.refresh();
    }

    /// Puts the shaft at `actual` counts (the simulation twin drives it), with `velocity`
    /// counts/s.
    pub fn set_shaft(&mut self, actual: f64, velocity: f64) {
        self.actual = actual;
        self.velocity = velocity;
        self.refresh();
    }

    /// The position error (counts) the loop is fighting.
    fn error_counts(&self) -> f64 {
        if !self.torque_on() {
            return 0.0;
        }
        self.goal() as f64 + self.homing_offset() as f64 - self.actual
    }

    /// Updates the read-only registers from the shaft and the faults.
    fn refresh(&mut self) {
        let present = to_sign_magnitude(self.present_position().clamp(-32767, 32767), sign_bit::POSITION).unwrap_or(0);
        put_word(&mut self.regs, addr::PRESENT_POSITION, present);
        let v = to_sign_magnitude((self.velocity / COUNTS_PER_S_PER_SPEED_UNIT).round() as i32, sign_bit::VELOCITY)
            .unwrap_or(0);
        put_word(&mut self.regs, addr::PRESENT_VELOCITY, v);
        let load = match (self.load, self.torque_on()) {
            (_, false) => 0,
            (Some(l), true) => (l * 1000.0).clamp(-1000.0, 1000.0) as i32,
            (None, true) => (self.error_counts() * 10.0).clamp(-1000.0, 1000.0) as i32,
        };
        put_word(&mut self.regs, addr::PRESENT_LOAD, to_sign_magnitude(load, sign_bit::LOAD).unwrap_or(0));
        self.regs[addr::PRESENT_VOLTAGE as usize] = (self.voltage * 10.0).round().clamp(0.0, 255.0) as u8;
        self.regs[addr::PRESENT_TEMPERATURE as usize] = self.temperature.round().clamp(0.0, 255.0) as u8;
        self.regs[addr::STATUS as usize] = self.error_bits();
        self.regs[addr::MOVING as usize] = u8::from(self.velocity.abs() > 1.0);
        put_word(&mut self.regs, addr::PRESENT_CURRENT, (load.unsigned_abs() / 2) as u16);
    }

    /// The error byte of a reply: injected bits, plus over-temperature and voltage out of the
    /// EEPROM's limits.
    pub fn error_bits(&self) -> u8 {
        let mut e = self.fault.error_bits;
        if self.temperature > self.regs[addr::MAX_TEMPERATURE as usize] as f64 {
            e |= error_bit::OVERHEAT;
        }
        let dv = self.voltage * 10.0;
        if dv > self.regs[addr::MAX_VOLTAGE as usize] as f64 || dv < self.regs[addr::MIN_VOLTAGE as usize] as f64 {
            e |= error_bit::VOLTAGE;
        }
        e
    }

    fn set_goal_raw(&mut self, counts: i32) {
        let raw = to_sign_magnitude(counts.clamp(-32767, 32767), sign_bit::POSITION).unwrap_or(0);
        put_word(&mut self.regs, addr::GOAL_POSITION, raw);
    }

    /// Writes `data` at `address` as the servo's firmware would.
    fn write(&mut self, address: u8, data: &[u8]) {
        for (i, &b) in data.iter().enumerate() {
            let Some(a) = address.checked_add(i as u8) else { break };
            match a {
                // Read-only: firmware version, model, present values.
                0..=4 | 56..=79 => {}
                _ if a < EEPROM_END && self.fault.eeprom_stuck => {}
                addr::TORQUE_ENABLE if b == 128 => {
                    // Recalibrate: the present position becomes 2048.
                    let offset = (self.actual.round() as i32 - 2048).clamp(-2047, 2047);
                    let raw = to_sign_magnitude(offset, sign_bit::HOMING_OFFSET).unwrap_or(0);
                    put_word(&mut self.regs, addr::HOMING_OFFSET, raw);
                }
                _ => {
                    self.regs[a as usize] = b;
                    if a < EEPROM_END && self.regs[addr::LOCK as usize] == 0 {
                        self.saved[a as usize] = b;
                    }
                }
            }
        }
        // The position loop keeps goals inside its limits (0/0 = multi-turn: no limits).
        let (lo, hi) = (self.word(addr::MIN_POSITION_LIMIT) as i32, self.word(addr::MAX_POSITION_LIMIT) as i32);
        let goal_written = (address..=address.saturating_add(data.len().saturating_sub(1) as u8))
            .any(|a| a == addr::GOAL_POSITION || a == addr::GOAL_POSITION + 1);
        if goal_written && (lo, hi) != (0, 0) && self.regs[addr::OPERATING_MODE as usize] == 0 {
            let g = self.goal().clamp(lo, hi.max(lo));
            self.set_goal_raw(g);
        }
        self.refresh();
    }

    /// Executes one request (`instr` with parameters `p`) addressed to this servo, or to all
    /// (`broadcast`); returns the reply's data when the servo answers.
    fn execute(&mut self, instr: u8, p: &[u8], broadcast: bool) -> Option<Vec<u8>> {
        let level = self.regs[addr::RESPONSE_STATUS_LEVEL as usize];
        let ack = |_: ()| (!broadcast && level >= 1).then(Vec::new);
        match instr {
            instruction::PING => Some(Vec::new()),
            instruction::READ => {
                let (&a, &n) = (p.first()?, p.get(1)?);
                self.refresh();
                Some((0..n).map(|i| self.regs[a.wrapping_add(i) as usize]).collect())
            }
            instruction::WRITE => {
                let (&a, data) = p.split_first()?;
                self.write(a, data);
                ack(())
            }
            instruction::REG_WRITE => {
                let (&a, data) = p.split_first()?;
                self.pending = Some((a, data.to_vec()));
                ack(())
            }
            instruction::ACTION => {
                if let Some((a, data)) = self.pending.take() {
                    self.write(a, &data);
                }
                ack(())
            }
            instruction::RESET => {
                self.fault.error_bits = 0;
                self.refresh();
                ack(())
            }
            _ => None,
        }
    }
}

fn put_word(regs: &mut [u8; 256], address: u8, value: u16) {
    let [lo, hi] = value.to_le_bytes();
    regs[address as usize] = lo;
    regs[address as usize + 1] = hi;
}

/// Servos on one bus, answering requests as bytes.
#[derive(Clone, Debug)]
pub struct VirtualBus {
    /// The servos, in any order (each answers to its own ID).
    pub servos: Vec<VirtualServo>,
    decoder: InstructionDecoder,
    /// Requests decoded so far.
    pub requests: u64,
    /// Requests with a bad checksum (ignored, as a servo does).
    pub bad_requests: u64,
    /// Packets dropped or corrupted on the wire by injection (`port::WireFaults`).
    pub injected: u64,
}

impl VirtualBus {
    /// A bus with `servos`.
    pub fn new(servos: Vec<VirtualServo>) -> Self {
        Self { servos, decoder: InstructionDecoder::new(), requests: 0, bad_requests: 0, injected: 0 }
    }

    /// The servo with ID `id`.
    pub fn servo(&self, id: u8) -> Option<&VirtualServo> {
        self.servos.iter().find(|s| s.id() == id)
    }

    /// The servo with ID `id`, mutably.
    pub fn servo_mut(&mut self, id: u8) -> Option<&mut VirtualServo> {
        self.servos.iter_mut().find(|s| s.id() == id)
    }

    /// Feeds bytes from the host; appends every reply the servos send to `out`.
    pub fn receive(&mut self, bytes: &[u8], out: &mut Vec<u8>) {
        for &b in bytes {
            match self.decoder.push(b) {
                Some(Ok(req)) => {
                    self.requests += 1;
                    self.dispatch(&req, out);
                }
                Some(Err(_)) => self.bad_requests += 1,
                None => {}
            }
        }
    }

    /// Moves every servo's shaft for `dt` seconds.
    pub fn step(&mut self, dt: f64) {
        for s in &mut self.servos {
            s.step(dt);
        }
    }

    fn dispatch(&mut self, req: &Instruction, out: &mut Vec<u8>) {
        let p = req.params();
        match (req.instruction, req.id) {
            (instruction::SYNC_READ, BROADCAST_ID) => {
                let (Some(&a), Some(&n)) = (p.first(), p.get(1)) else { return };
                for &id in p.get(2..).unwrap_or(&[]) {
                    if let Some(s) = self.servos.iter_mut().find(|s| s.id() == id) {
                        reply(s, instruction::READ, &[a, n], false, out);
                    }
                }
            }
            (instruction::SYNC_WRITE, BROADCAST_ID) => {
                let (Some(&a), Some(&n)) = (p.first(), p.get(1)) else { return };
                let n = n as usize;
                if n == 0 {
                    return;
                }
                for entry in p.get(2..).unwrap_or(&[]).chunks_exact(n + 1) {
                    if let Some(s) = self.servos.iter_mut().find(|s| s.id() == entry[0] && !s.fault.gone) {
                        s.write(a, &entry[1..]);
                    }
                }
            }
            (_, BROADCAST_ID) => {
                for s in &mut self.servos {
                    reply(s, req.instruction, p, true, out);
                }
            }
            (_, id) => {
                if let Some(s) = self.servos.iter_mut().find(|s| s.id() == id) {
                    reply(s, req.instruction, p, false, out);
                }
            }
        }
    }
}

/// Executes `instr` with parameters `p` on `s` and appends its reply (if it sends one) to
/// `out`. A broadcast PING is answered by every servo (how LeRobot finds a servo's ID).
fn reply(s: &mut VirtualServo, instr: u8, p: &[u8], broadcast: bool, out: &mut Vec<u8>) {
    if s.fault.gone {
        return;
    }
    let answer = s.execute(instr, p, broadcast && instr != instruction::PING);
    let Some(data) = answer else { return };
    if s.fault.silent {
        return;
    }
    if s.fault.drop_replies > 0 {
        s.fault.drop_replies -= 1;
        return;
    }
    let mut buf = [0u8; MAX_PACKET];
    let Ok(n) = sts::status(s.id(), s.error_bits(), &data, &mut buf) else { return };
    if s.fault.bad_checksum {
        buf[n - 1] ^= 0xFF;
    }
    out.extend_from_slice(&buf[..n]);
}

/// A fault given to one virtual servo from a moment on (`ID:KIND` or `ID:KIND@MS`, as
/// `hw emulate --bus feetech --servo-fault` takes it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScheduledFault {
    /// The servo's ID.
    pub id: u8,
    /// Which fault (one of [`ScheduledFault::KINDS`]).
    pub kind: &'static str,
    /// From this long after start (ms).
    pub at_ms: u64,
}

impl ScheduledFault {
    /// The faults by name: no status packets, off the bus, corrupted replies, the overload
    /// error bit, over-temperature (75 °C, over the servo's 70 °C limit), over-voltage (9.5 V),
    /// a blocked joint, another firmware version (3.9), multi-turn feedback (Phase bit 4).
    pub const KINDS: [&'static str; 9] =
        ["silent", "gone", "bad-checksum", "overload", "overheat", "voltage", "stall", "old-firmware", "multi-turn"];

    /// Parses `ID:KIND` or `ID:KIND@MS` for a bus of servos 1..=`servos`; the error says what
    /// is accepted.
    pub fn parse(s: &str, servos: usize) -> Result<Self, String> {
        let bad =
            || format!("{s}: give ID:KIND or ID:KIND@MS with ID 1–{servos} and KIND one of {}", Self::KINDS.join(", "));
        let (id, rest) = s.split_once(':').ok_or_else(bad)?;
        let (kind, at_ms) = match rest.split_once('@') {
            Some((k, ms)) => (k, ms.parse::<u64>().map_err(|_| bad())?),
            None => (rest, 0),
        };
        let id: u8 = id.parse().map_err(|_| bad())?;
        let kind = Self::KINDS.iter().find(|k| **k == kind).ok_or_else(bad)?;
        if !(1..=servos).contains(&(id as usize)) {
            return Err(bad());
        }
        Ok(Self { id, kind, at_ms })
    }

    /// Gives the fault to its servo on `bus`.
    pub fn apply(&self, bus: &mut VirtualBus) {
        let Some(s) = bus.servo_mut(self.id) else { return };
        match self.kind {
            "silent" => s.fault.silent = true,
            "gone" => s.fault.gone = true,
            "bad-checksum" => s.fault.bad_checksum = true,
            "overload" => s.fault.error_bits |= error_bit::OVERLOAD,
            "overheat" => s.temperature = 75.0,
            "voltage" => s.voltage = 9.5,
            "stall" => s.fault.stalled = true,
            "old-firmware" => s.set_reg(addr::FIRMWARE_MINOR, FIRMWARE.1 - 1),
            _ => s.set_reg(addr::PHASE, s.reg(addr::PHASE) | 0x10),
        }
    }
}
