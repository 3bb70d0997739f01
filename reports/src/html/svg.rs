//! Inline SVG line plots: a linear y axis from zero, a linear x axis (time) or
//! HdrHistogram's percentile axis (x = log10(1 / (1 − p)), ticks 0 %, 90 %, 99 %,
//! 99.9 %, …), shaded bands (faults), one polyline per series. Every polyline carries
//! `data-points` and, up to `MAX_MARKERS`, one `<circle class="pt">` per vertex with its
//! value as a tooltip; a plot with no points is never drawn, it is "no data" text.

use super::text::{esc, num};
use std::fmt::Write as _;

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 260.0;
const LEFT: f64 = 64.0;
/// Room for the last x tick's label (`99.999%`) to the right of the axis.
const RIGHT: f64 = 30.0;
const TOP: f64 = 34.0;
const BOTTOM: f64 = 42.0;
/// Beyond this many vertices a series is drawn as its line alone.
const MAX_MARKERS: usize = 300;
/// Series colours, in order; the legend names each.
const COLOURS: [&str; 8] = [
    "#1f6fb2", "#d9534f", "#2e9e4f", "#8a5cc2", "#e08a1e", "#17a2b8", "#6c757d", "#c2185b",
];

/// How the x values of a plot are read.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum XAxis {
    /// Seconds (or any linear quantity), from zero.
    Linear,
    /// `log10(1 / (1 − p))` of a percentile `p`: 0 is 0 %, 1 is 90 %, 2 is 99 %, …
    Percentile,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

/// A shaded stretch of the x axis, e.g. a fault from its start to its undo.
#[derive(Clone, Debug, PartialEq)]
pub struct Band {
    pub from: f64,
    pub to: f64,
    pub label: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Plot {
    /// What the plot shows, for `data-plot` (and the browser test).
    pub id: String,
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub x_axis: XAxis,
    pub series: Vec<Series>,
    pub bands: Vec<Band>,
}

/// The label of the percentile axis at `x` decades: `0%`, `90%`, `99%`, `99.9%`, …
pub fn percentile_label(decades: u32) -> String {
    match decades {
        0 => "0%".into(),
        1 => "90%".into(),
        2 => "99%".into(),
        d => format!("99.{}%", "9".repeat(d as usize - 2)),
    }
}

/// A "nice" step (1, 2 or 5 × 10ⁿ) that cuts `range` into about `parts` pieces.
pub fn nice_step(range: f64, parts: f64) -> f64 {
    if range <= 0.0 || !range.is_finite() {
        return 1.0;
    }
    let raw = range / parts;
    let magnitude = 10f64.powf(raw.log10().floor());
    let f = raw / magnitude;
    let nice = if f <= 1.0 {
        1.0
    } else if f <= 2.0 {
        2.0
    } else if f <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * magnitude
}

/// The axes' extent: x from zero to `x_max`, y from zero to `y_max` (both > 0).
struct Frame {
    x_max: f64,
    y_max: f64,
}

impl Frame {
    fn px(&self, x: f64) -> f64 {
        LEFT + (x / self.x_max).clamp(0.0, 1.0) * (WIDTH - LEFT - RIGHT)
    }

