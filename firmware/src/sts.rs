//! The Feetech STS/SMS serial-bus protocol ("FT-SCS", as the STS3215 servos of the SO-101
//! speak it), `no_std` and allocation-free, so a microcontroller and the host share it.
//!
//! A packet is `FF FF ID LEN BYTE4 P1..PN SUM` with `LEN = N + 2` and
//! `SUM = !(ID + LEN + BYTE4 + ΣP) & 0xFF`; BYTE4 is the instruction in a request and the
//! servo's error bits in a status reply. 16-bit fields are little-endian (STS/SMS; the older
//! SCS series is big-endian and not spoken here). Negative values are sign-magnitude, not two's
//! complement, with the sign in bit 15 (positions, speeds), bit 11 (homing offset) or bit 10
//! (load, PWM): [`to_sign_magnitude`] and [`from_sign_magnitude`]. [`StatusDecoder`] reads
//! status packets (the host's side) and [`InstructionDecoder`] requests (a servo's side, as the
//! virtual SO-101 answers them) from any byte stream; neither panics, and both resynchronise on
//! stray bytes.
//!
//! Source of every constant: Feetech's protocol and STS memory table, as collected with their
//! references in the project's `real-arms.md` §1.

use core::marker::PhantomData;

/// The two header bytes of every packet.
pub const HEADER: [u8; 2] = [0xFF, 0xFF];
/// The broadcast ID: every servo acts, none replies (but to PING).
pub const BROADCAST_ID: u8 = 0xFE;
/// The largest servo ID a packet may carry (0xFD); 0xFE is broadcast.
pub const MAX_ID: u8 = 0xFD;
/// The longest packet, header to checksum (bytes), as Feetech's SDK bounds it.
pub const MAX_PACKET: usize = 250;
/// The most parameter bytes a packet can carry: `MAX_PACKET` less header, ID, LEN, byte 4 and
/// checksum.
pub const MAX_PARAMS: usize = MAX_PACKET - 6;

/// Instruction codes (byte 4 of a request).
pub mod instruction {
    /// Is a servo there? (The only instruction a broadcast answers.)
    pub const PING: u8 = 0x01;
    /// Read `len` bytes from `addr`.
    pub const READ: u8 = 0x02;
    /// Write bytes at `addr`.
    pub const WRITE: u8 = 0x03;
    /// Write bytes at `addr`, held until ACTION.
    pub const REG_WRITE: u8 = 0x04;
    /// Execute the held REG_WRITEs.
    pub const ACTION: u8 = 0x05;
    /// Reset the status and the turn count.
    pub const RESET: u8 = 0x0A;
    /// Read the same `len` bytes at `addr` from several servos; each replies in request order.
    pub const SYNC_READ: u8 = 0x82;
    /// Write `len` bytes at `addr` to several servos, each its own data; nobody replies.
    pub const SYNC_WRITE: u8 = 0x83;

    /// Whether `b` is one of the instructions above.
    pub const fn is_known(b: u8) -> bool {
        matches!(b, PING | READ | WRITE | REG_WRITE | ACTION | RESET | SYNC_READ | SYNC_WRITE)
    }
}

/// The error bits of a status packet (also the bit map of the Status register, of the
/// unloading condition and of the LED alarm condition).
pub mod error_bit {
    /// Input voltage outside the limits.
    pub const VOLTAGE: u8 = 1 << 0;
    /// The magnetic encoder (angle sensor) failed.
    pub const ANGLE_SENSOR: u8 = 1 << 1;
    /// Over temperature.
    pub const OVERHEAT: u8 = 1 << 2;
    /// Over current.
    pub const OVERCURRENT: u8 = 1 << 3;
    /// Overload.
    pub const OVERLOAD: u8 = 1 << 5;
    /// Every bit with a meaning.
    pub const ALL: u8 = VOLTAGE | ANGLE_SENSOR | OVERHEAT | OVERCURRENT | OVERLOAD;
}

