//! SHA-512 crypt (`$6$`), the password hash Linux installers put in `/etc/shadow`.
//! The algorithm is RustCrypto's `sha-crypt`; this module only draws the salt and
//! writes the hash the way crypt(3) does for the default 5000 rounds
//! (`$6$<salt>$<hash>`), the same as `openssl passwd -6` for the same salt.

use std::io::{self, Read};

use sha_crypt::{Algorithm, CustomizedPasswordHasher, Params, ShaCrypt};

/// Random bytes per salt: 16 characters in crypt's base64, the most crypt(3) uses.
const SALT_BYTES: usize = 12;

/// `$6$<salt>$<hash>` for `password` with a fresh random salt.
pub fn sha512_crypt(password: &str) -> io::Result<String> {
    let mut salt = [0u8; SALT_BYTES];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut salt)?;
    hash_with_salt(password, &salt)
}

/// The hash whose salt is `salt` written in crypt's base64.
fn hash_with_salt(password: &str, salt: &[u8]) -> io::Result<String> {
    let hasher = ShaCrypt::new(Algorithm::Sha512Crypt, Params::RECOMMENDED);
    let mcf = hasher
        .hash_password_customized(password.as_bytes(), salt, None, None, Params::RECOMMENDED)
        .map_err(|e| io::Error::other(format!("SHA-512 crypt failed: {e}")))?;
    // The crate names the default rounds (`$6$rounds=5000$<salt>$<hash>`). crypt(3)
    // leaves them out for the default, and the hash is the same either way.
    let fields: Vec<&str> = mcf.fields().map(|f| f.as_str()).collect();
    let default_rounds = format!("rounds={}", Params::RECOMMENDED_ROUNDS);
    match fields.as_slice() {
        [rounds, salt, hash] if mcf.id() == "6" && *rounds == default_rounds => Ok(format!("$6${salt}${hash}")),
        _ => Err(io::Error::other(format!("SHA-512 crypt gave an unexpected form ({} fields)", fields.len()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64ct::{Base64ShaCrypt, Encoding};

    /// The salt bytes whose crypt base64 is `text` (a text salt of a published vector).
    fn salt_bytes(text: &str) -> Vec<u8> {
        let bytes = Base64ShaCrypt::decode_vec(text).unwrap();
        assert_eq!(Base64ShaCrypt::encode_string(&bytes), text, "{text:?} is not a canonical crypt-base64 salt");
        bytes
    }

    #[test]
    fn specification_test_vectors() {
        // From the test table of Drepper's "Unix crypt using SHA-256 and SHA-512". This
        // one names the default rounds and a salt cut to crypt's 16 characters.
        assert_eq!(
            hash_with_salt("This is just a test", &salt_bytes("toolongsaltstrin")).unwrap(),
            "$6$toolongsaltstrin$lQ8jolhgVRVhY4b5pZKaysCLi0QBxGoNeKQzQ3glMhwllF7oGDZxUhx1yxdYcz/e1JSbq3y6JMxxl8audkUEm0"
        );
        // The table's first entry: no salt bytes encode to a 10-character salt, so it is
        // checked through the crate's verifier, which reads the salt as text.
        use sha_crypt::PasswordVerifier;
        let first = "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1";
        assert!(ShaCrypt::default().verify_password(b"Hello world!", first).is_ok());
        assert!(ShaCrypt::default().verify_password(b"Hello world?", first).is_err());
    }

    #[test]
    fn matches_openssl_for_awkward_passwords() {
        let probe = std::process::Command::new("openssl").arg("version").output();
        if probe.is_err() {
            eprintln!("openssl not installed; skipping the cross-check");
            return;
        }
        let long = "x".repeat(130);
        // (openssl prints "<NULL>" for an empty password, so that one is left out.)
        for pw in ["p", "pässwörd ✓", long.as_str(), "a'b\"c$(id)`", " "] {
            let ours = sha512_crypt(pw).unwrap();
            let salt = ours.split('$').nth(2).unwrap();
            let out = std::process::Command::new("openssl").args(["passwd", "-6", "-salt", salt, pw]).output().unwrap();
            assert_eq!(ours, String::from_utf8(out.stdout).unwrap().trim(), "{pw:?}");
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
