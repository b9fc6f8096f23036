//! CRC-16/CCITT-FALSE (polynomial 0x1021, initial value 0xFFFF, no reflection, no final XOR):
//! detects every single- and double-bit error and every burst up to 16 bits in a frame.

/// The CRC of `data`.
pub fn crc16(data: &[u8]) -> u16 {
    let mut crc: u16 = 0xFFFF;
    for &b in data {
        crc ^= (b as u16) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 { (crc << 1) ^ 0x1021 } else { crc << 1 };
        }
    }
    crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_standard_check_value() {
        // The catalogued check value of CRC-16/CCITT-FALSE.
        assert_eq!(crc16(b"123456789"), 0x29B1);
        assert_eq!(crc16(b""), 0xFFFF);
    }

    #[test]
    fn any_single_bit_flip_changes_it() {
        let data = *b"regrasp frame payload";
        let good = crc16(&data);
        for i in 0..data.len() * 8 {
            let mut d = data;
            d[i / 8] ^= 1 << (i % 8);
            assert_ne!(crc16(&d), good, "bit {i}");
        }
    }
}
