// The convtranspose explainer page. It draws what the JSON API (or the embedded export) returns
// and never computes a convolution itself: every number comes from the Python trace model.
// Plain ES module, no dependencies, no network access except POST /api/explain on its own origin.

const config = JSON.parse(document.getElementById("ct-config").textContent);
const store = JSON.parse(document.getElementById("ct-data").textContent);
const VIEWS = ["scatter", "conv", "matrix", "phase", "overlap"];
const PARAMS = ["stride", "padding", "output_padding", "dilation"];
// padding: "ints" (PyTorch's symmetric p per axis), "pairs" ([before, after] per axis), or a form's name.
const PADDING_FORMS = ["ints", "pairs", "valid", "same", "same_lower"];
const PADDING_MODES = ["zeros", "circular", "reflect", "replicate"];
const SPEEDS = { "0.5×": 1600, "1×": 800, "2×": 400, "4×": 200 };
const LIMITS = { inputSide: 8, kernelSide: 7, param: 9 };
const serverMode = config.mode === "server";

const state = {
  lang: config.lang in store ? config.lang : Object.keys(store)[0],
  view: config.view,
  step: 0,
  playing: null,
  speed: "1×",
  payload: null, // the last valid answer (scatter data + the current view's data)
  error: null,
  selected: null, // {grid: "output"|"input", index: [...]}
  settings: null,
  preset: config.preset || "custom",
  seq: 0,
};
window.__ct = { renders: [], lastRenderMs: null, ready: false, requests: 0, answers: 0 };

const app = document.getElementById("app");
const t = (key, values = {}) => {
  const text = config.ui[state.lang][key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => String(values[name] ?? ""));
};
const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
const rows = (a) => (Array.isArray(a[0]) ? a : [a]);
const fmt = (v) => {
  if (v === null || v === undefined) return "";
  const text = String(Number(Number(v).toPrecision(5)));
  return text === "-0" ? "0" : text;
};
const idxText = (index) => "[" + index.join(",") + "]";
const key = (index) => index.join(",");

// ------------------------------------------------------------------------------------------
// Settings (the request) — taken from the payload, edited by the controls
// ------------------------------------------------------------------------------------------

function settingsFrom(payload) {
  const s = {
    ndim: payload.ndim,
    input: rows(payload.input).map((r) => r.slice()),
    kernel: rows(payload.kernel).map((r) => r.slice()),
    useBias: payload.bias !== null,
    bias: payload.bias ?? 0,
  };
  for (const name of ["stride", "output_padding", "dilation"]) s[name] = payload.params[name].slice();
  Object.assign(s, paddingSettings(payload.params.padding, payload.ndim, payload.params.pads));
  s.padding_mode = payload.params.padding_mode;
  return s;
}

/** The page's padding fields for ``padding`` as the API or a preset gives it. */
function paddingSettings(padding, ndim, pads = null) {
  if (typeof padding === "string") {
    const resolved = pads ? pads.map((p) => p.slice()) : Array.from({ length: ndim }, () => [0, 0]);
    return { paddingForm: padding, padding: resolved.map((p) => p[0]), pads: resolved };
  }
  const perDim = Array.isArray(padding) ? padding : Array(ndim).fill(padding ?? 0);
  const pairs = perDim.map((p) => (Array.isArray(p) ? p.slice() : [p, p]));
  const symmetric = perDim.every((p) => !Array.isArray(p));
  return { paddingForm: symmetric ? "ints" : "pairs", padding: pairs.map((p) => p[0]), pads: pairs };
}

function paddingValue(s) {
  if (s.paddingForm === "ints") return s.padding.slice(0, s.ndim);
  if (s.paddingForm === "pairs") return s.pads.slice(0, s.ndim).map((p) => p.slice());
  return s.paddingForm;
}

function requestBody(view = state.view, lang = state.lang) {
  const s = state.settings;
  const grid = (g) => (s.ndim === 1 ? g[0] : g);
  const body = { input: grid(s.input), kernel: grid(s.kernel), view, lang };
  if (s.useBias) body.bias = s.bias;
  for (const name of ["stride", "output_padding", "dilation"]) body[name] = s[name].slice(0, s.ndim);
  body.padding = paddingValue(s);
  body.padding_mode = s.padding_mode;
  return body;
}

function presetSettings(preset) {
  const two = Array.isArray(preset.input[0]);
  const ndim = two ? 2 : 1;
  const perDim = (v, d) => (Array.isArray(v) ? v.slice() : Array(ndim).fill(v ?? d));
  return {
    ndim,
    input: rows(preset.input).map((r) => r.slice()),
    kernel: rows(preset.kernel).map((r) => r.slice()),
    useBias: preset.bias !== undefined,
    bias: preset.bias ?? 0,
    stride: perDim(preset.stride, 1),
    output_padding: perDim(preset.output_padding, 0),
    dilation: perDim(preset.dilation, 1),
    ...paddingSettings(preset.padding ?? 0, ndim),
    padding_mode: preset.padding_mode ?? "zeros",
  };
}

function resize(grid, nRows, nCols, fill) {
  const out = [];
  for (let r = 0; r < nRows; r++) {
    const row = [];
    for (let c = 0; c < nCols; c++) row.push(grid[r] !== undefined && grid[r][c] !== undefined ? grid[r][c] : fill);
    out.push(row);
  }
  return out;
}

