//! Fuzzes the Feetech STS request decoder (the virtual servos' side of the bus): any byte
//! stream must decode without panicking, and any request it accepts must re-encode (same
//! framing, byte 4 = its instruction) to bytes that decode to the same request.
#![no_main]

use libfuzzer_sys::fuzz_target;
use regrasp_firmware::sts::{InstructionDecoder, MAX_PACKET, decode_instruction, encode};

fuzz_target!(|data: &[u8]| {
    let mut decoder = InstructionDecoder::new();
    for &b in data {
        if let Some(Ok(request)) = decoder.push(b) {
            let mut buf = [0u8; MAX_PACKET];
            let n = encode(request.id, request.instruction, request.params(), &mut buf).expect("a decoded request re-encodes");
            assert_eq!(decode_instruction(&buf[..n]), Some(Ok(request)));
        }
    }
});
