//! Fuzzes the streaming frame decoder: any byte stream must decode without panicking, and any
//! frame it accepts must re-encode to bytes that decode to the same frame.
#![no_main]

use libfuzzer_sys::fuzz_target;
use regrasp_firmware::protocol::{decode_frame, encode, FrameDecoder, MAX_FRAME};

fuzz_target!(|data: &[u8]| {
    let mut decoder = FrameDecoder::new();
    for &b in data {
        if let Some(Ok(frame)) = decoder.push(b) {
            let mut buf = [0u8; MAX_FRAME];
            let n = encode(frame.seq, &frame.message, &mut buf);
            assert_eq!(decode_frame(&buf[..n - 1]), Ok(frame));
        }
    }
});
