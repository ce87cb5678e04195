// The executions list (#/executions): filters (status, workflow, time
// range), search by execution id or idempotency key, pages of 50, and live
// updates that never move a row under the reader's cursor: a row's status,
// end and duration change in place, and executions created since the page
// was loaded are announced ("3 new — show") instead of pushed in on top.
// The filters live in the URL (#/executions?status=failed&workflow=…), so
// a filtered list can be bookmarked, shared, reloaded and gone back to.

import { $, el, routeQuery, STATUSES, ENDED, statusBadge, execLink, timeCell, formatDuration, endedAt, durationOf, errorText } from "./util.js";
import { session } from "./session.js";

export const PAGE = 50;
const REFRESH_MS = 2000;

let cursors = [""]; // cursors[i] opens page i; page 0 is the newest
let page = 0;
let nextCursor = "";
let rows = new Map(); // execution id -> { tr, snap }
let newest = ""; // created_at of the newest row of page 0: newer ones are "new"
let byID = false; // the page shows one execution found by its id
let timer = null;
let loading = 0; // generation of the last load: older answers are dropped

export function init() {
  $("filter-status").replaceChildren(el("option", { value: "" }, "any status"),
    ...STATUSES.map((s) => el("option", { value: s }, s)));
  $("exec-filters").addEventListener("submit", (ev) => { ev.preventDefault(); reload(); });
  for (const id of ["filter-status", "filter-workflow", "filter-from", "filter-to"]) {
    $(id).addEventListener("change", () => { if (id === "filter-from" || id === "filter-to") $("filter-range").value = ""; reload(); });
  }
  $("filter-range").addEventListener("change", applyRange);
  $("filter-clear").addEventListener("click", clearFilters);
  $("page-next").addEventListener("click", () => { if (nextCursor) { cursors[page + 1] = nextCursor; page++; load(); } });
  $("page-prev").addEventListener("click", () => { if (page > 0) { page--; load(); } });
  $("new-rows").addEventListener("click", reload);
}

// wantedWorkflow is the workflow filter the URL asked for: the select
// cannot hold it before workflow.list has answered.
let wantedWorkflow = "";

// workflowsLoaded fills the workflow filter once workflow.list answered.
export function workflowsLoaded(names) {
  const keep = wantedWorkflow || $("filter-workflow").value;
  $("filter-workflow").replaceChildren(el("option", { value: "" }, "any workflow"),
    ...names.map((n) => el("option", { value: n }, n)));
  $("filter-workflow").value = keep;
  if (wantedWorkflow && $("filter-workflow").value === wantedWorkflow) {
    wantedWorkflow = "";
  }
}

// URL parameters of the filters, and the inputs they fill; from and to are
// UTC instants (a link means the same in every time zone), range a preset
// that stays relative ("last hour" is the last hour when the link opens).
const PARAMS = { status: "filter-status", workflow: "filter-workflow", range: "filter-range", q: "filter-search" };

// show opens the list. params are the URL's: when it has any they set the
// filters; without, the filters stay as they were (the nav link).
export function show(_arg, params = new Map()) {
  if (params.size > 0) {
    filtersFrom(params);
    cursors = [""];
    page = 0;
  }
  writeURL();
  load();
  clearInterval(timer);
  timer = setInterval(refresh, REFRESH_MS);
}

export function hide() {
  clearInterval(timer);
  timer = null;
}

// "/" focuses the search box (GitHub's and Temporal's key), Escape leaves it.
export function onKey(ev) {
  if (ev.key === "/" && !isTyping(ev.target)) {
    ev.preventDefault();
    $("filter-search").focus();
    return true;
  }
  return false;
}

const isTyping = (t) => t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT" || t.isContentEditable);

