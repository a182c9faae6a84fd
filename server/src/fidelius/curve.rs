//! Arithmetic on BouncyCastle's `curve25519`: the short-Weierstrass form y² = x³ + ax + b of
//! Curve25519 over p = 2^255 − 19, the curve `CustomNamedCurves.getByName("curve25519")` that
//! fidelius-cli and every Java HIP/HIU use. It is birationally the X25519 curve (x = u + A/3 with
//! A = 486662), but keys are plain integers here: no clamping, and public keys carry both
//! coordinates.
//!
//! Field elements are `crypto-bigint` Montgomery residues; points are Jacobian while a scalar
//! multiplication runs (left-to-right double-and-add, mixed additions) and affine otherwise.
//! The code branches on secret bits, so it is **not constant-time**: fine for a sandbox, not for
//! production keys.

use crypto_bigint::modular::constant_mod::{Residue, ResidueParams};
use crypto_bigint::{impl_modulus, Encoding, U256};

impl_modulus!(FieldModulus, U256, "7fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffed");

/// An element of the prime field GF(2^255 − 19).
type Fe = Residue<FieldModulus, { U256::LIMBS }>;

/// The field prime p = 2^255 − 19.
pub(crate) const P: U256 = <FieldModulus as ResidueParams<{ U256::LIMBS }>>::MODULUS;
/// The order n of the base point (the prime ℓ of Ed25519); the cofactor is 8.
pub(crate) const N: U256 =
    U256::from_be_hex("1000000000000000000000000000000014def9dea2f79cd65812631a5cf5d3ed");
/// Coefficient a = (3 − A²)/3 mod p.
pub(crate) const A: U256 =
    U256::from_be_hex("2aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa984914a144");
/// Coefficient b = (2A³ − 9A)/27 mod p.
pub(crate) const B: U256 =
    U256::from_be_hex("7b425ed097b425ed097b425ed097b425ed097b425ed097b4260b5e9c7710c864");
/// Base point x = 9 + A/3 (Montgomery u = 9).
pub(crate) const GX: U256 =
    U256::from_be_hex("2aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaad245a");
/// Base point y, as BouncyCastle fixes it.
pub(crate) const GY: U256 =
    U256::from_be_hex("20ae19a1b8a086b4e01edd2c7748d14c923d4d7e6d7c61b229e9c5a27eced3d9");

const FE_A: Fe = Fe::new(&A);
const FE_B: Fe = Fe::new(&B);

/// Why a pair of coordinates is not an acceptable public key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PointError {
    /// A coordinate is not below p.
    CoordinateOutOfRange,
    /// The coordinates do not satisfy the curve equation.
    NotOnCurve,
    /// On the curve, but n·Q ≠ O: the point has a small-order component (BouncyCastle's
    /// `ECCurve.validatePoint` refuses such points with "Invalid point coordinates").
    NotInSubgroup,
}

/// A finite point in affine coordinates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Affine {
    x: Fe,
    y: Fe,
}

/// A point in Jacobian coordinates (X/Z², Y/Z³); Z = 0 is the point at infinity.
#[derive(Debug, Clone, Copy)]
struct Jacobian {
    x: Fe,
    y: Fe,
    z: Fe,
}

impl Affine {
    /// The base point G.
    pub(crate) fn generator() -> Self {
        Affine { x: Fe::new(&GX), y: Fe::new(&GY) }
    }

    /// A public key's point from big-endian coordinates, checked as BouncyCastle does when it
    /// decodes one: both coordinates below p, on the curve, and in the subgroup of order n.
    pub(crate) fn from_coordinates(x: &[u8; 32], y: &[u8; 32]) -> Result<Self, PointError> {
        let (x, y) = (U256::from_be_bytes(*x), U256::from_be_bytes(*y));
        if x >= P || y >= P {
            return Err(PointError::CoordinateOutOfRange);
        }
        let point = Affine { x: Fe::new(&x), y: Fe::new(&y) };
        if !point.is_on_curve() {
            return Err(PointError::NotOnCurve);
        }
        if point.mul(&N).is_some() {
            return Err(PointError::NotInSubgroup);
        }
        Ok(point)
    }

    fn is_on_curve(&self) -> bool {
        let rhs = self.x.square() * self.x + FE_A * self.x + FE_B;
        self.y.square() == rhs
    }

    /// The x-coordinate as exactly 32 big-endian bytes, left-padded with zeros — the ECDH
    /// secret as BouncyCastle's `KeyAgreementSpi` returns it.
    pub(crate) fn x_bytes(&self) -> [u8; 32] {
        self.x.retrieve().to_be_bytes()
    }

    /// The y-coordinate as exactly 32 big-endian bytes.
    pub(crate) fn y_bytes(&self) -> [u8; 32] {
        self.y.retrieve().to_be_bytes()
    }

