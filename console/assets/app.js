import { WeftClient } from "./weft.js";

// The console's state: one connection (the shared JavaScript client, which
// reconnects and resumes by itself), the selected execution's stream.
const $ = (id) => document.getElementById(id);
let weft = null;
let following = null; // the selected execution's subscription (an Execution)
let selected = null;
let listTimer = null;

// The console talks only to the server that served it: no field or URL
// parameter can point it (and the operator's token) at another host, and
// the Content-Security-Policy (connect-src 'self') would refuse it anyway.
const ownSocket = () => (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/api/v1/socket";

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v; else if (k.startsWith("on")) e.addEventListener(k.slice(2), v); else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c);
  return e;
}

async function login(token) {
  $("login-error").textContent = "";
  try {
    weft = await WeftClient.connect(ownSocket(), {
      token, auth: "inband", // browsers cannot set headers on a WebSocket
      reconnect: { maxAttempts: 0 },
      onStateChange: (state) => { if (weft) $("who").textContent = who(state); },
    });
    sessionStorage.setItem("weft.token", token);
    $("who").textContent = who("connected");
    $("login").hidden = true; $("app").hidden = false; $("logout").hidden = false;
    weft.onMessage(onPush);
    await loadWorkflows();
    refreshList();
    refreshSchedules();
    listTimer = setInterval(() => { refreshList(); refreshSchedules(); }, 1000);
  } catch (err) {
    weft = null;
    $("login-error").textContent = err.code === "UNAUTHENTICATED" ? "wrong token" : err.message;
  }
}

function who(state) {
  const info = weft.info || {};
  return `${info.identity} @ ${info.workspace}` + (state === "connected" ? "" : ` (${state})`);
}

function logout() {
  sessionStorage.removeItem("weft.token");
  clearInterval(listTimer);
  if (weft) weft.close();
  location.reload();
}

// ---- executions list (live: refreshed every second) ----

async function refreshList() {
  let res;
  try { res = await weft.call("executions.list", { limit: 50 }); } catch { return; }
  const rows = res.items.map((x) => el("tr", { "data-id": x.execution_id, onclick: () => select(x.execution_id) },
    el("td", {}, x.execution_id), el("td", {}, x.workflow),
    el("td", { class: "status status-" + x.status }, x.status),
    el("td", {}, new Date(x.created_at).toLocaleTimeString())));
  $("exec-rows").replaceChildren(...rows);
}

// ---- schedules and the queue (refreshed with the list) ----

async function refreshSchedules() {
  try {
    const queued = await weft.call("executions.list", { status: "queued", limit: 1000 });
    $("queue-depth").textContent = `· ${queued.items.length} execution(s) queued`;
  } catch { $("queue-depth").textContent = ""; }
  let res;
  try { res = await weft.call("schedule.list", {}); } catch (err) {
    $("schedule-error").textContent = err.code === "FORBIDDEN" ? "(token lacks schedules:read)" : err.message;
    return;
  }
  $("schedule-error").textContent = "";
  const act = (service, id) => async () => {
    try { await weft.call(service, { schedule_id: id }); } catch (err) { $("schedule-error").textContent = err.message; }
    refreshSchedules();
  };
  const rows = res.schedules.map((x) => el("tr", { "data-schedule": x.id },
    el("td", {}, x.id), el("td", {}, x.workflow),
    el("td", {}, x.spec.cron ? `cron ${x.spec.cron}${x.spec.tz ? " " + x.spec.tz : ""}` : `every ${x.spec.every}`),
    el("td", {}, x.paused ? "paused" : (x.next_run_at ? new Date(x.next_run_at).toLocaleTimeString() : "")),
    el("td", {}, x.last_execution_id || ""),
    el("td", {},
      el("button", { onclick: act(x.paused ? "schedule.resume" : "schedule.pause", x.id) }, x.paused ? "Resume" : "Pause"),
      el("button", { onclick: act("schedule.trigger", x.id) }, "Trigger"))));
  $("schedule-rows").replaceChildren(...rows);
}

// ---- one execution: timeline and streamed LLM text ----

async function select(id) {
  if (following) following.close();
  selected = id;
  $("detail").hidden = false;
  $("detail-id").textContent = id;
  $("detail-status").textContent = "";
  $("detail-status").className = "status";
  $("detail-error").textContent = "";
  $("delete-button").disabled = true;
  $("timeline").replaceChildren();
  $("artifact-rows").replaceChildren();
  $("artifacts-none").hidden = false;
  $("llm-output").textContent = "";
  let exec;
  try {
    exec = await weft.subscribe(id, 0);
  } catch (err) {
    showEvent("error", { seq: "", details: { message: err.message } });
    return;
  }
  following = exec;
  if (exec.status) setStatus(exec.status);
  try {
    for await (const ev of exec) {
      if (selected !== id) break;
      showEvent(ev.type, ev);
    }
  } catch (err) {
    if (selected === id && err.name !== "UnsubscribedError") showEvent("error", { seq: "", details: { message: err.message } });
  }
}

