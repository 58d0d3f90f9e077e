// The support dashboard: reads GET /api/v1/support/analytics with the bearer token the page was
// given and draws each part of the answer as an SVG chart, its figures also in words. Plain DOM
// and SVG, no build step: the binary serves this file as it is.

const ANALYTICS = "/api/v1/support/analytics";
// sessionStorage: the token lasts as long as the tab, and other tabs and sites never see it.
const TOKEN_KEY = "supportd.dashboard.token";
const SVG_NS = "http://www.w3.org/2000/svg";
const DAY_MS = 24 * 60 * 60 * 1000;
const PERIOD_DAYS = 30;
const INTERVALS = ["hour", "day", "week"];
const NO_DATA = "No data in this period";

// Chart geometry, in SVG units; each SVG scales to its panel's width.
const ROWS_WIDTH = 600;
const LABEL_RIGHT = 140;
const LABEL_CHARS = 20;
const BAR_LEFT = 148;
const BAR_SPAN = 230;
const BAR_HEIGHT = 16;
const BAR_STEP = 20;
const ROW_GAP = 10;
const CHART_TOP = 8;
const AXIS_HEIGHT = 24;
const EMPTY_HEIGHT = 60;
// The durations an axis ends at, in minutes, from 5 minutes to 30 days.
const DURATION_STEPS = [5, 10, 15, 30, 60, 90, 120, 180, 240, 360, 480, 720, 1440, 2880, 4320,
  10080, 20160, 43200];

const byId = (id) => document.getElementById(id);
const panel = (name) => document.querySelector(`[data-chart="${name}"]`);

// ---- Elements ----

function setAttributes(element, attributes) {
  for (const [name, value] of Object.entries(attributes)) {
    element.setAttribute(name, String(value));
  }
}

function html(name, attributes = {}, ...children) {
  const element = document.createElement(name);
  setAttributes(element, attributes);
  element.append(...children);
  return element;
}

function svg(name, attributes = {}, ...children) {
  const element = document.createElementNS(SVG_NS, name);
  setAttributes(element, attributes);
  element.append(...children);
  return element;
}

// An SVG chart whose text alternative is `label`: its title and its accessible name.
function chartElement(label, width, height) {
  return svg("svg", {
    class: "chart",
    viewBox: `0 0 ${width} ${height}`,
    role: "img",
    "aria-label": label,
  }, svg("title", {}, label));
}

function svgText(content, attributes) {
  return svg("text", attributes, content);
}

function line(x1, y1, x2, y2, className) {
  return svg("line", { x1, y1, x2, y2, class: className });
}

// The text an empty chart shows over its axes.
function noData(chart, x, y) {
  chart.append(svgText(NO_DATA, { x, y, class: "no-data", "text-anchor": "middle" }));
}

// ---- Words and numbers ----

const numbers = new Intl.NumberFormat("en-GB");
const dayMonth = new Intl.DateTimeFormat("en-GB", { timeZone: "UTC", day: "numeric", month: "short" });
const fullDay = new Intl.DateTimeFormat("en-GB", {
  timeZone: "UTC", day: "numeric", month: "short", year: "numeric",
});
const hourOfDay = new Intl.DateTimeFormat("en-GB", {
  timeZone: "UTC", hour: "2-digit", minute: "2-digit", hourCycle: "h23",
});

function count(n) {
  return numbers.format(n);
}

function plural(n, one, many = `${one}s`) {
  return `${count(n)} ${n === 1 ? one : many}`;
}

function percent(rate) {
  return rate == null ? "no data" : `${numbers.format(Math.round(rate * 1000) / 10)}%`;
}

function signed(score) {
  if (score == null) return "no data";
  const rounded = Math.round(score * 10) / 10;
  return rounded > 0 ? `+${numbers.format(rounded)}` : numbers.format(rounded);
}

function duration(minutes) {
  if (minutes == null) return "no data";
  const total = Math.round(minutes);
  if (total === 0 && minutes > 0) return "under 1 min";
  if (total < 60) return `${total} min`;
  const days = Math.floor(total / 1440);
  const hours = Math.floor((total % 1440) / 60);
  const rest = total % 60;
  if (days > 0) return hours > 0 ? `${days} d ${hours} h` : `${days} d`;
  return rest > 0 ? `${hours} h ${rest} min` : `${hours} h`;
}