// ------------------------------------------------------------------------------------------
// Data: the API (server mode) or the embedded export (static mode)
// ------------------------------------------------------------------------------------------

function embedded(lang, view) {
  const entry = store[lang];
  if (!entry) return null;
  const extra = entry.views[view] || (view === entry.base.view ? entry.base : null);
  return extra ? { ...entry.base, ...extra } : null;
}

async function refresh() {
  if (!serverMode) {
    const payload = embedded(state.lang, state.view);
    if (payload) accept(payload);
    return;
  }
  const cached = embedded(state.lang, state.view);
  if (cached && !state.dirty) {
    accept(cached);
    return;
  }
  const seq = ++state.seq;
  window.__ct.requests += 1;
  document.body.classList.add("busy");
  let response, data;
  try {
    response = await fetch("api/explain", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(requestBody()),
    });
    data = await response.json();
  } catch (err) {
    data = { error: String(err) };
    response = { ok: false };
  }
  if (seq !== state.seq) return; // a newer request is on its way
  document.body.classList.remove("busy");
  if (response.ok) {
    state.dirty = false;
    store[state.lang] = { base: data, views: { [state.view]: data } };
    accept(data);
  } else {
    showError(data.error || "error");
  }
}

let timer = null;
function schedule() {
  state.dirty = true;
  clearTimeout(timer);
  timer = setTimeout(refresh, 150);
}

function accept(payload) {
  const first = state.payload === null;
  state.payload = payload;
  state.error = null;
  if (first || !state.settings) {
    state.settings = settingsFrom(payload);
  }
  state.step = Math.min(state.step, payload.steps.length - 1);
  if (first) state.step = payload.steps.length - 1;
  if (app.dataset.lang !== state.lang) renderAll();
  else renderResults();
  window.__ct.ready = true;
  window.__ct.answers += 1; // rendered: tests wait for this after the API's response
}

function showError(message) {
  state.error = message;
  const box = document.getElementById("error");
  box.hidden = false;
  box.innerHTML = `<strong>${esc(t("invalid"))}</strong> <span class="error-text">${esc(message)}</span><br><span class="muted">${esc(t("invalid_keep"))}</span>`;
  document.getElementById("main").classList.add("stale");
  window.__ct.ready = true;
  window.__ct.answers += 1;
}

// ------------------------------------------------------------------------------------------
// Grids
// ------------------------------------------------------------------------------------------

/** A grid of numbers: absolutely placed fixed-size cells, so a changed cell re-lays out only itself.
 *  marks: Map(key -> array of class names); name identifies the grid. */
function grid(name, array, { marks = new Map(), focusable = false, caption = "", hole = null, rowLabels = null, colLabels = null, ndim = state.payload ? state.payload.ndim : 2 } = {}) {
  const data = rows(array);
  if (data.length === 0 || data[0].length === 0) return `<figure class="grid-box"><figcaption>${esc(caption)}</figcaption><div class="empty">∅</div></figure>`;
  const dc = rowLabels ? 1 : 0;
  const dr = colLabels ? 1 : 0;
  const at = (r, c) => ` style="--r:${r};--c:${c}"`;
  const role = focusable ? "grid" : "table";
  const parts = [
    `<figure class="grid-box"><figcaption>${esc(caption)}</figcaption>`,
    `<div class="grid${data[0].length > 14 ? " dense" : ""}" data-grid="${name}" id="${name}-grid" role="${role}" aria-label="${esc(caption)}" style="--rows:${data.length + dr};--cols:${data[0].length + dc}">`,
  ];
  if (colLabels) {
    parts.push(`<div role="row" class="grid-row">` + colLabels.map((l, c) => `<span role="columnheader" class="label"${at(0, c + dc)}>${esc(l)}</span>`).join("") + "</div>");
  }
  let first = true;
  data.forEach((row, r) => {
    parts.push(`<div role="row" class="grid-row">`);
    if (rowLabels) parts.push(`<span role="rowheader" class="label"${at(r + dr, 0)}>${esc(rowLabels[r])}</span>`);
    row.forEach((v, c) => {
      const index = ndim === 1 && data.length === 1 ? [c] : [r, c];
      const cls = marks.get(key(index)) || [];
      const isHole = hole && hole.has(key(index));
      const text = isHole ? "·" : fmt(v);
      const tab = focusable ? ` tabindex="${first ? 0 : -1}"` : "";
      first = false;
      parts.push(`<span role="${focusable ? "gridcell" : "cell"}" class="cell ${cls.join(" ")}"${at(r + dr, c + dc)} data-index="${key(index)}"${tab} aria-label="${esc(name)}${idxText(index)} = ${esc(text)}">${esc(text)}</span>`);
    });
    parts.push("</div>");
  });
  parts.push("</div></figure>");
  return parts.join("");
}

function addMark(marks, index, cls) {
  const k = key(index);
  if (!marks.has(k)) marks.set(k, []);
  marks.get(k).push(cls);
}

// ------------------------------------------------------------------------------------------
// Page skeleton
// ------------------------------------------------------------------------------------------

