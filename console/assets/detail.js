// One execution's page (#/executions/<id>): its snapshot (parameters,
// metadata, result, error as JSON), what it waits for now, its timeline
// grouped by step (timestamps, durations, attempts, retries), the LLM text
// each step streamed, its child workflows and artifacts, and the actions:
// cancel, signal, rerun from a step, replay, export, delete.

import { $, el, ENDED, statusBadge, execLink, timeCell, formatTime, formatDuration, formatSize, durationOf, endedAt, jsonBlock, errorText, saveBlob } from "./util.js";
import { session } from "./session.js";
import { replay } from "./replay.js";

let current = ""; // the execution shown
let following = null; // its subscription (an Execution of weft.js)
let snap = null; // its last execution.get
let steps = new Map(); // step id -> step group (see group())
let unseen = new Map(); // step id -> snapshot step with no event yet (a rerun's reused steps)
let lastSeq = 0; // the seq of the last event shown
let snapTimer = null;
let tick = null;
let reruns = []; // the executions that rerun this one (executions.list by metadata rerun_of)

export function init() {
  $("cancel-button").addEventListener("click", cancel);
  $("signal-form").addEventListener("submit", signal);
  $("signal-payload").addEventListener("input", () => { $("signal-payload").removeAttribute("aria-invalid"); $("signal-error").textContent = ""; });
  $("rerun-button").addEventListener("click", rerun);
  $("replay-button").addEventListener("click", replayNow);
  $("export-button").addEventListener("click", exportNow);
  $("delete-button").addEventListener("click", remove);
}

export function show(id) {
  if (id === current && following) return; // back to the page already followed
  close();
  current = id;
  reset(id);
  loadSnapshot(id);
  loadReruns(id);
  follow(id);
  tick = setInterval(() => { renderWaiting(); if (snap && !ENDED.has(snap.status)) renderFacts(); }, 1000);
}

export function hide() {
  close();
  current = "";
}

function close() {
  if (following) following.close();
  following = null;
  clearTimeout(snapTimer);
  clearInterval(tick);
}

function reset(id) {
  snap = null;
  reruns = [];
  steps = new Map();
  unseen = new Map();
  lastSeq = 0;
  $("detail-id").textContent = id;
  setStatus("");
  for (const f of ["detail-error", "signal-error", "action-message", "replay-info"]) $(f).textContent = "";
  for (const f of ["timeline", "artifact-rows", "llm-output", "detail-facts", "detail-links", "children", "replay-log"]) $(f).replaceChildren();
  for (const f of ["detail-parameters", "detail-metadata", "detail-result"]) $(f).replaceChildren(el("p", { class: "muted" }, "loading…"));
  $("detail-error-block").hidden = true;
  $("artifacts-none").hidden = false;
  $("llm-none").hidden = false;
  $("children-block").hidden = true;
  $("detail-waiting").replaceChildren();
  $("signal-name").value = ""; // filled with the signal the execution waits for, if any
  $("rerun-step").replaceChildren(el("option", { value: "1" }, "1"));
  $("delete-button").disabled = true;
  $("cancel-button").disabled = true;
  $("signal-button").disabled = true;
}

// ---- the snapshot (execution.get): data, steps, what it waits for ----

async function loadSnapshot(id) {
  try {
    const s = await session.weft.call("execution.get", { execution_id: id });
    if (id !== current) return;
    snap = s;
    renderSnapshot();
  } catch (err) {
    if (id !== current) return;
    $("detail-error").textContent = err.code === "EXECUTION_NOT_FOUND" ? `No execution ${id} in this workspace.` : errorText(err);
    for (const f of ["detail-parameters", "detail-metadata", "detail-result"]) $(f).replaceChildren();
  }
}

