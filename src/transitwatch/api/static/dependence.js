// transitwatch dashboard, dependence panel: AS hegemony over time and the what-if for the shown
// target (GET /api/hegemony/..., /api/resilience/...). Self-contained; app.js calls
// window.showDependence(target) when the target changes. Uses app.js's el() and api().
"use strict";
(function () {
  const COLOURS = ["#5fb3ff", "#f5b94a", "#3ecf8e", "#ff6b6b", "#b48cff", "#4dd4d4"];
  let chart = null;

  function label(asn, names) {
    const info = names && names[String(asn)];
    return info && info.name ? `AS${asn} ${info.name}` : `AS${asn}`;
  }

  function drawHegemony(h) {
    const box = document.querySelector("#hegemony-chart");
    box.innerHTML = "";
    if (chart) { chart.destroy(); chart = null; }
    const peak = new Map();
    for (const step of h.series) for (const s of step.hegemony) peak.set(s.asn, Math.max(peak.get(s.asn) || 0, s.score));
    const top = [...peak.entries()].sort((a, b) => b[1] - a[1]).slice(0, COLOURS.length).map(([asn]) => asn);
    const xs = h.series.map((s) => Date.parse(s.at) / 1000);
    const ys = top.map((asn) => h.series.map((s) => { const f = s.hegemony.find((x) => x.asn === asn); return f ? f.score : 0; }));
    const legend = el("div", { class: "hegemony-legend" });
    top.forEach((asn, i) => {
      const last = ys[i][ys[i].length - 1];
      legend.append(el("span", { class: "hegemony-item", style: `--c:${COLOURS[i]}` },
        `${label(asn, h.names)}: ${last.toFixed(2)} now, ${Math.max(...ys[i]).toFixed(2)} at most`));
    });
    box.append(legend);
    const plotBox = el("div", { id: "hegemony-plot" });
    box.append(plotBox);
    if (typeof uPlot === "undefined" || xs.length < 2) return;
    chart = new uPlot({
      width: Math.max(320, box.clientWidth || 900), height: 200,
      scales: { x: { time: true }, y: { range: [0, 1] } },
      axes: [{ stroke: "#8b96ad" }, { stroke: "#8b96ad", label: "hegemony" }],
      series: [{}, ...top.map((asn, i) => ({ label: `AS${asn}`, stroke: COLOURS[i], width: 2,
        paths: uPlot.paths && uPlot.paths.stepped ? uPlot.paths.stepped({ align: 1 }) : undefined }))],
    }, [xs, ...ys], plotBox);
  }

  function drawWhatIf(r) {
    const box = document.querySelector("#whatif");
    box.innerHTML = "";
    box.append(el("div", { class: "muted small" },
      `What if an AS failed, at ${r.at.replace("T", " ").replace("Z", " UTC")} (${r.model} model: a prefix survives ` +
      "if some vantage point holds a route to it that avoids the failed AS)"));
    for (const sc of r.scenarios) {
      const kept = sc.prefixes.filter((p) => p.reachable);
      const via = [...new Set(kept.flatMap((p) => p.via))].map((a) => label(a, r.names)).join(", ");
      box.append(el("div", { class: "whatif-row" + (sc.reachable_share === 0 ? " cut" : "") },
        el("b", {}, `If ${sc.failed.map((a) => label(a, r.names)).join(" + ")} failed: `),
        `${Math.round(sc.reachable_share * 100)}% of the address space stays reachable ` +
        `(${kept.length} of ${sc.prefixes.length} prefixes)` + (via ? ` via ${via}` : " — cut off")));
    }
  }

  async function showDependence(target) {
    document.body.dataset.dependence = "0";
    const enc = encodeURIComponent(target);
    const [heg, whatIf] = await Promise.allSettled([api(`/api/hegemony/${enc}?every=900`), api(`/api/resilience/${enc}`)]);
    if (heg.status === "fulfilled") drawHegemony(heg.value);
    else { document.querySelector("#hegemony-chart").innerHTML = ""; document.querySelector("#hegemony-chart").append(el("div", { class: "error" }, heg.reason.message)); }
    if (whatIf.status === "fulfilled") drawWhatIf(whatIf.value);
    else document.querySelector("#whatif").innerHTML = "";
    document.body.dataset.dependence = "1";
  }
  window.showDependence = showDependence;
})();