function renderAll() {
  const p = state.payload;
  document.documentElement.lang = state.lang === "zh" ? "zh-Hans" : "en";
  document.title = t("title") + " — convtranspose";
  app.innerHTML = `
    <header class="top">
      <div><h1>${esc(t("title"))}</h1><p class="muted">${esc(t("subtitle"))}</p></div>
      <button id="lang-toggle" type="button" aria-label="${esc(t("lang_button_label"))}">${esc(t("lang_button"))}</button>
    </header>
    <div class="layout">
      <section id="settings" aria-labelledby="settings-h">
        <h2 id="settings-h">${esc(t("settings"))}</h2>
        ${serverMode ? "" : `<p class="note" id="static-note">${esc(t("static_note"))}</p>`}
        <fieldset id="settings-fields"${serverMode ? "" : " disabled"}></fieldset>
        <div id="error" role="alert" hidden></div>
        <h3>${esc(t("formula"))}</h3>
        <div id="formula" aria-live="polite"></div>
      </section>
      <section id="main" aria-label="${esc(t("views"))}">
        <div role="tablist" id="view-tabs" aria-label="${esc(t("views"))}">
          ${VIEWS.map((v) => `<button role="tab" type="button" id="tab-${v}" data-view="${v}" aria-selected="${v === state.view}" tabindex="${v === state.view ? 0 : -1}">${esc(t("view_" + v))}</button>`).join("")}
        </div>
        <div id="view-panel" role="tabpanel" aria-labelledby="tab-${state.view}"></div>
        <aside id="inspector" aria-live="polite"><h3>${esc(t("inspector"))}</h3><div id="inspect-body" class="muted">${esc(t("inspector_hint"))}</div></aside>
        <section id="code-box"><h3>${esc(t("code"))}</h3><div class="code-pair"></div></section>
        <details id="text-box"><summary>${esc(t("as_text"))}</summary><pre id="text-out"></pre></details>
      </section>
    </div>`;
  app.dataset.lang = state.lang;
  renderSettings();
  bindSkeleton();
  renderResults();
}

/** Everything that depends on the answer (not the settings panel: it keeps the keyboard focus). */
function renderResults() {
  const p = state.payload;
  document.getElementById("error").hidden = true;
  document.getElementById("main").classList.remove("stale");
  const scatterOnly = p.params.padding_mode !== "zeros";
  for (const tab of document.querySelectorAll("[data-view]")) {
    const selected = tab.dataset.view === state.view;
    tab.setAttribute("aria-selected", String(selected));
    tab.tabIndex = selected ? 0 : -1;
    const off = scatterOnly && tab.dataset.view !== "scatter";
    tab.disabled = off;
    tab.title = off ? t("scatter_only", { mode: p.params.padding_mode }) : "";
  }
  // A named padding form shows the crop it resolved to.
  p.params.pads.forEach((pair, d) => {
    const cell = document.getElementById(`padding-${d}-resolved`);
    if (cell && p.params.padding === state.settings.paddingForm) cell.textContent = "(" + pair.join(", ") + ")";
  });
  renderFormula(p);
  renderView();
  renderCode(p);
  document.getElementById("text-out").textContent = p.text;
}

function bindSkeleton() {
  document.getElementById("lang-toggle").addEventListener("click", () => {
    state.lang = state.lang === "en" ? "zh" : "en";
    if (serverMode && !store[state.lang]) state.dirty = true;
    if (serverMode) state.dirty = true;
    stop();
    refresh().then(() => document.getElementById("lang-toggle")?.focus());
  });
  const tabs = document.getElementById("view-tabs");
  tabs.addEventListener("click", (e) => {
    const button = e.target.closest("[data-view]");
    if (button) switchView(button.dataset.view);
  });
  tabs.addEventListener("keydown", (e) => {
    if (e.key !== "ArrowRight" && e.key !== "ArrowLeft") return;
    const enabled = VIEWS.filter((v) => !document.getElementById("tab-" + v).disabled);
    const i = enabled.indexOf(state.view) + (e.key === "ArrowRight" ? 1 : enabled.length - 1);
    switchView(enabled[i % enabled.length]);
    e.preventDefault();
  });
}

function switchView(view) {
  if (view === state.view || document.getElementById("tab-" + view)?.disabled) return;
  state.view = view;
  stop();
  if (serverMode) state.dirty = true;
  refresh().then(() => document.getElementById("tab-" + view)?.focus());
}

// ------------------------------------------------------------------------------------------
// Settings panel
// ------------------------------------------------------------------------------------------

function numberInput(id, value, { min = null, max = null, step = "any", label = "" } = {}) {
  return `<input type="number" id="${id}" value="${esc(value)}" step="${step}"${min !== null ? ` min="${min}"` : ""}${max !== null ? ` max="${max}"` : ""} aria-label="${esc(label)}">`;
}

function editor(name, g, label) {
  const s = state.settings;
  let html = `<table class="editor" aria-label="${esc(label)}"><tbody>`;
  g.forEach((row, r) => {
    html += "<tr>";
    row.forEach((v, c) => {
      const index = s.ndim === 1 ? [c] : [r, c];
      html += `<td>${numberInput(`${name}-${r}-${c}`, v, { label: `${label} ${idxText(index)}` })}</td>`;
    });
    html += "</tr>";
  });
  return html + "</tbody></table>";
}

