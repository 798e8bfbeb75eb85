//! Hand-written canonical DAG-CBOR for the few fixed shapes written on every commit (MST nodes,
//! `#commit` bodies), where the generic encoder's buffering and sorting of map entries was a
//! visible cost. Callers write map keys in canonical order themselves (shorter first, then
//! bytewise); each shape is tested against the generic encoder.

use ::cid::Cid;

/// A head: major type and argument, in the shortest form.
pub(crate) fn head(out: &mut Vec<u8>, major: u8, n: u64) {
    let m = major << 5;
    match n {
        0..=23 => out.push(m | n as u8),
        24..=0xff => out.extend_from_slice(&[m | 24, n as u8]),
        0x100..=0xffff => {
            out.push(m | 25);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        0x1_0000..=0xffff_ffff => {
            out.push(m | 26);
            out.extend_from_slice(&(n as u32).to_be_bytes());
        }
        _ => {
            out.push(m | 27);
            out.extend_from_slice(&n.to_be_bytes());
        }
    }
}

pub(crate) fn int(out: &mut Vec<u8>, n: i64) {
    match u64::try_from(n) {
        Ok(n) => head(out, 0, n),
        Err(_) => head(out, 1, !(n as u64)),
    }
}

pub(crate) fn bool(out: &mut Vec<u8>, b: bool) {
    out.push(if b { 0xf5 } else { 0xf4 });
}

pub(crate) fn null(out: &mut Vec<u8>) {
    out.push(0xf6);
}

pub(crate) fn bytes(out: &mut Vec<u8>, b: &[u8]) {
    head(out, 2, b.len() as u64);
    out.extend_from_slice(b);
}

pub(crate) fn text(out: &mut Vec<u8>, s: &str) {
    head(out, 3, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

pub(crate) fn opt_text(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => text(out, s),
        None => null(out),
    }
}

/// A CID: tag 42 over the bytes `0x00 || cid`; `None` is null.
pub(crate) fn link(out: &mut Vec<u8>, cid: Option<&Cid>) {
    let Some(cid) = cid else { return null(out) };
    out.extend_from_slice(&[0xd8, 0x2a]);
    head(out, 2, cid.encoded_len() as u64 + 1);
    out.push(0x00);
    cid.write_bytes(&mut *out).expect("writing to a Vec cannot fail");
}