// "P1_HIGH" as "P1 high", "CRITICAL" as "Critical".
function codeName(code) {
  const words = code.toLowerCase().split("_");
  const first = /^p\d$/.test(words[0]) ? words[0].toUpperCase() : words[0][0].toUpperCase() + words[0].slice(1);
  return [first, ...words.slice(1)].join(" ");
}

function dayOf(text) {
  return new Date(`${text}T00:00:00Z`);
}

function intervalName(start, interval) {
  const date = new Date(start);
  if (interval === "hour") return `${dayMonth.format(date)} ${hourOfDay.format(date)}`;
  if (interval === "week") return `week of ${dayMonth.format(date)}`;
  return dayMonth.format(date);
}

// The label under an interval on an axis: hours show the day only at midnight.
function axisName(start, interval) {
  const date = new Date(start);
  if (interval === "hour" && date.getUTCHours() !== 0) return hourOfDay.format(date);
  return dayMonth.format(date);
}

function truncated(label) {
  return label.length > LABEL_CHARS ? `${label.slice(0, LABEL_CHARS - 1)}…` : label;
}

// The end of an axis counting whole things: 1, 2, 5, 10, 20, 50, ...
function countAxisEnd(value) {
  if (!(value > 0)) return 1;
  const magnitude = 10 ** Math.floor(Math.log10(value));
  return [1, 2, 5, 10].map((m) => m * magnitude).find((end) => end >= value);
}

function durationAxisEnd(minutes) {
  return DURATION_STEPS.find((end) => end >= minutes) ?? countAxisEnd(minutes);
}

// Every how many intervals an axis names one, so that about `fit` names fit under it.
function labelEvery(points, interval, fit) {
  const every = Math.max(1, Math.ceil(points / fit));
  // Hourly names past a day fall on midnights, the ones that name their day.
  return interval === "hour" && every > 1 && points > 24 ? Math.ceil(every / 24) * 24 : every;
}

function countTicks(end) {
  return [0, end / 2, end].filter(Number.isInteger).map((value) => ({ value, label: count(value) }));
}

// ---- Charts ----

// Horizontal bars grouped in labelled rows: `rows` is [{label, bars: [{segments: [{value,
// className, title}], text}]}], each bar's segments stacked from 0 on a scale ending at `end`.
// A bar's `text` states its figures in words beside it.
function rowsChart({ label, rows, end, ticks }) {
  const drawable = rows.some((row) => row.bars.some((bar) => bar.segments.some((s) => s.value > 0)));
  const shown = drawable ? rows : [];
  const bars = shown.reduce((sum, row) => sum + row.bars.length, 0);
  const plotHeight = shown.length === 0 ? EMPTY_HEIGHT : bars * BAR_STEP + shown.length * ROW_GAP;
  const bottom = CHART_TOP + plotHeight;
  const chart = chartElement(label, ROWS_WIDTH, bottom + AXIS_HEIGHT);
  const scale = (value) => (value / end) * BAR_SPAN;
  let y = CHART_TOP + ROW_GAP / 2;
  for (const row of shown) {
    const rowMiddle = y + (row.bars.length * BAR_STEP - (BAR_STEP - BAR_HEIGHT)) / 2;
    chart.append(svgText(truncated(row.label), {
      x: LABEL_RIGHT, y: rowMiddle, class: "row-label", "text-anchor": "end", "dominant-baseline": "middle",
    }));
    for (const bar of row.bars) {
      let x = BAR_LEFT;
      for (const segment of bar.segments) {
        if (segment.value > 0) {
          const width = scale(segment.value);
          chart.append(svg("rect", {
            class: `mark ${segment.className}`, x, y, width, height: BAR_HEIGHT,
          }, svg("title", {}, segment.title)));
          x += width;
        }
      }
      chart.append(svgText(bar.text, {
        x: x + 6, y: y + BAR_HEIGHT / 2, class: "value", "dominant-baseline": "middle",
      }));
      y += BAR_STEP;
    }
    y += ROW_GAP;
  }
  chart.append(line(BAR_LEFT, CHART_TOP, BAR_LEFT, bottom, "axis"));
  chart.append(line(BAR_LEFT, bottom, BAR_LEFT + BAR_SPAN, bottom, "axis"));
  for (const tick of ticks) {
    const x = BAR_LEFT + scale(tick.value);
    chart.append(line(x, bottom, x, bottom + 4, "axis"));
    chart.append(svgText(tick.label, { x, y: bottom + 16, class: "tick", "text-anchor": "middle" }));
  }
  if (!drawable) noData(chart, BAR_LEFT + BAR_SPAN / 2, CHART_TOP + plotHeight / 2);
  return chart;
}