function renderSettings() {
  const s = state.settings;
  const box = document.getElementById("settings-fields");
  const axes = s.ndim === 1 ? [t("length")] : [t("rows"), t("cols")];
  const options = config.presets
    .map((p) => `<option value="${p.id}"${p.id === state.preset ? " selected" : ""}>${esc(t("preset_" + p.id))}</option>`)
    .join("");
  const size = (name, g, max) =>
    s.ndim === 1
      ? `<label>${esc(t("length"))} ${numberInput(`${name}-cols`, g[0].length, { min: 1, max, step: 1, label: `${t(name)} ${t("length")}` })}</label>`
      : `<label>${esc(t("rows"))} ${numberInput(`${name}-rows`, g.length, { min: 1, max, step: 1, label: `${t(name)} ${t("rows")}` })}</label>
         <label>${esc(t("cols"))} ${numberInput(`${name}-cols`, g[0].length, { min: 1, max, step: 1, label: `${t(name)} ${t("cols")}` })}</label>`;
  box.innerHTML = `
    <label class="wide">${esc(t("preset"))}
      <select id="preset"><option value="custom"${state.preset === "custom" ? " selected" : ""}>${esc(t("preset_custom"))}</option>${options}</select></label>
    <div class="row" role="radiogroup" aria-label="${esc(t("dims"))}">${esc(t("dims"))}:
      <label><input type="radio" name="dims" value="1"${s.ndim === 1 ? " checked" : ""}> ${esc(t("dims_1"))}</label>
      <label><input type="radio" name="dims" value="2"${s.ndim === 2 ? " checked" : ""}> ${esc(t("dims_2"))}</label>
    </div>
    <div class="editor-box"><h3>${esc(t("input"))}</h3><div class="row">${size("input", s.input, LIMITS.inputSide)}</div>${editor("input", s.input, t("input"))}</div>
    <div class="editor-box"><h3>${esc(t("kernel"))}</h3><div class="row">${size("kernel", s.kernel, LIMITS.kernelSide)}</div>${editor("kernel", s.kernel, t("kernel"))}</div>
    <div class="row"><label><input type="checkbox" id="use-bias"${s.useBias ? " checked" : ""}> ${esc(t("use_bias"))}</label>
      ${numberInput("bias", s.bias, { label: t("bias") })}</div>
    <table class="params"><thead><tr><th></th>${axes.map((a) => `<th scope="col">${esc(a)}</th>`).join("")}</tr></thead><tbody>
      ${PARAMS.map((name) => `<tr><th scope="row">${esc(t(name === "padding" && s.paddingForm === "pairs" ? "padding_pairs" : name))}</th>${axes.map((a, d) => paramCell(name, d, a)).join("")}</tr>`).join("")}
    </tbody></table>
    <label class="wide">${esc(t("padding_form"))}
      <select id="padding-form">${PADDING_FORMS.map((f) => `<option value="${f}"${f === s.paddingForm ? " selected" : ""}>${esc(t("padding_form_" + f))}</option>`).join("")}</select></label>
    <label class="wide">${esc(t("padding_mode"))}
      <select id="padding-mode">${PADDING_MODES.map((m) => `<option value="${m}"${m === s.padding_mode ? " selected" : ""}>${esc(t("padding_mode_" + m))}</option>`).join("")}</select></label>`;
  document.getElementById("bias").disabled = !s.useBias;
  box.oninput = onSettingsInput;
  box.onchange = onSettingsChange;
  if (state.error) showError(state.error);
}

/** One cell of the parameter table; padding depends on the form (one int, a before/after pair, or
 *  the crop a named form resolved to, read-only). */
function paramCell(name, d, axis) {
  const s = state.settings;
  if (name !== "padding") return `<td>${numberInput(`${name}-${d}`, s[name][d], { step: 1, label: `${t(name)} (${axis})` })}</td>`;
  if (s.paddingForm === "ints") return `<td>${numberInput(`padding-${d}`, s.padding[d], { step: 1, label: `${t("padding")} (${axis})` })}</td>`;
  if (s.paddingForm === "pairs") {
    const pair = s.pads[d];
    return `<td class="pair">${numberInput(`pad-before-${d}`, pair[0], { step: 1, label: `${t("pad_before")} (${axis})` })}${numberInput(`pad-after-${d}`, pair[1], { step: 1, label: `${t("pad_after")} (${axis})` })}</td>`;
  }
  const pads = state.payload && state.payload.params.padding === s.paddingForm ? state.payload.params.pads[d] : null;
  return `<td class="resolved" id="padding-${d}-resolved">${esc(pads ? "(" + pads.join(", ") + ")" : "…")}</td>`;
}

function readNumber(el) {
  const v = el.value.trim();
  return v === "" ? null : Number(v);
}

function onSettingsInput(e) {
  const el = e.target;
  const s = state.settings;
  const m = el.id.match(/^(input|kernel)-(\d+)-(\d+)$/);
  if (m) {
    s[m[1]][Number(m[2])][Number(m[3])] = readNumber(el);
  } else if (/^(stride|padding|output_padding|dilation)-\d$/.test(el.id)) {
    const [name, d] = [el.id.slice(0, el.id.lastIndexOf("-")), Number(el.id.slice(el.id.lastIndexOf("-") + 1))];
    s[name][d] = readNumber(el);
    if (name === "padding") s.pads[d] = [s.padding[d], s.padding[d]];
  } else if (/^pad-(before|after)-\d$/.test(el.id)) {
    const d = Number(el.id.slice(-1));
    s.pads[d][el.id.startsWith("pad-before") ? 0 : 1] = readNumber(el);
  } else if (el.id === "bias") {
    s.bias = readNumber(el);
  } else {
    return; // sizes, preset and dims apply on "change"
  }
  markCustom();
  schedule();
}

