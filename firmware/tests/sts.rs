//! The Feetech STS codec against the worked packets of Feetech's protocol document (as
//! collected in `real-arms.md` §1.1), round trips of every field by property test, and a status
//! decoder that survives any byte stream and finds packets again after noise.

use proptest::prelude::*;
use regrasp_firmware::sts::{
    self, DecodeError, EncodeError, InstructionDecoder, MAX_PACKET, Status, StatusDecoder, addr, decode_instruction,
    decode_status, error_bit, from_sign_magnitude, instruction, sign_bit, to_sign_magnitude,
};

fn packet(f: impl FnOnce(&mut [u8]) -> Result<usize, EncodeError>) -> Vec<u8> {
    let mut buf = [0u8; MAX_PACKET];
    let n = f(&mut buf).unwrap();
    buf[..n].to_vec()
}

fn status(bytes: &[u8]) -> Status {
    decode_status(bytes).expect("a whole packet").expect("a valid packet")
}

#[test]
fn the_worked_packets_of_the_protocol_document_encode_exactly() {
    assert_eq!(packet(|b| sts::ping(1, b)), [0xFF, 0xFF, 0x01, 0x02, 0x01, 0xFB]);
    assert_eq!(
        packet(|b| sts::read(1, addr::PRESENT_POSITION, 2, b)),
        [0xFF, 0xFF, 0x01, 0x04, 0x02, 0x38, 0x02, 0xBE]
    );
    // Goal position 2048, time 0, speed 1000 at 0x2A.
    let data = [0x00, 0x08, 0x00, 0x00, 0xE8, 0x03];
    assert_eq!(
        packet(|b| sts::write(1, addr::GOAL_POSITION, &data, b)),
        [0xFF, 0xFF, 0x01, 0x09, 0x03, 0x2A, 0x00, 0x08, 0x00, 0x00, 0xE8, 0x03, 0xD5]
    );
    // The same six bytes to servos 1-4 in one SYNC WRITE.
    let entries: Vec<(u8, &[u8])> = (1..=4).map(|id| (id, &data[..])).collect();
    let sync = packet(|b| sts::sync_write(addr::GOAL_POSITION, 6, &entries, b));
    assert_eq!(&sync[..14], [0xFF, 0xFF, 0xFE, 0x20, 0x83, 0x2A, 0x06, 0x01, 0x00, 0x08, 0x00, 0x00, 0xE8, 0x03]);
    assert_eq!(&sync[14..16], [0x02, 0x00]);
    assert_eq!(&sync[sync.len() - 8..], [0x04, 0x00, 0x08, 0x00, 0x00, 0xE8, 0x03, 0x58]);
    assert_eq!(sync.len(), 4 + 0x20);
    assert_eq!(
        packet(|b| sts::sync_read(addr::PRESENT_POSITION, 8, &[1, 2], b)),
        [0xFF, 0xFF, 0xFE, 0x06, 0x82, 0x38, 0x08, 0x01, 0x02, 0x36]
    );
}

#[test]
fn the_worked_replies_decode_with_their_data() {
    let pong = status(&[0xFF, 0xFF, 0x01, 0x02, 0x00, 0xFC]);
    assert_eq!((pong.id, pong.error, pong.params()), (1, 0, &[][..]));
    assert!(pong.is_ok());
    let position = status(&[0xFF, 0xFF, 0x01, 0x04, 0x00, 0x18, 0x05, 0xDD]);
    assert_eq!(position.word(0), Some(1304));
    assert_eq!(position.word(1), None, "no word past the data");
    let bad = decode_status(&[0xFF, 0xFF, 0x01, 0x04, 0x00, 0x18, 0x05, 0xDC]).unwrap();
    assert_eq!(bad, Err(DecodeError::Checksum { expected: 0xDD, found: 0xDC }));
}

#[test]
fn sign_magnitude_is_not_twos_complement() {
    // -1304 counts as a position: magnitude 1304 with bit 15 set, not 0xFAE8.
    assert_eq!(to_sign_magnitude(-1304, sign_bit::POSITION), Ok(0x8518));
    assert_eq!(from_sign_magnitude(0x8518, sign_bit::POSITION), -1304);
    assert_eq!(from_sign_magnitude(0x0518, sign_bit::POSITION), 1304);
    // Homing offset: sign in bit 11, ±2047.
    assert_eq!(to_sign_magnitude(-2047, sign_bit::HOMING_OFFSET), Ok(0x0FFF));
    assert_eq!(to_sign_magnitude(2048, sign_bit::HOMING_OFFSET), Err(sts::OutOfRange { value: 2048, max: 2047 }));
    // Load: sign in bit 10.
    assert_eq!(from_sign_magnitude(0x0400 | 300, sign_bit::LOAD), -300);
    assert_eq!(to_sign_magnitude(i32::MIN, sign_bit::POSITION).unwrap_err().max, 32767);
}

