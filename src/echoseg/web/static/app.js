// echoseg web demo: plain DOM, no framework, no network beyond this server.
"use strict";

const LABEL = { la_area: "LA area", ra_area: "RA area", mv_vti: "MV VTI", av_vti: "AV VTI", lvot_vti: "LVOT VTI",
                rvot_vti: "RVOT VTI", pv_vti: "PV VTI" };
const UNIT = { cm2: "cm²", cm: "cm" };
const COLOUR = { la_area: "#e04646", ra_area: "#3a8ee6" };
const STUDY_COLS = [
  ["la_area", "LA area", "cm²"], ["ra_area", "RA area", "cm²"], ["mv_vti", "MV VTI", "cm"], ["av_vti", "AV VTI", "cm"],
  ["lvot_vti", "LVOT VTI", "cm"], ["rvot_vti", "RVOT VTI", "cm"], ["pv_vti", "PV VTI", "cm"],
  ["dimensionless_index", "DI", "", "dimensionless_index_class"], ["stroke_volume_ml", "SV", "ml"],
  ["cardiac_output_l_min", "CO", "l/min"], ["ava_cm2", "AVA", "cm²", "ava_class"], ["qp_qs", "Qp/Qs", "", "qp_qs_class"]];
const DOWNLOADS = ["measurements.csv", "beats.csv", "studies.csv", "results.json", "report.html"];

let sid = null;
const $ = (id) => document.getElementById(id);

function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const kid of kids.flat()) {
    if (kid === null || kid === undefined || kid === false) continue;
    el.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  }
  return el;
}

function fmt(x, digits = 2) { return x === null || x === undefined ? "–" : Number(x).toFixed(digits); }

function status(text, isError = false) {
  const el = $("status");
  el.textContent = text;
  el.classList.toggle("err", isError);
}

async function api(method, url, body) {
  const opts = { method, headers: {} };
  if (body instanceof FormData) opts.body = body;
  else if (body !== undefined) { opts.body = JSON.stringify(body); opts.headers["Content-Type"] = "application/json"; }
  const resp = await fetch(url, opts);
  const data = await resp.json().catch(() => ({ detail: `server answered ${resp.status}` }));
  if (!resp.ok) {
    const err = new Error(typeof data.detail === "string" ? data.detail : JSON.stringify(data.detail));
    err.status = resp.status;
    throw err;
  }
  return data;
}

async function ensureSession() {
  if (sid) {
    try { return await api("GET", `/api/sessions/${sid}`); } catch (e) { if (e.status !== 404) throw e; }
  }
  const s = await api("POST", "/api/sessions");
  sid = s.id;
  sessionStorage.setItem("echoseg-sid", sid);
  return s;
}

async function busy(label, work) {
  const buttons = [$("upload-btn"), $("example-btn")];
  buttons.forEach((b) => (b.disabled = true));
  status(label);
  try { await work(); status(""); }
  catch (e) { status(e.message, true); }
  finally { buttons.forEach((b) => (b.disabled = false)); }
}

// ------------------------------------------------------------------------------ session view
function renderSession(s) {
  $("study-panel").classList.toggle("hidden", s.files.length === 0);
  renderStudies(s.studies, s.studies_error);
  const files = $("files");
  files.replaceChildren(...s.files.map(renderFile));
  $("downloads").replaceChildren(h("span", { class: "hint" }, "Download:"),
    ...DOWNLOADS.map((n) => h("a", { href: `/api/sessions/${sid}/download/${n}`, download: `echoseg-${n}` }, n)),
    h("button", { class: "secondary", type: "button", id: "clear-btn", onclick: clearSession }, "Clear session"));
}

function renderStudies(rows, error) {
  $("study-error").textContent = error || "";
  $("study-error").classList.toggle("hidden", !error);
  const cols = STUDY_COLS.filter(([k]) => rows.some((r) => r[k] !== null && r[k] !== undefined));
  if (!rows.length || !cols.length) { $("studies").replaceChildren(h("p", { class: "hint" }, "No passing values yet.")); return; }
  const head = h("tr", {}, h("th", {}, "study"), cols.map(([, label, unit]) => h("th", {}, unit ? `${label} (${unit})` : label)));
  const body = rows.map((r) => h("tr", {}, h("td", { title: r.study_uid }, String(r.study_uid || "").slice(-12) || "(no study UID)"),
    cols.map(([k, , , cls]) => h("td", { class: "num", "data-key": k },
      r[k] === null || r[k] === undefined ? "–" : fmt(r[k]), cls && r[cls] ? h("div", { class: "hint" }, r[cls]) : null))));
  $("studies").replaceChildren(h("table", { id: "study-table" }, head, body));
}