    fn py(&self, y: f64) -> f64 {
        HEIGHT - BOTTOM - (y / self.y_max).clamp(0.0, 1.0) * (HEIGHT - TOP - BOTTOM)
    }
}

fn frame(plot: &Plot) -> (Frame, f64) {
    let points = plot.series.iter().flat_map(|s| &s.points);
    let (mut x_max, mut y_max) = (0f64, 0f64);
    for &(x, y) in points {
        x_max = x_max.max(x);
        y_max = y_max.max(y);
    }
    if plot.x_axis == XAxis::Linear {
        x_max = plot.bands.iter().fold(x_max, |m, b| m.max(b.to));
    }
    let x_max = match plot.x_axis {
        // Whole decades, at least to 99 %.
        XAxis::Percentile => x_max.ceil().max(2.0),
        XAxis::Linear if x_max > 0.0 => x_max,
        XAxis::Linear => 1.0,
    };
    // All zero (no errors): an axis up to 1 rather than one squeezed onto zero.
    let y_range = if y_max > 0.0 { y_max } else { 1.0 };
    let y_step = nice_step(y_range, 5.0);
    let y_max = (y_range / y_step).ceil().max(1.0) * y_step;
    (Frame { x_max, y_max }, y_step)
}

/// The plot as an `<svg class="plot">`, or `<p class="no-data">` when no series has a
/// point.
pub fn render(plot: &Plot) -> String {
    let total: usize = plot.series.iter().map(|s| s.points.len()).sum();
    if total == 0 {
        return format!(
            "<p class=\"no-data\" data-plot=\"{}\">{}: no data</p>\n",
            esc(&plot.id),
            esc(&plot.title)
        );
    }
    let (f, y_step) = frame(plot);
    let mut out = format!(
        "<svg class=\"plot\" data-plot=\"{}\" data-series-count=\"{}\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" role=\"img\" aria-label=\"{}\" xmlns=\"http://www.w3.org/2000/svg\">\n<title>{}</title>\n",
        esc(&plot.id),
        plot.series.len(),
        esc(&plot.title),
        esc(&plot.title)
    );
    let _ = writeln!(
        out,
        "<text class=\"title\" x=\"{LEFT}\" y=\"14\">{}</text>",
        esc(&plot.title)
    );
    out.push_str(&bands(plot, &f));
    out.push_str(&axes(plot, &f, y_step));
    for (i, s) in plot.series.iter().enumerate() {
        out.push_str(&series(plot.x_axis, s, COLOURS[i % COLOURS.len()], &f));
    }
    out.push_str(&legend(plot));
    out.push_str("</svg>\n");
    out
}

fn bands(plot: &Plot, f: &Frame) -> String {
    let mut out = String::new();
    for b in &plot.bands {
        let (x0, x1) = (f.px(b.from), f.px(b.to.max(b.from)));
        let _ = writeln!(
            out,
            "<rect class=\"band\" x=\"{x0:.1}\" y=\"{TOP}\" width=\"{:.1}\" height=\"{:.1}\"><title>{}</title></rect>",
            (x1 - x0).max(2.0),
            HEIGHT - TOP - BOTTOM,
            esc(&b.label)
        );
    }
    out
}

fn axes(plot: &Plot, f: &Frame, y_step: f64) -> String {
    let (x0, x1, y0, y1) = (LEFT, WIDTH - RIGHT, HEIGHT - BOTTOM, TOP);
    let mut out = format!("<path class=\"axis\" d=\"M{x0},{y1} V{y0} H{x1}\"/>\n");
    let mut y = 0.0;
    while y <= f.y_max + y_step / 2.0 {
        let py = f.py(y);
        let _ = writeln!(
            out,
            "<path class=\"grid\" d=\"M{x0},{py:.1} H{x1}\"/><text class=\"tick\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            x0 - 4.0,
            py + 4.0,
            num(y, y_step)
        );
        y += y_step;
    }
    let ticks: Vec<(f64, String)> = match plot.x_axis {
        XAxis::Percentile => (0..=f.x_max as u32)
            .map(|d| (d as f64, percentile_label(d)))
            .collect(),
        XAxis::Linear => {
            let step = nice_step(f.x_max, 8.0);
            (0..=((f.x_max / step).floor() as u32))
                .map(|i| (i as f64 * step, num(i as f64 * step, step)))
                .collect()
        }
    };
    for (x, label) in ticks {
        let px = f.px(x);
        let _ = writeln!(
            out,
            "<path class=\"grid\" d=\"M{px:.1},{y1} V{y0}\"/><text class=\"tick\" x=\"{px:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            y0 + 14.0,
            esc(&label)
        );
    }
    let _ = writeln!(
        out,
        "<text class=\"label\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
        (x0 + x1) / 2.0,
        HEIGHT - 6.0,
        esc(&plot.x_label)
    );
    let _ = writeln!(
        out,
        "<text class=\"label\" transform=\"translate(14,{:.1}) rotate(-90)\" text-anchor=\"middle\">{}</text>",
        (y0 + y1) / 2.0,
        esc(&plot.y_label)
    );
    out
}

fn x_display(axis: XAxis, x: f64) -> String {
    match axis {
        XAxis::Linear => format!("{x:.0} s"),
        XAxis::Percentile => {
            let p = 100.0 * (1.0 - 10f64.powf(-x));
            format!("p{}", trim(p))
        }
    }
}

/// `99.9` rather than `99.900000`; enough digits to tell the percentiles of the axis
/// apart.
fn trim(p: f64) -> String {
    let s = format!("{p:.4}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn series(axis: XAxis, s: &Series, colour: &str, f: &Frame) -> String {
    let mut points = String::new();
    for (i, &(x, y)) in s.points.iter().enumerate() {
        if i > 0 {
            points.push(' ');
        }
        let _ = write!(points, "{:.1},{:.1}", f.px(x), f.py(y));
    }
    let mut out = format!(
        "<g class=\"series\" data-series=\"{}\"><polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"1.6\" data-points=\"{}\" points=\"{points}\"/>\n",
        esc(&s.name),
        s.points.len()
    );
    if s.points.len() <= MAX_MARKERS {
        for &(x, y) in &s.points {
            let _ = writeln!(
                out,
                "<circle class=\"pt\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"2\" fill=\"{colour}\"><title>{}: {} → {}</title></circle>",
                f.px(x),
                f.py(y),
                esc(&s.name),
                x_display(axis, x),
                trim(y)
            );
        }
    }
    out.push_str("</g>\n");
    out
}

fn legend(plot: &Plot) -> String {
    let mut out = String::new();
    let mut x = LEFT + 4.0;
    for (i, s) in plot.series.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let _ = writeln!(
            out,
            "<rect x=\"{x:.1}\" y=\"21\" width=\"10\" height=\"3\" fill=\"{colour}\"/><text class=\"legend\" x=\"{:.1}\" y=\"26\">{}</text>",
            x + 13.0,
            esc(&s.name)
        );
        x += 24.0 + 6.5 * s.name.chars().count() as f64;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plot(series: Vec<Series>) -> Plot {
        Plot {
            id: "t:<x>".into(),
            title: "latency <ms>".into(),
            x_label: "percentile".into(),
            y_label: "ms".into(),
            x_axis: XAxis::Percentile,
            series,
            bands: Vec::new(),
        }
    }

    #[test]
    fn percentile_axis_is_labelled_by_decades() {
        assert_eq!(x_display(XAxis::Percentile, 3.0), "p99.9");
        assert_eq!(x_display(XAxis::Percentile, 1.0), "p90");
        let labels: Vec<String> = (0..5).map(percentile_label).collect();
        assert_eq!(labels, ["0%", "90%", "99%", "99.9%", "99.99%"]);
    }

    #[test]
    fn nice_steps_are_one_two_or_five() {
        assert_eq!(nice_step(10.0, 5.0), 2.0);
        assert_eq!(nice_step(0.7, 5.0), 0.2);
        assert_eq!(nice_step(480.0, 5.0), 100.0);
    }

    #[test]
    fn every_vertex_is_counted_and_marked() {
        let svg = render(&plot(vec![
            Series {
                name: "read".into(),
                points: vec![(0.0, 1.0), (1.0, 2.0), (2.0, 5.0)],
            },
            Series {
                name: "write".into(),
                points: vec![(0.0, 1.5)],
            },
        ]));
        assert!(svg.starts_with("<svg class=\"plot\" data-plot=\"t:&lt;x&gt;\""));
        assert!(svg.contains("data-points=\"3\""));
        assert!(svg.contains("data-points=\"1\""));
        assert_eq!(svg.matches("<circle class=\"pt\"").count(), 4);
        assert!(svg.contains(">99.9%</text>") || svg.contains(">99%</text>"));
        assert!(svg.contains("latency &lt;ms&gt;"));
        assert!(!svg.contains("<ms>"));
    }

    #[test]
    fn a_plot_without_points_is_no_data_text() {
        let empty = render(&plot(vec![Series {
            name: "read".into(),
            points: Vec::new(),
        }]));
        assert!(!empty.contains("<svg"));
        assert!(empty.contains("no data"));
    }

    #[test]
    fn bands_are_shaded_with_their_label() {
        let mut p = plot(vec![Series {
            name: "ops/s".into(),
            points: vec![(0.0, 10.0), (5.0, 12.0)],
        }]);
        p.x_axis = XAxis::Linear;
        p.bands.push(Band {
            from: 2.0,
            to: 3.0,
            label: "partition for 1s".into(),
        });
        let svg = render(&p);
        assert!(svg.contains("<rect class=\"band\""));
        assert!(svg.contains("<title>partition for 1s</title>"));
    }
}
