//! Signing many digests at once, for callers that produce commits faster than one core signs
//! them (the load generator).
//!
//! An ECDSA signature needs two inversions: of the nonce `k` (for `s = k⁻¹(z + r·d)`) and of
//! the projective `Z` of `R = k·G` (for `r = x(R)`); together about two fifths of a k256
//! signature. Montgomery's trick inverts a whole batch with one inversion of each kind plus three
//! multiplications per item (`BatchInvert`, `BatchNormalize`). Everything else is the
//! `ecdsa` crate's algorithm, with the same RFC 6979 nonces, so a batch gives exactly the
//! signatures [`Keypair::sign_digest`] gives one by one.

use std::sync::LazyLock;

// generic-array 0.14, deprecated upstream, is what the RustCrypto 0.13 curve crates speak.
use ecdsa::elliptic_curve::consts::U32;
#[allow(deprecated)]
use ecdsa::elliptic_curve::generic_array::ArrayLength;
use ecdsa::elliptic_curve::ops::{BatchInvert, MulByGenerator, Reduce};
use ecdsa::elliptic_curve::point::AffineCoordinates;
use ecdsa::elliptic_curve::{AffinePoint, BatchNormalize, CurveArithmetic, FieldBytes, FieldBytesEncoding, PrimeCurve, PrimeField, ProjectivePoint, Scalar};
use ecdsa::{Signature, SignatureSize, SigningKey};

use super::generator_table::GeneratorTable;
use super::Keypair;

/// Signs each `(key, SHA-256 digest)` pair; the signatures come back in order, 64 bytes
/// `r || s`, low-S, identical to signing each digest alone.
pub fn sign_digests(items: &[(&Keypair, [u8; 32])]) -> Vec<[u8; 64]> {
    sign_split(items, Timing::Constant)
}