function renderFile(f) {
  const card = h("article", { class: "card", "data-file": f.id, "data-name": f.name });
  const conf = f.route_confidence === null ? "" : ` · confidence ${fmt(f.route_confidence)}`;
  const taskNames = f.tasks.map((t) => LABEL[t.task] || t.task).join(" + ");
  card.append(h("div", { class: "card-head" }, h("h3", {}, f.name),
    h("span", { class: "route" }, f.kind ? `${f.kind === "a4c" ? "A4C cine" : "Doppler"}: ${taskNames} — ${f.route}${conf}`
                                          : "not measured")));
  if (f.error) card.append(h("div", { class: "error-box" }, f.error));
  if (!f.kind) return card;
  const meas = h("div", { class: "meas" });
  const img = h("img", { class: "overlay", alt: `overlay of ${f.name}` });
  const left = h("div", {}, f.has_image ? img : null);
  const right = h("div", {}, meas);
  card.append(h("div", { class: "card-body" }, left, right));
  const parts = { card, meas, img, plot: null, file: f };
  if (f.cine) { parts.plot = h("div", {}); right.append(sliders(f, parts), parts.plot); }
  if (Object.keys(f.beats).length) { parts.beats = h("div", {}); right.append(parts.beats); }
  if (f.edit_note) right.append(h("p", { class: "hint" }, f.edit_note));
  if (f.editable) right.append(h("div", { class: "tools" }, h("button", { class: "secondary", type: "button",
    onclick: () => edit(parts, "reset", {}) }, "Reset edits")));
  update(parts, f);
  return card;
}

function update(parts, f) {
  parts.file = f;
  if (f.has_image) parts.img.src = `/api/sessions/${sid}/files/${f.id}/overlay.png?v=${f.version}`;
  parts.meas.replaceChildren(...f.tasks.map((t) => measurement(t)));
  if (parts.plot) parts.plot.replaceChildren(areaPlot(f.cine, f.cine.frames));
  if (parts.sliders) for (const [task, s] of Object.entries(parts.sliders)) s.set(f.cine.frames[task]);
  if (parts.beats) parts.beats.replaceChildren(...Object.entries(f.beats).map(([task, beats]) => beatTable(parts, task, beats, f.editable)));
}

function measurement(t) {
  const pass = t.qc === "pass";
  const d = t.details || {};
  const details = [];
  if (d.length_cm !== undefined) details.push(`length ${fmt(d.length_cm)} cm`);
  if (d.volume_ml !== undefined) details.push(`volume ${fmt(d.volume_ml, 1)} ml`);
  if (d.sd !== undefined) details.push(`SD ${fmt(d.sd)}`);
  if (d.vmax_cm_s !== undefined) details.push(`Vmax ${fmt(d.vmax_cm_s, 0)} cm/s`);
  if (d.mean_gradient_mmhg !== undefined) details.push(`mean gradient ${fmt(d.mean_gradient_mmhg, 1)} mmHg`);
  if (d.heart_rate_bpm !== undefined) details.push(`HR ${fmt(d.heart_rate_bpm, 0)} bpm`);
  details.push(`n ${t.n}`);
  if (t.frame !== null && t.task.endsWith("_area")) details.push(`frame ${t.frame}`);
  if (t.confidence !== null) details.push(`confidence ${fmt(t.confidence)}`);
  const unit = UNIT[t.unit] || t.unit;
  return h("div", { class: `m ${pass ? "pass" : "fail"}`, "data-task": t.task },
    h("div", {}, h("span", { class: "task" }, LABEL[t.task] || t.task),
      h("span", { class: `badge ${pass ? "pass" : "fail"}`, "data-role": "qc" }, pass ? "QC pass" : "QC fail"),
      t.edited ? h("span", { class: "badge edited", title: t.edit }, "edited") : null),
    h("div", {}, h("span", { class: "value", "data-role": "value" }, pass && t.value !== null ? fmt(t.value) : "refused"),
      pass && t.value !== null ? ` ${unit}` : "",
      !pass && t.raw_value !== null ? h("span", { class: "raw" }, ` (unchecked ${fmt(t.raw_value)} ${unit}, not for use)`) : null,
      t.truth !== null && t.truth !== undefined ? h("span", { class: "raw" }, ` · synthetic truth ${fmt(t.truth)} ${unit}`) : null),
    t.reason ? h("div", { class: "reason", "data-role": "reason" }, t.reason) : null,
    t.warnings.length ? h("ul", { class: "warn" }, t.warnings.map((w) => h("li", {}, w))) : null,
    t.edit ? h("div", { class: "details" }, t.edit) : null,
    h("div", { class: "details" }, details.join(" · ")));
}