// Vertical bars per interval, side by side: `measures` is [{key, className, word}] of `series`.
function seriesBarsChart({ label, series, interval, measures }) {
  const width = 1200;
  const height = 260;
  const left = 48;
  const top = 12;
  const plotWidth = width - left - 16;
  const plotHeight = height - top - 40;
  const bottom = top + plotHeight;
  const values = series.flatMap((point) => measures.map((m) => point[m.key]));
  const end = countAxisEnd(Math.max(0, ...values));
  const chart = chartElement(label, width, height);
  const y = (value) => bottom - (value / end) * plotHeight;
  for (const tick of countTicks(end)) {
    chart.append(line(left, y(tick.value), left + plotWidth, y(tick.value), "grid"));
    chart.append(svgText(tick.label, {
      x: left - 6, y: y(tick.value), class: "tick", "text-anchor": "end", "dominant-baseline": "middle",
    }));
  }
  const band = plotWidth / Math.max(series.length, 1);
  const barWidth = (band * 0.8) / measures.length;
  // The names left out are in each bar's title and the table.
  const every = labelEvery(series.length, interval, 12);
  series.forEach((point, index) => {
    const name = intervalName(point.start, interval);
    measures.forEach((measure, m) => {
      const value = point[measure.key];
      if (value > 0) {
        chart.append(svg("rect", {
          class: `mark ${measure.className}`,
          x: left + index * band + band * 0.1 + m * barWidth,
          y: y(value),
          width: barWidth,
          height: bottom - y(value),
        }, svg("title", {}, `${name}: ${count(value)} ${measure.word}`)));
      }
    });
    if (index % every === 0) {
      chart.append(svgText(axisName(point.start, interval), {
        x: left + (index + 0.5) * band, y: bottom + 16, class: "tick", "text-anchor": "middle",
      }));
    }
  });
  chart.append(line(left, top, left, bottom, "axis"));
  chart.append(line(left, bottom, left + plotWidth, bottom, "axis"));
  if (!values.some((value) => value > 0)) noData(chart, left + plotWidth / 2, top + plotHeight / 2);
  return chart;
}

// A line through the points of `values` (one per interval; null where there is none) on a scale
// from `min` to `max`.
function trendChart({ label, series, interval, values, min, max, ticks, format, className }) {
  const width = 600;
  const height = 190;
  const left = 48;
  const top = 14;
  const plotWidth = width - left - 16;
  const plotHeight = height - top - 40;
  const bottom = top + plotHeight;
  const chart = chartElement(label, width, height);
  const y = (value) => bottom - ((value - min) / (max - min)) * plotHeight;
  for (const tick of ticks) {
    chart.append(line(left, y(tick), left + plotWidth, y(tick), "grid"));
    chart.append(svgText(format(tick), {
      x: left - 6, y: y(tick), class: "tick", "text-anchor": "end", "dominant-baseline": "middle",
    }));
  }
  const band = plotWidth / Math.max(series.length, 1);
  const every = labelEvery(series.length, interval, 6);
  const points = [];
  series.forEach((point, index) => {
    const x = left + (index + 0.5) * band;
    if (values[index] != null) points.push({ x, y: y(values[index]), point, value: values[index] });
    if (index % every === 0) {
      chart.append(svgText(axisName(point.start, interval), {
        x, y: bottom + 16, class: "tick", "text-anchor": "middle",
      }));
    }
  });
  chart.append(line(left, top, left, bottom, "axis"));
  chart.append(line(left, bottom, left + plotWidth, bottom, "axis"));
  if (points.length === 0) {
    noData(chart, left + plotWidth / 2, top + plotHeight / 2);
    return chart;
  }
  const path = points.map((p, i) => `${i === 0 ? "M" : "L"}${p.x.toFixed(1)} ${p.y.toFixed(1)}`).join(" ");
  chart.append(svg("path", { d: path, class: `trend ${className}` }));
  // Values beside the points while they fit; the table has them all.
  const labelled = points.length <= 16;
  for (const p of points) {
    chart.append(svg("circle", { class: `mark point ${className}`, cx: p.x, cy: p.y, r: 4 },
      svg("title", {}, p.point.title)));
    if (labelled) {
      chart.append(svgText(format(p.value), {
        x: p.x, y: p.y - 8, class: "value", "text-anchor": "middle",
      }));
    }
  }
  return chart;
}

