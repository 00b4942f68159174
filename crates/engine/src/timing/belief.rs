//! What the run believes a task's generation time to be: a log-normal distribution, estimated
//! from a prior and the batch's own tasks, finished and still running.
//!
//! Read [`estimate`]. Generation times are skewed to the right (most clips take about the
//! same time, a few take much longer), and their logarithms are close to normal: the belief is
//! `ln T ~ N(mu, sigma²)`. Three kinds of evidence go in:
//! - the prior ([`super::Prior`]): `weight` pseudo-tasks whose log times have the prior's
//!   mean and spread — for the median, fewer when the prior is strong (the service's speed
//!   drifts between batches) and fewer still when the batch contradicts it;
//! - the batch's finished tasks: their exact times;
//! - the batch's running tasks: only that each will take longer than its age so far.
//!
//! The running tasks matter early on. The first tasks of a batch to finish are its fastest:
//! estimated from them alone, the median comes out short, polls come too early, and a task
//! older than every time seen so far looks overdue and is polled over and over (the 17.5
//! recordInfo calls per job of a 60-job batch that motivated this). Counted as "longer than
//! its age", a running task pulls the estimate up exactly as much as it should. The estimate
//! is the maximum of the posterior, found by expectation-maximisation: each running task is
//! replaced by its expected log time given that it exceeds its age, and mean and spread are
//! computed again, a few times over.

use std::time::Duration;

use super::{LogStats, Prior};

/// The spread assumed where a source gives a single figure ("about 130 s"): generation
/// times within a factor of about 2 of the median for nine tasks in ten. Kie's notes put a
/// Sora 2 clip at one to three minutes around 130 s, which is this spread. An assumption,
/// not a fact about any model: the batch's own tasks replace it as they finish.
pub const DEFAULT_SIGMA: f64 = 0.35;

/// How much the assumed spread counts when there is no prior: as much as this many tasks.
const SIGMA_PRIOR_WEIGHT: f64 = 3.0;

/// Bounds of the spread: nothing is that regular, or that erratic.
const MIN_SIGMA: f64 = 0.03;
const MAX_SIGMA: f64 = 1.5;

/// How far (in the log) a class's median may have drifted since its prior was learned
/// without the batch's tasks having to outweigh the prior: about 5%.
const PRIOR_DRIFT: f64 = 0.05;
/// The degrees of freedom of the prior on the median: the lower, the sooner a prior the batch
/// contradicts is set aside.
const PRIOR_TAIL: f64 = 4.0;

/// Rounds of expectation-maximisation per estimate. Each estimate starts from the previous
/// one, which is close: a few rounds are enough.
const ROUNDS: usize = 8;

/// A running task this far below the current estimate (in standard deviations) says
/// nothing new: it is left out, which changes the estimate by less than 0.2%.
const UNINFORMATIVE_BELOW: f64 = -3.0;

/// `ln T ~ N(mu, sigma²)`, `T` in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Belief {
    pub mu: f64,
    pub sigma: f64,
}

impl Belief {
    /// The generation time with `z` standard deviations (of the log) from the median.
    pub fn at_z(&self, z: f64) -> Duration {
        duration_of_ms((self.mu + self.sigma * z).exp())
    }

    pub fn median(&self) -> Duration {
        self.at_z(0.0)
    }

    /// The mean generation time, `exp(mu + sigma² / 2)`.
    pub fn mean(&self) -> Duration {
        duration_of_ms((self.mu + self.sigma * self.sigma / 2.0).exp())
    }

    /// The share of tasks still running at age `age`.
    pub fn survival(&self, age: Duration) -> f64 {
        let millis = age.as_secs_f64() * 1000.0;
        if millis <= 0.0 {
            return 1.0;
        }
        upper_tail((millis.ln() - self.mu) / self.sigma)
    }
}