// ------------------------------------------------------------------------------ atria: frames
function sliders(f, parts) {
  const box = h("div", { class: "sliders" }, h("h2", {}, "Measured frame"));
  parts.sliders = {};
  const n = f.cine.n_frames;
  for (const task of Object.keys(f.cine.frames)) {
    const input = h("input", { type: "range", min: 0, max: n - 1, step: 1, value: f.cine.frames[task],
                               "data-task": task, disabled: !f.editable, "aria-label": `${LABEL[task]} frame` });
    const label = h("span", {});
    const show = (k) => {
      label.textContent = `frame ${k}/${n - 1}${k === f.cine.pipeline_frames[task] ? " · auto" : ""}`;
    };
    let timer = null;
    input.addEventListener("input", () => {
      const k = Number(input.value);
      parts.ticket = (parts.ticket || 0) + 1;  // answers to earlier positions are now stale
      show(k);
      parts.plot.replaceChildren(areaPlot(f.cine, { ...parts.file.cine.frames, [task]: k }));
      clearTimeout(timer);
      timer = setTimeout(() => edit(parts, "frame", { task, frame: k }), 150);
    });
    parts.sliders[task] = { set: (k) => { input.value = k; show(k); } };
    show(f.cine.frames[task]);
    box.append(h("div", { class: "slider" }, h("span", { class: `task-name ${task}` }, LABEL[task]), input, label));
  }
  return box;
}

function areaPlot(cine, frames) {
  const W = 560, H = 150, L = 34, R = 8, T = 8, B = 20;
  const all = Object.values(cine.curves).flat();
  const top = Math.max(...all, 1) * 1.08, n = cine.n_frames;
  const x = (i) => L + (n > 1 ? (i / (n - 1)) * (W - L - R) : 0);
  const y = (v) => T + (1 - v / top) * (H - T - B);
  const ns = "http://www.w3.org/2000/svg";
  const el = (tag, attrs) => { const e = document.createElementNS(ns, tag); for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v); return e; };
  const svg = el("svg", { class: "plot", viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "none", role: "img",
                          "aria-label": "atrial area over time" });
  for (const frac of [0, 0.5, 1]) {
    const v = top * frac / 1.08;
    svg.append(el("line", { x1: L, x2: W - R, y1: y(v), y2: y(v), stroke: "#e3e7ec" }));
    const t = el("text", { x: 2, y: y(v) + 3 }); t.textContent = v.toFixed(top < 10 ? 1 : 0); svg.append(t);
  }
  const xl = el("text", { x: W - R - 200, y: H - 5 }); xl.textContent = "area (cm²) per frame of the loop →"; svg.append(xl);
  for (const [task, curve] of Object.entries(cine.curves)) {
    svg.append(el("polyline", { points: curve.map((v, i) => `${x(i)},${y(v)}`).join(" "), fill: "none",
                                stroke: COLOUR[task] || "#333", "stroke-width": 1.8 }));
    const name = el("text", { x: L + 4, y: y(curve[0]) - 4, fill: COLOUR[task] });
    name.textContent = (LABEL[task] || task).split(" ")[0];
    svg.append(name);
    const k = frames[task];
    if (k !== undefined) {
      svg.append(el("line", { x1: x(k), x2: x(k), y1: T, y2: H - B, stroke: COLOUR[task], "stroke-dasharray": "3 3" }));
      svg.append(el("circle", { cx: x(k), cy: y(curve[k]), r: 4, fill: COLOUR[task] }));
    }
  }
  return svg;
}