// filtersFrom sets the filter inputs from URL parameters.
function filtersFrom(params) {
  for (const [name, id] of Object.entries(PARAMS)) $(id).value = params.get(name) || "";
  wantedWorkflow = params.get("workflow") || "";
  if ($("filter-workflow").value === wantedWorkflow) wantedWorkflow = "";
  const local = (iso) => (iso && !Number.isNaN(Date.parse(iso)) ? localInput(new Date(iso)) : "");
  $("filter-from").value = local(params.get("from"));
  $("filter-to").value = local(params.get("to"));
  if ($("filter-range").value) rangeFrom();
}

// writeURL puts the filters in the URL without a history entry per change
// (the back button leaves the list, as the other views).
function writeURL() {
  const p = new Map();
  for (const [name, id] of Object.entries(PARAMS)) {
    const v = name === "workflow" ? wantedWorkflow || $(id).value : $(id).value.trim();
    if (v) p.set(name, v);
  }
  const q = query();
  if (!p.has("range") && q.created_after) p.set("from", q.created_after);
  if (q.created_before) p.set("to", q.created_before);
  const hash = "#/executions" + (p.size ? "?" + routeQuery(p) : "");
  if (location.hash !== hash) history.replaceState(null, "", hash);
}

function clearFilters() {
  for (const id of ["filter-status", "filter-workflow", "filter-from", "filter-to", "filter-range", "filter-search"]) $(id).value = "";
  reload();
}

// applyRange fills From with a preset ("last hour") and clears To.
function applyRange() {
  if (rangeFrom()) reload();
}

// rangeFrom sets From and To for the preset range chosen; false if none.
function rangeFrom() {
  const ms = { "1h": 3600e3, "24h": 86400e3, "7d": 7 * 86400e3 }[$("filter-range").value];
  if (!ms) return false;
  $("filter-from").value = localInput(new Date(Date.now() - ms));
  $("filter-to").value = "";
  return true;
}

