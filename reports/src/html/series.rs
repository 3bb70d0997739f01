//! The data behind the plots, taken from the record and the report model: percentile
//! spectra from HDR histograms, per-second series, fault bands.

use super::svg::{Band, Series};
use crate::model::IntervalRow;
use assay_core::record::{FaultEvent, ScenarioRecord};
use hdrhistogram::Histogram;

/// Points per decade of the percentile axis (0.1 decade apart).
const STEPS_PER_DECADE: u32 = 10;
/// The spectrum ends at 99.9999 % at most (and at the last sample before).
const MAX_DECADES: f64 = 6.0;

/// HdrHistogram's percentile distribution as plot points: (x on the percentile axis,
/// latency in ms), ten per decade up to `1 − 1/N` (N samples), then the maximum. Empty
/// for an empty histogram.
pub fn spectrum(h: &Histogram<u64>) -> Vec<(f64, f64)> {
    if h.is_empty() {
        return Vec::new();
    }
    let last = (h.len() as f64).log10().clamp(0.0, MAX_DECADES);
    let steps = (last * STEPS_PER_DECADE as f64).floor() as u32;
    let mut points: Vec<(f64, f64)> = (0..=steps)
        .map(|i| {
            let x = i as f64 / STEPS_PER_DECADE as f64;
            let p = 1.0 - 10f64.powf(-x);
            (x, h.value_at_quantile(p) as f64 / 1e6)
        })
        .collect();
    let max = (last, h.max() as f64 / 1e6);
    match points.last_mut() {
        Some(p) if p.0 >= last => *p = max,
        _ => points.push(max),
    }
    points
}

/// One series per interval row: `value` of each, at the interval's start (seconds).
pub fn over_time(name: &str, rows: &[IntervalRow], value: fn(&IntervalRow) -> f64) -> Series {
    Series {
        name: name.to_string(),
        points: rows.iter().map(|r| (r.t_s, value(r))).collect(),
    }
}

/// Where the measured window starts on the scenario's clock (the one fault events use),
/// as far as the record tells: after the load phase and the warmup. Steps before the
/// workload are not in the record's figures, so a scenario with both is drawn as if its
/// steps took no time.
pub fn measured_offset_s(s: &ScenarioRecord) -> f64 {
    s.load_phase
        .as_ref()
        .map_or(0.0, |l| l.elapsed_ns as f64 / 1e9)
        + s.load.warmup_s
}

/// The fault schedule as shaded bands on the measured window's clock: a fault from its
/// start to its undo (`partition` → `heal`, `kill` → `start`, …), to the window's end
/// when it was never undone, and a thin band for one-off actions (restart, promote).
pub fn fault_bands(faults: &[FaultEvent], offset_s: f64, end_s: f64) -> Vec<Band> {
    let at = |f: &FaultEvent| (f.at_ns as f64 / 1e9 - offset_s).max(0.0);
    let mut bands = Vec::new();
    for (i, f) in faults.iter().enumerate() {
        let Some(undo) = f.action.undo() else {
            if !faults[..i]
                .iter()
                .any(|o| o.fault == f.fault && o.action.undo() == Some(f.action))
            {
                bands.push(Band {
                    from: at(f),
                    to: at(f),
                    label: label(f),
                });
            }
            continue;
        };
        let end = faults[i + 1..]
            .iter()
            .find(|o| o.fault == f.fault && o.action == undo)
            .map_or(end_s.max(at(f)), at);
        bands.push(Band {
            from: at(f),
            to: end,
            label: label(f),
        });
    }
    bands
}

fn label(f: &FaultEvent) -> String {
    format!(
        "{} ({}) at {:.1} s{}",
        f.action.as_str(),
        f.fault,
        f.at_ns as f64 / 1e9,
        if f.ok { "" } else { " — not done" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use assay_core::scenario::FaultKind;

    fn histogram(values: impl IntoIterator<Item = u64>) -> Histogram<u64> {
        let mut h = Histogram::new_with_bounds(1, 3_600_000_000_000, 3).unwrap();
        for v in values {
            h.record(v).unwrap();
        }
        h
    }

    #[test]
    fn spectrum_climbs_to_the_maximum_at_one_over_n() {
        let h = histogram((1..=1000).map(|i| i * 1_000_000));
        let s = spectrum(&h);
        assert_eq!(s.first().unwrap().0, 0.0);
        let (x, y) = *s.last().unwrap();
        assert!((x - 3.0).abs() < 1e-9, "{x}");
        assert!((y - 1000.0).abs() < 1.0, "{y}");
        assert!(s.windows(2).all(|w| w[0].1 <= w[1].1 && w[0].0 <= w[1].0));
        // p90 of 1..1000 ms is about 900 ms.
        let p90 = s.iter().find(|(x, _)| (*x - 1.0).abs() < 1e-9).unwrap().1;
        assert!((p90 - 900.0).abs() < 2.0, "{p90}");
    }

    #[test]
    fn an_empty_histogram_has_no_spectrum_and_one_sample_one_point() {
        assert!(spectrum(&histogram([])).is_empty());
        assert_eq!(spectrum(&histogram([2_000_000])).len(), 1);
    }

    fn event(at_s: f64, action: FaultKind, fault: &str) -> FaultEvent {
        FaultEvent {
            unix_ms: 0,
            at_ns: (at_s * 1e9) as u64,
            action,
            fault: fault.into(),
            ok: true,
            detail: String::new(),
        }
    }

    #[test]
    fn a_fault_is_a_band_from_its_start_to_its_undo() {
        let faults = [
            event(5.0, FaultKind::Partition, "partition for 2s"),
            event(7.0, FaultKind::Heal, "partition for 2s"),
            event(9.0, FaultKind::Restart, "restart"),
            event(10.0, FaultKind::Kill, "kill"),
        ];
        let bands = fault_bands(&faults, 2.0, 12.0);
        let spans: Vec<(f64, f64)> = bands.iter().map(|b| (b.from, b.to)).collect();
        assert_eq!(spans, [(3.0, 5.0), (7.0, 7.0), (8.0, 12.0)]);
        assert!(bands[0]
            .label
            .starts_with("partition (partition for 2s) at 5.0 s"));
    }
}
