//! Fitting measured resource use against what drives it.
//!
//! Each resource (CPU cores, RSS, disk, bytes out) is fitted as a linear model of its drivers,
//! `y = c0 + c1·x1 + c2·x2 + …`, by least squares over the measured ladder. Coefficients are
//! kept non-negative: a resource that fell as load rose is noise, and a negative term would
//! price a bigger network cheaper. A fit knows the range of each driver it was measured over,
//! so a prediction outside it says by how much it is extrapolated.

use serde::Serialize;

/// How far past the measured range a value may lie and still count as measured.
pub const EDGE: f64 = 0.05;

/// One measured point: the drivers' values and the resource's.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub x: Vec<f64>,
    pub y: f64,
}

/// A fitted linear model.
#[derive(Debug, Clone, Serialize)]
pub struct Fit {
    /// What each driver is (`members`, `events_per_s`, …).
    pub drivers: Vec<String>,
    /// Intercept first, then one coefficient per term.
    pub coefficients: Vec<f64>,
    /// How each term is built from the drivers, for display (`events_per_s × consumers`).
    pub terms: Vec<String>,
    /// Coefficient of determination over the measured points.
    pub r2: f64,
    pub points: usize,
    /// The measured range of each driver.
    pub range: Vec<(f64, f64)>,
    #[serde(skip)]
    build: fn(&[f64]) -> Vec<f64>,
}

/// How far a prediction lies outside the measured range.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Extrapolation {
    /// The driver's value over the highest measured one (above 1), or the lowest measured over
    /// the value (below the range, also above 1).
    pub factor: f64,
    pub beyond: bool,
}

