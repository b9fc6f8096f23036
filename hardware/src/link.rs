//! The serial link to the firmware core: frames of `regrasp_firmware::protocol` over any serial
//! port (`/dev/ttyUSB0`, `/dev/ttyACM0`, or the emulator's pseudo-terminal), with sequence
//! numbers, request/answer matching and timeouts. [`Bridge`] implements [`Arm`] over it.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use regrasp_firmware::protocol::{self, Frame, FrameDecoder, MAX_FRAME, MAX_JOINTS, Message, ModeCode, Status};

use crate::arm::{Arm, ArmState, JointCommand};
use crate::error::{HardwareError, Result};

/// Serial settings.
#[derive(Clone, Debug, PartialEq)]
pub struct LinkConfig {
    /// Port path.
    pub port: String,
    /// Baud rate (bit/s); ignored by pseudo-terminals.
    pub baud: u32,
    /// How long to wait for an answer (ms).
    pub timeout_ms: u64,
    /// Targets stay valid this long after they arrive (ms).
    pub target_validity_ms: u16,
}

impl LinkConfig {
    /// Defaults for `port`: 1 Mbit/s, 100 ms answers, 100 ms target validity.
    pub fn new(port: impl Into<String>) -> Self {
        Self { port: port.into(), baud: 1_000_000, timeout_ms: 100, target_validity_ms: 100 }
    }
}

/// An open link.
pub struct Link {
    cfg: LinkConfig,
    port: Box<dyn serialport::SerialPort>,
    decoder: FrameDecoder,
    seq: u16,
    /// The latest state report received, and when.
    pub last_state: Option<Message>,
    /// When `last_state` arrived.
    pub last_state_at: Option<Instant>,
    /// Frames refused by the decoder (corrupted, wrong version).
    pub bad_frames: u64,
}

impl Link {
    /// Opens the port.
    pub fn open(cfg: LinkConfig) -> Result<Self> {
        let port = serialport::new(cfg.port.as_str(), cfg.baud)
            .timeout(Duration::from_millis(2))
            .open()
            .map_err(|e| HardwareError::Port { port: cfg.port.clone(), message: e.to_string() })?;
        Ok(Self {
            cfg,
            port,
            decoder: FrameDecoder::new(),
            seq: 0,
            last_state: None,
            last_state_at: None,
            bad_frames: 0,
        })
    }

    fn io(&self) -> impl Fn(std::io::Error) -> HardwareError + '_ {
        move |source| HardwareError::Io { port: self.cfg.port.clone(), source }
    }

    /// Sends a message; returns its sequence number.
    pub fn send(&mut self, m: &Message) -> Result<u16> {
        self.seq = self.seq.wrapping_add(1);
        let mut buf = [0u8; MAX_FRAME];
        let n = protocol::encode(self.seq, m, &mut buf);
        self.port.write_all(&buf[..n]).map_err(self.io())?;
        Ok(self.seq)
    }

    /// Feeds one received byte to the decoder: a refused frame is counted, a state report is
    /// kept in `last_state`; a complete frame is returned.
    fn feed(&mut self, b: u8) -> Option<Frame> {
        match self.decoder.push(b)? {
            Ok(f) => {
                if matches!(f.message, Message::State { .. }) {
                    self.last_state = Some(f.message);
                    self.last_state_at = Some(Instant::now());
                }
                Some(f)
            }
            Err(_) => {
                self.bad_frames += 1;
                None
            }
        }
    }

    /// Receives frames until `want` accepts one or `timeout_ms` passes; state reports are kept
    /// in `last_state` on the way.
    pub fn receive_until<T>(&mut self, timeout_ms: u64, mut want: impl FnMut(&Frame) -> Option<T>) -> Result<T> {
        let deadline = Instant::now() + Duration::from_millis(timeout_ms);
        let mut buf = [0u8; 256];
        loop {
            match self.port.read(&mut buf) {
                Ok(n) => {
                    for &b in &buf[..n] {
                        if let Some(f) = self.feed(b)
                            && let Some(t) = want(&f)
                        {
                            return Ok(t);
                        }
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut || e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(self.io()(e)),
            }
            if Instant::now() >= deadline {
                return Err(HardwareError::Timeout(self.cfg.port.clone(), timeout_ms));
            }
        }
    }

    /// Sends a command and waits for its acknowledgement.
    pub fn request(&mut self, m: &Message, what: &str) -> Result<()> {
        let seq = self.send(m)?;
        let status = self.receive_until(self.cfg.timeout_ms, |f| match f.message {
            Message::Ack { seq: s, status } if s == seq => Some(status),
            _ => None,
        })?;
        if status == Status::Ok {
            Ok(())
        } else {
            Err(HardwareError::Refused { command: what.into(), status: format!("{status:?}") })
        }
    }

    /// Handshake: returns the firmware's joint count and limits hash.
    pub fn hello(&mut self, nonce: u32) -> Result<(u8, u32)> {
        self.send(&Message::Hello { nonce })?;
        self.receive_until(self.cfg.timeout_ms, |f| match f.message {
            Message::Info { nonce: n, joints, limits_hash, .. } if n == nonce => Some((joints, limits_hash)),
            _ => None,
        })
    }

    /// Reads whatever has arrived, without waiting for more (state reports land in
    /// `last_state`; anything else that arrives unasked is dropped).
    pub fn poll(&mut self) -> Result<()> {
        let mut buf = [0u8; 512];
        loop {
            let waiting = self
                .port
                .bytes_to_read()
                .map_err(|e| HardwareError::Port { port: self.cfg.port.clone(), message: e.to_string() })?;
            if waiting == 0 {
                return Ok(());
            }
            let n = match self.port.read(&mut buf) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut || e.kind() == std::io::ErrorKind::WouldBlock => {
                    return Ok(());
                }
                Err(e) => return Err(self.io()(e)),
            };
            for &b in &buf[..n] {
                self.feed(b);
            }
        }
    }

    /// Waits for the next state report.
    pub fn next_state(&mut self) -> Result<Message> {
        self.receive_until(self.cfg.timeout_ms, |f| match f.message {
            m @ Message::State { .. } => Some(m),
            _ => None,
        })
    }

    /// The link's settings.
    pub fn config(&self) -> &LinkConfig {
        &self.cfg
    }
}

