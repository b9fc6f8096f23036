//! The wire protocol between the host bridge and the arm controller: the single definition
//! both ends use, so they cannot drift apart.
//!
//! A frame on the wire is `COBS(raw) 0x00`, where `raw` is
//! `[version u8][sequence u16][kind u8][payload][CRC-16 u16]`, integers little-endian, reals as
//! IEEE-754 `f32`, the CRC over everything before it. Payloads have a fixed layout per kind.
//! Decoding checks, in order: COBS, length, CRC, protocol version, kind, payload length and
//! every field (counts in range, reals finite where the message needs them); any failure is a
//! [`DecodeError`], never a panic, and the decoder resynchronises at the next zero byte.

use crate::cobs;
use crate::crc::crc16;

/// Protocol version; a frame of another version is refused.
pub const PROTOCOL_VERSION: u8 = 2;
/// Joints a frame can carry (arm joints; the gripper is separate).
pub const MAX_JOINTS: usize = 8;
/// Largest raw frame (header, biggest payload, CRC).
pub const MAX_RAW: usize = 4 + STATE_LEN + 2;
/// Largest encoded frame, delimiter included.
pub const MAX_FRAME: usize = cobs::max_encoded_len(MAX_RAW) + 1;

const STATE_LEN: usize = 1 + 4 * 4 * MAX_JOINTS + 4 + 4 + 4 + 2 + 1 + 2;

/// One joint's limits, enforced by the controller whatever the host sends.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct JointLimit {
    /// Lowest position (rad or m).
    pub min: f32,
    /// Highest position (rad or m).
    pub max: f32,
    /// Largest change of the commanded position per controller tick (rad or m).
    pub max_step: f32,
}

impl JointLimit {
    /// Whether the limit makes sense: finite, `min < max`, `0 < max_step`.
    pub fn is_valid(&self) -> bool {
        self.min.is_finite()
            && self.max.is_finite()
            && self.max_step.is_finite()
            && self.min < self.max
            && self.max_step > 0.0
    }

    const ZERO: JointLimit = JointLimit { min: 0.0, max: 0.0, max_step: 0.0 };
}

/// Controller mode, as reported in [`Message::State`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum ModeCode {
    /// Torque off; waiting for `Arm`.
    Disarmed = 0,
    /// Following targets.
    Armed = 1,
    /// Watchdog: no valid command for a while; holding the last commanded pose.
    Holding = 2,
    /// E-stop latched: torque off until a clear after a fresh handshake.
    EStopped = 3,
    /// A fault (overload, over-temperature, bus): torque off until cleared.
    Faulted = 4,
}

impl ModeCode {
    fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            0 => ModeCode::Disarmed,
            1 => ModeCode::Armed,
            2 => ModeCode::Holding,
            3 => ModeCode::EStopped,
            4 => ModeCode::Faulted,
            _ => return None,
        })
    }
}

/// Fault and event flags reported in [`Message::State`].
pub mod fault {
    /// The watchdog fired (no valid command in time): holding.
    pub const WATCHDOG_HOLD: u16 = 1 << 0;
    /// The watchdog turned torque off.
    pub const WATCHDOG_TORQUE_OFF: u16 = 1 << 1;
    /// E-stop received (latched).
    pub const ESTOP: u16 = 1 << 2;
    /// A servo's load exceeded the limit.
    pub const OVERLOAD: u16 = 1 << 3;
    /// A servo's temperature exceeded the limit.
    pub const OVERTEMP: u16 = 1 << 4;
    /// The servo bus failed repeatedly.
    pub const BUS: u16 = 1 << 5;
    /// A target was clamped to a joint limit or a step limit since the last state report.
    pub const CLAMPED: u16 = 1 << 6;
    /// A frame was refused (bad CRC, version, value) since the last state report.
    pub const BAD_FRAME: u16 = 1 << 7;
    /// The targets' validity deadline passed with no newer targets: the arm holds.
    pub const STALE_TARGETS: u16 = 1 << 8;
    /// A servo reported an error of its own (its status byte: voltage, sensor, overheat,
    /// overcurrent, overload).
    pub const SERVO_ERROR: u16 = 1 << 9;
    /// An arm joint stayed away from its commanded position without moving (a blocked joint).
    pub const STALL: u16 = 1 << 10;
    /// The faults that leave the arm latched off until cleared: a host must stop on these.
    pub const LATCHING: u16 = WATCHDOG_TORQUE_OFF | ESTOP | OVERLOAD | OVERTEMP | BUS | SERVO_ERROR | STALL;