/// Control-table addresses that matter (STS3215), with their sizes in the doc comments.
pub mod addr {
    /// Firmware major version (1 byte, EEPROM).
    pub const FIRMWARE_MAJOR: u8 = 0;
    /// Firmware minor version (1 byte, EEPROM).
    pub const FIRMWARE_MINOR: u8 = 1;
    /// Model number (2 bytes; 777 = STS3215).
    pub const MODEL_NUMBER: u8 = 3;
    /// Servo ID (1 byte, EEPROM).
    pub const ID: u8 = 5;
    /// Baud-rate code (1 byte, EEPROM; 0 = 1 Mbps).
    pub const BAUD_RATE: u8 = 6;
    /// Return delay (1 byte, EEPROM).
    pub const RETURN_DELAY: u8 = 7;
    /// Status return level (1 byte, EEPROM; 0 = only READ and PING reply, 1 = all).
    pub const RESPONSE_STATUS_LEVEL: u8 = 8;
    /// Minimum position limit (2 bytes, counts, EEPROM).
    pub const MIN_POSITION_LIMIT: u8 = 9;
    /// Maximum position limit (2 bytes, counts, EEPROM).
    pub const MAX_POSITION_LIMIT: u8 = 11;
    /// Maximum temperature (1 byte, °C, EEPROM).
    pub const MAX_TEMPERATURE: u8 = 13;
    /// Maximum input voltage (1 byte, 0.1 V, EEPROM).
    pub const MAX_VOLTAGE: u8 = 14;
    /// Minimum input voltage (1 byte, 0.1 V, EEPROM).
    pub const MIN_VOLTAGE: u8 = 15;
    /// Maximum torque (2 bytes, 0.1 %, EEPROM; copied to `TORQUE_LIMIT` at power-on).
    pub const MAX_TORQUE_LIMIT: u8 = 16;
    /// Phase bits (1 byte, EEPROM; bit 4 set = multi-turn feedback).
    pub const PHASE: u8 = 18;
    /// Which faults cut the torque (1 byte, `error_bit` map, EEPROM).
    pub const UNLOADING_CONDITION: u8 = 19;
    /// Which faults light the LED (1 byte, `error_bit` map, EEPROM).
    pub const LED_ALARM_CONDITION: u8 = 20;
    /// Position P gain (1 byte, EEPROM).
    pub const P_COEFFICIENT: u8 = 21;
    /// Position D gain (1 byte, EEPROM).
    pub const D_COEFFICIENT: u8 = 22;
    /// Position I gain (1 byte, EEPROM).
    pub const I_COEFFICIENT: u8 = 23;
    /// Protection current (2 bytes, 6.5 mA per unit, EEPROM).
    pub const PROTECTION_CURRENT: u8 = 28;
    /// Homing offset (2 bytes, counts, sign in bit 11, EEPROM).
    pub const HOMING_OFFSET: u8 = 31;
    /// Operating mode (1 byte, EEPROM; 0 = position).
    pub const OPERATING_MODE: u8 = 33;
    /// Torque applied after an overload trips (1 byte, %, EEPROM).
    pub const PROTECTIVE_TORQUE: u8 = 34;
    /// Time above the overload torque before tripping (1 byte, 10 ms, EEPROM).
    pub const PROTECTION_TIME: u8 = 35;
    /// Overload threshold (1 byte, %, EEPROM).
    pub const OVERLOAD_TORQUE: u8 = 36;
    /// Torque enable (1 byte; 0 off, 1 on, 2 damping, 128 = take the present position as 2048).
    pub const TORQUE_ENABLE: u8 = 40;
    /// Acceleration (1 byte, 100 counts/s² per unit; 0 = the maximum).
    pub const ACCELERATION: u8 = 41;
    /// Goal position (2 bytes, counts, sign in bit 15).
    pub const GOAL_POSITION: u8 = 42;
    /// Goal time, or PWM in mode 2 (2 bytes, sign in bit 10).
    pub const GOAL_TIME: u8 = 44;
    /// Goal speed (2 bytes, 50 counts/s per unit, sign in bit 15; 0 = the maximum).
    pub const GOAL_VELOCITY: u8 = 46;
    /// Live torque limit (2 bytes, 0.1 %).
    pub const TORQUE_LIMIT: u8 = 48;
    /// EEPROM lock (1 byte; 0 = EEPROM writes persist, 1 = they are not saved).
    pub const LOCK: u8 = 55;
    /// Present position (2 bytes, counts, sign in bit 15).
    pub const PRESENT_POSITION: u8 = 56;
    /// Present speed (2 bytes, 50 counts/s per unit, sign in bit 15).
    pub const PRESENT_VELOCITY: u8 = 58;
    /// Present load (2 bytes, 0.1 % duty, sign in bit 10).
    pub const PRESENT_LOAD: u8 = 60;
    /// Present input voltage (1 byte, 0.1 V).
    pub const PRESENT_VOLTAGE: u8 = 62;
    /// Present temperature (1 byte, °C).
    pub const PRESENT_TEMPERATURE: u8 = 63;
    /// Status (1 byte, `error_bit` map).
    pub const STATUS: u8 = 65;
    /// Moving (1 byte; 1 while moving).
    pub const MOVING: u8 = 66;
    /// Present current (2 bytes, 6.5 mA per unit).
    pub const PRESENT_CURRENT: u8 = 69;
}

