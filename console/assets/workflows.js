// The workflows page (#/workflows, #/workflows/<name>): each workflow with
// its description (Markdown), its statistics and health (workflow.stats),
// and the start form, built from and checked against the workflow's
// parameters JSON schema before anything is sent.

import { $, el, markdown, formatDuration, errorText } from "./util.js";
import { session } from "./session.js";

let statsSupported = true; // false once the server answered UNKNOWN_SERVICE
let statsGen = 0;

export function init() {
  $("workflow").addEventListener("change", renderParams);
  $("start-form").addEventListener("submit", start);
  $("stats-period").addEventListener("change", loadStats);
}

// loaded is called once workflow.list answered (at login).
export function loaded() {
  $("workflow").replaceChildren(...session.workflows.map((w) => el("option", { value: w.name }, w.name)));
  $("workflow-rows").replaceChildren(...session.workflows.map((w) => el("tr", { "data-workflow": w.name },
    el("th", { scope: "row" }, el("a", { href: `#/workflows/${encodeURIComponent(w.name)}` }, w.name)),
    el("td", { class: "description" }, w.description ? markdown(w.description) : el("span", { class: "muted" }, "no description")),
    ...["runs", "success_rate", "avg_duration_ms", "p95_duration_ms", "errors_per_day"].map((k) => el("td", { class: "num stat", "data-stat": k }, "…")),
    el("td", { class: "stat", "data-stat": "health" }, "…"),
    el("td", {}, el("a", { href: `#/workflows/${encodeURIComponent(w.name)}`, class: "button" }, "Start")))));
  renderParams();
}

export function show(name) {
  if (name && session.workflows.some((w) => w.name === name)) {
    $("workflow").value = name;
    renderParams();
    $("start").scrollIntoView({ block: "start" });
  }
  loadStats();
}

// ---- statistics ----

async function loadStats() {
  const gen = ++statsGen;
  const period = $("stats-period").value;
  for (const w of session.workflows) {
    if (!statsSupported) { fillStats(w.name, null); continue; }
    try {
      const s = await session.weft.call("workflow.stats", { name: w.name, period });
      if (gen === statsGen) fillStats(w.name, s);
    } catch (err) {
      if (err.code === "UNKNOWN_SERVICE") {
        statsSupported = false;
        $("stats-note").textContent = "This server does not report workflow statistics (workflow.stats).";
      }
      if (gen === statsGen) fillStats(w.name, null, err.code === "UNKNOWN_SERVICE" ? "" : errorText(err));
    }
  }
}

// fillStats writes one workflow's statistics; without them every cell is
// "—" (an unknown value, not a zero).
function fillStats(name, s, why = "") {
  const tr = $("workflow-rows").querySelector(`tr[data-workflow="${CSS.escape(name)}"]`);
  if (!tr) return;
  const cell = (k) => tr.querySelector(`[data-stat="${k}"]`);
  const dash = (v, f) => (v === undefined || v === null ? "—" : f(v));
  cell("runs").textContent = s ? dash(s.runs, String) : "—";
  cell("success_rate").textContent = s && s.runs ? dash(s.success_rate, (v) => `${(v * 100).toFixed(1)}%`) : "—";
  cell("avg_duration_ms").textContent = s && s.runs ? dash(s.avg_duration_ms, formatDuration) : "—";
  cell("p95_duration_ms").textContent = s && s.runs ? dash(s.p95_duration_ms, formatDuration) : "—";
  cell("errors_per_day").textContent = s ? dash(s.errors_per_day, (v) => (Math.round(v * 10) / 10).toString()) : "—";
  const health = cell("health");
  health.title = why;
  health.replaceChildren(s && s.health ? el("span", { class: `health health-${s.health}` }, s.health) : "—");
}

// ---- the start form ----

function current() {
  return session.workflows.find((x) => x.name === $("workflow").value);
}

// schemaOf is the workflow's parameters schema, its $ref followed.
function schemaOf(w) {
  let s = w.parameters_schema || {};
  if (s.$ref && s.$defs) s = s.$defs[s.$ref.split("/").pop()] || s;
  return s;
}