    /// Every flag with its name, in bit order.
    pub const NAMES: [(u16, &str); 11] = [
        (WATCHDOG_HOLD, "watchdog hold"),
        (WATCHDOG_TORQUE_OFF, "watchdog torque off"),
        (ESTOP, "e-stop"),
        (OVERLOAD, "overload"),
        (OVERTEMP, "over-temperature"),
        (BUS, "servo bus failure"),
        (CLAMPED, "target clamped"),
        (BAD_FRAME, "bad frame"),
        (STALE_TARGETS, "stale targets"),
        (SERVO_ERROR, "servo error bits"),
        (STALL, "stall"),
    ];

    /// The names of the flags set in `faults`, in bit order.
    pub fn names(faults: u16) -> impl Iterator<Item = &'static str> {
        NAMES.into_iter().filter(move |(bit, _)| faults & bit != 0).map(|(_, name)| name)
    }
}

/// Why a command was refused, in [`Message::Ack`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Status {
    /// Done.
    Ok = 0,
    /// Not allowed in the current mode (e.g. targets while disarmed, limits while armed).
    WrongMode = 1,
    /// A value is out of range or not finite.
    InvalidValue = 2,
    /// The joint count does not match the arm.
    WrongJointCount = 3,
    /// Clearing a latched e-stop or fault needs a fresh handshake (`Hello`) first.
    NeedsHandshake = 4,
    /// The servo bus did not answer.
    BusError = 5,
}

impl Status {
    fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            0 => Status::Ok,
            1 => Status::WrongMode,
            2 => Status::InvalidValue,
            3 => Status::WrongJointCount,
            4 => Status::NeedsHandshake,
            5 => Status::BusError,
            _ => return None,
        })
    }
}

/// Every message, both directions.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Message {
    /// Host → arm: handshake; the arm answers with [`Message::Info`] echoing the nonce.
    Hello {
        /// Chosen by the host for this connection.
        nonce: u32,
    },
    /// Host → arm: joint and gripper targets (rad or m), valid for `valid_for_ms` after
    /// arrival.
    SetTargets {
        /// Joints in `positions`.
        joints: u8,
        /// Targets; entries past `joints` are zero.
        positions: [f32; MAX_JOINTS],
        /// Gripper opening target (m).
        gripper: f32,
        /// Validity (ms); 0 is refused.
        valid_for_ms: u16,
    },
    /// Host → arm: keeps the watchdog fed without moving.
    Heartbeat,
    /// Host → arm: stop now, torque off, latched.
    EStop,
    /// Host → arm: clears a latched e-stop or fault (after a fresh `Hello`).
    ClearFault,
    /// Host → arm: torque on, holding the measured pose.
    Arm,
    /// Host → arm: torque off.
    Disarm,
    /// Host → arm: new joint limits (only while disarmed).
    SetLimits {
        /// Joints in `limits`.
        joints: u8,
        /// Limits; entries past `joints` are zero.
        limits: [JointLimit; MAX_JOINTS],
    },
    /// Arm → host: identity, answer to `Hello`.
    Info {
        /// The host's nonce, echoed.
        nonce: u32,
        /// Firmware version.
        firmware_version: u16,
        /// Arm joints.
        joints: u8,
        /// Hash of the limits in force (see [`limits_hash`]).
        limits_hash: u32,
    },
    /// Arm → host: the arm's state after a tick.
    State {
        /// Joints reported.
        joints: u8,
        /// Positions (rad or m).
        positions: [f32; MAX_JOINTS],
        /// Velocities (rad/s or m/s).
        velocities: [f32; MAX_JOINTS],
        /// Loads (fraction of rated torque).
        loads: [f32; MAX_JOINTS],
        /// Temperatures (°C).
        temperatures: [f32; MAX_JOINTS],
        /// Gripper opening (m).
        gripper: f32,
        /// Gripper load (fraction of rated force): how hard it squeezes.
        gripper_load: f32,
        /// Milliseconds since the controller started (wraps).
        time_ms: u32,
        /// [`fault`] flags.
        faults: u16,
        /// Mode.
        mode: ModeCode,
        /// Sequence number of the last command accepted.
        last_seq: u16,
    },
    /// Arm → host: the answer to a command.
    Ack {
        /// The command's sequence number.
        seq: u16,
        /// The outcome.
        status: Status,
    },
}

