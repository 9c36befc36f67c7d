//! SHA-512 crypt (`$6$`), the password hash Linux installers put in `/etc/shadow`,
//! written from Ulrich Drepper's published specification ("Unix crypt using SHA-256
//! and SHA-512"). Only the default 5000 rounds are produced, so the output is the
//! same as `openssl passwd -6` and glibc's `crypt(3)` for the same salt.

use sha2::{Digest, Sha512};

const ITOA64: &[u8; 64] = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const ROUNDS: usize = 5000;
const SALT_LEN: usize = 16;

/// `$6$<salt>$<hash>` for `password` with a fresh random salt.
pub fn sha512_crypt(password: &str) -> std::io::Result<String> {
    Ok(sha512_crypt_with_salt(password, &random_salt()?))
}

/// The hash with a given salt (first 16 bytes used, as crypt(3) does).
pub fn sha512_crypt_with_salt(password: &str, salt: &str) -> String {
    let pw = password.as_bytes();
    let salt = &salt.as_bytes()[..salt.len().min(SALT_LEN)];

    // Digest B = H(password salt password)
    let b = Sha512::new().chain_update(pw).chain_update(salt).chain_update(pw).finalize();

    // Digest A = H(password salt B-bytes-for-len(password) <bitwise mix>)
    let mut a = Sha512::new();
    a.update(pw);
    a.update(salt);
    repeat_into(&mut a, &b, pw.len());
    let mut n = pw.len();
    while n > 0 {
        if n & 1 == 1 {
            a.update(b);
        } else {
            a.update(pw);
        }
        n >>= 1;
    }
    let a = a.finalize();

    // P: H(password repeated len times), stretched to len bytes.
    let mut dp = Sha512::new();
    for _ in 0..pw.len() {
        dp.update(pw);
    }
    let p = stretch(&dp.finalize(), pw.len());

    // S: H(salt repeated 16 + A[0] times), stretched to the salt's length.
    let mut ds = Sha512::new();
    for _ in 0..(16 + usize::from(a[0])) {
        ds.update(salt);
    }
    let s = stretch(&ds.finalize(), salt.len());

    let mut c = a;
    for i in 0..ROUNDS {
        let mut h = Sha512::new();
        if i % 2 == 1 {
            h.update(&p);
        } else {
            h.update(c);
        }
        if i % 3 != 0 {
            h.update(&s);
        }
        if i % 7 != 0 {
            h.update(&p);
        }
        if i % 2 == 1 {
            h.update(c);
        } else {
            h.update(&p);
        }
        c = h.finalize();
    }

    let mut out = String::with_capacity(106);
    out.push_str("$6$");
    out.push_str(&String::from_utf8_lossy(salt));
    out.push('$');
    // The specification's byte order: 21 groups of three, then the last byte.
    const ORDER: [(usize, usize, usize); 21] = [
        (0, 21, 42),
        (22, 43, 1),
        (44, 2, 23),
        (3, 24, 45),
        (25, 46, 4),
        (47, 5, 26),
        (6, 27, 48),
        (28, 49, 7),
        (50, 8, 29),
        (9, 30, 51),
        (31, 52, 10),
        (53, 11, 32),
        (12, 33, 54),
        (34, 55, 13),
        (56, 14, 35),
        (15, 36, 57),
        (37, 58, 16),
        (59, 17, 38),
        (18, 39, 60),
        (40, 61, 19),
        (62, 20, 41),
    ];
    for (x, y, z) in ORDER {
        push_b64(&mut out, c[x], c[y], c[z], 4);
    }
    push_b64(&mut out, 0, 0, c[63], 2);
    out
}

fn repeat_into(h: &mut Sha512, block: &[u8], len: usize) {
    let mut left = len;
    while left >= block.len() {
        h.update(block);
        left -= block.len();
    }
    h.update(&block[..left]);
}

fn stretch(block: &[u8], len: usize) -> Vec<u8> {
    block.iter().copied().cycle().take(len).collect()
}

fn push_b64(out: &mut String, b2: u8, b1: u8, b0: u8, n: usize) {
    let mut w = (u32::from(b2) << 16) | (u32::from(b1) << 8) | u32::from(b0);
    for _ in 0..n {
        out.push(char::from(ITOA64[(w & 0x3f) as usize]));
        w >>= 6;
    }
}

/// 16 salt characters from the kernel's random source.
fn random_salt() -> std::io::Result<String> {
    use std::io::Read;
    let mut bytes = [0u8; SALT_LEN];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes.iter().map(|b| char::from(ITOA64[usize::from(b & 0x3f)])).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specification_test_vector() {
        // From the specification's test table (default rounds).
        assert_eq!(
            sha512_crypt_with_salt("Hello world!", "saltstring"),
            "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1"
        );
    }

    #[test]
    fn matches_openssl_for_awkward_passwords() {
        let probe = std::process::Command::new("openssl").arg("version").output();
        if probe.is_err() {
            eprintln!("openssl not installed; skipping the cross-check");
            return;
        }
        let long = "x".repeat(130);
        for (pw, salt) in [("p", "abcdefgh"), ("pässwörd ✓", "0123456789abcdef"), (long.as_str(), "Zz./09"), ("a'b\"c$(id)`", "s")] {
            let out = std::process::Command::new("openssl").args(["passwd", "-6", "-salt", salt, pw]).output().unwrap();
            let want = String::from_utf8(out.stdout).unwrap();
            assert_eq!(sha512_crypt_with_salt(pw, salt), want.trim(), "{pw:?}");
        }
    }

    #[test]
    fn random_salts_differ_and_have_the_right_shape() {
        let a = sha512_crypt("pw").unwrap();
        let b = sha512_crypt("pw").unwrap();
        assert_ne!(a, b);
        let parts: Vec<&str> = a.split('$').collect();
        assert_eq!((parts[1], parts[2].len(), parts[3].len()), ("6", 16, 86));
    }
}