// loadReruns finds the executions that rerun this one (their metadata
// names it in rerun_of), newest first.
async function loadReruns(id) {
  try {
    const res = await session.weft.call("executions.list", { metadata: { rerun_of: id }, limit: 20 });
    if (id !== current) return;
    // A server without the metadata filter would list everything.
    reruns = res.items.filter((r) => (r.metadata || {}).rerun_of === id);
    if (snap) renderLinks();
  } catch { /* only the links are missing */ }
}

// snapshotSoon reloads the snapshot after a burst of events settles.
function snapshotSoon() {
  clearTimeout(snapTimer);
  const id = current;
  snapTimer = setTimeout(() => loadSnapshot(id), 150);
}

function renderSnapshot() {
  setStatus(snap.status);
  renderFacts();
  $("detail-parameters").replaceChildren(jsonBlock(snap.parameters, "no parameters"));
  $("detail-metadata").replaceChildren(jsonBlock(snap.metadata, "no metadata"));
  $("detail-result").replaceChildren(snap.status === "completed" ? jsonBlock(snap.result === undefined ? null : snap.result, "null") :
    el("p", { class: "muted" }, ENDED.has(snap.status) ? "none" : "not yet"));
  $("detail-error-block").hidden = !snap.error;
  if (snap.error) $("detail-error-json").replaceChildren(jsonBlock(snap.error));
  renderLinks();
  for (const st of snap.steps || []) {
    const g = steps.get(st.step_id);
    if (g) {
      g.snap = st;
      renderGroupHead(g);
    } else {
      unseen.set(st.step_id, st);
    }
  }
  placeUnseen();
  renderRerunChoices();
  renderWaiting();
}

// renderFacts: workflow, times and duration (a live one's grows each second).
function renderFacts() {
  if (!snap) return;
  $("detail-facts").replaceChildren(
    fact("Workflow", el("a", { href: "#/workflows/" + encodeURIComponent(snap.workflow) }, snap.workflow)),
    fact("Created", timeCell(snap.created_at)),
    fact("Ended", endedAt(snap) ? timeCell(endedAt(snap)) : el("span", { class: "muted" }, "—")),
    fact("Duration", formatDuration(durationOf(snap)) + (ENDED.has(snap.status) ? "" : " so far")),
    fact("Events", String(snap.last_seq)));
}

const fact = (name, value) => el("div", { class: "fact" }, el("dt", {}, name), el("dd", {}, value));

// renderLinks: the execution this one reruns, the schedule that started
// it, the executions that rerun it.
function renderLinks() {
  const m = snap.metadata || {};
  const links = [];
  if (m.rerun_of) links.push(el("li", {}, "Rerun of ", execLink(m.rerun_of), ` from step ${m.from_step ?? "?"}`));
  if (m.schedule_id) links.push(el("li", {}, "Started by schedule ", el("a", { href: "#/schedules" }, m.schedule_id), m.scheduled_for ? ` for ${formatTime(m.scheduled_for)}` : ""));
  for (const r of reruns) {
    links.push(el("li", { class: "rerun-link" }, "Rerun as ", execLink(r.execution_id), ` from step ${(r.metadata || {}).from_step ?? "?"} `, statusBadge(r.status)));
  }
  $("detail-links").replaceChildren(...links);
}

