//! The wire protocol: every message round-trips, and no byte sequence makes the decoder panic
//! or accept a corrupted frame.

use proptest::prelude::*;
use regrasp_firmware::cobs;
use regrasp_firmware::protocol::{
    DecodeError, FrameDecoder, JointLimit, MAX_FRAME, MAX_JOINTS, Message, ModeCode, Status, decode_frame, encode,
    fault,
};

fn all_messages() -> Vec<Message> {
    let lim = JointLimit { min: -1.5, max: 1.5, max_step: 0.02 };
    vec![
        Message::Hello { nonce: 0xDEAD_BEEF },
        Message::SetTargets {
            joints: 5,
            positions: [0.1, -0.2, 0.3, 0.0, 1.0, 0.0, 0.0, 0.0],
            gripper: 0.03,
            valid_for_ms: 100,
        },
        Message::Heartbeat,
        Message::EStop,
        Message::ClearFault,
        Message::Arm,
        Message::Disarm,
        Message::SetLimits {
            joints: 5,
            limits: [
                lim,
                lim,
                lim,
                lim,
                lim,
                JointLimit { min: 0.0, max: 0.0, max_step: 0.0 },
                JointLimit { min: 0.0, max: 0.0, max_step: 0.0 },
                JointLimit { min: 0.0, max: 0.0, max_step: 0.0 },
            ],
        },
        Message::Info { nonce: 7, firmware_version: 3, joints: 5, limits_hash: 0x1234_5678 },
        Message::State {
            joints: 5,
            positions: [0.5; MAX_JOINTS],
            velocities: [-0.1; MAX_JOINTS],
            loads: [0.2; MAX_JOINTS],
            temperatures: [41.0; MAX_JOINTS],
            gripper: 0.02,
            gripper_load: 0.4,
            time_ms: 123_456,
            faults: fault::CLAMPED | fault::WATCHDOG_HOLD,
            mode: ModeCode::Holding,
            last_seq: 9,
        },
        Message::Ack { seq: 65535, status: Status::NeedsHandshake },
    ]
}

fn frame_bytes(seq: u16, m: &Message) -> Vec<u8> {
    let mut buf = [0u8; MAX_FRAME];
    let n = encode(seq, m, &mut buf);
    buf[..n].to_vec()
}

#[test]
fn every_message_round_trips_through_the_stream_decoder() {
    let mut d = FrameDecoder::new();
    for (i, m) in all_messages().iter().enumerate() {
        let bytes = frame_bytes(i as u16 * 1000, m);
        assert_eq!(*bytes.last().unwrap(), 0, "frames end with the delimiter");
        assert!(!bytes[..bytes.len() - 1].contains(&0));
        let mut out = None;
        for b in bytes {
            if let Some(r) = d.push(b) {
                out = Some(r);
            }
        }
        let f = out.expect("one frame per delimiter").unwrap();
        assert_eq!(f.seq, i as u16 * 1000);
        assert_eq!(&f.message, m);
    }
}

#[test]
fn bad_frames_are_named_errors() {
    let good = frame_bytes(1, &Message::Heartbeat);
    let body = &good[..good.len() - 1];
    // A flipped byte: CRC (or COBS) failure.
    let mut bad = body.to_vec();
    bad[2] ^= 0x10;
    assert!(matches!(decode_frame(&bad), Err(DecodeError::Crc) | Err(DecodeError::Cobs)));
    // Truncated.
    assert!(decode_frame(&body[..3]).is_err());
    assert_eq!(decode_frame(&[0x01]), Err(DecodeError::TooShort));
    // Non-finite targets never decode.
    let m = Message::SetTargets { joints: 5, positions: [f32::NAN; MAX_JOINTS], gripper: 0.0, valid_for_ms: 10 };
    let b = frame_bytes(2, &m);
    assert_eq!(decode_frame(&b[..b.len() - 1]), Err(DecodeError::Field));
    // A joint count beyond MAX_JOINTS.
    let m = Message::SetTargets { joints: 9, positions: [0.0; MAX_JOINTS], gripper: 0.0, valid_for_ms: 10 };
    let b = frame_bytes(3, &m);
    assert_eq!(decode_frame(&b[..b.len() - 1]), Err(DecodeError::Field));
    // Limits with min >= max.
    let bad_limit = JointLimit { min: 1.0, max: -1.0, max_step: 0.1 };
    let m = Message::SetLimits { joints: 1, limits: [bad_limit; MAX_JOINTS] };
    let b = frame_bytes(4, &m);
    assert_eq!(decode_frame(&b[..b.len() - 1]), Err(DecodeError::Field));
    // Overlong garbage without a delimiter, then a good frame: the decoder recovers.
    let mut d = FrameDecoder::new();
    for _ in 0..1000 {
        assert!(d.push(0x55).is_none());
    }
    assert_eq!(d.push(0), Some(Err(DecodeError::TooLong)));
    let mut last = None;
    for b in frame_bytes(5, &Message::EStop) {
        last = d.push(b).or(last);
    }
    assert_eq!(last.unwrap().unwrap().message, Message::EStop);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Arbitrary bytes never panic the decoder, and whatever it accepts re-encodes to a frame
    /// that decodes to the same message.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let mut d = FrameDecoder::new();
        for b in bytes {
            if let Some(Ok(f)) = d.push(b) {
                let again = frame_bytes(f.seq, &f.message);
                prop_assert_eq!(decode_frame(&again[..again.len() - 1]).unwrap(), f);
            }
        }
    }

    /// Any corrupted byte of a valid frame's content (header, payload or CRC) is rejected:
    /// CRC-16 catches every error burst of up to 16 bits, so no single-byte corruption can
    /// decode as another message.
    #[test]
    fn a_corrupted_byte_is_always_caught(which in 0usize..11, pos in any::<prop::sample::Index>(), xor in 1u8..=255) {
        let m = all_messages()[which];
        let bytes = frame_bytes(42, &m);
        let mut raw = [0u8; 512];
        let n = cobs::decode(&bytes[..bytes.len() - 1], &mut raw).unwrap();
        let i = pos.index(n);
        raw[i] ^= xor;
        let mut enc = [0u8; 600];
        let e = cobs::encode(&raw[..n], &mut enc).unwrap();
        let r = decode_frame(&enc[..e]);
        prop_assert!(r.is_err(), "corruption at {} decoded as {:?}", i, r);
    }

    /// Random field values round-trip exactly (bit patterns of finite reals included).
    #[test]
    fn targets_round_trip(vals in proptest::array::uniform8(-10.0f32..10.0), g in 0.0f32..0.1, ms in 1u16.., seq in any::<u16>()) {
        let m = Message::SetTargets { joints: 8, positions: vals, gripper: g, valid_for_ms: ms };
        let b = frame_bytes(seq, &m);
        let f = decode_frame(&b[..b.len() - 1]).unwrap();
        prop_assert_eq!(f.seq, seq);
        prop_assert_eq!(f.message, m);
    }
}

#[test]
fn every_fault_flag_has_one_name() {
    use regrasp_firmware::protocol::fault;
    let all = fault::NAMES.iter().fold(0u16, |acc, (bit, _)| {
        assert_eq!(bit.count_ones(), 1, "one bit per flag");
        assert_eq!(acc & bit, 0, "each bit once");
        acc | bit
    });
    assert_eq!(all & fault::LATCHING, fault::LATCHING, "every latching flag is named");
    let names: Vec<&str> = fault::names(fault::SERVO_ERROR | fault::STALL).collect();
    assert_eq!(names, ["servo error bits", "stall"]);
    assert_eq!(fault::names(0).count(), 0);
}
