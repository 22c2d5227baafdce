public import Foundation

/// The statement as text, CSV and a one-page HTML document with a chart (no script, no external resource).
extension EnergyStatement {
    public var title: String { "Hearth energy statement: home \(home), \(year)-\(month < 10 ? "0" : "")\(month)" }

    public func text() -> String {
        var lines = [
            title, "time zone \(timeZone.identifier), \(intervals) metered intervals", "",
            "energy: \(kwh(kilowattHours)) kWh (grid \(kwh(gridKilowattHours)), battery \(kwh(batteryKilowattHours)))",
            "credit: \(money(credit)) \(currency)", "", "band        hours   grid kWh  battery kWh   rate  credit",
        ]
        for total in bands {
            let b = total.band
            lines.append(
                [
                    b.name.padding(toLength: 10, withPad: " ", startingAt: 0), "\(two(b.startHour))–\(two(b.endHour))",
                    pad(kwh(total.gridKilowattHours), 10), pad(kwh(total.batteryKilowattHours), 12), pad(money(b.ratePerKilowattHour), 6),
                    pad(money(total.credit), 7),
                ].joined(separator: " "))
        }
        lines += ["", "grid events answered: \(events.count)"]
        for event in events {
            lines.append(
                "  \(event.id): \(stamp(event.first)) to \(stamp(event.last)), grid \(kwh(event.gridKilowattHours)) kWh, battery \(kwh(event.batteryKilowattHours)) kWh"
            )
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// One row per band, then per event, then the totals: `section,name,start,end,grid_kwh,battery_kwh,rate,credit`.
    public func csv() -> String {
        var rows = ["section,name,start,end,grid_kwh,battery_kwh,rate,credit"]
        for total in bands {
            let b = total.band
            rows.append(
                "band,\(b.name),\(two(b.startHour)):00,\(two(b.endHour)):00,\(kwh(total.gridKilowattHours)),\(kwh(total.batteryKilowattHours)),\(money(b.ratePerKilowattHour)),\(money(total.credit))"
            )
        }
        for event in events {
            rows.append(
                "event,\(Self.csvField(event.id)),\(stamp(event.first)),\(stamp(event.last)),\(kwh(event.gridKilowattHours)),\(kwh(event.batteryKilowattHours)),,"
            )
        }
        rows.append("total,\(Self.csvField(home)),,,\(kwh(gridKilowattHours)),\(kwh(batteryKilowattHours)),,\(money(credit))")
        return rows.joined(separator: "\n") + "\n"
    }

    /// One page: the totals, a stacked bar per day (grid and battery) drawn in SVG, the bands and the events.
    public func html() -> String {
        let width = 720.0
        let height = 200.0
        let most = max(days.map { $0.gridKilowattHours + $0.batteryKilowattHours }.max() ?? 0, 0.001)
        let bar = width / Double(max(days.count, 1))
        var svg =
            #"<svg xmlns="http://www.w3.org/2000/svg" width="\#(Int(width))" height="\#(Int(height + 20))" role="img" aria-label="energy per day">"#
        for (i, day) in days.enumerated() {
            let x = Double(i) * bar
            let grid = day.gridKilowattHours / most * height
            let battery = day.batteryKilowattHours / most * height
            svg +=
                #"<rect class="grid" x="\#(f(x + 1))" y="\#(f(height - grid))" width="\#(f(bar - 2))" height="\#(f(grid))"><title>day \#(day.day): grid \#(kwh(day.gridKilowattHours)) kWh</title></rect>"#
            svg +=
                #"<rect class="battery" x="\#(f(x + 1))" y="\#(f(height - grid - battery))" width="\#(f(bar - 2))" height="\#(f(battery))"><title>day \#(day.day): battery \#(kwh(day.batteryKilowattHours)) kWh</title></rect>"#
            if day.day == 1 || day.day % 5 == 0 {
                svg += #"<text x="\#(f(x + bar / 2))" y="\#(Int(height + 15))" text-anchor="middle" font-size="10">\#(day.day)</text>"#
            }
        }
        svg += "</svg>"
        var body = """
            <!doctype html><html lang="en"><head><meta charset="utf-8"><title>\(Self.escaped(title))</title>
            <style>body{font-family:sans-serif;max-width:760px;margin:2em auto}table{border-collapse:collapse}
            td,th{padding:2px 8px;text-align:right}th:first-child,td:first-child{text-align:left}
            .grid{fill:#4a7ab5}.battery{fill:#e0a030}</style></head><body>
            <h1>\(Self.escaped(title))</h1>
            <p>Energy <b id="total-kwh">\(kwh(kilowattHours))</b> kWh: grid <span id="grid-kwh">\(kwh(gridKilowattHours))</span>,
            battery <span id="battery-kwh">\(kwh(batteryKilowattHours))</span>. Credit <b id="credit">\(money(credit))</b> \(Self.escaped(currency)).
            Time zone \(Self.escaped(timeZone.identifier)).</p>
            <figure>\(svg)<figcaption>Energy per day, kWh: <span style="color:#4a7ab5">grid</span>,
            <span style="color:#e0a030">battery</span>.</figcaption></figure>
            <table><tr><th>band</th><th>hours</th><th>grid kWh</th><th>battery kWh</th><th>rate</th><th>credit</th></tr>
            """
        for total in bands {
            let b = total.band
            body +=
                "<tr><td>\(Self.escaped(b.name))</td><td>\(two(b.startHour))–\(two(b.endHour))</td><td>\(kwh(total.gridKilowattHours))</td><td>\(kwh(total.batteryKilowattHours))</td><td>\(money(b.ratePerKilowattHour))</td><td>\(money(total.credit))</td></tr>"
        }
        body +=
            "</table><h2>Grid events answered: \(events.count)</h2><table><tr><th>event</th><th>from</th><th>to</th><th>grid kWh</th><th>battery kWh</th></tr>"
        for event in events {
            body +=
                "<tr><td>\(Self.escaped(event.id))</td><td>\(stamp(event.first))</td><td>\(stamp(event.last))</td><td>\(kwh(event.gridKilowattHours))</td><td>\(kwh(event.batteryKilowattHours))</td></tr>"
        }
        return body + "</table></body></html>\n"
    }

    private func kwh(_ value: Double) -> String { String(format: "%.3f", value) }
    private func money(_ value: Double) -> String { String(format: "%.2f", value) }
    private func f(_ value: Double) -> String { String(format: "%.1f", value) }
    private func two(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
    private func pad(_ text: String, _ width: Int) -> String { String(repeating: " ", count: max(0, width - text.count)) + text }

    private func stamp(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.timeZone = timeZone
        return formatter.string(from: date)
    }

    static func escaped(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    /// A field as CSV needs it: quoted when it holds a comma, quote or line break; one a spreadsheet would read as a
    /// formula (`=`, `+`, `-`, `@`: event ids come from the utility's server) is given a leading `'`.
    static func csvField(_ text: String) -> String {
        let text = text.first.map { "=+-@".contains($0) } == true ? "'" + text : text
        guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return text }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
