//! Fuzzes the Feetech STS status decoder: any byte stream must decode without panicking, and
//! any packet it accepts must re-encode (same framing, byte 4 = its error bits) to bytes that
//! decode to the same packet.
#![no_main]

use libfuzzer_sys::fuzz_target;
use regrasp_firmware::sts::{MAX_PACKET, StatusDecoder, decode_status, encode};

fuzz_target!(|data: &[u8]| {
    let mut decoder = StatusDecoder::new();
    for &b in data {
        if let Some(Ok(status)) = decoder.push(b) {
            let mut buf = [0u8; MAX_PACKET];
            let n = encode(status.id, status.error, status.params(), &mut buf).expect("a decoded packet re-encodes");
            assert_eq!(decode_status(&buf[..n]), Some(Ok(status)));
        }
    }
});