function markCustom() {
  state.preset = "custom";
  const select = document.getElementById("preset");
  if (select) select.value = "custom";
}

function onSettingsChange(e) {
  const el = e.target;
  const s = state.settings;
  if (el.id === "preset") {
    const preset = config.presets.find((p) => p.id === el.value);
    if (!preset) return;
    state.preset = preset.id;
    state.settings = presetSettings(preset);
    state.step = 1e9;
  } else if (el.name === "dims") {
    const ndim = Number(el.value);
    if (ndim === s.ndim) return;
    s.ndim = ndim;
    if (ndim === 1) {
      s.input = [s.input[0]];
      s.kernel = [s.kernel[0]];
    } else {
      s.input = resize(s.input, Math.max(2, s.input.length), s.input[0].length, 0);
      s.kernel = resize(s.kernel, Math.max(2, s.kernel.length), s.kernel[0].length, 1);
    }
    for (const name of ["stride", "padding", "output_padding", "dilation"]) s[name] = Array(ndim).fill(s[name][0]);
    s.pads = Array.from({ length: ndim }, () => s.pads[0].slice());
    markCustom();
  } else if (el.id === "padding-form") {
    const form = el.value;
    // Start a pair or int form from the crop the current answer resolved to.
    const resolved = state.payload ? state.payload.params.pads.map((p) => p.slice()) : s.pads;
    if (typeof paddingValue(s) === "string" && resolved.length === s.ndim) {
      s.pads = resolved;
      s.padding = resolved.map((p) => p[0]);
    }
    if (form === "ints") s.padding = s.pads.map((p) => p[0]);
    s.paddingForm = form;
    markCustom();
  } else if (el.id === "padding-mode") {
    s.padding_mode = el.value;
    if (s.padding_mode !== "zeros" && state.view !== "scatter") state.view = "scatter";
    markCustom();
  } else if (/^(input|kernel)-(rows|cols)$/.test(el.id)) {
    const [name, which] = el.id.split("-");
    const limit = name === "input" ? LIMITS.inputSide : LIMITS.kernelSide;
    const n = Math.max(1, Math.min(limit, Math.round(Number(el.value) || 1)));
    const g = s[name];
    s[name] = which === "rows" ? resize(g, n, g[0].length, name === "input" ? 0 : 1) : resize(g, g.length, n, name === "input" ? 0 : 1);
    markCustom();
  } else if (el.id === "use-bias") {
    s.useBias = el.checked;
    markCustom();
  } else {
    return;
  }
  renderSettings();
  schedule();
}

function renderFormula(p) {
  const lines = p.formula;
  document.getElementById("formula").innerHTML =
    `<p class="formula-head">${esc(lines[0])}</p>` + lines.slice(1).map((l) => `<p class="formula-line"><code>${esc(l)}</code></p>`).join("");
}

// ------------------------------------------------------------------------------------------
// Views
// ------------------------------------------------------------------------------------------

function renderView() {
  const panel = document.getElementById("view-panel");
  const p = state.payload;
  panel.setAttribute("aria-labelledby", "tab-" + state.view);
  if (state.view === "scatter") {
    panel.innerHTML = scrubberHTML(p) + `<div id="step-area"></div>`;
    frame = null;
    bindScrubber();
    renderStep();
    return;
  }
  const v = p.view_data;
  let html = "";
  if (state.view === "conv") {
    html += `<p>${esc(t("conv_explain"))}</p><div class="grids">`;
    html += grid("inserted", v.inserted, { caption: t("inserted") });
    html += grid("padded", v.padded, { caption: t("padded", { before: "(" + v.pad_before.join(", ") + ")", after: "(" + v.pad_after.join(", ") + ")" }) });
    html += grid("flipped", v.flipped_kernel, { caption: t("flipped") });
    html += outputGrid(v.output, t("output"));
    html += "</div>";
  } else if (state.view === "matrix") {
    const lab = (l) => idxText(l);
    html += `<div class="grids">`;
    html += grid("matrix", v.transposed, { caption: t("matrix_ct"), rowLabels: v.output_labels.map(lab), colLabels: v.input_labels.map(lab), ndim: 2 });
    html += grid("vector", v.input_vector.map((x) => [x]), { caption: t("matrix_x"), rowLabels: v.input_labels.map(lab), ndim: 2 });
    html += outputGrid(v.output, t("matrix_product"));
    html += "</div>";
  } else if (state.view === "phase") {
    html += `<div class="grids phases">`;
    for (const ph of v.phases) {
      const residue = "(" + ph.residue.join(", ") + ")";
      if (ph.taps.length === 0) {
        html += `<figure class="grid-box phase empty-phase"><figcaption>${esc(t("phase_empty", { residue }))}</figcaption></figure>`;
        continue;
      }
      html += `<div class="phase"><p>${esc(t("phase_residue", { residue, taps: ph.taps.map(idxText).join(" ") }))}</p><div class="grids">`;
      html += grid("sub-kernel", ph.sub_kernel, { caption: t("sub_kernel") });
      html += grid("phase-values", ph.values, { caption: t("phase_values") });
      html += "</div></div>";
    }
    html += "</div><div class='grids'>" + outputGrid(v.output, t("output")) + "</div>";
  } else if (state.view === "overlap") {
    const verdict = v.even ? t("overlap_even") : t("overlap_uneven");
    html += `<p class="${v.even ? "ok" : "warn"}">${v.even ? "✓" : "⚠"} ${esc(verdict)}${v.gaps ? " " + esc(t("overlap_gaps")) : ""}</p>`;
    html += `<p>${esc(t("axis_counts", { counts: v.axis_counts.map((c) => "(" + c.join(", ") + ")").join(" × ") }))}</p>`;
    html += `<div class="grids">` + grid("counts", v.counts, { caption: t("counts") }) + outputGrid(v.output, t("output")) + "</div>";
  }
  panel.innerHTML = html;
  bindGrids(panel);
}

