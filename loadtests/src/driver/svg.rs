//! Small inline SVG charts for the report: a histogram and a line chart over time.

use std::fmt::Write as _;

const W: f64 = 640.0;
const H: f64 = 220.0;
const PAD: f64 = 40.0;

fn frame(title: &str, out: &mut String) {
    let _ = write!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" font-family=\"sans-serif\" font-size=\"11\">\
         <rect width=\"{W}\" height=\"{H}\" fill=\"white\" stroke=\"#ccc\"/>\
         <text x=\"{PAD}\" y=\"16\" font-size=\"13\">{title}</text>\
         <line x1=\"{PAD}\" y1=\"{y}\" x2=\"{x2}\" y2=\"{y}\" stroke=\"#333\"/>\
         <line x1=\"{PAD}\" y1=\"24\" x2=\"{PAD}\" y2=\"{y}\" stroke=\"#333\"/>",
        y = H - PAD,
        x2 = W - 10.0
    );
}

/// Bars of `counts`, each `width` wide in `unit`.
pub fn histogram(title: &str, unit: &str, width: f64, counts: &[usize]) -> String {
    let mut out = String::new();
    frame(title, &mut out);
    let top = counts.iter().copied().max().unwrap_or(0).max(1) as f64;
    let bw = (W - PAD - 10.0) / counts.len().max(1) as f64;
    for (i, &c) in counts.iter().enumerate() {
        let h = (H - PAD - 24.0) * c as f64 / top;
        let _ = write!(
            out,
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{h:.1}\" fill=\"#4a7bd0\"/>",
            PAD + i as f64 * bw,
            H - PAD - h,
            (bw - 1.0).max(0.5)
        );
    }
    let _ = write!(
        out,
        "<text x=\"{PAD}\" y=\"{}\">0</text><text x=\"{}\" y=\"{}\" text-anchor=\"end\">{:.2} {unit}</text>\
         <text x=\"4\" y=\"34\">{}</text></svg>",
        H - PAD + 14.0,
        W - 10.0,
        H - PAD + 14.0,
        width * counts.len() as f64,
        top as usize
    );
    out
}

/// One line of a chart: name, colour, points (x, y).
pub type Series<'a> = (&'a str, &'a str, Vec<(f64, f64)>);

/// Lines of `series` (name, colour, points (x, y)) against x from 0 to the largest x.
pub fn lines(title: &str, x_unit: &str, series: &[Series<'_>]) -> String {
    let mut out = String::new();
    frame(title, &mut out);
    let all = series.iter().flat_map(|s| s.2.iter());
    let (xmax, ymax) = all.fold((1e-9f64, 1e-9f64), |(x, y), p| (x.max(p.0), y.max(p.1)));
    let sx = |x: f64| PAD + (W - PAD - 10.0) * x / xmax;
    let sy = |y: f64| H - PAD - (H - PAD - 24.0) * y / ymax;
    for (i, (name, colour, points)) in series.iter().enumerate() {
        let path: Vec<String> = points
            .iter()
            .map(|&(x, y)| format!("{:.1},{:.1}", sx(x), sy(y)))
            .collect();
        let _ = write!(
            out,
            "<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"1.5\" points=\"{}\"/>\
             <text x=\"{}\" y=\"16\" fill=\"{colour}\">{name}</text>",
            path.join(" "),
            W - 200.0 + 100.0 * i as f64
        );
    }
    let _ = write!(
        out,
        "<text x=\"{PAD}\" y=\"{}\">0</text><text x=\"{}\" y=\"{}\" text-anchor=\"end\">{xmax:.0} {x_unit}</text>\
         <text x=\"4\" y=\"34\">{ymax:.2}</text></svg>",
        H - PAD + 14.0,
        W - 10.0,
        H - PAD + 14.0
    );
    out
}
