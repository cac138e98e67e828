/*
 * Readings charts. Every <div class="chart" data-src="/api/sites/{site}/readings?device=…&metric=…&bucket=…">
 * on the page is fetched (same origin, with the session's credentials) and drawn with uPlot
 * (static/vendor/uplot, loaded before this script), sized to the div.
 *
 * The answer is the readings API's: {metric, bucket, points: [{ts, value, ...}]} for raw rows,
 * [{ts, n, avg, min, max}] for hourly ones (avg as the line, min..max as a band). An answer that
 * already carries uPlot columns ({data, series, bands, tz}: relic_guard/dashboard/charts.py) is
 * drawn as it is. Gaps follow charts.py: where more than 2 buckets are missing between two
 * points the line breaks (a bucket is an hour, or for raw rows the series' median spacing).
 *
 * Times are labelled in Beijing time (24-hour clock), whatever the browser's zone. Colours come
 * from the page's CSS variables --fg, --muted and --accent when defined, so the chart follows a
 * dark night theme. Optional attributes: data-height (px of the plot; else the div's height,
 * else 240), data-label (else the metric name). A failure is shown as text in the div.
 */
(function () {
  "use strict";

  var MAX_MISSING_BUCKETS = 2;
  var HOUR_S = 3600;
  var DEFAULT_TZ = "Asia/Shanghai";
  var LEGEND_PX = 40;
  var FONT = "13px system-ui, sans-serif";
  var EN = /^en\b/i.test((document.documentElement && document.documentElement.lang) || "");
  var TEXT = EN
    ? { time: "time (Beijing)", empty: "No readings in this period.", failed: "Chart not available: ",
        noLib: "the chart library (uPlot) is not loaded" }
    : { time: "时间（北京）", empty: "该时段没有读数。", failed: "无法显示图表：",
        noLib: "图表库（uPlot）未加载" };

  function cssVar(el, name, fallback) {
    var value = window.getComputedStyle(el).getPropertyValue(name).trim();
    return value || fallback;
  }

  function pad(n) {
    return (n < 10 ? "0" : "") + n;
  }

  // Seconds since the epoch; the API writes RFC 3339 with an offset (+08:00).
  function epoch(ts) {
    var ms = Date.parse(ts);
    return isNaN(ms) ? null : ms / 1000;
  }

  function num(v) {
    return typeof v === "number" && isFinite(v) ? v : null;
  }

  function medianStep(xs) {
    var deltas = [];
    for (var i = 1; i < xs.length; i++) {
      if (xs[i] > xs[i - 1]) deltas.push(xs[i] - xs[i - 1]);
    }
    if (!deltas.length) return null;
    deltas.sort(function (a, b) { return a - b; });
    var mid = deltas.length >> 1;
    return deltas.length % 2 ? deltas[mid] : (deltas[mid - 1] + deltas[mid]) / 2;
  }

  // rows: [[x, y1, y2, ...], ...] sorted by x. Returns uPlot columns with a null row one step
  // after a point followed by more than MAX_MISSING_BUCKETS missing buckets.
  function columns(rows, nY, step) {
    var cols = [];
    for (var c = 0; c <= nY; c++) cols.push([]);
    var limit = step === null ? null : (MAX_MISSING_BUCKETS + 1) * step;
    for (var i = 0; i < rows.length; i++) {
      var row = rows[i];
      if (i > 0 && limit !== null && row[0] - rows[i - 1][0] > limit) {
        cols[0].push(rows[i - 1][0] + step);
        for (var g = 1; g <= nY; g++) cols[g].push(null);
      }
      for (var k = 0; k <= nY; k++) cols[k].push(row[k]);
    }
    return cols;
  }

  // The readings API's answer -> {data, series, bands, tz, metric}.
  function fromApi(body) {
    if (Array.isArray(body.data)) {
      return { data: body.data, series: body.series || ["value"], bands: body.bands || [],
               tz: body.tz || DEFAULT_TZ, metric: body.metric || "" };
    }
    if (!Array.isArray(body.points)) throw new Error("the answer has no 'points'");
    var hourly = body.bucket === "hour";
    var names = hourly ? ["avg", "min", "max"] : ["value"];
    var rows = [];
    body.points.forEach(function (p) {
      var x = epoch(p.ts);
      if (x === null) return;
      var row = [x];
      names.forEach(function (n) { row.push(num(p[n])); });
      rows.push(row);
    });
    rows.sort(function (a, b) { return a[0] - b[0]; });
    var step = hourly ? HOUR_S : medianStep(rows.map(function (r) { return r[0]; }));
    return { data: columns(rows, names.length, step), series: names,
             bands: hourly ? [{ series: [3, 2] }] : [], tz: DEFAULT_TZ, metric: body.metric || "" };
  }

  function localDate(tz) {
    return function (ts) { return uPlot.tzDate(new Date(ts * 1e3), tz); };
  }

  function draw(el, payload) {
    var fg = cssVar(el, "--fg", "#e6e6e6");
    var muted = cssVar(el, "--muted", "#8a8a8a");
    var accent = cssVar(el, "--accent", "#4ea1ff");
    var label = el.getAttribute("data-label") || payload.metric || "";
    var local = localDate(payload.tz);
    var full = function (u, v) {
      if (v == null) return "—";
      var d = local(v);
      return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " +
        pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds());
    };
    // 24-hour labels; the date is added where the day changes (and alone for day-sized ticks).
    var timeValues = function (u, splits, axisIdx, space, incr) {
      var lastDay = null;
      return splits.map(function (v) {
        var d = local(v);
        var day = pad(d.getMonth() + 1) + "-" + pad(d.getDate());
        var hm = pad(d.getHours()) + ":" + pad(d.getMinutes());
        var text = incr >= 86400 ? day : (day !== lastDay ? day + "\n" + hm : hm);
        lastDay = day;
        return text;
      });
    };
    var axis = { stroke: fg, font: FONT, labelFont: FONT, grid: { stroke: muted, width: 0.5 },
                 ticks: { stroke: muted, width: 0.5 } };
    var series = [{ label: TEXT.time, value: full }];
    if (payload.series.length === 3 && payload.bands.length) {
      series.push({ label: label + " (avg)", stroke: accent, width: 2 });
      series.push({ label: "min", stroke: muted, width: 1, dash: [4, 4] });
      series.push({ label: "max", stroke: muted, width: 1, dash: [4, 4] });
    } else {
      payload.series.forEach(function (name, i) {
        series.push({ label: i === 0 ? label : name, stroke: i === 0 ? accent : muted, width: i === 0 ? 2 : 1 });
      });
    }
    var bands = payload.bands.map(function (b) { return { series: b.series, fill: "rgba(128,128,128,0.25)" }; });
    var given = parseInt(el.getAttribute("data-height") || "", 10);
    // The height is fixed at the first draw: the legend below the plot makes the div grow, and
    // following that growth would grow the chart forever.
    var height = given > 0 ? given : (el.clientHeight > 160 ? el.clientHeight - LEGEND_PX : 240);
    var opts = {
      width: Math.max(el.clientWidth, 200),
      height: height,
      tzDate: local,
      series: series,
      bands: bands,
      axes: [
        Object.assign({}, axis, { values: timeValues, size: 52 }),
        Object.assign({}, axis, { label: label, size: 64 })
      ]
    };
    el.textContent = "";
    var plot = new uPlot(opts, payload.data, el);
    if (window.ResizeObserver) {
      var width = el.clientWidth;
      new ResizeObserver(function () {
        if (el.clientWidth !== width && el.clientWidth > 0) {
          width = el.clientWidth;
          plot.setSize({ width: Math.max(width, 200), height: height });
        }
      }).observe(el);
    }
    return plot;
  }

  function fail(el, message) {
    el.textContent = TEXT.failed + message;
    el.classList.add("chart-error");
  }

  function load(el) {
    var src = el.getAttribute("data-src");
    if (!src || el.getAttribute("data-drawn")) return;
    el.setAttribute("data-drawn", "1");
    if (typeof uPlot === "undefined") {
      fail(el, TEXT.noLib);
      return;
    }
    fetch(src, { mode: "same-origin", credentials: "include", headers: { Accept: "application/json" } })
      .then(function (response) {
        return response.text().then(function (text) {
          var body = null;
          try { body = JSON.parse(text); } catch (e) { body = null; }
          if (!response.ok) {
            // The API says why in {"error": …}; an HTML error page (a proxy's) is not shown as markup.
            var plain = text.trim();
            var why = body && typeof body.error === "string" ? body.error
              : (plain && plain.charAt(0) !== "<" ? plain.slice(0, 200) : "");
            throw new Error(response.status + " " + response.statusText + (why ? ": " + why : ""));
          }
          if (body === null) throw new Error("the answer is not JSON");
          return body;
        });
      })
      .then(function (body) {
        var payload = fromApi(body);
        if (!payload.data.length || !payload.data[0].length) {
          el.textContent = TEXT.empty;
          el.classList.add("chart-empty");
          return;
        }
        draw(el, payload);
      })
      .catch(function (err) { fail(el, err && err.message ? err.message : String(err)); });
  }

  function scan(root) {
    var found = (root || document).querySelectorAll("div.chart[data-src]");
    for (var i = 0; i < found.length; i++) load(found[i]);
  }

  // For pages that add charts later (and for the tests of the column rule).
  window.relicGuardCharts = { scan: scan, fromApi: fromApi, medianStep: medianStep };

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { scan(); });
  } else {
    scan();
  }
})();