// ------------------------------------------------------------------------------ Doppler: beats
function beatTable(parts, task, beats, editable) {
  const rows = beats.map((b) => {
    const box = h("input", { type: "checkbox", checked: b.included, disabled: !editable || !b.complete,
                             "data-beat": b.index, "aria-label": `include beat ${b.index + 1}` });
    box.addEventListener("change", () => {
      const included = [...parts.beats.querySelectorAll(`table[data-task="${task}"] input:checked`)].map((i) => Number(i.dataset.beat));
      edit(parts, "beats", { task, included });
    });
    return h("tr", { class: b.included ? "" : "off" }, h("td", {}, box), h("td", {}, b.index + 1),
      h("td", { class: "num" }, `${fmt(b.start_s)}–${fmt(b.end_s)} s`), h("td", { class: "num" }, fmt(b.vti_cm)),
      h("td", { class: "num" }, fmt(b.vmax_cm_s, 0)), h("td", {}, b.complete ? "" : "not counted (strip edge, erase bar or set aside)"));
  });
  return h("div", {}, h("h2", {}, "Beats"),
    h("table", { class: "beats", "data-task": task }, h("tr", {}, h("th", {}, "use"), h("th", {}, "#"), h("th", {}, "time"),
      h("th", {}, "VTI (cm)"), h("th", {}, "Vmax (cm/s)"), h("th", {}, "")), rows));
}

// ------------------------------------------------------------------------------ edits
async function edit(parts, what, body) {
  const ticket = (parts.ticket = (parts.ticket || 0) + 1);  // only the latest answer is shown
  try {
    const out = await api("POST", `/api/sessions/${sid}/files/${parts.file.id}/${what}`, body);
    if (ticket !== parts.ticket) return;
    update(parts, out.file);
    renderStudies(out.studies, out.studies_error);
    status("");
  } catch (e) { status(e.message, true); }
}

async function setDiameters() {
  try {
    const s = await api("PUT", `/api/sessions/${sid}/diameters`, { lvot_cm: $("lvot-d").value, rvot_cm: $("rvot-d").value });
    renderStudies(s.studies, s.studies_error);
    status("");
  } catch (e) { status(e.message, true); }
}

async function clearSession() {
  try {
    await api("DELETE", `/api/sessions/${sid}`);
    sid = null;
    renderSession(await ensureSession());
    status("Session cleared: its results are gone from the server.");
  } catch (e) { status(e.message, true); }
}

// ------------------------------------------------------------------------------ start
async function start() {
  sid = sessionStorage.getItem("echoseg-sid");
  try {
    const info = await api("GET", "/api/info");
    limits = info.limits || null;
    const missing = Object.entries(info.models).filter(([, ok]) => !ok).map(([k]) => k);
    if (missing.length) {
      $("models-note").textContent = `No ${missing.join(" / ")} model installed: those files will be refused with the reason.`;
      $("models-note").classList.remove("hidden");
    }
    const s = await ensureSession();
    renderSession(s);
    if (s.diameters.lvot_cm) $("lvot-d").value = s.diameters.lvot_cm;
    if (s.diameters.rvot_cm) $("rvot-d").value = s.diameters.rvot_cm;
  } catch (e) { status(e.message, true); }
  $("upload-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const files = $("file-input").files;
    if (!files.length) { status("Choose one or more DICOM files or a .zip first.", true); return; }
    const total = Array.from(files).reduce((n, f) => n + f.size, 0);
    if (limits && total > limits.max_request_mb * 1048576) {  // the server refuses it too, while it streams
      status(`These files are ${(total / 1048576).toFixed(0)} MiB; at most ${limits.max_request_mb} MiB are accepted per upload: send fewer at a time.`, true);
      return;
    }
    const form = new FormData();
    for (const f of files) form.append("files", f, f.name);
    if ($("cm-per-px").value) form.append("cm_per_px", $("cm-per-px").value);
    busy(`Measuring ${files.length} file(s)…`, async () => {
      await ensureSession();
      renderSession(await api("POST", `/api/sessions/${sid}/upload`, form));
      $("file-input").value = "";
    });
  });
  $("example-btn").addEventListener("click", () => busy("Generating and measuring a synthetic study…", async () => {
    await ensureSession();
    renderSession(await api("POST", `/api/sessions/${sid}/example?seed=${Number($("seed").value) || 0}`));
  }));
  $("lvot-d").addEventListener("change", setDiameters);
  $("rvot-d").addEventListener("change", setDiameters);
}

let limits = null;  // the server's upload limits (/api/info)
document.addEventListener("DOMContentLoaded", start);