// renderWaiting says what the execution waits for now: the pending step
// (a sleep until when, a signal and its deadline, a retry's backoff), the
// running step, a free slot, or nothing once it has ended.
function renderWaiting() {
  if (!snap) return;
  const box = $("detail-waiting");
  const until = (iso) => iso ? [" until ", timeCell(iso), ` (${Date.parse(iso) > Date.now() ? "in " + formatDuration(Date.parse(iso) - Date.now()) : "due"})`] : [];
  const line = (...parts) => box.replaceChildren(el("strong", {}, "Now: "), ...parts.flat());
  if (ENDED.has(snap.status)) return line(`${snap.status} at `, timeCell(snap.updated_at), ` after ${formatDuration(durationOf(snap))}`);
  if (snap.status === "queued") return line("queued: waiting for a free execution slot");
  const pending = (snap.steps || []).filter((s) => s.state === "pending");
  const wait = pending.find((s) => s.signal) || pending.find((s) => s.kind === "sleep") || pending[pending.length - 1];
  if (wait && wait.signal && !$("signal-name").value) $("signal-name").value = wait.signal; // what it waits for
  if (wait && wait.signal) return line("waiting for the signal ", el("code", { class: "waiting-signal" }, wait.signal), ` (step ${wait.step_id})`, until(wait.wake_at));
  if (wait && wait.kind === "sleep") return line(`sleeping (step ${wait.step_id})`, until(wait.wake_at));
  if (wait && wait.wake_at) return line(`step ${wait.step_id} (${wait.kind} ${wait.name || ""}) retries`, until(wait.wake_at));
  const running = [...steps.values()].filter((g) => g.started && !g.ended).pop();
  if (running) return line(`running step ${running.id} (${running.kind} ${running.name}) for ${formatDuration(Date.now() - Date.parse(running.started))}`);
  return line(snap.status);
}

function setStatus(status) {
  const s = $("detail-status");
  s.textContent = status;
  s.className = "status status-" + (status || "unknown");
  const ended = ENDED.has(status) || status === "deleted";
  $("cancel-button").disabled = !status || ended;
  $("signal-button").disabled = !status || ended;
  $("artifacts-none").textContent = ENDED.has(status) ? "none" : "none yet";
  // Only an ended execution can be deleted (the server answers CONFLICT
  // for a live one).
  $("delete-button").disabled = !ENDED.has(status);
}

// ---- the timeline: events as they come, grouped by step ----

async function follow(id) {
  let exec;
  try {
    exec = await session.weft.subscribe(id, 0);
  } catch (err) {
    if (id === current && err.code !== "EXECUTION_NOT_FOUND") $("detail-error").textContent = errorText(err);
    return;
  }
  if (id !== current) { exec.close(); return; }
  following = exec;
  try {
    for await (const ev of exec) {
      if (id !== current) break;
      onEvent(ev);
    }
  } catch (err) {
    if (id === current && err.name !== "UnsubscribedError" && err.name !== "ExecutionError") $("detail-error").textContent = errorText(err);
  }
}

const ENDING = { execution_completed: "completed", execution_failed: "failed", execution_cancelled: "cancelled" };

function onEvent(ev) {
  const d = ev.details || {};
  lastSeq = Math.max(lastSeq, ev.seq || 0);
  if (ENDING[ev.type]) setStatus(ENDING[ev.type]);
  if (ev.type === "artifact_created") showArtifact(d);
  if (ev.type === "llm_delta") {
    llmText(d.step_id).textContent += d.text || "";
    const g = group(d.step_id);
    g.deltas++;
    renderGroupHead(g);
    return;
  }
  if (ev.type === "llm_start" && d.step_id) llmText(d.step_id, d.model);
  if (d.step_id) addToGroup(group(d.step_id), ev);
  else $("timeline").append(el("li", { class: "exec-event" }, eventRow(ev)));
  placeUnseen();
  snapshotSoon();
}

// group is the timeline block of one step, made at its first event (in
// event order) or, for a step that has none, by placeUnseen.
function group(id, attach = true) {
  let g = steps.get(id);
  if (g) return g;
  g = { id, kind: "", name: "", started: "", ended: "", attempts: 0, retries: 0, deltas: 0, failed: false, durationMS: null, snap: unseen.get(id) || null };
  unseen.delete(id);
  g.head = el("div", { class: "step-head" });
  g.list = el("ol", { class: "step-events" });
  g.el = el("li", { class: `step depth-${id.split(".").length - 1}`, "data-step": id }, g.head, g.list);
  steps.set(id, g);
  if (attach) $("timeline").append(g.el);
  return g;
}