function outputGrid(values, caption, marks = new Map()) {
  return grid("output", values, { caption, marks, focusable: true });
}

function scrubberHTML(p) {
  const n = p.steps.length;
  return `<div class="scrubber" role="group" aria-label="${esc(t("step"))}">
      <button type="button" id="first" aria-label="${esc(t("first"))}" title="${esc(t("first"))}">|◀</button>
      <button type="button" id="prev" aria-label="${esc(t("prev"))}" title="${esc(t("prev"))}">◀</button>
      <button type="button" id="play" aria-label="${esc(t("play"))}" title="${esc(t("play"))}">▶ ${esc(t("play"))}</button>
      <button type="button" id="next" aria-label="${esc(t("next"))}" title="${esc(t("next"))}">▶</button>
      <button type="button" id="last" aria-label="${esc(t("last"))}" title="${esc(t("last"))}">▶|</button>
      <input type="range" id="step-slider" min="0" max="${n - 1}" value="${state.step}" aria-label="${esc(t("step"))}">
      <span id="step-count" aria-live="polite"></span>
      <label>${esc(t("speed"))} <select id="speed">${Object.keys(SPEEDS).map((s) => `<option${s === state.speed ? " selected" : ""}>${s}</option>`).join("")}</select></label>
    </div>`;
}

function bindScrubber() {
  const n = state.payload.steps.length;
  const go = (i) => setStep(Math.max(0, Math.min(n - 1, i)));
  document.getElementById("first").onclick = () => (stop(), go(0));
  document.getElementById("prev").onclick = () => (stop(), go(state.step - 1));
  document.getElementById("next").onclick = () => (stop(), go(state.step + 1));
  document.getElementById("last").onclick = () => (stop(), go(n - 1));
  document.getElementById("step-slider").oninput = (e) => (stop(), go(Number(e.target.value)));
  document.getElementById("speed").onchange = (e) => {
    state.speed = e.target.value;
    if (state.playing) (stop(), play());
  };
  document.getElementById("play").onclick = () => (state.playing ? stop() : play());
}

function play() {
  const n = state.payload.steps.length;
  if (state.step >= n - 1) setStep(0);
  state.playing = setInterval(() => {
    if (state.step < state.payload.steps.length - 1) setStep(state.step + 1);
    if (state.step >= state.payload.steps.length - 1) stop();
  }, SPEEDS[state.speed]);
  updatePlayButton();
}

function stop() {
  if (state.playing) clearInterval(state.playing);
  state.playing = null;
  updatePlayButton();
}

function updatePlayButton() {
  const b = document.getElementById("play");
  if (!b) return;
  const label = state.playing ? t("pause") : t("play");
  b.textContent = (state.playing ? "‖ " : "▶ ") + label;
  b.setAttribute("aria-label", label);
  b.setAttribute("aria-pressed", state.playing ? "true" : "false");
}

function setStep(i) {
  state.step = i;
  const start = performance.now();
  renderStep();
  const js = performance.now();
  void document.body.offsetHeight; // include style and layout in the measurement
  const ms = performance.now() - start;
  window.__ct.split = [js - start, ms - (js - start)];
  window.__ct.lastRenderMs = ms;
  window.__ct.renders.push(ms);
}

/** The canvas, input and output of the current scatter step, with marks (never colour alone).
 *  The grids are built once per answer; a step change only rewrites the cells that differ. */
let frame = null;

function buildFrame(p) {
  const steps = p.steps;
  const dilate = steps[0];
  const hole = new Set();
  rows(dilate.dilated).forEach((row, r) => row.forEach((_, c) => hole.add(key(p.ndim === 1 ? [c] : [r, c]))));
  for (const tap of dilate.taps) hole.delete(key(tap));
  const area = document.getElementById("step-area");
  area.innerHTML = `
    <div class="caption" id="step-caption"></div>
    <div class="grids">
      ${grid("input", p.input, { caption: t("input"), focusable: true })}
      ${grid("kernel", dilate.dilated, { caption: t("dilated_kernel"), hole })}
      ${grid("canvas", zerosLike(p.full_shape), { caption: t("canvas") })}
      ${outputGrid(p.output, t("output_final"))}
    </div>
    ${legendHTML()}`;
  const cells = {};
  const marks = {};
  for (const name of ["input", "kernel", "canvas", "output"]) {
    cells[name] = new Map([...area.querySelectorAll(`[data-grid="${name}"] .cell`)].map((td) => [td.dataset.index, td]));
    marks[name] = new Map();
  }
  frame = {
    payload: p,
    cells,
    marks,
    canvasText: new Map(),
    crop: steps.find((s) => s.kind === "crop"),
    op: steps.find((s) => s.kind === "output_padding"),
    fold: steps.find((s) => s.kind === "fold"),
    captions: {
      canvas: area.querySelector('[data-grid="canvas"]').closest("figure").querySelector("figcaption"),
      output: area.querySelector('[data-grid="output"]').closest("figure").querySelector("figcaption"),
    },
  };
  bindGrids(area);
}

