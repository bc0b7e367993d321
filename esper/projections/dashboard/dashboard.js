// Esper's dashboard: SQL against the projection server, drawn as SVG. No build step, no
// libraries: the page must work offline, next to the projector or on a replayed file.
"use strict";

const REFRESH_MS = 2000;
const SVG = "http://www.w3.org/2000/svg";
const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2"];
const STATE_COLOURS = {
  dormant: "#cfcfcf", germinated: "#9ecae1", training: "#3182bd", grafting: "#fd8d3c",
  fossilized: "#31a354", culled: "#de2d26",
};
let selectedRun = null;

async function sql(query) {
  const answer = await fetch("query?sql=" + encodeURIComponent(query), { cache: "no-store" });
  const body = await answer.json();
  if (!answer.ok) throw new Error(body.error);
  return body.rows.map((row) => Object.fromEntries(body.columns.map((c, i) => [c, row[i]])));
}

const quoted = (text) => "'" + String(text).replace(/'/g, "''") + "'";

function element(name, attributes, parent) {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
  if (parent) parent.appendChild(node);
  return node;
}

function text(parent, x, y, content, anchor = "start") {
  const node = element("text", { x, y, "text-anchor": anchor }, parent);
  node.textContent = content;
  return node;
}

// A fresh drawing area: clears the chart and records how many data points it shows.
function canvas(id, points) {
  const svg = document.getElementById(id);
  svg.replaceChildren();
  svg.dataset.points = points;
  const box = svg.getBoundingClientRect();
  const size = { width: box.width || 600, height: box.height || 220 };
  if (points === 0) text(svg, size.width / 2, size.height / 2, "no data yet", "middle")
    .setAttribute("class", "empty");
  return { svg, ...size };
}

function scale(domainLow, domainHigh, rangeLow, rangeHigh) {
  const span = domainHigh - domainLow || 1;
  return (value) => rangeLow + ((value - domainLow) / span) * (rangeHigh - rangeLow);
}

function lineChart(id, rows, series, yLabel) {
  const { svg, width, height } = canvas(id, rows.length);
  if (!rows.length) return;
  const margin = { left: 44, right: 150, top: 10, bottom: 26 };
  const values = rows.flatMap((r) => series.map((s) => r[s.column])).filter((v) => v !== null);
  const x = scale(0, Math.max(...rows.map((r) => r.epoch)), margin.left, width - margin.right);
  const y = scale(Math.min(0, ...values), Math.max(...values), height - margin.bottom, margin.top);
  element("line", { x1: margin.left, x2: width - margin.right, y1: height - margin.bottom,
                    y2: height - margin.bottom, class: "axis" }, svg);
  element("line", { x1: margin.left, x2: margin.left, y1: margin.top,
                    y2: height - margin.bottom, class: "axis" }, svg);
  text(svg, margin.left - 6, y(Math.max(...values)) + 4, Math.max(...values).toFixed(2), "end");
  text(svg, margin.left - 6, height - margin.bottom, Math.min(0, ...values).toFixed(2), "end");
  text(svg, (width - margin.right) / 2, height - 6, "epoch", "middle");
  text(svg, width - margin.right + 8, height - margin.bottom, yLabel);
  const runs = [...new Set(rows.map((r) => r.run_id))];
  let legend = margin.top + 10;
  runs.forEach((run, index) => {
    const colour = PALETTE[index % PALETTE.length];
    for (const s of series) {
      const points = rows.filter((r) => r.run_id === run && r[s.column] !== null)
        .map((r) => `${x(r.epoch)},${y(r[s.column])}`).join(" ");
      element("polyline", { points, fill: "none", stroke: colour, "stroke-width": 2,
                            "stroke-dasharray": s.dash || "" }, svg);
      text(svg, width - margin.right + 8, legend, `${run} ${s.label}`).style.fill = colour;
      legend += 14;
    }
  });
}

function heatmap(id, rows) {
  const { svg, width, height } = canvas(id, rows.length);
  if (!rows.length) return;
  const margin = { left: 110, right: 10, top: 10, bottom: 26 };
  const epochs = [...new Set(rows.map((r) => r.epoch))].sort((a, b) => a - b);
  const layers = [...new Map(rows.map((r) => [r.layer_id, r.layer_name ?? `layer ${r.layer_id}`]))]
    .sort((a, b) => a[0] - b[0]);
  const cellWidth = (width - margin.left - margin.right) / epochs.length;
  const cellHeight = (height - margin.top - margin.bottom) / layers.length;
  layers.forEach(([layer, name], row) => {
    text(svg, margin.left - 6, margin.top + cellHeight * (row + 0.5) + 4, name, "end");
  });
  for (const r of rows) {
    const column = epochs.indexOf(r.epoch);
    const row = layers.findIndex(([layer]) => layer === r.layer_id);
    const health = Math.max(0, Math.min(1, r.health_score));
    const cell = element("rect", {
      x: margin.left + column * cellWidth, y: margin.top + row * cellHeight,
      width: Math.max(cellWidth - 1, 1), height: Math.max(cellHeight - 1, 1),
      fill: `hsl(${Math.round(health * 120)}, 65%, 50%)`,
    }, svg);
    element("title", {}, cell).textContent =
      `epoch ${r.epoch}, ${r.layer_name}: health ${health.toFixed(3)}`;
  }
  text(svg, (width + margin.left) / 2, height - 6, "epoch (red: sick, green: healthy)", "middle");
}

// One lane per seed; x is the training step, so a seed's stages read as training progress.
function swimlanes(id, rows) {
  const { svg, width, height } = canvas(id, rows.length);
  if (!rows.length) return;
  const margin = { left: 150, right: 10, top: 10, bottom: 40 };
  const lanes = [...new Set(rows.map((r) => `${r.layer_id}/${r.slot_index}/${r.seed_id}`))];
  const steps = rows.map((r) => r.step);
  const last = Math.max(...steps);
  const end = last + Math.max(1, Math.round((last - Math.min(...steps)) * 0.1));
  const x = scale(Math.min(...steps), end, margin.left, width - margin.right);
  const laneHeight = Math.min(28, (height - margin.top - margin.bottom) / lanes.length);
  lanes.forEach((lane, index) => {
    const [layer, slot] = lane.split("/");
    const y = margin.top + index * laneHeight;
    text(svg, margin.left - 6, y + laneHeight * 0.65, `layer ${layer} slot ${slot}`, "end");
    const stages = rows.filter((r) => `${r.layer_id}/${r.slot_index}/${r.seed_id}` === lane);
    stages.forEach((stage, i) => {
      const to = i + 1 < stages.length ? stages[i + 1].step : end;
      const bar = element("rect", { x: x(stage.step), y, width: Math.max(x(to) - x(stage.step), 2),
                                    height: laneHeight - 4,
                                    fill: STATE_COLOURS[stage.to_state] || "#999" }, svg);
      element("title", {}, bar).textContent =
        `${stage.to_state} (epoch ${stage.epoch}, step ${stage.step}): ${stage.reason}`;
    });
  });
  text(svg, (width + margin.left) / 2, height - 22, "training step", "middle");
  let legend = margin.left;
  for (const [state, colour] of Object.entries(STATE_COLOURS)) {
    element("rect", { x: legend, y: height - 12, width: 10, height: 10, fill: colour }, svg);
    text(svg, legend + 14, height - 3, state);
    legend += 90;
  }
}

function timeline(id, rows) {
  const { svg, width, height } = canvas(id, rows.length);
  if (!rows.length) return;
  const margin = { left: 20, right: 20, top: 20, bottom: 30 };
  const times = rows.map((r) => Date.parse(r.decided_at));
  const x = scale(Math.min(...times), Math.max(...times) + 1, margin.left + 10,
                  width - margin.right - 10);
  const axis = height - margin.bottom;
  element("line", { x1: margin.left, x2: width - margin.right, y1: axis, y2: axis, class: "axis" }, svg);
  rows.forEach((r, index) => {
    const outcome = r.final_state || r.seed_state || "pending";
    const colour = STATE_COLOURS[outcome] || "#999";
    const cx = x(Date.parse(r.decided_at));
    const cy = margin.top + (index % 4) * 34 + 10;
    element("line", { x1: cx, x2: cx, y1: cy, y2: axis, stroke: "#ccc" }, svg);
    const dot = element("circle", { cx, cy, r: 4 + 6 * r.confidence, fill: colour }, svg);
    element("title", {}, dot).textContent =
      `${r.layer_name}: ${r.blueprint_id ?? "?"} (confidence ${r.confidence.toFixed(2)}) → ${outcome}`
      + (r.effect === null ? "" : `, effect ${r.effect.toFixed(4)}`);
    const nearRightEdge = cx > width * 0.75;  // label on the dot's left, inside the chart
    text(svg, nearRightEdge ? cx - 12 : cx + 12, cy + 4, `${r.layer_name} → ${outcome}`
      + (r.effect === null ? "" : ` (${r.effect >= 0 ? "+" : ""}${r.effect.toFixed(3)})`),
      nearRightEdge ? "end" : "start");
  });
}

function runsTable(rows) {
  const columns = ["run_id", "status", "epochs", "best_val_accuracy", "last_parameter_count",
                   "seeds_germinated", "seeds_fossilized", "seeds_culled", "decisions"];
  const table = document.getElementById("runs");
  table.dataset.points = rows.length;
  table.tHead.innerHTML = "<tr>" + columns.map((c) => `<th>${c.replace(/_/g, " ")}</th>`).join("") + "</tr>";
  table.tBodies[0].replaceChildren(...rows.map((r) => {
    const tr = document.createElement("tr");
    if (r.run_id === selectedRun) tr.className = "selected";
    for (const c of columns) {
      const td = document.createElement("td");
      const value = r[c];
      td.textContent = typeof value === "number" && !Number.isInteger(value) ? value.toFixed(4) : value ?? "";
      tr.appendChild(td);
    }
    tr.onclick = () => { selectRun(r.run_id); };
    return tr;
  }));
}

function selectRun(run) {
  selectedRun = run;
  document.getElementById("run").value = run;
  refresh();
}

async function refresh() {
  const status = document.getElementById("status");
  try {
    const runs = await sql("SELECT * FROM run_summary ORDER BY started_at NULLS LAST, run_id");
    const picker = document.getElementById("run");
    const known = runs.map((r) => r.run_id);
    if (picker.options.length !== known.length) {
      picker.replaceChildren(...known.map((run) => new Option(run, run)));
    }
    if (!known.includes(selectedRun)) {
      const adapted = runs.filter((r) => r.decisions > 0);
      selectedRun = (adapted.length ? adapted : runs).at(-1)?.run_id ?? null;
    }
    picker.value = selectedRun ?? "";
    runsTable(runs);
    const epochs = await sql("SELECT run_id, epoch, train_accuracy, val_accuracy, train_loss, " +
                             "val_loss FROM epochs ORDER BY run_id, epoch");
    lineChart("accuracy", epochs, [{ column: "val_accuracy", label: "val" },
                                   { column: "train_accuracy", label: "train", dash: "4 3" }],
              "accuracy");
    lineChart("loss", epochs, [{ column: "val_loss", label: "val" },
                               { column: "train_loss", label: "train", dash: "4 3" }], "loss");
    const run = quoted(selectedRun ?? "");
    document.getElementById("health-run").textContent = selectedRun ?? "";
    heatmap("health", await sql("SELECT epoch, layer_id, layer_name, health_score " +
                                `FROM layer_health_per_epoch WHERE run_id = ${run}`));
    swimlanes("seeds", await sql("SELECT layer_id, slot_index, seed_id, to_state, reason, epoch, " +
                                 `step, occurred_at FROM seed_timeline WHERE run_id = ${run} ` +
                                 "ORDER BY layer_id, slot_index, seed_id, step, occurred_at"));
    timeline("decisions", await sql("SELECT * FROM decision_outcomes " +
                                    `WHERE run_id = ${run} ORDER BY decided_at`));
    status.textContent = `updated ${new Date().toLocaleTimeString()}`;
  } catch (error) {
    status.textContent = `error: ${error.message}`;
    console.error(error);
  }
}

document.getElementById("run").addEventListener("change", (e) => selectRun(e.target.value));
refresh();
setInterval(refresh, REFRESH_MS);
