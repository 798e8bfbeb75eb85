//! A wide table of multiples of a curve's generator, for computing `k·G` in variable time.
//!
//! Row `i` holds `j·256ⁱ·G` for `j = 1..=255`, in affine form, so `k·G` is at most 32 mixed
//! additions, one per non-zero byte of `k`, against 64 constant-time table scans and additions
//! in the curve crates' own `mul_by_generator`. The lookups depend on `k`, so this is only for
//! keys whose secrecy does not matter (see [`super::sign_digests_vartime`]).

use std::ops::AddAssign;

use ecdsa::elliptic_curve::group::Group;
use ecdsa::elliptic_curve::{AffinePoint, CurveArithmetic, PrimeField, ProjectivePoint, Scalar};

pub struct GeneratorTable<C: CurveArithmetic> {
    rows: Vec<Vec<AffinePoint<C>>>,
}

impl<C> GeneratorTable<C>
where
    C: CurveArithmetic,
    ProjectivePoint<C>: for<'a> AddAssign<&'a AffinePoint<C>>,
{
    /// Builds the 32 × 255 table (8,160 affine points, under 0.75 MB); `to_affine` normalises
    /// one row of projective points.
    pub fn new(to_affine: impl Fn(&[ProjectivePoint<C>]) -> Vec<AffinePoint<C>>) -> Self {
        let mut base = ProjectivePoint::<C>::generator();
        let rows = (0..32)
            .map(|_| {
                let mut row = Vec::with_capacity(255);
                let mut multiple = base;
                for _ in 1..=255 {
                    row.push(multiple);
                    // The curve bounds give `Add` of two projective points, not `AddAssign`.
                    #[allow(clippy::assign_op_pattern)]
                    {
                        multiple = multiple + base;
                    }
                }
                base = multiple; // 256·base
                to_affine(&row)
            })
            .collect();
        GeneratorTable { rows }
    }

    /// `k·G`, in time that depends on `k`.
    pub fn mul(&self, k: &Scalar<C>) -> ProjectivePoint<C> {
        let mut acc = ProjectivePoint::<C>::identity();
        // The scalar's big-endian bytes: the last byte is row 0.
        for (row, byte) in self.rows.iter().zip(k.to_repr().as_ref().iter().rev()) {
            if *byte != 0 {
                acc += &row[*byte as usize - 1];
            }
        }
        acc
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ecdsa::elliptic_curve::ops::MulByGenerator;
    use ecdsa::elliptic_curve::Field;

    #[test]
    fn table_multiples_equal_generator_multiplication() {
        let table = GeneratorTable::<k256::Secp256k1>::new(|p| p.iter().map(|p| p.to_affine()).collect());
        let mut rng = rand::thread_rng();
        let edge = [k256::Scalar::ZERO, k256::Scalar::ONE, -k256::Scalar::ONE, k256::Scalar::from(256u64)];
        for k in edge.into_iter().chain((0..64).map(|_| k256::Scalar::random(&mut rng))) {
            assert_eq!(table.mul(&k), k256::ProjectivePoint::mul_by_generator(&k));
        }
        let table = GeneratorTable::<p256::NistP256>::new(|p| p.iter().map(|p| p.to_affine()).collect());
        for _ in 0..16 {
            let k = p256::Scalar::random(&mut rng);
            assert_eq!(table.mul(&k), p256::ProjectivePoint::mul_by_generator(&k));
        }
    }
}