// ---- Panels ----

function figures(text) {
  return html("p", { class: "panel-figures" }, text);
}

function legend(entries) {
  return html("ul", { class: "legend" }, ...entries.map(([className, word]) =>
    html("li", {}, html("span", { class: `swatch ${className}`, "aria-hidden": "true" }), word)));
}

function table(caption, headings, rows) {
  return html("details", {},
    html("summary", {}, caption),
    html("table", {},
      html("thead", {}, html("tr", {}, ...headings.map((h) => html("th", { scope: "col" }, h)))),
      html("tbody", {}, ...rows.map((cells) =>
        html("tr", {}, html("th", { scope: "row" }, cells[0]), ...cells.slice(1).map((c) => html("td", {}, c)))))));
}

function subheading(text) {
  return html("h3", {}, text);
}

function drawVolume(analytics, period) {
  const { series, tickets } = analytics;
  const busiest = series.reduce((best, point) =>
    (best == null || point.ticketsCreated > best.ticketsCreated ? point : best), null);
  const busiestWords = busiest && busiest.ticketsCreated > 0
    ? ` Busiest: ${intervalName(busiest.start, period.interval)}, ${count(busiest.ticketsCreated)} created.`
    : "";
  const summary = `${plural(tickets.ticketsCreated, "ticket")} created and ${count(tickets.ticketsResolved)} resolved; `
    + `${count(tickets.ticketsReopened)} reopened and ${count(tickets.ticketsCancelled)} cancelled.`;
  return [
    figures(summary + busiestWords),
    seriesBarsChart({
      label: `Tickets created and resolved by ${period.interval}: ${summary}${busiestWords}`,
      series,
      interval: period.interval,
      measures: [
        { key: "ticketsCreated", className: "created", word: "created" },
        { key: "ticketsResolved", className: "resolved", word: "resolved" },
      ],
    }),
    legend([["created", "Created"], ["resolved", "Resolved"]]),
    table("Volume as a table", ["Interval", "Created", "Resolved", "Reopened", "Cancelled"],
      series.map((p) => [intervalName(p.start, period.interval), count(p.ticketsCreated),
        count(p.ticketsResolved), count(p.ticketsReopened), count(p.ticketsCancelled)])),
  ];
}

function drawBacklog({ backlog }) {
  const summary = `${plural(backlog.atEnd, "ticket")} open at the end of the period, ${count(backlog.atStart)} at its start.`;
  const ages = backlog.age.map((bucket) => `${bucket.label}: ${plural(bucket.tickets, "ticket")}`).join(", ");
  const end = countAxisEnd(Math.max(0, ...backlog.age.map((bucket) => bucket.tickets)));
  return [
    figures(summary),
    rowsChart({
      label: `Age of the tickets open at the end of the period: ${ages}.`,
      rows: backlog.age.map((bucket) => ({
        label: bucket.label,
        bars: [{
          segments: [{ value: bucket.tickets, className: "backlog", title: `${bucket.label}: ${plural(bucket.tickets, "ticket")}` }],
          text: plural(bucket.tickets, "ticket"),
        }],
      })),
      end,
      ticks: countTicks(end),
    }),
  ];
}