/// An arm reached through the serial link: the firmware core does the rest.
pub struct Bridge {
    /// The link.
    pub link: Link,
    joints: usize,
    limits_hash: Option<u32>,
}

impl Bridge {
    /// Opens the link, shakes hands and checks the joint count (`joints`) and, if given, the
    /// hash of the firmware's limits; then arms the torque (holding the measured pose).
    pub fn connect(cfg: LinkConfig, joints: usize, limits_hash: Option<u32>, nonce: u32) -> Result<Self> {
        let mut link = Link::open(cfg)?;
        let (n, hash) = link.hello(nonce)?;
        if n as usize != joints {
            return Err(HardwareError::Mismatch(format!("firmware reports {n} joints, the arm model has {joints}")));
        }
        if let Some(want) = limits_hash
            && want != hash
        {
            return Err(HardwareError::Mismatch(format!("firmware limits hash {hash:08x}, expected {want:08x}")));
        }
        link.request(&Message::Arm, "arm")?;
        Ok(Self { link, joints, limits_hash })
    }

    /// After a lost link (a cable pulled, the port gone): reopens the port, shakes hands and
    /// checks the arm again, and re-arms. The caller re-measures before moving
    /// ([`crate::Guarded::restart`]), so the first command after it cannot jump either.
    pub fn reconnect(self, nonce: u32) -> Result<Self> {
        let (cfg, joints, limits_hash) = (self.link.config().clone(), self.joints, self.limits_hash);
        // Close the old port first: the new open must not find it locked by ourselves.
        drop(self);
        Self::connect(cfg, joints, limits_hash, nonce)
    }
}

impl Bridge {
    /// Switches the torque back on if the firmware has dropped it (the watchdog between
    /// episodes, say): a fresh handshake, then `Arm`, which holds the measured pose. A latched
    /// e-stop or fault is not cleared here; the firmware refuses and the error says so.
    pub fn rearm(&mut self, nonce: u32) -> Result<()> {
        if state_of(&self.link.next_state()?).is_some_and(|s| s.armed) {
            return Ok(());
        }
        self.link.hello(nonce)?;
        self.link.request(&Message::Arm, "arm")
    }
}

/// The firmware message carrying `cmd` for a `joints`-joint arm, valid for `valid_for_ms` (ms).
pub(crate) fn set_targets(cmd: &JointCommand, joints: usize, valid_for_ms: u16) -> Result<Message> {
    if cmd.positions.len() != joints || joints > MAX_JOINTS {
        return Err(HardwareError::Mismatch(format!("{} joint targets for a {joints}-joint arm", cmd.positions.len())));
    }
    let mut positions = [0.0f32; MAX_JOINTS];
    for (p, c) in positions.iter_mut().zip(&cmd.positions) {
        *p = *c as f32;
    }
    Ok(Message::SetTargets { joints: joints as u8, positions, gripper: cmd.gripper as f32, valid_for_ms })
}

/// The arm state a firmware state report carries (`None` for any other message).
pub(crate) fn state_of(m: &Message) -> Option<ArmState> {
    match *m {
        Message::State {
            joints,
            positions,
            velocities,
            loads,
            temperatures,
            gripper,
            gripper_load,
            faults,
            mode,
            ..
        } => {
            let n = joints as usize;
            let v = |a: [f32; MAX_JOINTS]| a[..n].iter().map(|x| *x as f64).collect::<Vec<_>>();
            Some(ArmState {
                positions: v(positions),
                velocities: v(velocities),
                loads: v(loads),
                temperatures: v(temperatures),
                gripper: gripper as f64,
                gripper_load: gripper_load as f64,
                faults,
                armed: matches!(mode, ModeCode::Armed | ModeCode::Holding),
                received: None,
            })
        }
        _ => None,
    }
}

impl Arm for Bridge {
    /// Waits for the next state report (paced by the firmware's tick).
    fn read_state(&mut self) -> Result<ArmState> {
        let m = self.link.next_state()?;
        let mut s = state_of(&m).ok_or_else(|| HardwareError::Mismatch("not a state report".into()))?;
        s.received = self.link.last_state_at;
        Ok(s)
    }

    /// The latest state report that has arrived, without waiting (unless none has yet);
    /// `received` says when, so the caller can refuse a stale one.
    fn latest_state(&mut self) -> Result<ArmState> {
        self.link.poll()?;
        if self.link.last_state.is_none() {
            return self.read_state();
        }
        let m = self.link.last_state.ok_or_else(|| HardwareError::Mismatch("no state report".into()))?;
        let mut s = state_of(&m).ok_or_else(|| HardwareError::Mismatch("not a state report".into()))?;
        s.received = self.link.last_state_at;
        Ok(s)
    }

    fn command(&mut self, cmd: &JointCommand) -> Result<()> {
        let m = set_targets(cmd, self.joints, self.link.config().target_validity_ms)?;
        self.link.send(&m)?;
        Ok(())
    }

    fn stop(&mut self) -> Result<()> {
        // E-stop twice: a single lost frame must not leave the arm moving.
        self.link.send(&Message::EStop)?;
        self.link.send(&Message::EStop)?;
        Ok(())
    }
}