mod kind {
    pub const HELLO: u8 = 1;
    pub const SET_TARGETS: u8 = 2;
    pub const HEARTBEAT: u8 = 3;
    pub const ESTOP: u8 = 4;
    pub const CLEAR_FAULT: u8 = 5;
    pub const ARM: u8 = 6;
    pub const DISARM: u8 = 7;
    pub const SET_LIMITS: u8 = 8;
    pub const INFO: u8 = 64;
    pub const STATE: u8 = 65;
    pub const ACK: u8 = 66;
}

/// Why bytes did not make a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// More bytes than any frame before a delimiter.
    TooLong,
    /// Not valid COBS.
    Cobs,
    /// Shorter than a header and CRC.
    TooShort,
    /// The CRC does not match.
    Crc,
    /// Another protocol version.
    Version(u8),
    /// Unknown message kind.
    Kind(u8),
    /// The payload's length does not fit the kind.
    Length,
    /// A field is out of range (a count, a mode, a status, a non-finite value that must be
    /// finite).
    Field,
}

impl core::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            DecodeError::TooLong => write!(f, "frame longer than {MAX_FRAME} bytes"),
            DecodeError::Cobs => write!(f, "invalid COBS encoding"),
            DecodeError::TooShort => write!(f, "frame shorter than its header and CRC"),
            DecodeError::Crc => write!(f, "CRC mismatch"),
            DecodeError::Version(v) => write!(f, "protocol version {v}, expected {PROTOCOL_VERSION}"),
            DecodeError::Kind(k) => write!(f, "unknown message kind {k}"),
            DecodeError::Length => write!(f, "payload length does not fit its kind"),
            DecodeError::Field => write!(f, "a field is out of range"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for DecodeError {}

/// A decoded frame.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Frame {
    /// Sequence number.
    pub seq: u16,
    /// The message.
    pub message: Message,
}

struct Writer<'a> {
    buf: &'a mut [u8],
    at: usize,
}

impl Writer<'_> {
    fn bytes(&mut self, b: &[u8]) {
        self.buf[self.at..self.at + b.len()].copy_from_slice(b);
        self.at += b.len();
    }
    fn u8(&mut self, v: u8) {
        self.bytes(&[v]);
    }
    fn u16(&mut self, v: u16) {
        self.bytes(&v.to_le_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.bytes(&v.to_le_bytes());
    }
    fn f32(&mut self, v: f32) {
        self.bytes(&v.to_le_bytes());
    }
    fn f32s(&mut self, v: &[f32; MAX_JOINTS]) {
        for x in v {
            self.f32(*x);
        }
    }
}

struct Reader<'a> {
    buf: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let s = self.buf.get(self.at..self.at + N).ok_or(DecodeError::Length)?;
        self.at += N;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }
    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take::<1>()?[0])
    }
    fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_le_bytes(self.take()?))
    }
    fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.take()?))
    }
    fn f32(&mut self) -> Result<f32, DecodeError> {
        Ok(f32::from_le_bytes(self.take()?))
    }
    fn f32s(&mut self) -> Result<[f32; MAX_JOINTS], DecodeError> {
        let mut a = [0.0f32; MAX_JOINTS];
        for x in &mut a {
            *x = self.f32()?;
        }
        Ok(a)
    }
    fn joints(&mut self) -> Result<u8, DecodeError> {
        let n = self.u8()?;
        if n as usize > MAX_JOINTS { Err(DecodeError::Field) } else { Ok(n) }
    }
    fn done(&self) -> Result<(), DecodeError> {
        if self.at == self.buf.len() { Ok(()) } else { Err(DecodeError::Length) }
    }
}

