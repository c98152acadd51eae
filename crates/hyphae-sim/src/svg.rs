//! Plots as plain SVG: a line chart with axes and labels, and a topology drawing. Written by
//! hand because a plotting crate without its font stack cannot label axes (`CRATES.md`).

use std::fmt::Write;

/// One line of a chart.
#[derive(Debug, Clone)]
pub struct Series {
    /// Legend text.
    pub name: String,
    /// CSS colour.
    pub colour: &'static str,
    /// Points (x, y).
    pub points: Vec<(f64, f64)>,
}

const W: f64 = 720.0;
const H: f64 = 360.0;
const L: f64 = 70.0;
const R: f64 = 20.0;
const TOP: f64 = 40.0;
const B: f64 = 50.0;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A "nice" tick step for a range.
fn step(span: f64) -> f64 {
    if span <= 0.0 || !span.is_finite() {
        return 1.0;
    }
    let raw = span / 5.0;
    let mag = 10f64.powf(raw.log10().floor());
    let n = raw / mag;
    mag * if n < 1.5 {
        1.0
    } else if n < 3.5 {
        2.0
    } else if n < 7.5 {
        5.0
    } else {
        10.0
    }
}

/// A line chart of `series` with a title and axis labels; `y_max` fixes the top of the axis.
pub fn line_chart(
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
    y_max: Option<f64>,
) -> String {
    let xs = series.iter().flat_map(|s| s.points.iter().map(|p| p.0));
    let ys = series.iter().flat_map(|s| s.points.iter().map(|p| p.1));
    let x_max = xs.fold(0.0f64, f64::max).max(1e-9);
    let y_top = y_max
        .unwrap_or_else(|| ys.fold(0.0f64, f64::max) * 1.1)
        .max(1e-9);
    let px = |x: f64| L + x / x_max * (W - L - R);
    let py = |y: f64| H - B - y / y_top * (H - TOP - B);
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">"#
    );
    let _ = write!(s, r#"<rect width="{W}" height="{H}" fill="white"/>"#);
    let _ = write!(
        s,
        r#"<text x="{}" y="22" text-anchor="middle" font-size="15">{}</text>"#,
        W / 2.0,
        esc(title)
    );
    // Axes and ticks.
    let _ = write!(
        s,
        r#"<path d="M{L},{TOP} V{} H{}" stroke="black" fill="none"/>"#,
        H - B,
        W - R
    );
    let xs = step(x_max);
    let mut x = 0.0;
    while x <= x_max * 1.0001 {
        let _ = write!(
            s,
            r#"<line x1="{0:.1}" y1="{1}" x2="{0:.1}" y2="{2}" stroke="black"/><text x="{0:.1}" y="{3}" text-anchor="middle">{4}</text>"#,
            px(x),
            H - B,
            H - B + 5.0,
            H - B + 18.0,
            trim(x)
        );
        x += xs;
    }
    let ystep = step(y_top);
    let mut y = 0.0;
    while y <= y_top * 1.0001 {
        let _ = write!(
            s,
            r##"<line x1="{0}" y1="{1:.1}" x2="{2}" y2="{1:.1}" stroke="#ddd"/><text x="{3}" y="{4:.1}" text-anchor="end">{5}</text>"##,
            L,
            py(y),
            W - R,
            L - 6.0,
            py(y) + 4.0,
            trim(y)
        );
        y += ystep;
    }
    let _ = write!(
        s,
        r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#,
        (L + W - R) / 2.0,
        H - 12.0,
        esc(x_label)
    );
    let _ = write!(
        s,
        r#"<text x="16" y="{0}" text-anchor="middle" transform="rotate(-90 16 {0})">{1}</text>"#,
        (TOP + H - B) / 2.0,
        esc(y_label)
    );
    for (k, se) in series.iter().enumerate() {
        if !se.points.is_empty() {
            let mut d = String::new();
            for (i, p) in se.points.iter().enumerate() {
                let _ = write!(
                    d,
                    "{}{:.1},{:.1} ",
                    if i == 0 { "M" } else { "L" },
                    px(p.0),
                    py(p.1.min(y_top))
                );
            }
            let _ = write!(
                s,
                r#"<path d="{}" stroke="{}" stroke-width="1.5" fill="none"/>"#,
                d.trim_end(),
                se.colour
            );
        }
        let ly = TOP + 14.0 * k as f64;
        let _ = write!(
            s,
            r#"<rect x="{}" y="{}" width="12" height="3" fill="{}"/><text x="{}" y="{}">{}</text>"#,
            W - R - 170.0,
            ly - 4.0,
            se.colour,
            W - R - 153.0,
            ly,
            esc(&se.name)
        );
    }
    s.push_str("</svg>\n");
    s
}

fn trim(x: f64) -> String {
    let s = format!("{x:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s.is_empty() {
        "0".into()
    } else {
        s.to_string()
    }
}

/// The topology: edges in grey, live nodes in blue, crashed nodes in red.
pub fn topology(
    title: &str,
    pos: &[(f64, f64)],
    edges: &[(usize, usize)],
    dead: &[bool],
) -> String {
    let size = 720.0;
    let m = 20.0;
    let (mut x0, mut y0, mut x1, mut y1) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
    for p in pos {
        x0 = x0.min(p.0);
        y0 = y0.min(p.1);
        x1 = x1.max(p.0);
        y1 = y1.max(p.1);
    }
    let span = (x1 - x0).max(y1 - y0).max(1e-9);
    let f = |p: (f64, f64)| {
        (
            m + (p.0 - x0) / span * (size - 2.0 * m),
            30.0 + m + (p.1 - y0) / span * (size - 2.0 * m),
        )
    };
    let r = (4.0 / (pos.len() as f64).sqrt().max(1.0) * 10.0).clamp(0.8, 4.0);
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{}" font-family="sans-serif" font-size="13"><rect width="100%" height="100%" fill="white"/><text x="{}" y="20" text-anchor="middle">{}</text>"#,
        size + 30.0,
        size / 2.0,
        esc(title)
    );
    let mut d = String::new();
    for &(a, b) in edges {
        let (pa, pb) = (f(pos[a]), f(pos[b]));
        let _ = write!(d, "M{:.1},{:.1}L{:.1},{:.1}", pa.0, pa.1, pb.0, pb.1);
    }
    let _ = write!(s, r##"<path d="{d}" stroke="#bbb" stroke-width="0.5"/>"##);
    for (i, &p) in pos.iter().enumerate() {
        let q = f(p);
        let c = if dead.get(i).copied().unwrap_or(false) {
            "#d22"
        } else {
            "#236"
        };
        let _ = write!(
            s,
            r#"<circle cx="{:.1}" cy="{:.1}" r="{r:.1}" fill="{c}"/>"#,
            q.0, q.1
        );
    }
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_are_svg() {
        let c = line_chart(
            "t <1>",
            "s",
            "ratio",
            &[Series {
                name: "a".into(),
                colour: "red",
                points: vec![(0.0, 0.5), (10.0, 1.0)],
            }],
            Some(1.0),
        );
        assert!(c.starts_with("<svg") && c.ends_with("</svg>\n"));
        assert!(c.contains("t &lt;1&gt;"));
        let t = topology("g", &[(0.0, 0.0), (1.0, 1.0)], &[(0, 1)], &[false, true]);
        assert!(t.contains("#d22"));
        assert_eq!(step(100.0), 20.0);
        assert_eq!(trim(2.500), "2.5");
    }
}
