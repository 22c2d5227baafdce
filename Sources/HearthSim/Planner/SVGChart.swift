import Foundation

/// Minimal SVG charts drawn from Swift (no scripts, no external resources): line charts with linear or log-10
/// x axes, grouped bars and stacked bars, each with axes, tick labels, units and a legend.
enum SVGChart {
    static let palette = ["#1b6ca8", "#d1495b", "#2e8b57", "#edae49", "#6a4c93", "#00798c", "#8d6e63", "#444444"]
    static let width = 720.0
    static let height = 340.0
    static let left = 70.0, right = 170.0, top = 36.0, bottom = 50.0

    struct Series {
        var name: String
        var points: [(Double, Double)]
        var dashed = false
    }

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(
            of: ">", with: "&gt;"
        )
        .replacingOccurrences(of: "\"", with: "&quot;")
    }

    static func n(_ x: Double) -> String { String(format: "%.1f", x) }

    /// "Nice" ticks covering lo...hi.
    static func ticks(_ lo: Double, _ hi: Double, count: Int = 5) -> [Double] {
        guard hi > lo else { return [lo] }
        let raw = (hi - lo) / Double(count)
        let mag = pow(10, floor(log10(raw)))
        let step = [1.0, 2, 2.5, 5, 10].map { $0 * mag }.first { $0 >= raw } ?? raw
        var t = (lo / step).rounded(.down) * step
        var out: [Double] = []
        while t <= hi + step * 1e-9 {
            if t >= lo - step * 1e-9 { out.append(t) }
            t += step
        }
        return out
    }

    static func label(_ raw: Double) -> String {
        let x = (raw * 1e6).rounded() / 1e6
        if abs(x) >= 1000 { return String(format: "%.0f", x) }
        if x == x.rounded() { return String(format: "%.0f", x) }
        if abs(x) >= 1 { return String(format: "%.1f", x) }
        return String(format: "%.2g", x)
    }

    private static func frame(title: String, xLabel: String, yLabel: String) -> String {
        var s =
            "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 \(n(width)) \(n(height))\" width=\"\(n(width))\" height=\"\(n(height))\" role=\"img\" aria-label=\"\(escape(title))\">"
        s += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>"
        s += "<text x=\"\(n(left))\" y=\"20\" font-size=\"14\" font-weight=\"bold\">\(escape(title))</text>"
        s +=
            "<text x=\"\(n(left + (width - left - right) / 2))\" y=\"\(n(height - 10))\" font-size=\"12\" text-anchor=\"middle\">\(escape(xLabel))</text>"
        s +=
            "<text transform=\"translate(16,\(n(top + (height - top - bottom) / 2))) rotate(-90)\" font-size=\"12\" text-anchor=\"middle\">\(escape(yLabel))</text>"
        return s
    }

    private static func legend(_ names: [String], dashed: [Bool] = []) -> String {
        var s = ""
        for (i, name) in names.enumerated() {
            let y = top + 10 + Double(i) * 18
            let x = width - right + 12
            let dash = i < dashed.count && dashed[i] ? " stroke-dasharray=\"5,3\"" : ""
            s +=
                "<line x1=\"\(n(x))\" y1=\"\(n(y))\" x2=\"\(n(x + 18))\" y2=\"\(n(y))\" stroke=\"\(palette[i % palette.count])\" stroke-width=\"3\"\(dash)/>"
            s += "<text x=\"\(n(x + 24))\" y=\"\(n(y + 4))\" font-size=\"11\">\(escape(String(name.prefix(24))))</text>"
        }
        return s
    }

    private static func axes(xTicks: [(Double, String)], yTicks: [(Double, String)]) -> String {
        let x0 = left, x1 = width - right, y0 = height - bottom, y1 = top
        var s = "<line x1=\"\(n(x0))\" y1=\"\(n(y0))\" x2=\"\(n(x1))\" y2=\"\(n(y0))\" stroke=\"black\"/>"
        s += "<line x1=\"\(n(x0))\" y1=\"\(n(y0))\" x2=\"\(n(x0))\" y2=\"\(n(y1))\" stroke=\"black\"/>"
        for (x, text) in xTicks {
            s += "<line x1=\"\(n(x))\" y1=\"\(n(y0))\" x2=\"\(n(x))\" y2=\"\(n(y0 + 5))\" stroke=\"black\"/>"
            s += "<text x=\"\(n(x))\" y=\"\(n(y0 + 18))\" font-size=\"11\" text-anchor=\"middle\">\(escape(text))</text>"
        }
        for (y, text) in yTicks {
            s += "<line x1=\"\(n(x0))\" y1=\"\(n(y))\" x2=\"\(n(x1))\" y2=\"\(n(y))\" stroke=\"#e3e3e3\"/>"
            s += "<text x=\"\(n(x0 - 6))\" y=\"\(n(y + 4))\" font-size=\"11\" text-anchor=\"end\">\(escape(text))</text>"
        }
        return s
    }

    /// A line chart; `logX` draws the x axis in decades (values ≤ 0 are clamped to the smallest positive).
    static func lines(
        title: String, xLabel: String, yLabel: String, series: [Series], logX: Bool = false, yRange: ClosedRange<Double>? = nil,
        percentY: Bool = false
    ) -> String {
        let all = series.flatMap(\.points)
        guard !all.isEmpty else {
            return frame(title: title, xLabel: xLabel, yLabel: yLabel) + "<text x=\"200\" y=\"150\">no data</text></svg>"
        }
        let positive = all.map(\.0).filter { $0 > 0 }
        func tx(_ x: Double) -> Double { logX ? log10(max(x, positive.min() ?? 1)) : x }
        var xLo = all.map { tx($0.0) }.min()!, xHi = all.map { tx($0.0) }.max()!
        if logX { xLo = floor(xLo); xHi = ceil(xHi) }
        if xHi <= xLo { xHi = xLo + 1 }
        var yLo = yRange?.lowerBound ?? min(0, all.map(\.1).min()!)
        var yHi = yRange?.upperBound ?? all.map(\.1).max()!
        if yHi <= yLo { yHi = yLo + 1 }
        if yRange == nil { yHi += (yHi - yLo) * 0.05 }
        let yT = ticks(yLo, yHi)
        yLo = min(yLo, yT.first ?? yLo)
        let px = { (x: Double) in left + (tx(x) - xLo) / (xHi - xLo) * (width - left - right) }
        let py = { (y: Double) in height - bottom - (y - yLo) / (yHi - yLo) * (height - top - bottom) }
        let xTicks: [(Double, String)] =
            logX
            ? stride(from: xLo, through: xHi, by: 1).map { (left + ($0 - xLo) / (xHi - xLo) * (width - left - right), label(pow(10, $0))) }
            : ticks(xLo, xHi).map { (left + ($0 - xLo) / (xHi - xLo) * (width - left - right), label($0)) }
        let yTicks = yT.filter { $0 <= yHi }.map { (py($0), percentY ? "\(label($0 * 100))%" : label($0)) }
        var s = frame(title: title, xLabel: xLabel, yLabel: yLabel) + axes(xTicks: xTicks, yTicks: yTicks)
        for (i, line) in series.enumerated() where !line.points.isEmpty {
            let d = line.points.map { "\(n(px($0.0))),\(n(py($0.1)))" }.joined(separator: " ")
            let dash = line.dashed ? " stroke-dasharray=\"5,3\"" : ""
            s += "<polyline fill=\"none\" stroke=\"\(palette[i % palette.count])\" stroke-width=\"2\"\(dash) points=\"\(d)\"/>"
            if line.points.count <= 12 {
                for p in line.points {
                    s += "<circle cx=\"\(n(px(p.0)))\" cy=\"\(n(py(p.1)))\" r=\"3\" fill=\"\(palette[i % palette.count])\"/>"
                }
            }
        }
        return s + legend(series.map(\.name), dashed: series.map(\.dashed)) + "</svg>"
    }

    /// Bars: one group per category, one bar per series (grouped), or stacked when `stacked`.
    static func bars(
        title: String, yLabel: String, categories: [String], series: [(String, [Double])], stacked: Bool = false, percentY: Bool = false
    ) -> String {
        let totals = categories.indices.map { c in stacked ? series.reduce(0) { $0 + $1.1[c] } : series.map { $0.1[c] }.max() ?? 0 }
        let yHiRaw = max(percentY ? 1 : 0, totals.max() ?? 1) * (percentY ? 1 : 1.08)
        let yT = ticks(0, yHiRaw > 0 ? yHiRaw : 1)
        let yHi = max(yHiRaw, yT.last ?? yHiRaw, 1e-12)
        let plotW = width - left - right
        let groupW = plotW / Double(max(1, categories.count))
        let py = { (y: Double) in height - bottom - y / yHi * (height - top - bottom) }
        let xTicks = categories.enumerated().map { (left + groupW * (Double($0.offset) + 0.5), String($0.element.prefix(22))) }
        let yTicks = yT.map { (py($0), percentY ? "\(label($0 * 100))%" : label($0)) }
        var s = frame(title: title, xLabel: "", yLabel: yLabel) + axes(xTicks: xTicks, yTicks: yTicks)
        for c in categories.indices {
            var base = 0.0
            let inner = groupW * 0.7
            let barW = stacked ? inner : inner / Double(max(1, series.count))
            for (i, (name, values)) in series.enumerated() {
                let v = values[c]
                let x = left + groupW * Double(c) + groupW * 0.15 + (stacked ? 0 : barW * Double(i))
                let y0 = py(base), y1 = py(base + v)
                s +=
                    "<rect x=\"\(n(x))\" y=\"\(n(min(y0, y1)))\" width=\"\(n(barW - 1))\" height=\"\(n(abs(y0 - y1)))\" fill=\"\(palette[i % palette.count])\"><title>\(escape(name)): \(label(v))</title></rect>"
                if stacked { base += v }
            }
        }
        var legendText = ""
        for (i, (name, _)) in series.enumerated() {
            let y = top + 10 + Double(i) * 18
            let x = width - right + 12
            legendText += "<rect x=\"\(n(x))\" y=\"\(n(y - 6))\" width=\"14\" height=\"12\" fill=\"\(palette[i % palette.count])\"/>"
            legendText += "<text x=\"\(n(x + 20))\" y=\"\(n(y + 4))\" font-size=\"11\">\(escape(name))</text>"
        }
        return s + legendText + "</svg>"
    }
}