/// Where the sign bit of each sign-magnitude field lies.
pub mod sign_bit {
    /// Goal and present position.
    pub const POSITION: u8 = 15;
    /// Goal and present speed.
    pub const VELOCITY: u8 = 15;
    /// Homing offset.
    pub const HOMING_OFFSET: u8 = 11;
    /// Present load, and PWM in mode 2.
    pub const LOAD: u8 = 10;
}

/// The STS3215's model number.
pub const MODEL_STS3215: u16 = 777;

/// Why a packet could not be encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EncodeError {
    /// The packet would not fit `MAX_PACKET` bytes, or the output buffer.
    TooLong,
    /// An ID above `MAX_ID` (other than broadcast where broadcast is allowed).
    BadId(u8),
    /// A sync write whose entries do not all carry `len` bytes, or no entries at all.
    BadEntries,
}

/// Why bytes were not a status packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// The checksum did not match.
    Checksum {
        /// The checksum the bytes should have carried.
        expected: u8,
        /// The checksum they carried.
        found: u8,
    },
}

/// A value does not fit a sign-magnitude field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutOfRange {
    /// The value.
    pub value: i32,
    /// The largest magnitude the field holds.
    pub max: i32,
}

/// The checksum of a packet's ID, LEN, byte 4 and parameters.
pub fn checksum(id: u8, len: u8, byte4: u8, params: &[u8]) -> u8 {
    let sum = params.iter().fold(id as u32 + len as u32 + byte4 as u32, |s, &b| s + b as u32);
    !(sum as u8)
}

/// `value` as a sign-magnitude field with its sign in bit `sign_bit` (the magnitude below it).
pub fn to_sign_magnitude(value: i32, sign_bit: u8) -> Result<u16, OutOfRange> {
    let max = (1i32 << sign_bit) - 1;
    if value.unsigned_abs() > max as u32 {
        return Err(OutOfRange { value, max });
    }
    let magnitude = value.unsigned_abs() as u16;
    Ok(if value < 0 { magnitude | (1 << sign_bit) } else { magnitude })
}

/// The value of a sign-magnitude field with its sign in bit `sign_bit`; bits above it are
/// ignored.
pub fn from_sign_magnitude(raw: u16, sign_bit: u8) -> i32 {
    let magnitude = (raw & ((1u16 << sign_bit) - 1)) as i32;
    if raw & (1 << sign_bit) != 0 { -magnitude } else { magnitude }
}

