//! Consistent Overhead Byte Stuffing: removes every zero byte from a frame (at most one byte of
//! overhead per 254) so that a single 0x00 can delimit frames on the wire, and a receiver that
//! joins mid-stream or loses bytes resynchronises at the next zero.

/// The largest encoded size of `n` bytes.
pub const fn max_encoded_len(n: usize) -> usize {
    n + n / 254 + 1
}

/// Encodes `input` into `out` (no delimiter); returns the encoded length, or `None` if `out`
/// is too small.
pub fn encode(input: &[u8], out: &mut [u8]) -> Option<usize> {
    let mut code_at = 0usize; // where the current block's length byte goes
    let mut o = 1usize;
    let mut code = 1u8;
    if out.is_empty() {
        return None;
    }
    for &b in input {
        if b == 0 {
            *out.get_mut(code_at)? = code;
            code_at = o;
            o += 1;
            code = 1;
        } else {
            *out.get_mut(o)? = b;
            o += 1;
            code += 1;
            if code == 0xFF {
                *out.get_mut(code_at)? = code;
                code_at = o;
                o += 1;
                code = 1;
            }
        }
        if o > out.len() {
            return None;
        }
    }
    *out.get_mut(code_at)? = code;
    Some(o)
}

/// Decodes `input` (one frame, delimiter removed) into `out`; returns the decoded length, or
/// `None` if the input is not valid COBS (a zero byte, or a block running past the end) or
/// `out` is too small.
pub fn decode(input: &[u8], out: &mut [u8]) -> Option<usize> {
    let mut i = 0usize;
    let mut o = 0usize;
    while i < input.len() {
        let code = input[i];
        if code == 0 {
            return None;
        }
        i += 1;
        let end = i + code as usize - 1;
        if end > input.len() {
            return None;
        }
        for &b in &input[i..end] {
            if b == 0 {
                return None;
            }
            *out.get_mut(o)? = b;
            o += 1;
        }
        i = end;
        if code != 0xFF && i < input.len() {
            *out.get_mut(o)? = 0;
            o += 1;
        }
    }
    Some(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(data: &[u8]) {
        let mut enc = [0u8; 1024];
        let n = encode(data, &mut enc).unwrap();
        assert!(n <= max_encoded_len(data.len()));
        assert!(!enc[..n].contains(&0), "no zero byte may remain");
        let mut dec = [0u8; 1024];
        let m = decode(&enc[..n], &mut dec).unwrap();
        assert_eq!(&dec[..m], data);
    }

    #[test]
    fn known_vectors() {
        let mut enc = [0u8; 16];
        let n = encode(&[0x11, 0x22, 0x00, 0x33], &mut enc).unwrap();
        assert_eq!(&enc[..n], &[0x03, 0x11, 0x22, 0x02, 0x33]);
        let n = encode(&[0x00], &mut enc).unwrap();
        assert_eq!(&enc[..n], &[0x01, 0x01]);
        let n = encode(&[], &mut enc).unwrap();
        assert_eq!(&enc[..n], &[0x01]);
    }

    #[test]
    fn round_trips_edge_lengths() {
        for len in [0usize, 1, 253, 254, 255, 256, 508, 600] {
            let data: [u8; 600] = core::array::from_fn(|i| (i % 7) as u8);
            round_trip(&data[..len]);
            let ones = [0xAAu8; 600];
            round_trip(&ones[..len]);
        }
    }

    #[test]
    fn too_small_buffers_are_refused_not_overrun() {
        let mut small = [0u8; 3];
        assert_eq!(encode(&[1, 2, 3, 4], &mut small), None);
        assert_eq!(decode(&[0x05, 1, 2, 3, 4], &mut small), None);
        assert_eq!(decode(&[0x05, 1, 2], &mut [0u8; 8]), None, "block past the end");
        assert_eq!(decode(&[0x02, 0x00], &mut [0u8; 8]), None, "zero inside a frame");
    }
}