impl std::fmt::Display for Extrapolation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let factor = if self.factor >= 10.0 { format!("{:.0}", self.factor) } else { format!("{:.1}", self.factor) };
        if self.beyond {
            write!(f, "×{factor} beyond measured")
        } else {
            write!(f, "÷{factor} below measured")
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum FitError {
    #[error("no measured points to fit {0}")]
    NoPoints(String),
}

impl Fit {
    /// Fits `points` (whose `x` are the `drivers`) with the terms `build` makes from the
    /// drivers (without the intercept, which is always there).
    pub fn new(what: &str, drivers: &[&str], terms: &[&str], build: fn(&[f64]) -> Vec<f64>, points: &[Point]) -> Result<Fit, FitError> {
        if points.is_empty() {
            return Err(FitError::NoPoints(what.into()));
        }
        let rows: Vec<Vec<f64>> = points.iter().map(|p| std::iter::once(1.0).chain(build(&p.x)).collect()).collect();
        let ys: Vec<f64> = points.iter().map(|p| p.y).collect();
        let coefficients = non_negative_least_squares(&rows, &ys);
        let predicted: Vec<f64> = rows.iter().map(|r| dot(r, &coefficients)).collect();
        let mean = ys.iter().sum::<f64>() / ys.len() as f64;
        let total: f64 = ys.iter().map(|y| (y - mean).powi(2)).sum();
        let residual: f64 = ys.iter().zip(&predicted).map(|(y, p)| (y - p).powi(2)).sum();
        let r2 = if total > 0.0 { 1.0 - residual / total } else { 1.0 };
        let range =
            (0..drivers.len()).map(|i| points.iter().map(|p| p.x[i]).fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)))).collect();
        Ok(Fit {
            drivers: drivers.iter().map(|s| s.to_string()).collect(),
            coefficients,
            terms: terms.iter().map(|s| s.to_string()).collect(),
            r2,
            points: points.len(),
            range,
            build,
        })
    }

    pub fn predict(&self, x: &[f64]) -> f64 {
        let row: Vec<f64> = std::iter::once(1.0).chain((self.build)(x)).collect();
        dot(&row, &self.coefficients)
    }

    /// The worst extrapolation among the drivers at `x`, if any lies outside the range by
    /// more than [`EDGE`] (a step offered at 2,000 events/s is measured at the 1,989 it
    /// accepted; 2,000 is not an extrapolation of it).
    pub fn extrapolation(&self, x: &[f64]) -> Option<Extrapolation> {
        let mut worst: Option<Extrapolation> = None;
        for (v, (lo, hi)) in x.iter().zip(&self.range) {
            let e = if *v > hi * (1.0 + EDGE) {
                Extrapolation { factor: v / hi, beyond: true }
            } else if *v < lo * (1.0 - EDGE) && *v > 0.0 {
                Extrapolation { factor: lo / v, beyond: false }
            } else {
                continue;
            };
            if worst.is_none_or(|w| e.factor > w.factor) {
                worst = Some(e);
            }
        }
        worst
    }

    /// `y = 0.12 + 3.4e-5·members`, for display.
    pub fn formula(&self) -> String {
        let mut s = format!("{:.3e}", self.coefficients[0]);
        for (c, t) in self.coefficients[1..].iter().zip(&self.terms) {
            s.push_str(&format!(" + {c:.3e}·{t}"));
        }
        s
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Least squares with every coefficient ≥ 0: solve, drop the most negative term, repeat
/// (an active-set method; the models here have at most four terms).
fn non_negative_least_squares(rows: &[Vec<f64>], ys: &[f64]) -> Vec<f64> {
    let width = rows[0].len();
    let mut active: Vec<usize> = (0..width).collect();
    loop {
        let mut coefficients = vec![0.0; width];
        if let Some(solved) = least_squares(rows, ys, &active) {
            for (i, c) in active.iter().zip(solved) {
                coefficients[*i] = c;
            }
        } else {
            // Columns that the points cannot tell apart: keep the intercept only.
            let mean = ys.iter().sum::<f64>() / ys.len() as f64;
            coefficients = vec![0.0; width];
            coefficients[0] = mean.max(0.0);
            return coefficients;
        }
        let most_negative = active.iter().copied().filter(|&i| coefficients[i] < 0.0).min_by(|&a, &b| coefficients[a].total_cmp(&coefficients[b]));
        match most_negative {
            None => return coefficients,
            Some(i) => active.retain(|&a| a != i),
        }
        if active.is_empty() {
            return vec![0.0; width];
        }
    }
}

/// Ordinary least squares over the columns `cols`, by the normal equations with partial
/// pivoting. `None` when they are singular (fewer distinct points than terms). Columns are
/// scaled to unit size first, since drivers range from 1 to 10⁵.
fn least_squares(rows: &[Vec<f64>], ys: &[f64], cols: &[usize]) -> Option<Vec<f64>> {
    let n = cols.len();
    let scale: Vec<f64> = cols.iter().map(|&c| rows.iter().map(|r| r[c].abs()).fold(0.0, f64::max).max(f64::MIN_POSITIVE)).collect();
    let mut a = vec![vec![0.0; n + 1]; n];
    for (r, y) in rows.iter().zip(ys) {
        let v: Vec<f64> = cols.iter().zip(&scale).map(|(&c, s)| r[c] / s).collect();
        for i in 0..n {
            for j in 0..n {
                a[i][j] += v[i] * v[j];
            }
            a[i][n] += v[i] * y;
        }
    }
    for col in 0..n {
        let pivot = (col..n).max_by(|&x, &y| a[x][col].abs().total_cmp(&a[y][col].abs()))?;
        if a[pivot][col].abs() < 1e-12 {
            return None;
        }
        a.swap(col, pivot);
        for row in 0..n {
            if row != col {
                let f = a[row][col] / a[col][col];
                let pivot_row = a[col].clone();
                for (cell, p) in a[row].iter_mut().zip(&pivot_row).skip(col) {
                    *cell -= f * p;
                }
            }
        }
    }
    Some((0..n).map(|i| a[i][n] / a[i][i] / scale[i]).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn linear(x: &[f64]) -> Vec<f64> {
        vec![x[0]]
    }

    fn pts(xy: &[(f64, f64)]) -> Vec<Point> {
        xy.iter().map(|&(x, y)| Point { x: vec![x], y }).collect()
    }

    #[test]
    fn an_exact_line_is_recovered() {
        let fit = Fit::new("y", &["x"], &["x"], linear, &pts(&[(10.0, 7.0), (100.0, 52.0), (1000.0, 502.0)])).unwrap();
        assert!((fit.coefficients[0] - 2.0).abs() < 1e-9 && (fit.coefficients[1] - 0.5).abs() < 1e-12, "{:?}", fit.coefficients);
        assert!((fit.r2 - 1.0).abs() < 1e-12);
        assert!((fit.predict(&[10_000.0]) - 5002.0).abs() < 1e-6);
    }

    #[test]
    fn a_negative_intercept_is_dropped_and_the_slope_refitted_through_zero() {
        // y = 3x - 10 exactly; through the origin the best slope is Σxy/Σx².
        let p = pts(&[(10.0, 20.0), (20.0, 50.0), (30.0, 80.0)]);
        let fit = Fit::new("y", &["x"], &["x"], linear, &p).unwrap();
        let slope = (10.0 * 20.0 + 20.0 * 50.0 + 30.0 * 80.0) / (100.0 + 400.0 + 900.0);
        assert_eq!(fit.coefficients[0], 0.0);
        assert!((fit.coefficients[1] - slope).abs() < 1e-12, "{:?}", fit.coefficients);
    }

    #[test]
    fn a_two_driver_model_with_a_product_term() {
        fn build(x: &[f64]) -> Vec<f64> {
            vec![x[0], x[0] * x[1]]
        }
        // cores = 0.1 + 0.0004·rate + 0.00002·rate·consumers
        let p: Vec<Point> = [(250.0, 1.0), (250.0, 10.0), (1000.0, 1.0), (1000.0, 10.0), (2000.0, 10.0)]
            .iter()
            .map(|&(r, k)| Point { x: vec![r, k], y: 0.1 + 0.0004 * r + 0.00002 * r * k })
            .collect();
        let fit = Fit::new("cores", &["rate", "consumers"], &["rate", "rate×consumers"], build, &p).unwrap();
        assert!((fit.predict(&[100_000.0, 10.0]) - (0.1 + 40.0 + 20.0)).abs() < 1e-6, "{:?}", fit.coefficients);
        let e = fit.extrapolation(&[100_000.0, 10.0]).unwrap();
        assert!(e.beyond && (e.factor - 50.0).abs() < 1e-9);
        assert_eq!(e.to_string(), "×50 beyond measured");
        assert_eq!(fit.extrapolation(&[1000.0, 10.0]), None);
        assert_eq!(fit.extrapolation(&[2040.0, 10.0]), None, "within 5% of the highest measured rate");
        assert!(fit.extrapolation(&[2200.0, 10.0]).is_some());
    }

    #[test]
    fn one_point_gives_a_constant_and_no_points_an_error() {
        let fit = Fit::new("y", &["x"], &["x"], linear, &pts(&[(10.0, 4.0)])).unwrap();
        assert!((fit.predict(&[10.0]) - 4.0).abs() < 1e-9);
        assert_eq!(Fit::new("rss", &["x"], &["x"], linear, &[]).unwrap_err(), FitError::NoPoints("rss".into()));
    }

    #[test]
    fn below_the_range_is_named_too() {
        let fit = Fit::new("y", &["x"], &["x"], linear, &pts(&[(100.0, 1.0), (1000.0, 2.0)])).unwrap();
        assert_eq!(fit.extrapolation(&[10.0]).unwrap().to_string(), "÷10 below measured");
    }
}