const ENDED = new Set(["completed", "failed", "cancelled"]);

function setStatus(status) {
  $("detail-status").textContent = status;
  $("detail-status").className = "status status-" + status;
  // Only an ended execution can be deleted (the server answers CONFLICT
  // for a live one).
  $("delete-button").disabled = !ENDED.has(status);
}

function showEvent(type, data) {
  const d = data.details || {};
  if (type === "llm_delta") { $("llm-output").textContent += d.text; return; }
  if (type === "llm_start" && $("llm-output").textContent) $("llm-output").textContent += "\n";
  if (type === "execution_completed") setStatus("completed");
  if (type === "execution_failed") setStatus("failed");
  if (type === "execution_cancelled") setStatus("cancelled");
  if (type === "artifact_created") showArtifact(d);
  const summary = d.name || d.tool || d.reason || (d.error && d.error.message) || "";
  $("timeline").append(el("li", { class: "event event-" + type, title: JSON.stringify(d) },
    `#${data.seq} ${type}${d.step_id ? " [" + d.step_id + "]" : ""} ${summary}`));
}

// ---- the execution's artifacts (from its artifact_created events) ----

function formatSize(n) {
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let i = -1;
  do { n /= 1024; i++; } while (n >= 1024 && i < units.length - 1);
  return `${n.toFixed(1)} ${units[i]}`;
}

function showArtifact(d) {
  if (!d.artifact_id || document.querySelector(`#artifact-rows tr[data-artifact="${CSS.escape(d.artifact_id)}"]`)) return;
  $("artifacts-none").hidden = true;
  const size = Number(d.size) || 0;
  $("artifact-rows").append(el("tr", { "data-artifact": d.artifact_id, title: `${d.artifact_id} sha256 ${d.sha256 || ""}` },
    el("td", {}, d.name || d.artifact_id),
    el("td", { title: `${size} bytes` }, formatSize(size)),
    el("td", {}, d.step_id || ""),
    el("td", {}, el("button", { class: "download", onclick: (ev) => downloadArtifact(ev.currentTarget, d) }, "Download"))));
}

// downloadArtifact fetches the bytes with the token (a plain link could
// not carry it: it is a Bearer header) and saves them through a Blob
// object URL and a temporary <a download>; nothing leaves the page's
// origin (connect-src 'self'), and the URL is revoked once saved.
async function downloadArtifact(button, d) {
  $("detail-error").textContent = "";
  button.disabled = true;
  try {
    const blob = await (await weft.getArtifact(d.artifact_id)).blob();
    const url = URL.createObjectURL(blob);
    const a = el("a", { href: url, download: d.name || d.artifact_id, hidden: "" });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60000); // the download reads it after click() returns
  } catch (err) {
    $("detail-error").textContent = `download ${d.name || d.artifact_id}: ${err.message}`;
  } finally {
    button.disabled = false;
  }
}

async function cancelSelected() {
  if (selected) await weft.call("execution.cancel", { execution_id: selected, reason: "cancelled from the console" });
}

// deleteSelected removes the selected (ended) execution for good, after
// the operator confirms: its events, steps and idempotency key go too.
async function deleteSelected() {
  const id = selected;
  if (!id || $("delete-button").disabled) return;
  if (!confirm(`Delete execution ${id}? Its history is removed for good.`)) return;
  $("detail-error").textContent = "";
  try {
    await weft.delete(id);
  } catch (err) {
    $("detail-error").textContent = err.message;
    return;
  }
  if (selected !== id) return;
  if (following) { following.close(); following = null; }
  selected = null;
  $("delete-button").disabled = true;
  $("detail-status").textContent = "deleted";
  $("detail-status").className = "status status-deleted";
  refreshList();
}

async function signalSelected() {
  if (!selected) return;
  let payload = null;
  try { payload = JSON.parse($("signal-payload").value || "null"); } catch { alert("payload must be JSON"); return; }
  await weft.call("execution.signal", { execution_id: selected, name: $("signal-name").value, payload });
}

// ---- start form, built from each workflow's parameters_schema ----

let workflows = [];

async function loadWorkflows() {
  const res = await weft.call("workflow.list", {});
  workflows = res.workflows;
  $("workflow").replaceChildren(...workflows.map((w) => el("option", { value: w.name }, w.name)));
  renderParams();
}

function schemaOf(w) {
  let s = w.parameters_schema || {};
  if (s.$ref && s.$defs) s = s.$defs[s.$ref.split("/").pop()] || s;
  return s;
}