// resolve follows a property's local $ref into the schema's $defs.
function resolve(p, root) {
  if (p && p.$ref && root.$defs) return root.$defs[p.$ref.split("/").pop()] || p;
  return p || {};
}

// paramType is a property's JSON type ("json" when it has none or several).
function paramType(p) {
  const types = (Array.isArray(p.type) ? p.type : [p.type]).filter((t) => t && t !== "null");
  return types.length === 1 ? types[0] : "json";
}

function renderParams() {
  const w = current();
  if (!w) return;
  $("workflow-description").replaceChildren(w.description ? markdown(w.description) : "");
  $("start-error").textContent = "";
  const root = w.parameters_schema || {};
  const schema = schemaOf(w);
  const required = new Set(schema.required || []);
  const fields = Object.entries(schema.properties || {}).map(([name, raw]) => {
    const p = resolve(raw, root);
    return field(name, p, paramType(p), required.has(name));
  });
  if (fields.length === 0) fields.push(field("", { description: "the parameters as one JSON object" }, "object", false, "{}"));
  $("params").replaceChildren(...fields);
}

// field is one parameter's label, input (by type: a select for a boolean
// or an enum, a textarea for JSON), hint (bounds, default) and error slot.
function field(name, p, type, required, value = "") {
  const attrs = { "data-param": name, "data-type": type, oninput: clearParamError, onchange: clearParamError, "aria-required": required ? "true" : null };
  let input;
  if (Array.isArray(p.enum)) {
    input = el("select", attrs, el("option", { value: "" }, required ? "choose…" : "(default)"),
      ...p.enum.map((v) => el("option", { value: JSON.stringify(v) }, typeof v === "string" ? v : JSON.stringify(v))));
    input.dataset.enum = "1";
  } else if (type === "boolean") {
    input = el("select", attrs, el("option", { value: "" }, "(default)"), el("option", { value: "true" }, "true"), el("option", { value: "false" }, "false"));
  } else if (type === "object" || type === "array" || type === "json") {
    input = el("textarea", { ...attrs, rows: "3", placeholder: type === "array" ? "[ ]" : "{ }", spellcheck: "false" });
    input.value = value;
  } else {
    input = el("input", { ...attrs, placeholder: p.default !== undefined ? `default ${JSON.stringify(p.default)}` : "" });
    if (type === "integer") input.inputMode = "numeric";
    if (type === "number") input.inputMode = "decimal";
    input.value = value;
  }
  input.schema = p;
  const hint = hintOf(p);
  return el("label", { class: "param" },
    el("span", { class: "param-name" }, name || "parameters", required ? el("abbr", { title: "required" }, " *") : "", el("span", { class: "muted" }, ` ${type === "json" ? "JSON" : type}`)),
    input,
    p.description || hint ? el("span", { class: "muted param-hint" }, [p.description, hint].filter(Boolean).join(" · ")) : "",
    el("span", { class: "error param-error", "data-param-error": name, "aria-live": "polite" }));
}

function hintOf(p) {
  const out = [];
  if (p.minimum !== undefined) out.push(`≥ ${p.minimum}`);
  if (p.exclusiveMinimum !== undefined) out.push(`> ${p.exclusiveMinimum}`);
  if (p.maximum !== undefined) out.push(`≤ ${p.maximum}`);
  if (p.exclusiveMaximum !== undefined) out.push(`< ${p.exclusiveMaximum}`);
  if (p.minLength !== undefined) out.push(`at least ${p.minLength} characters`);
  if (p.maxLength !== undefined) out.push(`at most ${p.maxLength} characters`);
  if (p.default !== undefined) out.push(`default ${JSON.stringify(p.default)}`);
  return out.join(", ");
}

function clearParamError(ev) {
  ev.target.removeAttribute("aria-invalid");
  const msg = ev.target.parentElement.querySelector(".param-error");
  if (msg) msg.textContent = "";
}

// A JSON number as people type it: 12, -3.5, 1e3 (not "", "0x10", "1,5"
// or "abc", which Number() would turn into 0, 16 or NaN, and NaN is sent
// as null).
const numberText = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