fn finite(v: &[f32]) -> Result<(), DecodeError> {
    if v.iter().all(|x| x.is_finite()) { Ok(()) } else { Err(DecodeError::Field) }
}

impl Message {
    fn kind(&self) -> u8 {
        match self {
            Message::Hello { .. } => kind::HELLO,
            Message::SetTargets { .. } => kind::SET_TARGETS,
            Message::Heartbeat => kind::HEARTBEAT,
            Message::EStop => kind::ESTOP,
            Message::ClearFault => kind::CLEAR_FAULT,
            Message::Arm => kind::ARM,
            Message::Disarm => kind::DISARM,
            Message::SetLimits { .. } => kind::SET_LIMITS,
            Message::Info { .. } => kind::INFO,
            Message::State { .. } => kind::STATE,
            Message::Ack { .. } => kind::ACK,
        }
    }

    fn write_payload(&self, w: &mut Writer<'_>) {
        match *self {
            Message::Hello { nonce } => w.u32(nonce),
            Message::SetTargets { joints, ref positions, gripper, valid_for_ms } => {
                w.u8(joints);
                w.f32s(positions);
                w.f32(gripper);
                w.u16(valid_for_ms);
            }
            Message::Heartbeat | Message::EStop | Message::ClearFault | Message::Arm | Message::Disarm => {}
            Message::SetLimits { joints, ref limits } => {
                w.u8(joints);
                for l in limits {
                    w.f32(l.min);
                    w.f32(l.max);
                    w.f32(l.max_step);
                }
            }
            Message::Info { nonce, firmware_version, joints, limits_hash } => {
                w.u32(nonce);
                w.u16(firmware_version);
                w.u8(joints);
                w.u32(limits_hash);
            }
            Message::State {
                joints,
                ref positions,
                ref velocities,
                ref loads,
                ref temperatures,
                gripper,
                gripper_load,
                time_ms,
                faults,
                mode,
                last_seq,
            } => {
                w.u8(joints);
                w.f32s(positions);
                w.f32s(velocities);
                w.f32s(loads);
                w.f32s(temperatures);
                w.f32(gripper);
                w.f32(gripper_load);
                w.u32(time_ms);
                w.u16(faults);
                w.u8(mode as u8);
                w.u16(last_seq);
            }
            Message::Ack { seq, status } => {
                w.u16(seq);
                w.u8(status as u8);
            }
        }
    }

    fn read_payload(k: u8, r: &mut Reader<'_>) -> Result<Message, DecodeError> {
        let m = match k {
            kind::HELLO => Message::Hello { nonce: r.u32()? },
            kind::SET_TARGETS => {
                let joints = r.joints()?;
                let positions = r.f32s()?;
                let gripper = r.f32()?;
                let valid_for_ms = r.u16()?;
                // Non-finite targets never leave the decoder; the controller checks again.
                finite(&positions[..joints as usize])?;
                finite(&[gripper])?;
                Message::SetTargets { joints, positions, gripper, valid_for_ms }
            }
            kind::HEARTBEAT => Message::Heartbeat,
            kind::ESTOP => Message::EStop,
            kind::CLEAR_FAULT => Message::ClearFault,
            kind::ARM => Message::Arm,
            kind::DISARM => Message::Disarm,
            kind::SET_LIMITS => {
                let joints = r.joints()?;
                let mut limits = [JointLimit::ZERO; MAX_JOINTS];
                for l in &mut limits {
                    *l = JointLimit { min: r.f32()?, max: r.f32()?, max_step: r.f32()? };
                }
                if !limits[..joints as usize].iter().all(JointLimit::is_valid) {
                    return Err(DecodeError::Field);
                }
                Message::SetLimits { joints, limits }
            }
            kind::INFO => Message::Info {
                nonce: r.u32()?,
                firmware_version: r.u16()?,
                joints: r.joints()?,
                limits_hash: r.u32()?,
            },
            kind::STATE => Message::State {
                joints: r.joints()?,
                positions: r.f32s()?,
                velocities: r.f32s()?,
                loads: r.f32s()?,
                temperatures: r.f32s()?,
                gripper: r.f32()?,
                gripper_load: r.f32()?,
                time_ms: r.u32()?,
                faults: r.u16()?,
                mode: ModeCode::from_u8(r.u8()?).ok_or(DecodeError::Field)?,
                last_seq: r.u16()?,
            },
            kind::ACK => Message::Ack { seq: r.u16()?, status: Status::from_u8(r.u8()?).ok_or(DecodeError::Field)? },
            other => return Err(DecodeError::Kind(other)),
        };
        r.done()?;
        Ok(m)
    }
}

