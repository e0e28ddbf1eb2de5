//! Sources of randomness for ids: the operating system's in production, a seeded
//! generator for reproducible synthetic data.

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::sync::Mutex;

use sammen_domain::clock::IdSource;

#[derive(Debug, Default)]
pub struct RandomIds;

impl IdSource for RandomIds {
    fn random_bytes(&self) -> [u8; 16] {
        let mut b = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut b);
        b
    }
}

/// The same seed gives the same ids, in the same order.
#[derive(Debug)]
pub struct SeededIds(Mutex<ChaCha8Rng>);

impl SeededIds {
    pub fn new(seed: u64) -> Self {
        SeededIds(Mutex::new(ChaCha8Rng::seed_from_u64(seed)))
    }
}

impl IdSource for SeededIds {
    fn random_bytes(&self) -> [u8; 16] {
        let mut b = [0u8; 16];
        self.0.lock().unwrap_or_else(|e| e.into_inner()).fill_bytes(&mut b);
        b
    }
}

/// A secret of 32 random bytes as lower-case hex, for bearer tokens.
pub fn secret_hex() -> String {
    let mut b = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut b);
    hex::encode(b)
}

/// 16 random bytes from the operating system (salts).
pub fn random_16() -> [u8; 16] {
    let mut b = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut b);
    b
}