function complianceWords(compliance) {
  if (compliance.complianceRate == null) return "no verdicts";
  return `${percent(compliance.complianceRate)} met (${count(compliance.met)} met, ${count(compliance.breached)} breached)`;
}

function drawSla({ sla }) {
  const shareTicks = [0, 0.5, 1].map((value) => ({ value, label: percent(value) }));
  if (sla == null) {
    return [
      figures("The SLA report does not cover this selection."),
      rowsChart({ label: `SLA compliance: ${NO_DATA}.`, rows: [], end: 1, ticks: shareTicks }),
    ];
  }
  const entries = [["All priorities", sla.overall],
    ...sla.byPriority.map((p) => [codeName(p.priority), p.overall])];
  const row = ([name, compliance]) => {
    const verdicts = compliance.met + compliance.breached;
    const share = (n) => (verdicts > 0 ? n / verdicts : 0);
    return {
      label: name,
      bars: [{
        segments: [
          { value: share(compliance.met), className: "met", title: `${name}: ${plural(compliance.met, "clock")} met` },
          { value: share(compliance.breached), className: "breached", title: `${name}: ${plural(compliance.breached, "clock")} breached` },
        ],
        text: complianceWords(compliance),
      }],
    };
  };
  const words = entries.map(([name, compliance]) => `${name} ${complianceWords(compliance)}`).join("; ");
  return [
    figures(`Overall: ${complianceWords(sla.overall)}; response and resolution clocks together.`),
    rowsChart({ label: `SLA compliance by priority: ${words}.`, rows: entries.map(row), end: 1, ticks: shareTicks }),
    legend([["met", "Met"], ["breached", "Breached"]]),
  ];
}

function drawTimes({ times }) {
  const measures = [["First reply", times.firstReplyTime], ["Resolution", times.fullResolutionTime]];
  const statistics = ["median", "mean", "p90"];
  const rows = measures.flatMap(([measure, figure]) => statistics.map((key) => ({
    label: `${measure}, ${key}`,
    bars: [
      {
        segments: [{ value: figure[key], className: "calendar", title: `${measure} ${key}: ${duration(figure[key])} on the clock` }],
        text: duration(figure[key]),
      },
      {
        segments: [{ value: figure.businessMinutes[key], className: "business", title: `${measure} ${key}: ${duration(figure.businessMinutes[key])} in business hours` }],
        text: figure.businessMinutes[key] == null ? "no data" : `${duration(figure.businessMinutes[key])} in business hours`,
      },
    ],
  })));
  const longest = Math.max(0, ...measures.flatMap(([, figure]) => statistics.flatMap((key) =>
    [figure[key] ?? 0, figure.businessMinutes[key] ?? 0])));
  const end = durationAxisEnd(longest);
  const sentence = ([measure, figure]) => (figure.measured === 0
    ? `${measure}: none measured.`
    : `${measure}: ${count(figure.measured)} measured, median ${duration(figure.median)}, `
      + `mean ${duration(figure.mean)}, p90 ${duration(figure.p90)} `
      + `(business hours: median ${duration(figure.businessMinutes.median)}).`);
  const words = measures.map(sentence).join(" ");
  return [
    figures(words),
    rowsChart({
      label: `First reply and resolution times. ${words}`,
      rows,
      end,
      ticks: [0, end / 2, end].map((value) => ({ value, label: duration(value) })),
    }),
    legend([["calendar", "On the clock"], ["business", "In business hours"]]),
  ];
}

