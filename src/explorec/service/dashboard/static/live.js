// The live-loop page: polls /dashboard/api/live and redraws the uPlot charts (no other library).
(function () {
  "use strict";
  var INTERVAL_MS = 2000;
  var COLOURS = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#4b5563", "#db2777"];
  var charts = {};

  function fade(hex) { return hex + "33"; }

  function width(el) { return Math.max(320, el.clientWidth - 8); }

  // one chart per element: rebuilt when its series change, else given new data
  function draw(id, t, lines, opts) {
    var el = document.getElementById(id);
    if (!t.length || !lines.length) {
      if (charts[id]) { charts[id].destroy(); delete charts[id]; }
      el.innerHTML = '<div class="empty">no data yet</div>';
      el.dataset.points = "0";
      return;
    }
    var names = lines.map(function (l) { return l.label; }).join("|");
    var data = [t].concat(lines.map(function (l) { return l.values; }));
    var chart = charts[id];
    if (chart && chart._names === names) {
      chart.setData(data);
    } else {
      if (chart) { chart.destroy(); }
      el.innerHTML = "";
      var series = [{}].concat(lines.map(function (l) {
        return { label: l.label, stroke: l.band ? fade(l.colour) : l.colour, width: l.band ? 1 : 2,
                 spanGaps: true, points: { show: true, size: 4 } };
      }));
      var bands = [];
      lines.forEach(function (l, i) {
        if (l.bandOf !== undefined) { bands.push({ series: [l.bandOf + 1, i + 1], fill: fade(l.colour) }); }
      });
      chart = new uPlot({
        width: width(el), height: 240, series: series, bands: bands,
        scales: { x: { time: true }, y: opts.y || {} },
        axes: [{ label: "time" }, { label: opts.yLabel, size: 60 }],
        legend: { live: false }
      }, data, el);
      chart._names = names;
      charts[id] = chart;
    }
    // how many values are drawn (null: nothing in that bucket or interval), read by the browser tests
    el.dataset.points = String(lines.reduce(function (n, l) {
      return n + l.values.filter(function (v) { return v !== null; }).length;
    }, 0));
  }

  // a rate line with its lower and upper band, per group
  function rateLines(groups) {
    var lines = [];
    Object.keys(groups).forEach(function (name, g) {
      var c = COLOURS[g % COLOURS.length];
      var base = lines.length;
      lines.push({ label: name + " upper", values: groups[name].hi, colour: c, band: true });
      lines.push({ label: name + " lower", values: groups[name].lo, colour: c, band: true, bandOf: base });
      lines.push({ label: name, values: groups[name].rate, colour: c });
    });
    return lines;
  }

  function pct(v) { return v === null || v === undefined ? "–" : (100 * v).toFixed(1) + " %"; }

  function totals(el, s, p) {
    var rows = [
      ["slates", s.slates], ["shown slots", s.impressions], ["attributed clicks", s.clicks],
      ["click rate", pct(s.click_rate)], ["exploration share", pct(s.exploration_share)],
      ["cold-item exposure", pct(s.cold_exposure)],
      ["coverage", pct(s.coverage) + " (" + (s.distinct_items_shown || 0) + " of " + (s.servable_items || 0) + ")"],
      ["events ingested (process)", p.events_total]
    ];
    el.innerHTML = rows.map(function (r) {
      return "<dt>" + r[0] + "</dt><dd data-name=\"" + r[0] + "\">" + (r[1] === undefined ? "–" : r[1]) + "</dd>";
    }).join("");
  }

  function update(body) {
    var s = body.store, p = body.process;
    totals(document.getElementById("totals"), s.totals || {}, p);
    draw("chart-policy", s.t, rateLines(s.by_policy), { yLabel: "click rate", y: { range: [0, 1] } });
    draw("chart-variant", s.t, rateLines(s.by_variant), { yLabel: "click rate", y: { range: [0, 1] } });
    draw("chart-explore", s.t, s.t.length ? [
      { label: "exploration share", values: s.series.exploration_share, colour: COLOURS[0] },
      { label: "cold-item exposure", values: s.series.cold_exposure, colour: COLOURS[1] }
    ] : [], { yLabel: "share of slots", y: { range: [0, 1] } });
    draw("chart-coverage", s.t, s.t.length ? [
      { label: "coverage", values: s.series.coverage, colour: COLOURS[2] }
    ] : [], { yLabel: "share of items", y: { range: [0, 1] } });
    draw("chart-ingest", p.t, p.t.length ? [
      { label: "events/s", values: p.events_per_s, colour: COLOURS[0] },
      { label: "slates/s", values: p.impressions_per_s, colour: COLOURS[3] }
    ] : [], { yLabel: "per second" });
    draw("chart-latency", p.t, p.t.length ? [
      { label: "p50", values: p.p50_ms, colour: COLOURS[2] },
      { label: "p90", values: p.p90_ms, colour: COLOURS[4] },
      { label: "p99", values: p.p99_ms, colour: COLOURS[1] }
    ] : [], { yLabel: "ms" });
    var stamp = document.getElementById("updated");
    stamp.textContent = new Date(body.generated_at * 1000).toISOString().replace("T", " ").slice(0, 19) + " UTC";
    stamp.dataset.generatedAt = String(body.generated_at);
    stamp.dataset.slates = String((s.totals || {}).slates || 0);
    stamp.dataset.clicks = String((s.totals || {}).clicks || 0);
  }

  function poll() {
    var url = document.getElementById("totals").dataset.url;
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) {
        if (r.status === 401) { window.location = "login"; throw new Error("logged out"); }
        return r.json();
      })
      .then(update)
      .catch(function (e) { document.getElementById("updated").textContent = "failed: " + e.message; })
      .finally(function () { window.setTimeout(poll, INTERVAL_MS); });
  }

  document.getElementById("interval").textContent = String(INTERVAL_MS / 1000);
  poll();
})();