/// Writes `FF FF id LEN instr params SUM` into `out`; returns its length.
pub fn encode(id: u8, instr: u8, params: &[u8], out: &mut [u8]) -> Result<usize, EncodeError> {
    if id > MAX_ID && id != BROADCAST_ID {
        return Err(EncodeError::BadId(id));
    }
    let n = params.len() + 6;
    if n > MAX_PACKET || n > out.len() {
        return Err(EncodeError::TooLong);
    }
    let len = (params.len() + 2) as u8;
    out[..2].copy_from_slice(&HEADER);
    out[2] = id;
    out[3] = len;
    out[4] = instr;
    out[5..5 + params.len()].copy_from_slice(params);
    out[n - 1] = checksum(id, len, instr, params);
    Ok(n)
}

/// A status reply from servo `id` with error bits `error` (`error_bit`) and data `params`.
pub fn status(id: u8, error: u8, params: &[u8], out: &mut [u8]) -> Result<usize, EncodeError> {
    if id > MAX_ID {
        return Err(EncodeError::BadId(id));
    }
    encode(id, error & 0x7F, params, out)
}

/// A PING to `id`.
pub fn ping(id: u8, out: &mut [u8]) -> Result<usize, EncodeError> {
    encode(id, instruction::PING, &[], out)
}

/// A READ of `len` bytes at `addr` from `id`.
pub fn read(id: u8, addr: u8, len: u8, out: &mut [u8]) -> Result<usize, EncodeError> {
    encode(id, instruction::READ, &[addr, len], out)
}

/// A WRITE of `data` at `addr` to `id` (`instr` WRITE or REG_WRITE).
fn write_with(instr: u8, id: u8, addr: u8, data: &[u8], out: &mut [u8]) -> Result<usize, EncodeError> {
    let mut params = [0u8; MAX_PARAMS];
    let p = params.get_mut(..data.len() + 1).ok_or(EncodeError::TooLong)?;
    p[0] = addr;
    p[1..].copy_from_slice(data);
    encode(id, instr, p, out)
}

/// A WRITE of `data` at `addr` to `id`.
pub fn write(id: u8, addr: u8, data: &[u8], out: &mut [u8]) -> Result<usize, EncodeError> {
    write_with(instruction::WRITE, id, addr, data, out)
}

/// A REG_WRITE of `data` at `addr` to `id`, held until ACTION.
pub fn reg_write(id: u8, addr: u8, data: &[u8], out: &mut [u8]) -> Result<usize, EncodeError> {
    write_with(instruction::REG_WRITE, id, addr, data, out)
}

/// ACTION (usually broadcast): the held REG_WRITEs take effect.
pub fn action(id: u8, out: &mut [u8]) -> Result<usize, EncodeError> {
    encode(id, instruction::ACTION, &[], out)
}

/// RESET of `id`'s status and turn count.
pub fn reset(id: u8, out: &mut [u8]) -> Result<usize, EncodeError> {
    encode(id, instruction::RESET, &[], out)
}

/// A SYNC_READ of `len` bytes at `addr` from `ids` (each replies with a status packet, in
/// this order).
pub fn sync_read(addr: u8, len: u8, ids: &[u8], out: &mut [u8]) -> Result<usize, EncodeError> {
    if let Some(&bad) = ids.iter().find(|&&id| id > MAX_ID) {
        return Err(EncodeError::BadId(bad));
    }
    let mut params = [0u8; MAX_PARAMS];
    let p = params.get_mut(..ids.len() + 2).ok_or(EncodeError::TooLong)?;
    p[0] = addr;
    p[1] = len;
    p[2..].copy_from_slice(ids);
    encode(BROADCAST_ID, instruction::SYNC_READ, p, out)
}

/// A SYNC_WRITE of `len` bytes at `addr`: each entry is a servo ID and its `len` bytes.
pub fn sync_write(addr: u8, len: u8, entries: &[(u8, &[u8])], out: &mut [u8]) -> Result<usize, EncodeError> {
    if entries.is_empty() || entries.iter().any(|(_, d)| d.len() != len as usize) {
        return Err(EncodeError::BadEntries);
    }
    if let Some(&(bad, _)) = entries.iter().find(|(id, _)| *id > MAX_ID) {
        return Err(EncodeError::BadId(bad));
    }
    let mut params = [0u8; MAX_PARAMS];
    let total = 2 + entries.len() * (len as usize + 1);
    let p = params.get_mut(..total).ok_or(EncodeError::TooLong)?;
    p[0] = addr;
    p[1] = len;
    for (k, (id, data)) in entries.iter().enumerate() {
        let at = 2 + k * (len as usize + 1);
        p[at] = *id;
        p[at + 1..at + 1 + data.len()].copy_from_slice(data);
    }
    encode(BROADCAST_ID, instruction::SYNC_WRITE, p, out)
}