    /// k·self, or `None` when the result is the point at infinity.
    pub(crate) fn mul(&self, k: &U256) -> Option<Affine> {
        let bits = k.bits_vartime();
        let mut acc = Jacobian::INFINITY;
        for i in (0..bits).rev() {
            acc = acc.double();
            if k.bit_vartime(i) {
                acc = acc.add_affine(self);
            }
        }
        acc.to_affine()
    }
}

impl Jacobian {
    const INFINITY: Jacobian = Jacobian { x: Fe::ONE, y: Fe::ONE, z: Fe::ZERO };

    fn is_infinity(&self) -> bool {
        self.z == Fe::ZERO
    }

    fn from_affine(p: &Affine) -> Self {
        Jacobian { x: p.x, y: p.y, z: Fe::ONE }
    }

    fn to_affine(self) -> Option<Affine> {
        if self.is_infinity() {
            return None;
        }
        // z ≠ 0 in a field, so the inverse exists.
        let zinv = self.z.invert().0;
        let zinv2 = zinv.square();
        Some(Affine { x: self.x * zinv2, y: self.y * zinv2 * zinv })
    }

    /// 2·self ("dbl-2007-bl", valid for any a).
    fn double(&self) -> Self {
        if self.is_infinity() || self.y == Fe::ZERO {
            return Jacobian::INFINITY;
        }
        let xx = self.x.square();
        let yy = self.y.square();
        let yyyy = yy.square();
        let zz = self.z.square();
        let half_s = (self.x + yy).square() - xx - yyyy;
        let s = half_s + half_s;
        let m = xx + xx + xx + FE_A * zz.square();
        let t = m.square() - s - s;
        let yyyy8 = {
            let y2 = yyyy + yyyy;
            let y4 = y2 + y2;
            y4 + y4
        };
        let y3 = m * (s - t) - yyyy8;
        let z3 = (self.y + self.z).square() - yy - zz;
        Jacobian { x: t, y: y3, z: z3 }
    }

    /// self + q for an affine q ("madd-2007-bl"), with the doubling and inverse cases handled.
    fn add_affine(&self, q: &Affine) -> Self {
        if self.is_infinity() {
            return Jacobian::from_affine(q);
        }
        let z1z1 = self.z.square();
        let u2 = q.x * z1z1;
        let s2 = q.y * self.z * z1z1;
        let h = u2 - self.x;
        let r0 = s2 - self.y;
        if h == Fe::ZERO {
            return if r0 == Fe::ZERO { self.double() } else { Jacobian::INFINITY };
        }
        let hh = h.square();
        let i = hh + hh + hh + hh;
        let j = h * i;
        let r = r0 + r0;
        let v = self.x * i;
        let x3 = r.square() - j - v - v;
        let y1j = self.y * j;
        let y3 = r * (v - x3) - y1j - y1j;
        let z3 = (self.z + h).square() - z1z1 - hh;
        Jacobian { x: x3, y: y3, z: z3 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn affine_add(p: &Affine, q: &Affine) -> Option<Affine> {
        Jacobian::from_affine(p).add_affine(q).to_affine()
    }

    #[test]
    fn the_base_point_is_on_the_curve_and_of_order_n() {
        let g = Affine::generator();
        assert!(g.is_on_curve());
        assert_eq!(g.mul(&N), None);
        assert_eq!(g.mul(&N.wrapping_sub(&U256::ONE)).map(|p| p.x), Some(g.x));
        assert_eq!(g.mul(&U256::ONE), Some(g));
    }

    #[test]
    fn doubling_and_addition_agree() {
        let g = Affine::generator();
        let two_g = g.mul(&U256::from_u8(2)).unwrap();
        assert_eq!(affine_add(&g, &g), Some(two_g));
        let three_g = g.mul(&U256::from_u8(3)).unwrap();
        assert_eq!(affine_add(&two_g, &g), Some(three_g));
        let five = g.mul(&U256::from_u8(5)).unwrap();
        assert_eq!(three_g.mul(&U256::from_u8(5)), five.mul(&U256::from_u8(3)));
        assert!(three_g.is_on_curve());
    }

    #[test]
    fn a_point_with_a_small_order_component_is_refused() {
        // (A/3, 0) is the 2-torsion point (Montgomery (0, 0)); G plus it is on the curve but
        // outside the prime-order subgroup.
        let t = Affine {
            x: Fe::new(&U256::from_u32(486_662)) * Fe::new(&U256::from_u8(3)).invert().0,
            y: Fe::ZERO,
        };
        assert!(t.is_on_curve());
        let q = affine_add(&Affine::generator(), &t).unwrap();
        assert_eq!(Affine::from_coordinates(&q.x_bytes(), &q.y_bytes()), Err(PointError::NotInSubgroup));
        let g = Affine::generator();
        let mut bad_y = g.y_bytes();
        bad_y[31] ^= 1;
        assert_eq!(Affine::from_coordinates(&g.x_bytes(), &bad_y), Err(PointError::NotOnCurve));
        assert_eq!(
            Affine::from_coordinates(&P.to_be_bytes(), &g.y_bytes()),
            Err(PointError::CoordinateOutOfRange)
        );
    }
}