// localInput is a Date as a datetime-local input's value (local time).
function localInput(d) {
  const p = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

// query is the executions.list request of the filters (without paging).
// The time inputs are local times; the server gets them in UTC.
function query() {
  const q = {};
  if ($("filter-status").value) q.status = $("filter-status").value;
  if ($("filter-workflow").value) q.workflow = $("filter-workflow").value;
  const from = $("filter-from").value, to = $("filter-to").value;
  if (from) q.created_after = new Date(from).toISOString();
  if (to) q.created_before = new Date(to).toISOString();
  return q;
}

function reload() {
  cursors = [""];
  page = 0;
  if (shown()) writeURL();
  load();
}

// shown: the list is the view on screen (a reload may come from its
// refresh after the reader left it).
const shown = () => !$("view-executions").hidden;

// load replaces the page: the one execution searched by id, or the page of
// executions of the filters (an idempotency key when searched).
async function load() {
  const gen = ++loading;
  $("exec-error").textContent = "";
  $("new-rows").hidden = true;
  const search = $("filter-search").value.trim();
  let items = [], next = "";
  byID = false;
  try {
    if (search && search.startsWith("exec_")) {
      try {
        items = [await session.weft.call("execution.get", { execution_id: search })];
        byID = true;
      } catch (err) {
        if (err.code !== "EXECUTION_NOT_FOUND") throw err;
      }
    }
    if (!byID) {
      const req = { ...query(), limit: PAGE };
      if (search) req.idempotency_key = search;
      if (cursors[page]) req.cursor = cursors[page];
      const res = await session.weft.call("executions.list", req);
      items = res.items;
      next = res.next_cursor || "";
    }
  } catch (err) {
    if (gen === loading) $("exec-error").textContent = errorText(err);
    return;
  }
  if (gen !== loading) return;
  nextCursor = next;
  render(items);
}

function render(items) {
  rows = new Map();
  $("exec-rows").replaceChildren(...items.map((snap) => {
    const tr = row(snap);
    rows.set(snap.execution_id, { tr, snap });
    return tr;
  }));
  newest = page === 0 && !byID && items.length ? items[0].created_at : "";
  const search = $("filter-search").value.trim();
  $("exec-empty").hidden = items.length > 0;
  $("exec-empty").textContent = search ? `No execution with id or idempotency key "${search}" matches.` : "No executions match.";
  $("page-prev").disabled = page === 0;
  $("page-next").disabled = !nextCursor;
  const first = page * PAGE + 1;
  $("page-info").textContent = byID ? "found by id" : items.length ? `${first}–${first + items.length - 1}${nextCursor ? "" : " (last page)"} · page ${page + 1}` : `page ${page + 1}`;
}

function row(snap) {
  const tr = el("tr", { "data-id": snap.execution_id, onclick: (ev) => { if (!ev.target.closest("a")) location.hash = `#/executions/${snap.execution_id}`; } },
    el("td", {}, execLink(snap.execution_id)),
    el("td", {}, snap.workflow),
    el("td", { class: "cell-status" }),
    el("td", {}, timeCell(snap.created_at)),
    el("td", { class: "cell-ended" }),
    el("td", { class: "cell-duration num" }));
  fill(tr, snap);
  return tr;
}

// fill writes the cells that change as an execution runs, in place.
function fill(tr, snap) {
  const status = tr.querySelector(".cell-status");
  if (status.textContent !== snap.status) status.replaceChildren(statusBadge(snap.status));
  tr.querySelector(".cell-ended").replaceChildren(endedAt(snap) ? timeCell(endedAt(snap)) : "");
  tr.querySelector(".cell-duration").textContent = formatDuration(durationOf(snap));
  tr.classList.toggle("live", !ENDED.has(snap.status));
}

function update(snap) {
  const r = rows.get(snap.execution_id);
  if (!r) return;
  r.snap = snap;
  fill(r.tr, snap);
}

// refresh keeps the shown rows current without moving them, and counts
// the executions created since page 0 was loaded.
async function refresh() {
  if (!session.weft || rows.size === 0 && page > 0) return;
  const gen = loading;
  try {
    if (byID) {
      for (const id of rows.keys()) update(await session.weft.call("execution.get", { execution_id: id }));
      return;
    }
    const q = query();
    const search = $("filter-search").value.trim();
    if (search) q.idempotency_key = search;
    let fresh = 0;
    if (page === 0) {
      if (rows.size === 0) { load(); return; } // nothing to keep in place
      const since = { ...q, created_after: later(q.created_after, newest), limit: 1000 };
      const res = await session.weft.call("executions.list", since);
      fresh = res.items.filter((s) => !rows.has(s.execution_id)).length;
    }
    const req = { ...q, limit: Math.min(1000, rows.size + fresh) };
    if (cursors[page]) req.cursor = cursors[page];
    const res = await session.weft.call("executions.list", req);
    if (gen !== loading) return;
    const seen = new Set();
    for (const snap of res.items) { update(snap); seen.add(snap.execution_id); }
    await refreshMissing(seen, gen);
    announce(fresh);
  } catch { /* the connection is down: the header says so; next tick retries */ }
}

// later is the later of two RFC 3339 times ("" is none).
function later(a, b) {
  if (!a) return b;
  if (!b) return a;
  return Date.parse(a) >= Date.parse(b) ? a : b;
}

// refreshMissing asks for the live rows a refresh did not list (their
// status left the status filter, or they were deleted) one by one.
async function refreshMissing(seen, gen) {
  const missing = [...rows.values()].filter((r) => !seen.has(r.snap.execution_id) && !ENDED.has(r.snap.status) && r.snap.status !== "deleted");
  for (const r of missing.slice(0, 20)) {
    try {
      update(await session.weft.call("execution.get", { execution_id: r.snap.execution_id }));
    } catch (err) {
      if (err.code === "EXECUTION_NOT_FOUND" && gen === loading) update({ ...r.snap, status: "deleted" });
    }
  }
}

function announce(n) {
  const b = $("new-rows");
  b.hidden = n === 0;
  b.textContent = n === 1 ? "1 new execution — show" : `${n >= 1000 ? "1000+" : n} new executions — show`;
}
