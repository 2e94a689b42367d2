// transitwatch dashboard: plain JS over the JSON API; the chart is uPlot (vendored, works offline).
"use strict";

const PALETTE = ["#5fb3ff", "#f5b94a", "#3ecf8e", "#ff6b6b", "#b48cff", "#4dd4d4", "#ff9f5a", "#e67ab8",
  "#9ccc65", "#c0c8d8"];
const state = { chart: null, target: null, summary: null, view: { target: "", from: "", to: "", axis: "utc" } };
const EVENT_COLOURS = { new_upstream: "#3ecf8e", lost_upstream: "#ff6b6b", outage: "#ff4d4d",
  partial_outage: "#ff9f5a", origin_change: "#b48cff", more_specific: "#e67ab8", vantage_point_lost: "#8b96ad" };

function $(sel) { return document.querySelector(sel); }
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k === "style") node.style.cssText = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

async function api(path) {
  const res = await fetch(path);
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(body.detail || `${res.status} ${res.statusText}`);
  return body;
}

const epoch = (iso) => Date.parse(iso) / 1000;
const utc = (iso) => iso ? iso.replace("T", " ").replace("Z", " UTC") : "—";
const local = (iso) => iso ? iso.replace("T", " ") : "";
function asLabel(asn, names) {
  const info = names && names[String(asn)];
  return info && info.name ? `AS${asn} ${info.name}` : `AS${asn}`;
}
function shortName(name) { return name ? name.split(/[ ,]/).slice(0, 3).join(" ") : ""; }
// A registry name as is; a geolocation hint marked "~" (who holds the addresses, not the AS's name).
function asName(name, hint) { return name || (hint ? `~${hint}` : ""); }
function pct(v) { return v === null || v === undefined ? "–" : `${Math.round(v * 100)}%`; }
function registryNote(reg) {
  if (!reg) return "";
  const far = (d) => d === null || d === undefined ? "" : ` (${Math.abs(Math.round(d))} days from the data)`;
  let text = reg.date ? `registry: ${reg.source} snapshot of ${reg.date}${far(reg.days_from_data)}${reg.flagged ? " ⚑" : ""}`
                      : "registry: no RIR or AS-name data";
  const g = reg.geolocation || {};
  if (g.date) text += ` · geolocation of ${g.date}${far(g.days_from_data)}${g.flagged ? " ⚑" : ""}`;
  return text;
}

// -- header -------------------------------------------------------------------------------------
async function loadSummary() {
  const s = await api("/api/summary");
  state.summary = s;
  $("#dbpath").textContent = s.path || "the database";
  const range = s.first_time ? `${utc(new Date(s.first_time * 1000).toISOString().replace(".000", ""))} → ` +
    `${utc(new Date(s.last_time * 1000).toISOString().replace(".000", ""))}` : "empty";
  $("#dbinfo").innerHTML = "";
  $("#dbinfo").append(
    el("div", {}, `${s.files} files · ${s.route_intervals.toLocaleString()} route intervals · ${s.peers} peers`),
    el("div", {}, `${s.collectors.join(", ") || "no collector"} · ${range}`));
  return s;
}

let suggestTimer = null;
function wireSearch() {
  $("#search").addEventListener("submit", (e) => {
    e.preventDefault();
    const t = $("#q").value.trim();
    if (t) setHash({ ...state.view, target: t });
  });
  $("#range").addEventListener("submit", (e) => {
    e.preventDefault();
    setHash({ ...state.view, from: $("#from").value.trim(), to: $("#to").value.trim() });
  });
  $("#range-all").addEventListener("click", () => setHash({ ...state.view, from: "", to: "" }));
  for (const b of document.querySelectorAll("#range [data-span]")) {
    b.addEventListener("click", () => {
      const end = state.view.to ? Date.parse(state.view.to) / 1000 : (state.summary && state.summary.last_time);
      if (!end) return;
      setHash({ ...state.view, from: isoSec(end - Number(b.dataset.span)), to: isoSec(end) });
    });
  }
  $("#axis").addEventListener("change", () => setHash({ ...state.view, axis: $("#axis").value }));
  $("#q").addEventListener("input", () => {
    clearTimeout(suggestTimer);
    suggestTimer = setTimeout(async () => {
      const text = $("#q").value.trim();
      if (!text) return;
      const res = await api(`/api/search?q=${encodeURIComponent(text)}`).catch(() => ({ results: [] }));
      const list = $("#suggestions");
      list.innerHTML = "";
      for (const r of res.results) list.append(el("option", { value: r.target }, r.name || r.kind));
    }, 150);
  });
  window.addEventListener("hashchange", () => showTarget(parseHash()));
}