#[test]
fn bad_requests_are_refused_not_sent() {
    let mut buf = [0u8; MAX_PACKET];
    assert_eq!(sts::ping(0xFF, &mut buf), Err(EncodeError::BadId(0xFF)));
    assert!(sts::ping(sts::BROADCAST_ID, &mut buf).is_ok(), "broadcast may be pinged");
    assert_eq!(sts::sync_read(addr::PRESENT_POSITION, 2, &[1, 0xFE], &mut buf), Err(EncodeError::BadId(0xFE)));
    assert_eq!(sts::sync_write(addr::GOAL_POSITION, 2, &[(1, &[0u8; 3][..])], &mut buf), Err(EncodeError::BadEntries));
    assert_eq!(sts::sync_write(addr::GOAL_POSITION, 2, &[], &mut buf), Err(EncodeError::BadEntries));
    assert_eq!(sts::write(1, addr::GOAL_POSITION, &[0u8; 300], &mut buf), Err(EncodeError::TooLong));
    let mut small = [0u8; 5];
    assert_eq!(sts::ping(1, &mut small), Err(EncodeError::TooLong));
}

#[test]
fn the_decoder_finds_packets_again_after_noise_and_broken_packets() {
    let pong = [0xFF, 0xFF, 0x01, 0x02, 0x00, 0xFC];
    let sum = sts::checksum(0x02, 0x04, error_bit::OVERLOAD, &[0x18, 0x05]);
    let position = [0xFF, 0xFF, 0x02, 0x04, error_bit::OVERLOAD, 0x18, 0x05, sum];
    let mut stream = vec![0x00, 0x13, 0xFF, 0x37, 0xFF, 0xFF, 0xFF];
    stream.extend_from_slice(&pong);
    stream.extend_from_slice(&[0xFF, 0xFF, 0x05, 0x01]); // a packet broken by an impossible length
    stream.extend_from_slice(&position);
    let mut d = StatusDecoder::new();
    let got: Vec<_> = stream.iter().filter_map(|&b| d.push(b)).collect();
    assert_eq!(got.len(), 2, "{got:?}");
    let first = got[0].unwrap();
    assert_eq!((first.id, first.params()), (1, &[][..]));
    let second = got[1].unwrap();
    assert_eq!((second.id, second.error, second.word(0)), (2, error_bit::OVERLOAD, Some(1304)));
    assert!(!second.is_ok(), "the servo's error byte is reported");
    assert!(d.skipped >= 6, "skipped {}", d.skipped);
}