/// A servo's status packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Status {
    /// The replying servo.
    pub id: u8,
    /// Its error bits (`error_bit`).
    pub error: u8,
    params: [u8; MAX_PARAMS],
    len: u8,
}

impl Status {
    /// The reply's data.
    pub fn params(&self) -> &[u8] {
        &self.params[..self.len as usize]
    }

    /// The little-endian word at `offset` of the data, if there is one.
    pub fn word(&self, offset: usize) -> Option<u16> {
        word_at(self.params(), offset)
    }

    /// Whether the servo reported no error.
    pub fn is_ok(&self) -> bool {
        self.error == 0
    }
}

/// A request packet, as a servo reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Instruction {
    /// The addressed servo, or [`BROADCAST_ID`].
    pub id: u8,
    /// The instruction (`instruction`).
    pub instruction: u8,
    params: [u8; MAX_PARAMS],
    len: u8,
}

impl Instruction {
    /// The request's parameters.
    pub fn params(&self) -> &[u8] {
        &self.params[..self.len as usize]
    }

    /// The little-endian word at `offset` of the parameters, if there is one.
    pub fn word(&self, offset: usize) -> Option<u16> {
        word_at(self.params(), offset)
    }
}

fn word_at(p: &[u8], offset: usize) -> Option<u16> {
    Some(u16::from_le_bytes([*p.get(offset)?, *p.get(offset.checked_add(1)?)?]))
}

/// What a decoder reads: status replies or requests, which differ only in what byte 4 may be.
pub trait PacketKind: Sized {
    /// Whether `id` can be this kind's ID (a servo's; requests may also be broadcast).
    fn accepts_id(id: u8) -> bool;
    /// Whether `byte4` can be this kind's byte 4 (error bits, or a known instruction).
    fn accepts(byte4: u8) -> bool;
    /// The packet from its checked parts.
    fn from_parts(id: u8, byte4: u8, params: [u8; MAX_PARAMS], len: u8) -> Self;
}

impl PacketKind for Status {
    fn accepts_id(id: u8) -> bool {
        id <= MAX_ID
    }

    fn accepts(byte4: u8) -> bool {
        byte4 <= 0x7F
    }

    fn from_parts(id: u8, error: u8, params: [u8; MAX_PARAMS], len: u8) -> Self {
        Status { id, error, params, len }
    }
}

impl PacketKind for Instruction {
    fn accepts_id(id: u8) -> bool {
        id <= MAX_ID || id == BROADCAST_ID
    }

    fn accepts(byte4: u8) -> bool {
        instruction::is_known(byte4)
    }

    fn from_parts(id: u8, instruction: u8, params: [u8; MAX_PARAMS], len: u8) -> Self {
        Instruction { id, instruction, params, len }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    Header0,
    Header1,
    Id,
    Len,
    Byte4,
    Params,
    Sum,
}

/// Reads packets of kind `P` from a byte stream, one byte at a time. A byte that cannot start
/// or continue a packet (noise, an echo, a truncated packet) is skipped and the decoder looks
/// for the next header; a bad checksum is reported and decoding goes on. Never panics.
#[derive(Clone, Debug)]
pub struct PacketDecoder<P> {
    stage: Stage,
    id: u8,
    len: u8,
    byte4: u8,
    params: [u8; MAX_PARAMS],
    filled: usize,
    /// Bytes skipped while looking for a packet (noise, resynchronisation).
    pub skipped: u64,
    kind: PhantomData<P>,
}

/// Reads servos' status replies (the host's side of the bus).
pub type StatusDecoder = PacketDecoder<Status>;

/// Reads requests (a servo's side of the bus).
pub type InstructionDecoder = PacketDecoder<Instruction>;

impl<P: PacketKind> Default for PacketDecoder<P> {
    fn default() -> Self {
        Self::new()
    }
}

impl<P: PacketKind> PacketDecoder<P> {
    /// A decoder waiting for a header.
    pub const fn new() -> Self {
        Self {
            stage: Stage::Header0,
            id: 0,
            len: 0,
            byte4: 0,
            params: [0; MAX_PARAMS],
            filled: 0,
            skipped: 0,
            kind: PhantomData,
        }
    }