// parseParam reads one field as its schema type and checks it against the
// schema's bounds, or throws the reason it does not fit.
export function parseParam(type, v, p = {}) {
  let value;
  if (type === "integer" || type === "number") {
    const n = Number(v);
    if (!numberText.test(v) || !Number.isFinite(n)) throw new Error("not a number");
    if (type === "integer" && !Number.isInteger(n)) throw new Error("not a whole number");
    if (p.minimum !== undefined && n < p.minimum) throw new Error(`must be ≥ ${p.minimum}`);
    if (p.maximum !== undefined && n > p.maximum) throw new Error(`must be ≤ ${p.maximum}`);
    if (p.exclusiveMinimum !== undefined && n <= p.exclusiveMinimum) throw new Error(`must be > ${p.exclusiveMinimum}`);
    if (p.exclusiveMaximum !== undefined && n >= p.exclusiveMaximum) throw new Error(`must be < ${p.exclusiveMaximum}`);
    value = n;
  } else if (type === "boolean") {
    if (v !== "true" && v !== "false") throw new Error("must be true or false");
    value = v === "true";
  } else if (type === "string") {
    const n = [...v].length;
    if (p.minLength !== undefined && n < p.minLength) throw new Error(`must be at least ${p.minLength} characters`);
    if (p.maxLength !== undefined && n > p.maxLength) throw new Error(`must be at most ${p.maxLength} characters`);
    if (p.pattern) {
      let re = null;
      try { re = new RegExp(p.pattern, "u"); } catch { /* a pattern JavaScript cannot read: the server checks it */ }
      if (re && !re.test(v)) throw new Error(`must match ${p.pattern}`);
    }
    value = v;
  } else {
    try { value = JSON.parse(v); } catch { throw new Error("not valid JSON"); }
    if (type === "object" && (value === null || typeof value !== "object" || Array.isArray(value))) throw new Error("must be a JSON object");
    if (type === "array" && !Array.isArray(value)) throw new Error("must be a JSON array");
  }
  return value;
}

// readParams builds the parameters from the form. A field that does not
// fit its schema is marked, with its reason next to it, and nothing is
// sent: readParams throws the first reason.
function readParams() {
  const out = {};
  let whole, firstInput = null, firstReason = "";
  for (const input of $("params").querySelectorAll("[data-param]")) {
    const name = input.dataset.param, type = input.dataset.type;
    const v = type === "string" ? input.value : input.value.trim();
    const msg = input.parentElement.querySelector(".param-error");
    input.removeAttribute("aria-invalid");
    if (msg) msg.textContent = "";
    let value, reason = "";
    if (v === "") {
      if (input.getAttribute("aria-required") === "true") reason = "required";
      else continue;
    } else if (input.dataset.enum) {
      value = JSON.parse(v);
    } else {
      try { value = parseParam(type, v, input.schema); } catch (err) { reason = err.message; }
    }
    if (reason) {
      input.setAttribute("aria-invalid", "true");
      if (msg) msg.textContent = reason;
      if (!firstInput) { firstInput = input; firstReason = `${name || "parameters"}: ${reason}`; }
      continue;
    }
    if (name === "") whole = value; else out[name] = value;
  }
  if (firstInput) {
    firstInput.focus();
    throw new Error(firstReason);
  }
  return whole !== undefined ? whole : out;
}

async function start(ev) {
  ev.preventDefault();
  $("start-error").textContent = "";
  let parameters;
  try {
    parameters = readParams();
  } catch (err) {
    $("start-error").textContent = err.message; // nothing is sent
    return;
  }
  let metadata = {};
  const meta = $("start-metadata").value.trim();
  if (meta) {
    try { metadata = JSON.parse(meta); } catch { $("start-error").textContent = "metadata: not valid JSON"; return; }
  }
  const req = { name: $("workflow").value, parameters, metadata, subscribe: false };
  const key = $("start-key").value.trim();
  if (key) req.idempotency_key = key;
  try {
    const res = await session.weft.call("workflow.start", req);
    location.hash = `#/executions/${res.execution_id}`;
  } catch (err) {
    $("start-error").textContent = err.message;
  }
}
