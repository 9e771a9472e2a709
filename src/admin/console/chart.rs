//! Line charts as inline SVG, drawn on the server: no script, no chart library, nothing
//! fetched. The x axis is the last hour; gaps (intervals without a value) break the line.

use maud::{html, Markup};

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 170.0;
const LEFT: f64 = 52.0;
const RIGHT: f64 = 8.0;
const TOP: f64 = 10.0;
const BOTTOM: f64 = 22.0;
/// The span shown, in ms.
const SPAN_MS: f64 = 60.0 * 60.0 * 1000.0;

/// One line: its legend and its values at times (ms since the epoch).
pub struct Series<'a> {
    pub label: &'a str,
    pub values: Vec<(i64, Option<f64>)>,
}

/// A round number at or above `max`, so the axis reads well (1, 2, 5 × 10ⁿ).
pub fn nice_ceiling(max: f64) -> f64 {
    if max <= 0.0 || !max.is_finite() {
        return 1.0;
    }
    let magnitude = 10f64.powf(max.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|v| *v >= max)
        .unwrap_or(10.0 * magnitude)
}

fn label(v: f64) -> String {
    if v >= 100.0 || v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_owned()
    }
}

/// The polylines of `series` (one per unbroken run) in chart coordinates.
fn runs(values: &[(i64, Option<f64>)], now_ms: i64, top: f64) -> Vec<String> {
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let mut out = Vec::new();
    let mut current = String::new();
    for (at, value) in values {
        let age = (now_ms - at) as f64;
        match value {
            Some(v) if age <= SPAN_MS => {
                let x = LEFT + plot_w * (1.0 - age / SPAN_MS);
                let y = TOP + plot_h * (1.0 - (v / top).min(1.0));
                current.push_str(&format!("{x:.1},{y:.1} "));
            }
            _ => {
                if !current.is_empty() {
                    out.push(std::mem::take(&mut current));
                }
            }
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// A chart titled `title`, values in `unit`, of `series` over the hour before `now_ms`.
pub fn line_chart(title: &str, unit: &str, series: &[Series<'_>], now_ms: i64) -> Markup {
    let max = series
        .iter()
        .flat_map(|s| s.values.iter().filter_map(|(_, v)| *v))
        .fold(0.0, f64::max);
    let top = nice_ceiling(max);
    let plot_bottom = HEIGHT - BOTTOM;
    let has_data = series
        .iter()
        .any(|s| s.values.iter().any(|(_, v)| v.is_some()));
    html! {
        figure class="chart" {
            figcaption {
                strong { (title) }
                @for (i, s) in series.iter().enumerate() {
                    span class={"legend s" (i)} { (s.label) }
                }
            }
            svg viewBox={"0 0 " (WIDTH) " " (HEIGHT)} role="img" aria-label=(title) {
                @for step in 0..=2 {
                    @let y = TOP + (plot_bottom - TOP) * f64::from(step) / 2.0;
                    line class="grid" x1=(LEFT) x2=(WIDTH - RIGHT) y1=(y) y2=(y) {}
                    text class="axis" x=(LEFT - 6.0) y=(y + 4.0) text-anchor="end" {
                        (label(top * (1.0 - f64::from(step) / 2.0))) " " (unit)
                    }
                }
                text class="axis" x=(LEFT) y=(HEIGHT - 6.0) { "−60 min" }
                text class="axis" x=((LEFT + WIDTH - RIGHT) / 2.0) y=(HEIGHT - 6.0) text-anchor="middle" { "−30 min" }
                text class="axis" x=(WIDTH - RIGHT) y=(HEIGHT - 6.0) text-anchor="end" { "now" }
                @for (i, s) in series.iter().enumerate() {
                    @for points in runs(&s.values, now_ms, top) {
                        polyline class={"line s" (i)} points=(points) {}
                    }
                }
                @if !has_data {
                    text class="empty" x=((LEFT + WIDTH - RIGHT) / 2.0) y=(HEIGHT / 2.0) text-anchor="middle" {
                        "No samples yet: a point is taken every 10 s"
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_tops_are_round() {
        assert_eq!(nice_ceiling(0.0), 1.0);
        assert_eq!(nice_ceiling(0.7), 1.0);
        assert_eq!(nice_ceiling(1.3), 2.0);
        assert_eq!(nice_ceiling(42.0), 50.0);
        assert_eq!(nice_ceiling(500.0), 500.0);
        assert_eq!(nice_ceiling(501.0), 1000.0);
    }

    #[test]
    fn gaps_break_the_line_and_old_points_fall_off() {
        let now = 10 * 60 * 60 * 1000;
        let values = vec![
            (now - 2 * 60 * 60 * 1000, Some(1.0)), // older than the hour
            (now - 30 * 60 * 1000, Some(1.0)),
            (now - 20 * 60 * 1000, Some(2.0)),
            (now - 10 * 60 * 1000, None),
            (now, Some(2.0)),
        ];
        let lines = runs(&values, now, 2.0);
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert_eq!(lines[0].split_whitespace().count(), 2);
        // The newest point sits on the right edge, at the top.
        assert_eq!(lines[1].trim(), format!("{:.1},{:.1}", WIDTH - RIGHT, TOP));
    }

    #[test]
    fn a_chart_without_samples_says_so() {
        let html = line_chart(
            "Requests",
            "/s",
            &[Series {
                label: "all",
                values: vec![],
            }],
            0,
        )
        .into_string();
        assert!(html.contains("No samples yet"));
    }
}