/** Set each cell's mark classes to ``wanted`` (key -> array), touching only the cells that change. */
function applyMarks(name, wanted) {
  const current = frame.marks[name];
  const cells = frame.cells[name];
  for (const k of new Set([...current.keys(), ...wanted.keys()])) {
    const before = (current.get(k) || []).join(" ");
    const after = (wanted.get(k) || []).join(" ");
    if (before === after) continue;
    const td = cells.get(k);
    if (!td) continue;
    if (before) td.classList.remove(...before.split(" "));
    if (after) td.classList.add(...after.split(" "));
  }
  frame.marks[name] = wanted;
}

function renderStep() {
  const p = state.payload;
  if (!frame || frame.payload !== p || !document.getElementById("canvas-grid")) buildFrame(p);
  const steps = p.steps;
  const step = steps[state.step];
  document.getElementById("step-slider").value = String(state.step);
  document.getElementById("step-count").textContent = `${t("step")} ${state.step + 1}/${steps.length}`;
  const canvasMarks = new Map();
  const inputMarks = new Map();
  const outputMarks = new Map();
  const kernelMarks = new Map();
  // The canvas as of this step: the running sum of the last step so far that has one.
  let canvas = null;
  for (let i = state.step; i >= 0 && canvas === null; i--) canvas = steps[i].canvas || null;
  const cells = frame.cells.canvas;
  rows(canvas || zerosLike(p.full_shape)).forEach((row, r) =>
    row.forEach((v, c) => {
      const k = p.ndim === 1 ? String(c) : r + "," + c;
      const text = fmt(v);
      if (frame.canvasText.get(k) !== text) {
        frame.canvasText.set(k, text);
        const td = cells.get(k);
        td.textContent = text;
        td.setAttribute("aria-label", `canvas[${k}] = ${text}`);
      }
    })
  );
  if (step.kind === "dilate_kernel") for (const tap of step.taps) addMark(kernelMarks, tap, "hi");
  if (step.kind === "scatter") {
    for (const cell of step.cells) addMark(canvasMarks, cell, "hi");
    addMark(inputMarks, step.input_index, "current");
  }
  const cropped = frame.crop && state.step >= frame.crop.index;
  if (cropped) {
    rows(frame.crop.removed).forEach((row, r) => row.forEach((removed, c) => removed && addMark(canvasMarks, p.ndim === 1 ? [c] : [r, c], "removed")));
  }
  if (frame.op && state.step >= frame.op.index) {
    for (const cell of frame.op.cells) {
      addMark(outputMarks, cell.output_index, cell.origin === "recovered" ? "added" : "bias-only");
      if (cell.origin === "recovered") addMark(canvasMarks, cell.canvas_index, "added");
    }
  }
  if (frame.fold && state.step >= frame.fold.index) {
    for (const move of frame.fold.moves) {
      addMark(canvasMarks, move.canvas_index, "folded");
      addMark(outputMarks, move.output_index, "fold-target");
    }
  }
  applyMarks("canvas", canvasMarks);
  applyMarks("input", inputMarks);
  applyMarks("kernel", kernelMarks);
  applyMarks("output", outputMarks);
  const folded = frame.fold && state.step >= frame.fold.index;
  frame.captions.canvas.textContent = folded ? t("canvas_after_fold") : cropped ? t("canvas_after_crop") : t("canvas");
  const last = state.step >= steps.length - 1;
  frame.captions.output.textContent = last && p.matches_reference ? t("output_final") + " ✓" : t("output_final");
  const notes = step.notes.map((n) => `<p class="note-line">${esc(n)}</p>`).join("");
  document.getElementById("step-caption").innerHTML =
    `<h3>${esc(t("step_header", { n: state.step + 1, total: steps.length, title: step.title }))}</h3>${notes}`;
  if (state.selected) inspect(state.selected.grid, state.selected.index, false);
}

function zerosLike(shape) {
  const make = (dims) => (dims.length === 1 ? Array(dims[0]).fill(0) : Array.from({ length: dims[0] }, () => make(dims.slice(1))));
  return make(shape);
}

function legendHTML() {
  const items = ["legend_current", "legend_hi", "legend_removed", "legend_added", "legend_bias_only", "legend_term", "legend_landing"];
  if (state.payload && state.payload.params.padding_mode !== "zeros") items.splice(3, 0, "legend_folded", "legend_fold_target");
  return `<ul class="legend" aria-label="${esc(t("legend"))}">${items.map((k) => `<li class="${k}">${esc(t(k))}</li>`).join("")}</ul>`;
}

// ------------------------------------------------------------------------------------------
// Inspector: hover and keyboard focus
// ------------------------------------------------------------------------------------------

function bindGrids(root) {
  for (const table of root.querySelectorAll("[role=grid]")) {
    const name = table.dataset.grid;
    const handler = (e) => {
      const cell = e.target.closest(".cell");
      if (cell) inspect(name, cell.dataset.index.split(",").map(Number), true);
    };
    table.addEventListener("mouseover", handler);
    table.addEventListener("focusin", handler);
    table.addEventListener("keydown", onGridKey);
  }
}