/// Encodes `message` with sequence number `seq` into `out`, delimiter included; returns the
/// number of bytes to send.
pub fn encode(seq: u16, message: &Message, out: &mut [u8; MAX_FRAME]) -> usize {
    let mut raw = [0u8; MAX_RAW];
    let mut w = Writer { buf: &mut raw, at: 0 };
    w.u8(PROTOCOL_VERSION);
    w.u16(seq);
    w.u8(message.kind());
    message.write_payload(&mut w);
    let crc = crc16(&w.buf[..w.at]);
    w.u16(crc);
    let len = w.at;
    // MAX_FRAME leaves room for the worst-case COBS overhead and the delimiter.
    let n = cobs::encode(&raw[..len], &mut out[..MAX_FRAME - 1]).unwrap_or(0);
    out[n] = 0;
    n + 1
}

/// Decodes one frame's COBS bytes (delimiter removed).
pub fn decode_frame(encoded: &[u8]) -> Result<Frame, DecodeError> {
    let mut raw = [0u8; MAX_RAW];
    let n = cobs::decode(encoded, &mut raw).ok_or(if encoded.len() > MAX_FRAME {
        DecodeError::TooLong
    } else {
        DecodeError::Cobs
    })?;
    if n < 6 {
        return Err(DecodeError::TooShort);
    }
    let (body, crc) = raw[..n].split_at(n - 2);
    if crc16(body) != u16::from_le_bytes([crc[0], crc[1]]) {
        return Err(DecodeError::Crc);
    }
    if body[0] != PROTOCOL_VERSION {
        return Err(DecodeError::Version(body[0]));
    }
    let seq = u16::from_le_bytes([body[1], body[2]]);
    let mut r = Reader { buf: &body[4..], at: 0 };
    let message = Message::read_payload(body[3], &mut r)?;
    Ok(Frame { seq, message })
}

/// A streaming decoder: feed it bytes as they arrive, one frame comes out per delimiter.
pub struct FrameDecoder {
    buf: [u8; MAX_FRAME],
    len: usize,
    overflow: bool,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl FrameDecoder {
    /// An empty decoder.
    pub const fn new() -> Self {
        Self { buf: [0; MAX_FRAME], len: 0, overflow: false }
    }

    /// Feeds one byte; at a delimiter, returns the frame it ended (or why it was refused).
    /// Empty frames (two delimiters in a row) are skipped silently.
    pub fn push(&mut self, byte: u8) -> Option<Result<Frame, DecodeError>> {
        if byte == 0 {
            let result = if self.overflow {
                Some(Err(DecodeError::TooLong))
            } else if self.len == 0 {
                None
            } else {
                Some(decode_frame(&self.buf[..self.len]))
            };
            self.len = 0;
            self.overflow = false;
            return result;
        }
        if self.len < self.buf.len() {
            self.buf[self.len] = byte;
            self.len += 1;
        } else {
            self.overflow = true;
        }
        None
    }
}

/// A hash of joint limits (FNV-1a over their bytes), so the host can check the limits in force.
pub fn limits_hash(limits: &[JointLimit]) -> u32 {
    let mut h: u32 = 0x811C_9DC5;
    for l in limits {
        for v in [l.min, l.max, l.max_step] {
            for b in v.to_le_bytes() {
                h ^= b as u32;
                h = h.wrapping_mul(0x0100_0193);
            }
        }
    }
    h
}