function drawSatisfaction({ satisfaction, series }, period) {
  const { csat, nps } = satisfaction;
  const csatWords = `CSAT ${percent(csat.score)} satisfied (ratings of 4 or 5): mean ${csat.mean ?? "no data"} of 5, `
    + `${plural(csat.responses, "response")} to ${plural(csat.surveys, "survey")}, response rate ${percent(csat.responseRate)}.`;
  const npsWords = `NPS ${signed(nps.score)}: ${plural(nps.responses, "response")}, ${plural(nps.promoters, "promoter")}, `
    + `${plural(nps.passives, "passive")}, ${plural(nps.detractors, "detractor")}.`;
  const named = (point) => intervalName(point.start, period.interval);
  const csatSeries = series.map((point) => ({
    ...point,
    title: `${named(point)}: CSAT ${percent(point.csat.score)} (${plural(point.csat.responses, "response")})`,
  }));
  const npsSeries = series.map((point) => ({
    ...point,
    title: `${named(point)}: NPS ${signed(point.nps.score)} (${plural(point.nps.responses, "response")})`,
  }));
  const percentOf = (value) => `${Math.round(value)}%`;
  return [
    figures(`${csatWords} ${npsWords}`),
    subheading("CSAT: share of ratings of 4 or 5"),
    trendChart({
      label: `CSAT by ${period.interval}. ${csatWords}`,
      series: csatSeries,
      interval: period.interval,
      values: series.map((point) => (point.csat.score == null ? null : point.csat.score * 100)),
      min: 0,
      max: 100,
      ticks: [0, 50, 100],
      format: percentOf,
      className: "csat",
    }),
    subheading("NPS: promoters minus detractors, from -100 to +100"),
    trendChart({
      label: `NPS by ${period.interval}. ${npsWords}`,
      series: npsSeries,
      interval: period.interval,
      values: series.map((point) => point.nps.score),
      min: -100,
      max: 100,
      ticks: [-100, 0, 100],
      format: signed,
      className: "nps",
    }),
    table("Satisfaction as a table", ["Interval", "CSAT", "CSAT responses", "NPS", "NPS responses"],
      series.map((p) => [named(p), percent(p.csat.score), count(p.csat.responses), signed(p.nps.score),
        count(p.nps.responses)])),
  ];
}

function drawIncidents({ incidents }) {
  const { total, bySeverity } = incidents;
  const summary = `${plural(total.incidents, "incident")}, ${count(total.breached)} breached a target; `
    + `MTTA ${duration(total.mtta.mean)}, MTTR ${duration(total.mttr.mean)} (means); `
    + `${plural(incidents.postMortemsOverdue, "post-mortem")} overdue.`;
  const countEnd = countAxisEnd(Math.max(0, ...bySeverity.map((s) => s.incidents)));
  const counted = bySeverity.map((s) => {
    const name = codeName(s.severity);
    const within = Math.max(0, s.incidents - s.breached);
    return {
      label: name,
      bars: [{
        segments: [
          { value: within, className: "within", title: `${name}: ${plural(within, "incident")} within targets` },
          { value: s.breached, className: "breached", title: `${name}: ${plural(s.breached, "incident")} breached` },
        ],
        text: `${plural(s.incidents, "incident")}, ${count(s.breached)} breached`,
      }],
    };
  });
  const longest = Math.max(0, ...bySeverity.flatMap((s) => [s.mtta.mean ?? 0, s.mttr.mean ?? 0]));
  const timeEnd = durationAxisEnd(longest);
  // Severities without incidents have no times to show.
  const timed = bySeverity.filter((s) => s.incidents > 0).map((s) => {
    const name = codeName(s.severity);
    const acknowledged = s.mtta.mean == null ? "none acknowledged yet" : `acknowledged in ${duration(s.mtta.mean)}`;
    const resolved = s.mttr.mean == null ? "none resolved yet" : `resolved in ${duration(s.mttr.mean)}`;
    return {
      label: name,
      bars: [
        {
          segments: [{ value: s.mtta.mean, className: "mtta", title: `${name}: ${acknowledged} on average` }],
          text: acknowledged,
        },
        {
          segments: [{ value: s.mttr.mean, className: "mttr", title: `${name}: ${resolved} on average` }],
          text: resolved,
        },
      ],
    };
  });
  const severityWords = bySeverity.map((s) =>
    `${codeName(s.severity)} ${plural(s.incidents, "incident")}, MTTA ${duration(s.mtta.mean)}, MTTR ${duration(s.mttr.mean)}`).join("; ");
  return [
    figures(summary),
    subheading("Incidents by severity"),
    rowsChart({
      label: `Incidents by severity: ${bySeverity.map((s) => `${codeName(s.severity)} ${plural(s.incidents, "incident")}, ${count(s.breached)} breached`).join("; ")}.`,
      rows: counted,
      end: countEnd,
      ticks: countTicks(countEnd),
    }),
    legend([["within", "Within targets"], ["breached", "Breached"]]),
    subheading("Mean time to acknowledge (MTTA) and to resolve (MTTR)"),
    rowsChart({
      label: `Mean time to acknowledge and resolve by severity: ${severityWords}.`,
      rows: timed,
      end: timeEnd,
      ticks: [0, timeEnd / 2, timeEnd].map((value) => ({ value, label: duration(value) })),
    }),
    legend([["mtta", "To acknowledge"], ["mttr", "To resolve"]]),
    table("Incidents as a table", ["Severity", "Incidents", "Breached", "MTTA median", "MTTA p90", "MTTR median", "MTTR p90"],
      bySeverity.map((s) => [codeName(s.severity), count(s.incidents), count(s.breached), duration(s.mtta.median),
        duration(s.mtta.p90), duration(s.mttr.median), duration(s.mttr.p90)])),
  ];
}