// placeUnseen shows the snapshot's steps that have no events once the
// stream has caught up with the snapshot (a rerun's reused steps emit
// none), in step order among the others.
function placeUnseen() {
  if (!snap || lastSeq < snap.last_seq || unseen.size === 0) return;
  for (const [id, st] of [...unseen].sort((a, b) => compareSteps(a[0], b[0]))) {
    const g = group(id, false);
    g.snap = st;
    g.reused = true;
    const after = [...$("timeline").querySelectorAll(":scope > li.step")].find((li) => compareSteps(li.dataset.step, id) > 0);
    $("timeline").insertBefore(g.el, after || null);
    renderGroupHead(g);
  }
}

// compareSteps orders step ids as numbers, part by part ("2" < "10", "3" < "3.1").
function compareSteps(a, b) {
  const x = a.split(".").map(Number), y = b.split(".").map(Number);
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i] - y[i];
  return x.length - y.length;
}

const KIND = { task: "task", llm: "llm", tool: "tool", signal: "signal", timer: "sleep", workflow: "workflow", artifact: "artifact" };

function addToGroup(g, ev) {
  const d = ev.details || {};
  const prefix = ev.type.split("_")[0];
  g.kind = g.kind || KIND[prefix] || prefix;
  g.name = g.name || d.name || d.tool || d.model || d.signal || "";
  if (!g.started) g.started = ev.timestamp;
  if (d.attempt) g.attempts = Math.max(g.attempts, d.attempt);
  if (/_error$/.test(ev.type)) {
    if (d.will_retry) g.retries++;
    else g.failed = true;
  }
  if (/_(end|error)$/.test(ev.type) && !d.will_retry || ev.type === "signal_received" || ev.type === "timer_fired") {
    g.ended = ev.timestamp;
    if (d.duration_ms !== undefined) g.durationMS = d.duration_ms;
  }
  if (ev.type === "workflow_start") addChild(g, d);
  if (ev.type === "workflow_end" || ev.type === "workflow_error") updateChild(g, ev.type === "workflow_end" ? "completed" : "failed");
  g.list.append(el("li", { class: "event event-" + ev.type }, eventRow(ev)));
  renderGroupHead(g);
}

function renderGroupHead(g) {
  const st = g.snap;
  const attempts = Math.max(g.attempts, st ? st.attempts || 0 : 0);
  const started = g.started || (st && st.started_at) || "";
  const ended = g.ended || (st && st.completed_at) || "";
  const duration = g.durationMS ?? (started && ended ? Date.parse(ended) - Date.parse(started) : null);
  const state = g.failed || (st && st.error) ? "failed" : st && st.state === "pending" ? "waiting" : g.reused ? "reused" : ended ? "done" : "running";
  g.head.replaceChildren(
    el("span", { class: "step-id" }, g.id),
    el("span", { class: "step-kind" }, g.kind || (st && st.kind) || ""),
    el("strong", { class: "step-name" }, g.name || (st && st.name) || ""),
    el("span", { class: `step-state step-${state}` }, state),
    started ? el("span", { class: "muted" }, "started ", timeCell(started)) : "",
    duration !== null ? el("span", { class: "step-duration" }, formatDuration(duration)) : "",
    attempts ? el("span", { class: "step-attempts" }, `attempt${attempts === 1 ? "" : "s"} ${attempts}`) : "",
    g.retries ? el("span", { class: "step-retries" }, `${g.retries} retr${g.retries === 1 ? "y" : "ies"}`) : "",
    g.deltas ? el("span", { class: "muted" }, `${g.deltas} llm_delta`) : "");
}