// paramType is a property's JSON type ("json" when it has none or several).
function paramType(p) {
  const types = (Array.isArray(p.type) ? p.type : [p.type]).filter((t) => t && t !== "null");
  return types.length === 1 ? types[0] : "json";
}

function renderParams() {
  const w = workflows.find((x) => x.name === $("workflow").value);
  if (!w) return;
  $("workflow-description").textContent = w.description || "";
  $("start-error").textContent = "";
  const props = schemaOf(w).properties || {};
  const field = (label, name, type, attrs) => el("label", {}, label,
    el("input", { "data-param": name, "data-type": type, oninput: clearParamError, ...attrs }),
    el("span", { class: "error param-error", "data-param-error": name, "aria-live": "polite" }));
  const fields = Object.entries(props).map(([name, p]) => {
    const type = paramType(p);
    const attrs = { placeholder: p.description || "" };
    if (type === "integer") attrs.inputmode = "numeric";
    if (type === "number") attrs.inputmode = "decimal";
    return field(`${name} (${type}) `, name, type, attrs);
  });
  if (fields.length === 0) fields.push(field("parameters (JSON) ", "", "json", { value: "{}" }));
  $("params").replaceChildren(...fields);
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

// parseParam reads one field of the start form as its schema type, or
// throws the reason it is not one.
function parseParam(type, v) {
  if (type === "integer" || type === "number") {
    const n = Number(v);
    if (!numberText.test(v) || !Number.isFinite(n)) throw new Error("not a number");
    if (type === "integer" && !Number.isInteger(n)) throw new Error("not a whole number");
    return n;
  }
  if (type === "boolean") {
    if (v !== "true" && v !== "false") throw new Error("must be true or false");
    return v === "true";
  }
  if (type === "string") return v;
  try { return JSON.parse(v); } catch { throw new Error("not valid JSON"); }
}

// readParams builds the parameters from the form. A field that does not
// hold its type is marked, with its reason next to it, and nothing is
// sent: readParams throws the first reason.
function readParams() {
  const out = {};
  let whole, firstInput = null, firstReason = "";
  for (const input of $("params").querySelectorAll("input[data-param]")) {
    const name = input.dataset.param, type = input.dataset.type, v = input.value.trim();
    const msg = input.parentElement.querySelector(".param-error");
    input.removeAttribute("aria-invalid");
    if (msg) msg.textContent = "";
    if (v === "") continue;
    let value;
    try {
      value = parseParam(type, v);
    } catch (err) {
      input.setAttribute("aria-invalid", "true");
      if (msg) msg.textContent = err.message;
      if (!firstInput) { firstInput = input; firstReason = `${name || "parameters"}: ${err.message}`; }
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
  try {
    const res = await weft.call("workflow.start", { name: $("workflow").value, parameters, subscribe: false });
    refreshList();
    select(res.execution_id);
  } catch (err) {
    $("start-error").textContent = err.message;
  }
}

// ---- rooms and presence ----

async function joinRoom(ev) {
  ev.preventDefault();
  const room = $("room-name").value.trim();
  if (!room) return;
  await weft.join(room, { presence: true, onJoined: onPresence("room.joined"), onLeft: onPresence("room.left") });
  showRoom(room);
}

async function showRoom(room) {
  let members = [];
  try { members = (await weft.call("room.members", { room })).members; } catch (err) { members = []; }
  let li = document.querySelector(`#room-list li[data-room="${CSS.escape(room)}"]`);
  if (!li) { li = el("li", { "data-room": room }); $("room-list").append(li); }
  li.textContent = `${room}: ${members.map((m) => m.identity + " (" + m.connection_id + ")").join(", ") || "(no members visible)"}`;
}

function onPush(m) {
  if (m.type === "room.message") {
    $("room-log").append(el("li", {}, `room.message ${m.room}: ${m.identity || m.from || ""} ${JSON.stringify(m.message)}`));
  } else if (m.type === "message") {
    $("room-log").append(el("li", {}, `message from ${m.from}: ${JSON.stringify(m.message)}`));
  }
}

function onPresence(type) {
  return (p) => {
    $("room-log").append(el("li", {}, `${type} ${p.room}: ${p.identity} (${p.connection_id})`));
    showRoom(p.room);
  };
}

// ---- wiring ----

$("login-form").addEventListener("submit", (ev) => { ev.preventDefault(); login($("token").value); });
$("logout").addEventListener("click", logout);
$("workflow").addEventListener("change", renderParams);
$("start-form").addEventListener("submit", start);
$("cancel-button").addEventListener("click", cancelSelected);
$("signal-button").addEventListener("click", signalSelected);
$("delete-button").addEventListener("click", deleteSelected);
$("room-form").addEventListener("submit", joinRoom);
const saved = sessionStorage.getItem("weft.token");
if (saved) login(saved);