function drawKb({ kb }) {
  const top = kb.topSearchesWithoutResults;
  const summary = `${plural(kb.searches, "search", "searches")}, ${count(kb.searchesWithoutResults)} found nothing; `
    + `${plural(kb.views, "article view")}.`;
  const end = countAxisEnd(Math.max(0, ...top.map((q) => q.searches)));
  const words = top.map((q) => `"${q.query}" ${count(q.withoutResults)} of ${plural(q.searches, "search", "searches")}`).join("; ");
  return [
    figures(summary),
    rowsChart({
      label: `Most frequent searches that found nothing: ${words || NO_DATA}.`,
      rows: top.map((q) => ({
        label: q.query,
        bars: [{
          segments: [
            { value: q.withoutResults, className: "nothing", title: `"${q.query}": ${plural(q.withoutResults, "search", "searches")} found nothing` },
            { value: q.searches - q.withoutResults, className: "found", title: `"${q.query}": ${plural(q.searches - q.withoutResults, "search", "searches")} found articles` },
          ],
          text: `${count(q.withoutResults)} of ${plural(q.searches, "search", "searches")} found nothing`,
        }],
      })),
      end,
      ticks: countTicks(end),
    }),
    legend([["nothing", "Found nothing"], ["found", "Found articles"]]),
  ];
}

const PANELS = {
  volume: drawVolume,
  backlog: drawBacklog,
  sla: drawSla,
  times: drawTimes,
  satisfaction: drawSatisfaction,
  incidents: drawIncidents,
  kb: drawKb,
};

// Replaces what a panel shows under its heading, and records on it what was drawn.
function fillPanel(name, content) {
  const section = panel(name);
  section.replaceChildren(section.querySelector("h2"), ...content);
  section.dataset.marks = String(section.querySelectorAll("svg .mark").length);
  section.dataset.drawn = "true";
}

function render(analytics, period) {
  const { tickets, firstContactResolution } = analytics;
  const headline = {
    ticketsCreated: count(tickets.ticketsCreated),
    ticketsResolved: count(tickets.ticketsResolved),
    resolutionRate: percent(tickets.resolutionRate),
    fcrRate: percent(firstContactResolution.fcrRate),
  };
  for (const [figure, text] of Object.entries(headline)) {
    document.querySelector(`[data-figure="${figure}"]`).textContent = text;
  }
  byId("period-summary").textContent = `From ${fullDay.format(dayOf(analytics.startDate))} to `
    + `${fullDay.format(dayOf(analytics.endDate))} (UTC), by ${period.interval}.`;
  for (const [name, draw] of Object.entries(PANELS)) {
    fillPanel(name, draw(analytics, period));
  }
  byId("report").hidden = false;
}

// ---- Errors ----

function clearAlerts() {
  byId("alerts").replaceChildren();
}

function showAlert(title, detail, errors = []) {
  const list = errors.length > 0
    ? [html("ul", {}, ...errors.map((e) => html("li", {}, `${e.field}: ${e.message}`)))]
    : [];
  byId("alerts").replaceChildren(html("div", { class: "alert", role: "alert" },
    html("p", {}, html("strong", {}, title), ` ${detail}`), ...list));
}