proptest! {
    #[test]
    fn sign_magnitude_round_trips_every_value_in_range(bit in prop::sample::select(vec![10u8, 11, 15]), v in -40000i32..40000) {
        let max = (1i32 << bit) - 1;
        match to_sign_magnitude(v, bit) {
            Ok(raw) => {
                prop_assert!(v.abs() <= max);
                prop_assert_eq!(from_sign_magnitude(raw, bit), v);
                prop_assert!(u32::from(raw) >> (bit + 1) == 0, "nothing above the sign bit");
            }
            Err(e) => prop_assert!(v.abs() > max && e.max == max),
        }
    }

    #[test]
    fn every_reply_a_servo_can_send_decodes_to_itself(
        id in 0u8..=sts::MAX_ID,
        error in 0u8..=0x7F,
        params in prop::collection::vec(any::<u8>(), 0..=sts::MAX_PARAMS),
        noise in prop::collection::vec(any::<u8>().prop_filter("not a header byte", |b| *b != 0xFF), 0..16),
    ) {
        let len = (params.len() + 2) as u8;
        let mut bytes = noise.clone();
        bytes.extend_from_slice(&[0xFF, 0xFF, id, len, error]);
        bytes.extend_from_slice(&params);
        bytes.push(sts::checksum(id, len, error, &params));
        let s = decode_status(&bytes).unwrap().unwrap();
        prop_assert_eq!((s.id, s.error, s.params()), (id, error, &params[..]));
    }

    #[test]
    fn every_request_decodes_as_the_same_bytes(
        id in 0u8..=sts::MAX_ID,
        address in any::<u8>(),
        data in prop::collection::vec(any::<u8>(), 1..=32),
        noise in prop::collection::vec(any::<u8>().prop_filter("not a header byte", |b| *b != 0xFF), 0..16),
    ) {
        let mut bytes = noise.clone();
        bytes.extend(packet(|b| sts::write(id, address, &data, b)));
        let r = decode_instruction(&bytes).unwrap().unwrap();
        prop_assert_eq!((r.id, r.instruction), (id, instruction::WRITE));
        prop_assert_eq!(r.params()[0], address);
        prop_assert_eq!(&r.params()[1..], &data[..]);
        let reg = decode_instruction(&packet(|b| sts::reg_write(id, address, &data, b))).unwrap().unwrap();
        prop_assert_eq!((reg.instruction, reg.params()), (instruction::REG_WRITE, r.params()));
    }

    #[test]
    fn every_status_a_virtual_servo_encodes_decodes_to_itself(
        id in 0u8..=sts::MAX_ID,
        error in 0u8..=0x7F,
        params in prop::collection::vec(any::<u8>(), 0..=sts::MAX_PARAMS),
    ) {
        let s = status(&packet(|b| sts::status(id, error, &params, b)));
        prop_assert_eq!((s.id, s.error, s.params()), (id, error, &params[..]));
    }

    #[test]
    fn sync_requests_decode_with_their_servos_and_data(
        ids in prop::collection::btree_set(0u8..=sts::MAX_ID, 1..=6),
        word in any::<u16>(),
    ) {
        let ids: Vec<u8> = ids.into_iter().collect();
        let read = decode_instruction(&packet(|b| sts::sync_read(addr::PRESENT_POSITION, 2, &ids, b))).unwrap().unwrap();
        prop_assert_eq!((read.id, read.instruction), (sts::BROADCAST_ID, instruction::SYNC_READ));
        prop_assert_eq!(&read.params()[..2], &[addr::PRESENT_POSITION, 2][..]);
        prop_assert_eq!(&read.params()[2..], &ids[..]);
        let data = word.to_le_bytes();
        let entries: Vec<(u8, &[u8])> = ids.iter().map(|&id| (id, &data[..])).collect();
        let write = decode_instruction(&packet(|b| sts::sync_write(addr::GOAL_POSITION, 2, &entries, b))).unwrap().unwrap();
        prop_assert_eq!(write.instruction, instruction::SYNC_WRITE);
        for (i, id) in ids.iter().enumerate() {
            prop_assert_eq!(write.params()[2 + 3 * i], *id);
            prop_assert_eq!(write.word(3 + 3 * i), Some(word));
        }
    }

    #[test]
    fn any_byte_stream_decodes_without_panicking(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        let mut d = StatusDecoder::new();
        let mut requests = InstructionDecoder::new();
        for b in bytes {
            if let Some(Ok(s)) = d.push(b) {
                prop_assert!(s.id <= sts::MAX_ID && s.error <= 0x7F && s.params().len() <= sts::MAX_PARAMS);
            }
            if let Some(Ok(r)) = requests.push(b) {
                prop_assert!(instruction::is_known(r.instruction) && r.params().len() <= sts::MAX_PARAMS);
                prop_assert!(r.id <= sts::MAX_ID || r.id == sts::BROADCAST_ID);
            }
        }
    }
}

#[test]
fn every_request_kind_decodes_as_a_request_and_never_as_a_reply() {
    let requests = [
        (packet(|b| sts::ping(3, b)), instruction::PING),
        (packet(|b| sts::read(3, addr::PRESENT_POSITION, 2, b)), instruction::READ),
        (packet(|b| sts::action(sts::BROADCAST_ID, b)), instruction::ACTION),
        (packet(|b| sts::reset(3, b)), instruction::RESET),
        (packet(|b| sts::sync_read(addr::PRESENT_POSITION, 2, &[1, 2], b)), instruction::SYNC_READ),
    ];
    for (bytes, kind) in requests {
        assert_eq!(decode_instruction(&bytes).unwrap().unwrap().instruction, kind);
    }
    // A reply is not a request: byte 4 is error bits, and no instruction is 0.
    assert_eq!(decode_instruction(&[0xFF, 0xFF, 0x01, 0x02, 0x00, 0xFC]), None);
    // The sync instructions have byte 4 above 0x7F, which no reply has.
    let sync = packet(|b| sts::sync_read(addr::PRESENT_POSITION, 2, &[1], b));
    assert_eq!(decode_status(&sync), None);
}