// eventRow is one event: time, seq, type, a summary and its details.
function eventRow(ev) {
  const d = ev.details || {};
  const t = ev.timestamp ? new Date(ev.timestamp) : null;
  const time = t ? t.toLocaleTimeString([], { hour12: false }) + "." + String(t.getMilliseconds()).padStart(3, "0") : "";
  const err = d.error && d.error.message;
  const summary = [d.name || d.tool || d.model || "", d.reason || "", err ? `error: ${err}` : "",
    d.will_retry ? `will retry${d.retry_in_ms ? " in " + formatDuration(d.retry_in_ms) : ""}` : "",
    d.wake_at ? `until ${formatTime(d.wake_at)}` : "", d.attempt ? `attempt ${d.attempt}` : "",
    d.duration_ms !== undefined ? formatDuration(d.duration_ms) : ""].filter(Boolean).join(" · ");
  return [el("time", { datetime: ev.timestamp || "", title: ev.timestamp || "" }, time),
    el("span", { class: "seq" }, `#${ev.seq}`),
    el("span", { class: "type" }, ev.type),
    el("span", { class: "summary" }, summary),
    Object.keys(d).length ? el("details", {}, el("summary", {}, "details"), el("pre", { class: "json" }, JSON.stringify(d, null, 2))) : ""];
}

// llmText is the <pre> that collects one step's streamed text.
function llmText(stepId, model) {
  const key = stepId || "";
  let block = $("llm-output").querySelector(`[data-llm-step="${CSS.escape(key)}"]`);
  if (!block) {
    $("llm-none").hidden = true;
    block = el("div", { class: "llm-step", "data-llm-step": key },
      el("h4", {}, `step ${key || "?"}`, model ? el("span", { class: "muted" }, ` · ${model}`) : ""), el("pre", {}));
    $("llm-output").append(block);
  }
  return block.querySelector("pre");
}

// ---- child workflows: inline steps of this execution ----

function addChild(g, d) {
  $("children-block").hidden = false;
  if ($("children").querySelector(`[data-child="${CSS.escape(g.id)}"]`)) return;
  $("children").append(el("li", { "data-child": g.id },
    el("a", { href: "#", onclick: (ev) => { ev.preventDefault(); g.el.scrollIntoView({ block: "start" }); g.el.classList.add("flash"); } }, d.name || "child"),
    ` (step ${g.id}) `, el("span", { class: "status status-running" }, "running")));
}

function updateChild(g, status) {
  const li = $("children").querySelector(`[data-child="${CSS.escape(g.id)}"]`);
  if (li) li.querySelector(".status").replaceWith(statusBadge(status));
}

// ---- artifacts (from artifact_created events) ----

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
// not carry it: it is a Bearer header) and saves them as a Blob.
async function downloadArtifact(button, d) {
  $("detail-error").textContent = "";
  button.disabled = true;
  try {
    saveBlob(await (await session.weft.getArtifact(d.artifact_id)).blob(), d.name || d.artifact_id);
  } catch (err) {
    $("detail-error").textContent = `download ${d.name || d.artifact_id}: ${err.message}`;
  } finally {
    button.disabled = false;
  }
}

// ---- actions ----

function say(text) { $("action-message").textContent = text; }

async function cancel() {
  const id = current;
  $("detail-error").textContent = "";
  try {
    const res = await session.weft.call("execution.cancel", { execution_id: id, reason: "cancelled from the console" });
    if (id === current) say(res.status === "cancelling" ? "Cancelling…" : `Already ${res.status}.`);
  } catch (err) {
    if (id === current) $("detail-error").textContent = errorText(err);
  }
}

// signal checks the name and that the payload is JSON before sending:
// a bad payload is marked with the parser's reason and nothing is sent.
async function signal(ev) {
  ev.preventDefault();
  const id = current;
  const name = $("signal-name").value.trim();
  const text = $("signal-payload").value.trim();
  $("signal-error").textContent = "";
  if (!name) { $("signal-error").textContent = "a signal needs a name"; $("signal-name").focus(); return; }
  let payload = null;
  if (text) {
    try {
      payload = JSON.parse(text);
    } catch (err) {
      $("signal-payload").setAttribute("aria-invalid", "true");
      $("signal-error").textContent = `payload is not valid JSON: ${err.message}`;
      $("signal-payload").focus();
      return;
    }
  }
  try {
    const res = await session.weft.call("execution.signal", { execution_id: id, name, payload });
    if (id === current) say(res.delivered ? `Signal "${name}" delivered.` : `Signal "${name}" not delivered: the execution is ${res.status}.`);
  } catch (err) {
    if (id === current) $("signal-error").textContent = errorText(err);
  }
}