// Shows the problem document of a refused request (RFC 9457: its `detail` says why).
async function showProblem(response) {
  let problem = {};
  try {
    problem = await response.json();
  } catch {
    // Not a problem document (a proxy's page, say): the status says enough.
  }
  const title = `${problem.title ?? response.statusText ?? "Error"} (${response.status}):`;
  const detail = problem.detail ?? "The analytics could not be read.";
  // One field error is the detail itself; several are listed.
  const errors = Array.isArray(problem.errors) && problem.errors.length > 1 ? problem.errors : [];
  showAlert(title, detail, errors);
}

// ---- Sign-in and period ----

function storedToken() {
  return sessionStorage.getItem(TOKEN_KEY);
}

// Signed in: the sign-out button; otherwise the sign-in form, and no figures.
function showSignedIn(signedIn) {
  byId("sign-in").hidden = signedIn;
  byId("sign-out").hidden = !signedIn;
  if (!signedIn) byId("report").hidden = true;
}

function isoDay(date) {
  return date.toISOString().slice(0, 10);
}

// The period the fragment names, the last 30 days to today (UTC) by default. A token in the
// fragment is kept and taken out of the address bar, so it stays out of history and bookmarks.
function periodFromFragment() {
  const fragment = new URLSearchParams(window.location.hash.slice(1));
  const token = fragment.get("token");
  if (token) {
    sessionStorage.setItem(TOKEN_KEY, token);
    fragment.delete("token");
  }
  const today = new Date();
  const period = {
    start: fragment.get("start") ?? isoDay(new Date(today.getTime() - (PERIOD_DAYS - 1) * DAY_MS)),
    end: fragment.get("end") ?? isoDay(today),
    interval: INTERVALS.includes(fragment.get("interval")) ? fragment.get("interval") : "day",
  };
  writeFragment(period);
  return period;
}

function writeFragment(period) {
  const fragment = new URLSearchParams(period);
  const url = `${window.location.pathname}${window.location.search}#${fragment}`;
  window.history.replaceState(null, "", url);
}

function showPeriod(period) {
  byId("start").value = period.start;
  byId("end").value = period.end;
  byId("interval").value = period.interval;
}

let current = null;

async function load(period) {
  current = period;
  clearAlerts();
  const token = storedToken();
  showSignedIn(token != null);
  if (token == null) return;
  const query = new URLSearchParams({ startDate: period.start, endDate: period.end, interval: period.interval });
  const report = byId("report");
  report.setAttribute("aria-busy", "true");
  let response;
  try {
    response = await fetch(`${ANALYTICS}?${query}`, {
      headers: { Authorization: `Bearer ${token}`, Accept: "application/json" },
    });
  } catch (error) {
    showAlert("The analytics could not be reached:", String(error.message ?? error));
    return;
  } finally {
    report.removeAttribute("aria-busy");
  }
  if (period !== current) return;
  if (!response.ok) {
    await showProblem(response);
    // A token refused (401) or one that may not read analytics (403): ask for another.
    if (response.status === 401 || response.status === 403) {
      sessionStorage.removeItem(TOKEN_KEY);
      showSignedIn(false);
    } else {
      report.hidden = true;
    }
    return;
  }
  render(await response.json(), period);
}

byId("sign-in").addEventListener("submit", (event) => {
  event.preventDefault();
  const input = byId("token");
  sessionStorage.setItem(TOKEN_KEY, input.value.trim());
  input.value = "";
  load(current);
});

byId("sign-out").addEventListener("click", () => {
  sessionStorage.removeItem(TOKEN_KEY);
  clearAlerts();
  showSignedIn(false);
});

byId("period").addEventListener("submit", (event) => {
  event.preventDefault();
  const period = { start: byId("start").value, end: byId("end").value, interval: byId("interval").value };
  writeFragment(period);
  load(period);
});

// A link with a new fragment (another token or period) opened on this page.
window.addEventListener("hashchange", () => {
  const period = periodFromFragment();
  showPeriod(period);
  load(period);
});

const initial = periodFromFragment();
showPeriod(initial);
load(initial);