function onGridKey(e) {
  const moves = { ArrowUp: [-1, 0], ArrowDown: [1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1] };
  const move = moves[e.key];
  const cell = e.target.closest(".cell");
  if (!move || !cell) return;
  const index = cell.dataset.index.split(",").map(Number);
  const next = index.length === 1 ? [index[0] + move[1]] : [index[0] + move[0], index[1] + move[1]];
  const target = cell.parentElement.parentElement.querySelector(`.cell[data-index="${key(next)}"]`);
  if (target) {
    cell.tabIndex = -1;
    target.tabIndex = 0;
    target.focus();
    e.preventDefault();
  }
}

function clearHighlights() {
  for (const el of app.querySelectorAll(".term, .landing, .selected")) el.classList.remove("term", "landing", "selected");
}

function cellAt(gridName, index) {
  return app.querySelector(`[data-grid="${gridName}"] .cell[data-index="${key(index)}"]`);
}

function flat(index, shape) {
  return index.reduce((acc, i, d) => acc * shape[d] + i, 0);
}

function inspect(gridName, index, remember) {
  const p = state.payload;
  if (remember) state.selected = { grid: gridName, index };
  clearHighlights();
  const body = document.getElementById("inspect-body");
  body.classList.remove("muted");
  cellAt(gridName, index)?.classList.add("selected");
  const pad = p.params.pads.map((pair) => pair[0]);
  if (gridName === "output") {
    const entry = p.terms[flat(index, p.output_shape)];
    if (!entry) return;
    for (const term of entry.terms) {
      cellAt("input", term.input_index)?.classList.add("term");
      cellAt("canvas", term.canvas)?.classList.add("term");
    }
    cellAt("canvas", entry.canvas)?.classList.add("term");
    const lines = entry.terms.map(
      (term) =>
        `<li><code>x${idxText(term.input_index)} · K${idxText(term.tap)} = ${fmt(term.x)} × ${fmt(term.k)} = ${fmt(term.product)}</code>` +
        (term.folded ? ` <span class="folded-note">${esc(t("folded_from", { canvas: idxText(term.canvas) }))}</span>` : "") +
        "</li>"
    );
    const bias = p.bias !== null ? `<li><code>+ ${esc(t("bias"))} ${fmt(p.bias)}</code></li>` : "";
    body.innerHTML =
      `<p id="inspect-title">${esc(t("terms_of", { index: idxText(index), count: entry.terms.length }))}</p>` +
      `<p class="muted">${esc(t("canvas_pos", { canvas: idxText(entry.canvas), padding: "(" + pad.join(", ") + ")" }))}</p>` +
      (entry.terms.length ? `<ul id="inspect-terms">${lines.join("")}${bias}</ul>` : `<p>${esc(t("no_terms"))}</p>`) +
      `<p id="inspect-sum"><strong>${esc(t("sum"))} = <span id="inspect-value">${fmt(entry.value)}</span></strong></p>`;
  } else if (gridName === "input") {
    const shape = p.ndim === 1 ? [p.input.length] : [p.input.length, p.input[0].length];
    const entry = p.landings[flat(index, shape)];
    if (!entry) return;
    const inside = entry.cells.filter((c) => c.output !== null);
    const outside = entry.cells.filter((c) => c.output === null);
    for (const c of inside) cellAt("output", c.output)?.classList.add("landing");
    for (const c of entry.cells) cellAt("canvas", c.canvas)?.classList.add("landing");
    body.innerHTML =
      `<p id="inspect-title">${esc(t("lands_on", { index: idxText(entry.input_index), value: fmt(entry.value) }))}:</p>` +
      (inside.length
        ? `<ul id="inspect-landings">${inside
            .map((c) => `<li><code>K${idxText(c.tap)} → ${esc(t("output_cell"))}${idxText(c.output)}</code>${c.folded ? ` <span class="folded-note">${esc(t("folded_via", { canvas: idxText(c.canvas) }))}</span>` : ""}</li>`)
            .join("")}</ul>`
        : `<p>${esc(t("lands_none"))}</p>`) +
      (outside.length ? `<p>${esc(t("lands_cropped"))} ${outside.map((c) => `<code>canvas${idxText(c.canvas)}</code>`).join(" ")}</p>` : "");
  }
}

// ------------------------------------------------------------------------------------------
// Code
// ------------------------------------------------------------------------------------------

function renderCode(p) {
  const box = document.querySelector("#code-box .code-pair");
  box.innerHTML = ["pytorch", "convtranspose"]
    .map(
      (name) => `<div class="code"><div class="code-head"><span>${name === "pytorch" ? "PyTorch" : "convtranspose"}</span>
        <button type="button" class="copy" data-code="${name}">${esc(t("copy"))}</button></div><pre id="code-${name}">${esc(p.code[name])}</pre></div>`
    )
    .join("");
  box.onclick = async (e) => {
    const button = e.target.closest("button.copy");
    if (!button) return;
    const pre = document.getElementById("code-" + button.dataset.code);
    let done = false;
    try {
      await navigator.clipboard.writeText(pre.textContent);
      done = true;
    } catch (_) {
      const range = document.createRange();
      range.selectNodeContents(pre);
      const sel = window.getSelection();
      sel.removeAllRanges();
      sel.addRange(range);
      try {
        done = document.execCommand("copy");
      } catch (_) {
        done = false;
      }
    }
    button.textContent = done ? "✓ " + t("copied") : t("copy");
  };
}

// ------------------------------------------------------------------------------------------
// Start
// ------------------------------------------------------------------------------------------

refresh();