// renderRerunChoices lists the top-level steps a rerun can start from.
function renderRerunChoices() {
  const tops = new Set(["1"]);
  for (const st of snap.steps || []) tops.add(st.step_id.split(".")[0]);
  for (const id of steps.keys()) tops.add(id.split(".")[0]);
  const keep = $("rerun-step").value;
  const label = (n) => {
    const g = steps.get(n), st = (snap.steps || []).find((s) => s.step_id === n);
    const what = (g && (g.kind + " " + g.name)) || (st && (st.kind + " " + st.name)) || "";
    return `${n}${what.trim() ? " · " + what.trim() : ""}`;
  };
  $("rerun-step").replaceChildren(...[...tops].map(Number).sort((a, b) => a - b).map((n) => el("option", { value: String(n) }, label(String(n)))));
  if ([...tops].includes(keep)) $("rerun-step").value = keep;
}

async function rerun() {
  const id = current, from = Number($("rerun-step").value);
  $("detail-error").textContent = "";
  try {
    const res = await session.weft.call("execution.rerun", { execution_id: id, from_step: from, subscribe: false });
    location.hash = `#/executions/${res.execution_id}`;
  } catch (err) {
    if (id === current) $("detail-error").textContent = errorText(err);
  }
}

async function replayNow() {
  const id = current;
  const speed = Number($("replay-speed").value);
  $("replay-log").replaceChildren();
  $("replay-info").textContent = "replaying…";
  $("replay-button").disabled = true;
  try {
    const got = await replay(session.token, id, speed, (ev) => {
      if (id === current && ev.type !== "llm_delta") $("replay-log").append(el("li", {}, eventRow(ev)));
    });
    if (id === current) $("replay-info").textContent = `${got.length} events replayed (${got.filter((e) => e.replay).length} marked replay)`;
  } catch (err) {
    if (id === current) $("replay-info").textContent = "replay failed: " + errorText(err);
  } finally {
    $("replay-button").disabled = false;
  }
}

// exportNow downloads the execution as weft export writes it, from
// GET /api/v1/executions/{id}/export with the token as a Bearer header.
async function exportNow() {
  const id = current;
  $("detail-error").textContent = "";
  try {
    const resp = await fetch(`/api/v1/executions/${encodeURIComponent(id)}/export`, { headers: { Authorization: `Bearer ${session.token}` } });
    if (!resp.ok) {
      let msg = `HTTP ${resp.status}`;
      try { const b = await resp.json(); if (b.error) msg = `${b.error.code}: ${b.error.message}`; } catch { /* not JSON */ }
      throw new Error(msg);
    }
    saveBlob(await resp.blob(), `${id}.json`);
    say(`Exported ${id}.json.`);
  } catch (err) {
    $("detail-error").textContent = `export: ${err.message}`;
  }
}

// remove deletes the (ended) execution for good, after the operator
// confirms: its events, steps and idempotency key go too.
async function remove() {
  const id = current;
  if (!id || $("delete-button").disabled) return;
  if (!confirm(`Delete execution ${id}? Its history is removed for good.`)) return;
  $("detail-error").textContent = "";
  try {
    await session.weft.delete(id);
  } catch (err) {
    $("detail-error").textContent = errorText(err);
    return;
  }
  if (current !== id) return;
  close();
  setStatus("deleted");
  say(`Execution ${id} deleted.`);
}