// A permalink: #TARGET?from=ISO&to=ISO&axis=local (every part but the target optional).
function parseHash() {
  const raw = location.hash.slice(1);
  const cut = raw.indexOf("?");
  const params = new URLSearchParams(cut >= 0 ? raw.slice(cut + 1) : "");
  return { target: decodeURIComponent(cut >= 0 ? raw.slice(0, cut) : raw), from: params.get("from") || "",
    to: params.get("to") || "", axis: params.get("axis") === "local" ? "local" : "utc" };
}
function setHash(v) {
  const params = new URLSearchParams();
  if (v.from) params.set("from", v.from);
  if (v.to) params.set("to", v.to);
  if (v.axis === "local") params.set("axis", "local");
  const query = params.toString();
  location.hash = encodeURIComponent(v.target || "") + (query ? `?${query}` : "");
}
const isoSec = (ts) => new Date(ts * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");

// -- one target -----------------------------------------------------------------------------------
async function showTarget(view, quiet = false) {
  const target = view.target;
  state.target = target;
  state.view = view;
  if (window.showDependence && !quiet) window.showDependence(target);  // dependence.js: its own panel
  $("#q").value = target;
  $("#from").value = view.from;
  $("#to").value = view.to;
  $("#axis").value = view.axis;
  if (!quiet) {
    $("#target-title").textContent = target;
    $("#target-sub").textContent = "loading…";
    document.body.dataset.ready = "0";
  }
  const isCountry = /^[A-Za-z]{2}$/.test(target);
  const enc = encodeURIComponent(target);
  const range = (view.from ? `&from=${encodeURIComponent(view.from)}` : "") + (view.to ? `&to=${encodeURIComponent(view.to)}` : "");
  const eventsUrl = (isCountry ? `/api/events?country=${enc}` : `/api/events?target=${enc}`) + `&limit=200${range}`;
  const at = view.to ? `&at=${encodeURIComponent(view.to)}` : "";
  const [up, line, events, coverage] = await Promise.allSettled([
    api(`/api/upstreams?target=${enc}${at}`), api(`/api/timeline?target=${enc}&buckets=160${range}`), api(eventsUrl),
    api(`/api/coverage?${range.slice(1)}`)]);
  if (up.status === "rejected") {
    $("#target-sub").innerHTML = "";
    $("#target-sub").append(el("div", { class: "error" }, up.reason.message));
    $("#upstream-cards").innerHTML = ""; $("#strips").innerHTML = ""; $("#events").innerHTML = "";
    if (state.chart) { state.chart.destroy(); state.chart = null; }
    document.body.dataset.ready = "1";
    return;
  }
  renderUpstreams(up.value, isCountry);
  const evs = events.status === "fulfilled" ? events.value : null;
  const cov = coverage.status === "fulfilled" ? coverage.value : null;
  const tz = up.value.timezone_used || up.value.timezone || "Etc/UTC";
  if (line.status === "fulfilled") renderTimeline(line.value, evs, cov, view.axis === "local" ? tz : "Etc/UTC");
  else { $("#chart").innerHTML = ""; $("#chart").append(el("div", { class: "error" }, line.reason.message)); }
  renderCoverage(cov);
  renderEvents(evs, events.status === "rejected" ? events.reason.message : null);
  document.body.dataset.ready = "1";
}

function renderUpstreams(r, isCountry) {
  const cards = $("#upstream-cards");
  cards.innerHTML = "";
  const tz = r.timezone_used || r.timezone;
  $("#tz-note").textContent = tz ? `local times: ${tz}` : "";
  if (isCountry) {
    $("#target-title").textContent = `${r.country} ${r.name || ""}`;
    $("#target-sub").textContent = `${r.prefixes.length} domestic prefixes, ${r.addresses.toLocaleString()} ` +
      `${r.address_family} addresses · international upstreams at ${utc(r.time)}` +
      (r.time_local ? ` (${local(r.time_local)})` : "") + (r.registry ? ` · ${registryNote(r.registry)}` : "");
    r.upstreams.forEach((u, i) => cards.append(el("div", { class: "card", style: `--c:${PALETTE[i % 10]}` },
      el("div", { class: "asn" }, `AS${u.asn}`), el("div", { class: "name" }, `${asName(u.name, u.name_hint)} ${u.country ? "· " + u.country : ""}`),
      el("div", { class: "stat" }, `${Math.round(u.share * 100)}% of the address space (IPv4 ${pct(u.share_ipv4)}, IPv6 ${pct(u.share_ipv6)}) · ${u.peers} peers`),
      el("div", { class: "stat muted mono" }, u.prefixes.join(" ")))));
    return;
  }
  $("#target-sub").textContent = `${r.prefixes.length} prefixes seen by ${r.peers} peers at ${utc(r.at)}` +
    (r.at_local ? ` (${local(r.at_local)})` : "");
  r.upstreams.forEach((u, i) => cards.append(el("div", { class: "card", style: `--c:${PALETTE[i % 10]}` },
    el("div", { class: "asn" }, `AS${u.asn}`),
    el("div", { class: "name" }, ((n) => asName(n.name, n.name_hint))(r.names[String(u.asn)] || {})),
    el("div", { class: "stat" }, `${u.peers} peers (${Math.round(u.share * 100)}%) · ${u.prefixes.length} prefixes` +
      (u.relationship && u.relationship !== "unknown" ? ` · ${u.relationship}` : "")),
    el("div", { class: "stat muted" }, `first seen ${utc(u.first_seen)}`))));
}

// Times no collector's data covers: outside every collector's span, or inside its gaps.
function uncovered(cov) {
  if (cov && cov.uncovered) return cov.uncovered.filter((g) => g.end).map((g) => [epoch(g.start), epoch(g.end)]);
  if (!cov || !cov.collectors || !cov.collectors.length) return [];
  const covered = [];
  for (const c of cov.collectors) {
    let pieces = [[epoch(c.start), epoch(c.end)]];
    for (const g of cov.gaps.filter((g) => g.collector === c.collector && g.status !== "backfilled")) {
      const gs = epoch(g.start), ge = epoch(g.end);
      pieces = pieces.flatMap(([a, b]) => (ge <= a || gs >= b) ? [[a, b]] : [[a, gs], [ge, b]].filter(([x, y]) => y > x));
    }
    covered.push(...pieces);
  }
  covered.sort((a, b) => a[0] - b[0]);
  const holes = [];
  let reach = covered[0][1];
  for (const [a, b] of covered.slice(1)) {
    if (a > reach) holes.push([reach, a]);
    reach = Math.max(reach, b);
  }
  return holes;
}

function axisText(ts, tz) {
  const parts = Object.fromEntries(new Intl.DateTimeFormat("en-CA", { timeZone: tz, year: "numeric", month: "2-digit",
    day: "2-digit", hour: "2-digit", minute: "2-digit", hourCycle: "h23" }).formatToParts(new Date(ts * 1000))
    .map((p) => [p.type, p.value]));
  return { date: `${parts.year}-${parts.month}-${parts.day}`, time: `${parts.hour}:${parts.minute}` };
}

function renderTimeline(line, events, cov, tz) {
  const edges = line.edges.map(epoch);
  const xs = edges.slice(0, -1);
  const asns = Object.keys(line.upstreams);
  // A bucket no data covers is a gap in the lines (null), not a flat line carried through it.
  const holes = uncovered(cov);
  const blank = xs.map((x, i) => holes.some(([a, b]) => (x + edges[i + 1]) / 2 > a && (x + edges[i + 1]) / 2 < b));
  const gapped = (values) => values.map((v, i) => (blank[i] ? null : v));
  const data = [xs, gapped(line.peers), ...asns.map((a) => gapped(line.upstreams[a]))];
  $("#axis-note").textContent = `axis: ${tz === "Etc/UTC" ? "UTC" : tz}`;
  const series = [
    {},
    { label: "all peers", stroke: "#8b96ad", dash: [4, 4], width: 1, paths: uPlot.paths.stepped({ align: 1 }) },
    ...asns.map((a, i) => ({
      label: asLabel(a, line.names).slice(0, 40), stroke: PALETTE[i % 10], width: 2,
      fill: PALETTE[i % 10] + "22", paths: uPlot.paths.stepped({ align: 1 }),
    })),
  ];
  const marks = (events && events.events || []).map((e) => ({ t: epoch(e.onset), type: e.type, up: e.upstream,
    label: e.type === "new_upstream" ? `+AS${e.upstream}` : e.type === "lost_upstream" ? `−AS${e.upstream}`
      : e.type.replace(/_/g, " ") }));
  const width = Math.max(320, $("#chart").clientWidth || 900);
  const opts = {
    width, height: 300, series,
    tzDate: (ts) => uPlot.tzDate(new Date(ts * 1e3), tz),
    cursor: { drag: { x: true, y: false, setScale: false } },
    scales: { x: { time: true }, y: { range: (u, lo, hi) => [0, Math.max(1, hi) * 1.15] } },
    axes: [
      { stroke: "#8b96ad", grid: { stroke: "#232d44" }, ticks: { stroke: "#232d44" }, space: 70,
        values: (u, splits) => splits.map((ts, i) => {
          const t = axisText(ts, tz);
          return i === 0 || t.time === "00:00" ? `${t.time}\n${t.date}` : t.time;
        }) },
      { stroke: "#8b96ad", grid: { stroke: "#232d44" }, ticks: { stroke: "#232d44" }, label: "peers" },
    ],
    legend: { live: true },
    hooks: {
      setSelect: [(u) => {
        // Zoom: the dragged span becomes the range (in the permalink), and the API is asked again.
        if (u.select.width < 4) return;
        const lo = u.posToVal(u.select.left, "x"), hi = u.posToVal(u.select.left + u.select.width, "x");
        setHash({ ...state.view, from: isoSec(Math.floor(lo)), to: isoSec(Math.ceil(hi)) });
      }],
      draw: [(u) => {
        const ctx = u.ctx;
        ctx.save();
        for (const [a, b] of holes) {
          const x0 = Math.max(u.bbox.left, u.valToPos(a, "x", true));
          const x1 = Math.min(u.bbox.left + u.bbox.width, u.valToPos(b, "x", true));
          if (x1 <= x0) continue;
          ctx.fillStyle = "rgba(245, 185, 74, 0.10)";
          ctx.fillRect(x0, u.bbox.top, x1 - x0, u.bbox.height);
          ctx.fillStyle = "#f5b94a";
          ctx.font = `${11 * devicePixelRatio}px system-ui, sans-serif`;
          if (x1 - x0 > 40 * devicePixelRatio) ctx.fillText("no data", x0 + 4 * devicePixelRatio, u.bbox.top + u.bbox.height - 6 * devicePixelRatio);
        }
        for (const m of marks) {
          const x = u.valToPos(m.t, "x", true);
          if (x < u.bbox.left || x > u.bbox.left + u.bbox.width) continue;
          ctx.strokeStyle = EVENT_COLOURS[m.type] || "#c0c8d8";
          ctx.lineWidth = 2 * devicePixelRatio;
          ctx.setLineDash([6 * devicePixelRatio, 4 * devicePixelRatio]);
          ctx.beginPath(); ctx.moveTo(x, u.bbox.top); ctx.lineTo(x, u.bbox.top + u.bbox.height); ctx.stroke();
          ctx.setLineDash([]);
          ctx.fillStyle = ctx.strokeStyle;
          ctx.font = `${11 * devicePixelRatio}px system-ui, sans-serif`;
          ctx.fillText(m.label, x + 4 * devicePixelRatio, u.bbox.top + 12 * devicePixelRatio);
        }
        ctx.restore();
      }],
    },
  };
  if (state.chart) state.chart.destroy();
  $("#chart").innerHTML = "";
  state.chart = new uPlot(opts, data, $("#chart"));

  // "Which upstream when": one strip per upstream, shaded by the share of peers using it.
  const strips = $("#strips");
  strips.innerHTML = "";
  asns.forEach((a, i) => {
    const counts = line.upstreams[a];
    const cells = el("div", { class: "cells" });
    counts.forEach((n, j) => {
      const total = line.peers[j] || 1;
      const alpha = n ? Math.max(0.18, n / total) : 0;
      cells.append(el("div", { class: "cell", title: `${asLabel(a, line.names)}: ${n} of ${line.peers[j]} peers`,
        style: `background:${PALETTE[i % 10]};opacity:${alpha}` }));
    });
    const info = line.names[String(a)] || {};
    strips.append(el("div", { class: "strip" },
      el("div", { class: "muted", title: asLabel(a, line.names) }, `AS${a} ${shortName(info.name)}`), cells));
  });
}

function renderCoverage(cov) {
  const box = $("#coverage-note");
  box.innerHTML = "";
  if (!cov) return;
  const gaps = cov.gaps || [];
  box.dataset.gaps = String(gaps.length);
  if (!gaps.length) { box.append(`data: ${cov.collectors.length} collector(s), no gap in this range`); return; }
  box.append(el("span", { class: "gap" }, `${gaps.length} gap(s) in the data in this range: `),
    gaps.slice(0, 5).map((g, i) => `${i ? "; " : ""}${g.collector || "feed"} ${utc(g.start)} → ${utc(g.end)} (${g.status})`),
    gaps.length > 5 ? ` … ${gaps.length - 5} more` : "");
}

function renderEvents(r, error) {
  const box = $("#events");
  box.innerHTML = "";
  if (error) { box.append(el("div", { class: "error" }, error)); $("#events-count").textContent = ""; return; }
  const events = r.events || [];
  $("#events-count").textContent = `${r.total ?? events.length} · times UTC and ${r.timezone_used || "UTC"}`;
  if (!events.length) box.append(el("div", { class: "muted" }, "No event in the stored history."));
  for (const e of events) {
    const name = e.upstream_name ? ` ${e.upstream_name}` : (e.upstream_name_hint ? ` ~${e.upstream_name_hint}` : "");
    const who = e.upstream != null ? `AS${e.upstream}${name}`
      : e.prefix ? `${e.prefix}${e.origin != null ? " from AS" + e.origin : ""}`
      : (e.reason || e.collector || "");
    const when = e.confirmed ? [el("b", {}, "confirmed"), el("span", {}, `${utc(e.confirmed)}${e.confirmed_local ? "  ·  " + local(e.confirmed_local) : ""} (by ${e.confirmed_by}, ${e.peers} peers)`)]
      : ("end" in e ? [el("b", {}, "end"), el("span", {}, e.end ? `${utc(e.end)}${e.end_local ? "  ·  " + local(e.end_local) : ""}` : "ongoing")] : []);
    const evidence = el("table", {}, el("thead", {}, el("tr", {},
      el("th", {}, "peer"), el("th", {}, "time (UTC)"), el("th", {}, "prefix"), el("th", {}, "AS path"), el("th", {}, "file @ offset"))),
      el("tbody", {}, (e.evidence || []).map((x) => el("tr", {},
        el("td", { class: "mono" }, `${x.peer_ip} AS${x.peer_asn}`), el("td", { class: "mono" }, utc(x.time)),
        el("td", { class: "mono" }, x.prefix), el("td", { class: "mono" }, x.as_path + (x.new_as_path ? ` → ${x.new_as_path}` : "")),
        el("td", { class: "mono" }, `${(x.source || "").split("/").pop()} @ ${x.offset}`)))));
    box.append(el("div", { class: "event" },
      el("div", { class: "top" }, el("span", { class: `badge ${e.type}` }, e.type.replace(/_/g, " ")),
        el("span", { class: "who" }, who), el("span", { class: "muted" }, `for ${e.target}`)),
      el("div", { class: "times" },
        el("b", {}, "onset"), el("span", {}, `${utc(e.onset)}${e.onset_local ? "  ·  " + local(e.onset_local) : ""}`),
        ...when),
      el("details", events.indexOf(e) === 0 ? { open: "" } : {},
        el("summary", {}, `evidence (${(e.evidence || []).length})`), evidence)));
  }
}

// -- countries --------------------------------------------------------------------------------------
async function loadCountries() {
  const body = $("#countries tbody");
  try {
    const r = await api("/api/countries?limit=300");
    body.innerHTML = "";
    r.countries.forEach((c, i) => body.append(el("tr", { onclick: () => { location.hash = c.country; } },
      el("td", { class: "muted" }, i + 1), el("td", {}, el("b", {}, c.country), " ", c.name || ""),
      el("td", {}, c.upstreams), el("td", {}, c.top_upstream ? `AS${c.top_upstream} ${shortName(asName(c.top_name, c.top_name_hint))}` : "—"),
      el("td", {}, el("span", { class: "bar" }, el("span", { style: `width:${Math.round(c.top_share * 100)}%` })),
        ` ${Math.round(c.top_share * 100)}%`),
      el("td", {}, c.hhi.toFixed(2)))));
    if (!r.countries.length) body.append(el("tr", {}, el("td", { colspan: 6, class: "muted" }, "no country seen")));
  } catch (err) {
    body.innerHTML = "";
    body.append(el("tr", {}, el("td", { colspan: 6, class: "error" }, err.message)));
  }
  document.body.dataset.countries = "1";
}

// Live: the server says when observations, events, gaps or ingested files arrive (server-sent
// events); the page asks again, at most every two seconds.
let refreshTimer = null;
function follow(live) {
  if (!live || !live.live || typeof EventSource === "undefined") return;
  $("#live-note").textContent = `live · ${live.targets.join(", ")}`;
  $("#live-note").classList.add("on");
  const stream = new EventSource("/api/stream");
  const refresh = () => {
    if (refreshTimer) return;
    refreshTimer = setTimeout(async () => {
      refreshTimer = null;
      await loadSummary().catch(() => null);
      if (state.view && state.view.target) await showTarget(state.view, true).catch(() => null);
      document.body.dataset.updates = String(Number(document.body.dataset.updates || 0) + 1);
    }, 2000);
  };
  for (const kind of ["observations", "event", "gap", "backfill", "ingest"]) stream.addEventListener(kind, refresh);
}

async function main() {
  wireSearch();
  const summary = await loadSummary().catch((err) => { $("#dbinfo").textContent = err.message; return null; });
  loadCountries();
  const view = parseHash();
  if (!view.target && summary && summary.watched[0]) view.target = summary.watched[0];
  if (view.target) await showTarget(view);
  else { $("#target-sub").textContent = "Search an AS, a prefix or a country."; document.body.dataset.ready = "1"; }
  follow(await api("/api/live").catch(() => null));
}
window.addEventListener("resize", () => {
  if (state.chart) state.chart.setSize({ width: $("#chart").clientWidth, height: 300 });
});
main();