/// [`sign_digests`], with `k·G` from a wide precomputed table ([`GeneratorTable`]): two (k256)
/// to six (p256) times as fast, but its memory accesses depend on the nonce, which an attacker sharing the
/// machine could time. Only for keys that are not secret anyway, such as the load
/// generator's, which are derived from a public seed. The signatures are the same.
pub fn sign_digests_vartime(items: &[(&Keypair, [u8; 32])]) -> Vec<[u8; 64]> {
    sign_split(items, Timing::Variable)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Timing {
    Constant,
    Variable,
}

static K256_TABLE: LazyLock<GeneratorTable<k256::Secp256k1>> = LazyLock::new(|| GeneratorTable::new(k256_to_affine));
static P256_TABLE: LazyLock<GeneratorTable<p256::NistP256>> = LazyLock::new(|| GeneratorTable::new(p256_to_affine));

fn k256_to_affine(points: &[k256::ProjectivePoint]) -> Vec<k256::AffinePoint> {
    <k256::ProjectivePoint as BatchNormalize<_>>::batch_normalize(points)
}

/// p256 0.13's field element lacks the `Invert` that batch normalisation needs.
fn p256_to_affine(points: &[p256::ProjectivePoint]) -> Vec<p256::AffinePoint> {
    points.iter().map(|p| p.to_affine()).collect()
}

fn sign_split(items: &[(&Keypair, [u8; 32])], timing: Timing) -> Vec<[u8; 64]> {
    let mut out = vec![[0u8; 64]; items.len()];
    let mut k256 = Vec::new();
    let mut p256 = Vec::new();
    for (i, (key, digest)) in items.iter().enumerate() {
        match key {
            Keypair::K256(k) => k256.push((i, k, *digest)),
            Keypair::P256(k) => p256.push((i, k, *digest)),
        }
    }
    let sigs = match timing {
        Timing::Constant => sign_batch(&k256, k256::ProjectivePoint::mul_by_generator, k256_to_affine),
        Timing::Variable => sign_batch(&k256, |k| K256_TABLE.mul(k), k256_to_affine),
    };
    scatter(&mut out, &k256, sigs);
    let sigs = match timing {
        Timing::Constant => sign_batch(&p256, p256::ProjectivePoint::mul_by_generator, p256_to_affine),
        Timing::Variable => sign_batch(&p256, |k| P256_TABLE.mul(k), p256_to_affine),
    };
    scatter(&mut out, &p256, sigs);
    out
}

fn scatter<K>(out: &mut [[u8; 64]], items: &[(usize, K, [u8; 32])], sigs: Vec<[u8; 64]>) {
    for ((i, _, _), sig) in items.iter().zip(sigs) {
        out[*i] = sig;
    }
}

/// One curve's batch: RFC 6979 nonces, then both inversions shared across the batch.
#[allow(deprecated)] // the `ArrayLength` bound, as above
fn sign_batch<C>(
    items: &[(usize, &SigningKey<C>, [u8; 32])],
    mul_generator: impl Fn(&Scalar<C>) -> ProjectivePoint<C>,
    to_affine: impl Fn(&[ProjectivePoint<C>]) -> Vec<AffinePoint<C>>,
) -> Vec<[u8; 64]>
where
    C: PrimeCurve + CurveArithmetic<FieldBytesSize = U32>,
    Scalar<C>: ecdsa::hazmat::SignPrimitive<C>,
    Scalar<C>: BatchInvert<[Scalar<C>], Output = Vec<Scalar<C>>>,
    SignatureSize<C>: ArrayLength<u8>,
{
    if items.is_empty() {
        return Vec::new();
    }
    let order = C::ORDER.encode_field_bytes();
    let digests: Vec<FieldBytes<C>> = items
        .iter()
        .map(|(_, _, d)| {
            let mut z = FieldBytes::<C>::default();
            z.copy_from_slice(d);
            z
        })
        .collect();
    let nonces: Vec<Scalar<C>> = items
        .iter()
        .zip(&digests)
        .map(|((_, key, _), z)| {
            let k = rfc6979::generate_k::<sha2::Sha256, _>(&key.as_nonzero_scalar().to_repr(), &order, z, &[]);
            Option::from(Scalar::<C>::from_repr(k)).expect("RFC 6979 nonces are below the order")
        })
        .collect();
    let points: Vec<ProjectivePoint<C>> = nonces.iter().map(mul_generator).collect();
    let points = to_affine(&points);
    let inverses = Option::<Vec<Scalar<C>>>::from(Scalar::<C>::batch_invert(nonces.as_slice())).expect("RFC 6979 nonces are non-zero");
    items
        .iter()
        .zip(digests.iter().zip(points.iter().zip(&inverses)))
        .map(|((_, key, _), (z, (point, k_inv)))| {
            let z = <Scalar<C> as Reduce<C::Uint>>::reduce_bytes(z);
            let r = <Scalar<C> as Reduce<C::Uint>>::reduce_bytes(&point.x());
            let s = *k_inv * (z + r * **key.as_nonzero_scalar());
            let sig = Signature::<C>::from_scalars(r, s).expect("r or s is zero only with negligible probability");
            let sig = sig.normalize_s().unwrap_or(sig);
            let mut bytes = [0u8; 64];
            bytes.copy_from_slice(&sig.to_bytes());
            bytes
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::KeyType;
    use proptest::prelude::*;
    use rand::SeedableRng;
    use sha2::Digest;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(16))]
        /// A batch mixing both curves signs exactly as one-by-one signing does, in order, in
        /// constant or variable time.
        #[test]
        fn batch_signatures_equal_single_signatures(seed in any::<u64>(), curves in prop::collection::vec(any::<bool>(), 0..12)) {
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
            let keys: Vec<Keypair> = curves
                .iter()
                .map(|&p| Keypair::generate_with(if p { KeyType::P256 } else { KeyType::K256 }, &mut rng))
                .collect();
            let items: Vec<(&Keypair, [u8; 32])> = keys
                .iter()
                .enumerate()
                .map(|(i, k)| (k, sha2::Sha256::digest([seed.to_le_bytes(), (i as u64).to_le_bytes()].concat()).into()))
                .collect();
            let batch = sign_digests(&items);
            prop_assert_eq!(batch.len(), items.len());
            prop_assert_eq!(&sign_digests_vartime(&items), &batch);
            for ((key, digest), sig) in items.iter().zip(&batch) {
                prop_assert_eq!(sig, &key.sign_digest(digest));
                prop_assert!(key.public().verify_digest(digest, sig).is_ok());
            }
        }
    }
}