/// The belief from `prior`, the batch's finished tasks (`finished`, log milliseconds) and its
/// running tasks (`running_ms`, the age of each in milliseconds), starting from `start`
/// (the previous estimate) when there is one. `None` while there is neither a prior nor a
/// finished task: nothing yet says how long tasks take.
pub fn estimate(
    prior: Option<&Prior>,
    finished: &LogStats,
    running_ms: &[f64],
    start: Option<Belief>,
) -> Option<Belief> {
    if prior.is_none() && finished.weight <= 0.0 {
        return None;
    }
    // The prior as pseudo-tasks: `weight` of them for the median; for the spread, at least
    // `SIGMA_PRIOR_WEIGHT`, with the assumed spread where no prior gives one.
    let (prior_mu, prior_sigma, mu_weight) = match prior {
        Some(prior) => (prior.log_median, prior.log_sigma, prior.weight.max(0.0)),
        None => (finished.mean, DEFAULT_SIGMA, 0.0),
    };
    let sigma_weight = mu_weight.max(SIGMA_PRIOR_WEIGHT);
    let running_ln: Vec<f64> = running_ms
        .iter()
        .filter(|millis| **millis >= 1.0)
        .map(|millis| millis.ln())
        .collect();
    let mut belief = start.unwrap_or(Belief {
        mu: if mu_weight > 0.0 {
            prior_mu
        } else {
            finished.mean
        },
        sigma: prior_sigma,
    });
    // The prior on the median, as pseudo-tasks: never surer than a drift of
    // `PRIOR_DRIFT` allows, however many tasks it stands for.
    let settled_weight = if mu_weight > 0.0 {
        1.0 / (1.0 / mu_weight + (PRIOR_DRIFT / prior_sigma).powi(2))
    } else {
        0.0
    };
    for _ in 0..ROUNDS {
        // A prior the batch contradicts counts less and less (a Student-t prior with
        // `PRIOR_TAIL` degrees of freedom, as a reweighting): a service slower today than
        // the cache remembers is believed within the batch, not after it.
        let distance = (belief.mu - prior_mu) * settled_weight.sqrt() / prior_sigma;
        let mu_weight = settled_weight * (PRIOR_TAIL + 1.0) / (PRIOR_TAIL + distance * distance);
        // Expected log time and its square, given "longer than its age", of each running
        // task, under the current belief.
        let (mut count, mut sum, mut sum_of_squares) = (0.0, 0.0, 0.0);
        for &age in &running_ln {
            let alpha = (age - belief.mu) / belief.sigma;
            if alpha < UNINFORMATIVE_BELOW {
                continue;
            }
            let hazard = inverse_mills(alpha);
            let expected = belief.mu + belief.sigma * hazard;
            let variance =
                belief.sigma * belief.sigma * (1.0 + alpha * hazard - hazard * hazard).max(0.0);
            count += 1.0;
            sum += expected;
            sum_of_squares += variance + expected * expected;
        }
        let finished_sum = finished.mean * finished.weight;
        let finished_squares =
            (finished.variance() + finished.mean * finished.mean) * finished.weight;
        let mu_total = mu_weight + finished.weight + count;
        let mu = (mu_weight * prior_mu + finished_sum + sum) / mu_total;
        // Squared deviations from the new mean: the prior's spread, the finished tasks', the
        // running tasks' expected ones.
        let deviations = sigma_weight * prior_sigma * prior_sigma
            + (finished_squares - 2.0 * mu * finished_sum + finished.weight * mu * mu)
            + (sum_of_squares - 2.0 * mu * sum + count * mu * mu);
        let sigma_total = sigma_weight + finished.weight + count;
        let sigma = (deviations.max(0.0) / sigma_total)
            .sqrt()
            .clamp(MIN_SIGMA, MAX_SIGMA);
        if !mu.is_finite() || !sigma.is_finite() {
            break;
        }
        belief = Belief { mu, sigma };
    }
    Some(belief)
}

/// `P(Z > z)` for a standard normal `Z`.
pub fn upper_tail(z: f64) -> f64 {
    0.5 * erfc(z / std::f64::consts::SQRT_2)
}

/// `phi(z) / P(Z > z)`: the expected excess of a standard normal over `z`, plus `z`.
fn inverse_mills(z: f64) -> f64 {
    if z > 8.0 {
        // The tail is too thin to divide by; the asymptote is within 0.2% here.
        return z + 1.0 / z;
    }
    let density = (-z * z / 2.0).exp() / (2.0 * std::f64::consts::PI).sqrt();
    density / upper_tail(z).max(f64::MIN_POSITIVE)
}

/// The complementary error function, to a relative error below 1.2e-7 (the Chebyshev fit of
/// Numerical Recipes, `erfcc`): std has none, and this is all the precision a poll needs.
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let polynomial = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let value = t * polynomial.exp();
    if x >= 0.0 { value } else { 2.0 - value }
}