    /// Forgets a packet in progress.
    pub fn clear(&mut self) {
        self.stage = Stage::Header0;
        self.filled = 0;
    }

    /// Takes one byte; returns a packet (or why the bytes that looked like one were not) when
    /// one ends with it.
    pub fn push(&mut self, b: u8) -> Option<Result<P, DecodeError>> {
        match self.stage {
            Stage::Header0 => {
                if b == 0xFF {
                    self.stage = Stage::Header1;
                } else {
                    self.skipped += 1;
                }
            }
            Stage::Header1 => {
                if b == 0xFF {
                    self.stage = Stage::Id;
                } else {
                    self.skipped += 2;
                    self.stage = Stage::Header0;
                }
            }
            Stage::Id => {
                if b == 0xFF {
                    // A third 0xFF: the header may start one byte later.
                    self.skipped += 1;
                } else if !P::accepts_id(b) {
                    self.skipped += 3;
                    self.stage = Stage::Header0;
                } else {
                    self.id = b;
                    self.stage = Stage::Len;
                }
            }
            Stage::Len => {
                if (2..=(MAX_PARAMS + 2) as u8).contains(&b) {
                    self.len = b;
                    self.stage = Stage::Byte4;
                } else {
                    self.skipped += 3;
                    self.restart_with(b);
                }
            }
            Stage::Byte4 => {
                if !P::accepts(b) {
                    self.skipped += 4;
                    self.restart_with(b);
                } else {
                    self.byte4 = b;
                    self.filled = 0;
                    self.stage = if self.len == 2 { Stage::Sum } else { Stage::Params };
                }
            }
            Stage::Params => {
                self.params[self.filled] = b;
                self.filled += 1;
                if self.filled == self.len as usize - 2 {
                    self.stage = Stage::Sum;
                }
            }
            Stage::Sum => {
                self.stage = Stage::Header0;
                let n = self.len as usize - 2;
                let expected = checksum(self.id, self.len, self.byte4, &self.params[..n]);
                if b != expected {
                    return Some(Err(DecodeError::Checksum { expected, found: b }));
                }
                let mut params = [0u8; MAX_PARAMS];
                params[..n].copy_from_slice(&self.params[..n]);
                return Some(Ok(P::from_parts(self.id, self.byte4, params, n as u8)));
            }
        }
        None
    }

    /// After a byte that broke a packet: it may itself begin the next header, else it is
    /// skipped too.
    fn restart_with(&mut self, b: u8) {
        if b == 0xFF {
            self.stage = Stage::Header1;
        } else {
            self.skipped += 1;
            self.stage = Stage::Header0;
        }
    }
}

/// Decodes one complete status packet from `bytes` (stray bytes before it are skipped); `None`
/// when no complete packet is there.
pub fn decode_status(bytes: &[u8]) -> Option<Result<Status, DecodeError>> {
    let mut d = StatusDecoder::new();
    bytes.iter().find_map(|&b| d.push(b))
}

/// Decodes one complete request from `bytes` (stray bytes before it are skipped); `None` when
/// no complete packet is there.
pub fn decode_instruction(bytes: &[u8]) -> Option<Result<Instruction, DecodeError>> {
    let mut d = InstructionDecoder::new();
    bytes.iter().find_map(|&b| d.push(b))
}