fn duration_of_ms(millis: f64) -> Duration {
    if millis.is_finite() && millis > 0.0 {
        Duration::from_secs_f64((millis / 1000.0).min(1e9))
    } else {
        Duration::ZERO
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timing::PriorSource;

    fn stats_of(seconds: &[f64]) -> LogStats {
        let mut stats = LogStats::default();
        for s in seconds {
            stats.add_ms(s * 1000.0);
        }
        stats
    }

    fn prior(median_s: f64, sigma: f64, weight: f64) -> Prior {
        Prior {
            log_median: (median_s * 1000.0).ln(),
            log_sigma: sigma,
            weight,
            source: PriorSource::Snapshot,
        }
    }

    #[test]
    fn the_normal_tail_is_right() {
        assert!((upper_tail(0.0) - 0.5).abs() < 1e-7);
        assert!((upper_tail(1.0) - 0.158_655_25).abs() < 1e-6);
        assert!((upper_tail(-1.959_964) - 0.975).abs() < 1e-6);
        assert!(upper_tail(10.0) < 1e-20);
        assert!((inverse_mills(0.0) - 0.797_884_56).abs() < 1e-6);
    }

    #[test]
    fn nothing_known_is_no_belief() {
        assert_eq!(estimate(None, &LogStats::default(), &[5_000.0], None), None);
    }

    #[test]
    fn finished_tasks_alone_give_their_log_mean_and_spread() {
        // Symmetric around 100 s in the log: the median is 100 s.
        let finished = stats_of(&[50.0, 100.0, 200.0, 100.0, 100.0]);
        let belief = estimate(None, &finished, &[], None).expect("a belief");
        assert!((belief.median().as_secs_f64() - 100.0).abs() < 0.5);
        assert!(belief.sigma > 0.3 && belief.sigma < 0.6, "{belief:?}");
    }

    #[test]
    fn a_prior_holds_until_the_batch_outweighs_it() {
        let prior = prior(100.0, 0.3, 4.0);
        let alone = estimate(Some(&prior), &LogStats::default(), &[], None).expect("a belief");
        assert!((alone.median().as_secs_f64() - 100.0).abs() < 0.01);
        // Four tasks that agree with it move it a little...
        let agreeing = stats_of(&[110.0; 4]);
        let blended = estimate(Some(&prior), &agreeing, &[], None).expect("a belief");
        let median = blended.median().as_secs_f64();
        assert!(median > 102.0 && median < 109.0, "{blended:?}");
        // ... forty more than four.
        let many = stats_of(&[110.0; 40]);
        let mostly = estimate(Some(&prior), &many, &[], None).expect("a belief");
        assert!(mostly.median().as_secs_f64() > median, "{mostly:?}");
    }

    #[test]
    fn a_prior_the_batch_contradicts_is_set_aside() {
        // A strong prior (30 tasks) of 100 s; the batch's four tasks took 200 s. Counted
        // as 30 tasks, the prior would hold the median near 114 s; the batch is believed.
        let prior = prior(100.0, 0.3, 30.0);
        let contradicting = stats_of(&[200.0; 4]);
        let belief = estimate(Some(&prior), &contradicting, &[], None).expect("a belief");
        assert!(belief.median().as_secs_f64() > 145.0, "{belief:?}");
    }

    #[test]
    fn running_tasks_older_than_the_finished_ones_pull_the_median_up() {
        // The first three of ten tasks finished at about 80 s; seven are still running at 90 s.
        let finished = stats_of(&[78.0, 80.0, 82.0]);
        let naive = estimate(None, &finished, &[], None).expect("a belief");
        let censored = estimate(None, &finished, &[90_000.0; 7], Some(naive)).expect("a belief");
        assert!(naive.median().as_secs_f64() < 82.0);
        assert!(
            censored.median().as_secs_f64() > 90.0,
            "seven of ten are past 90 s: {censored:?}"
        );
    }

    #[test]
    fn a_prior_too_short_gives_way_to_tasks_running_past_it() {
        let prior = prior(60.0, 0.35, 2.0);
        let running = [150_000.0; 10];
        let belief =
            estimate(Some(&prior), &LogStats::default(), &running, None).expect("a belief");
        assert!(belief.median().as_secs_f64() > 150.0, "{belief:?}");
    }

    #[test]
    fn young_running_tasks_change_nothing() {
        let prior = prior(100.0, 0.3, 10.0);
        let finished = stats_of(&[90.0, 110.0]);
        let without = estimate(Some(&prior), &finished, &[], None).expect("a belief");
        let with = estimate(Some(&prior), &finished, &[1_000.0; 50], None).expect("a belief");
        assert!((with.mu - without.mu).abs() < 1e-3 && (with.sigma - without.sigma).abs() < 1e-3);
    }

    #[test]
    fn survival_and_mean_follow_the_log_normal() {
        let belief = Belief {
            mu: (100_000.0_f64).ln(),
            sigma: 0.3,
        };
        assert!((belief.survival(Duration::from_secs(100)) - 0.5).abs() < 1e-6);
        assert_eq!(belief.survival(Duration::ZERO), 1.0);
        assert!((belief.mean().as_secs_f64() - 100.0 * (0.045_f64).exp()).abs() < 0.01);
    }
}
