// Small helpers shared by the console's views: DOM building (text only,
// never parsed as HTML: everything shown comes from the server and may be
// anyone's text), formatting of times, durations, sizes and JSON, and the
// Markdown subset of workflow descriptions.

export const $ = (id) => document.getElementById(id);

// el builds an element: attrs set attributes ("class", "on<event>"
// listeners, and properties for "hidden", "disabled", "value" and
// "checked"); children are nodes or strings (added as text).
export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (k === "hidden" || k === "disabled" || k === "value" || k === "checked") e[k] = v;
    else e.setAttribute(k, v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) e.append(c);
  return e;
}

// routeParams reads the parameters after "?" in a route of the hash
// (#/executions?status=failed) into a Map. The URL only ever fills filter
// inputs this way: never the socket (csp_test.go), never markup.
export function routeParams(query) {
  const params = new Map();
  for (const pair of query.split("&")) {
    if (!pair) continue;
    const at = pair.indexOf("=");
    const [k, v] = at < 0 ? [pair, ""] : [pair.slice(0, at), pair.slice(at + 1)];
    try {
      params.set(decodeURIComponent(k.replace(/\+/g, " ")), decodeURIComponent(v.replace(/\+/g, " ")));
    } catch { /* a malformed escape: the parameter is ignored */ }
  }
  return params;
}

// routeQuery is routeParams' inverse: "" for no parameters.
export function routeQuery(params) {
  return [...params].map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join("&");
}

export const ENDED = new Set(["completed", "failed", "cancelled"]);
export const STATUSES = ["queued", "running", "waiting", "completed", "failed", "cancelled"];

export function statusBadge(status) {
  return el("span", { class: `status status-${status}` }, status);
}

// execLink is a link to an execution's own page.
export function execLink(id, text = id) {
  return el("a", { href: `#/executions/${encodeURIComponent(id)}`, class: "exec-link" }, text);
}

// formatTime shows an instant in the operator's time zone: the time alone
// when it is today, else the date too. The full ISO time is the tooltip.
export function formatTime(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  const today = new Date().toDateString() === d.toDateString();
  return today ? d.toLocaleTimeString() : d.toLocaleString();
}

export function timeCell(iso) {
  return el("time", { datetime: iso || "", title: iso || "" }, formatTime(iso));
}

// formatDuration: 850 ms, 12.3 s, 4m 05s, 2h 03m, 3d 4h.
export function formatDuration(ms) {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return "";
  if (ms < 0) ms = 0;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const pad = (n) => String(Math.floor(n)).padStart(2, "0");
  if (s < 3600) return `${Math.floor(s / 60)}m ${pad(s % 60)}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${pad((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
}

// ended and duration of a snapshot: an ended execution's record was last
// written when it ended, so updated_at is its end; a live one runs on.
export function endedAt(snap) {
  return ENDED.has(snap.status) ? snap.updated_at : "";
}

export function durationOf(snap, now = Date.now()) {
  const start = Date.parse(snap.created_at);
  const end = ENDED.has(snap.status) ? Date.parse(snap.updated_at) : now;
  return Number.isFinite(start) && Number.isFinite(end) ? end - start : null;
}

export function formatSize(n) {
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let i = -1;
  do { n /= 1024; i++; } while (n >= 1024 && i < units.length - 1);
  return `${n.toFixed(1)} ${units[i]}`;
}

// jsonBlock shows a JSON value indented, or a muted "none".
export function jsonBlock(value, empty = "none") {
  if (value === undefined || value === null || (typeof value === "object" && Object.keys(value).length === 0 && !Array.isArray(value))) {
    return el("p", { class: "muted" }, empty);
  }
  return el("pre", { class: "json" }, JSON.stringify(value, null, 2));
}

// errorText is what a failed call shows: its code when it has one.
export function errorText(err) {
  return err && err.code ? `${err.code}: ${err.message}` : String((err && err.message) || err);
}

// saveBlob downloads blob as name through a temporary object URL and
// <a download>; nothing leaves the page's origin (connect-src 'self').
export function saveBlob(blob, name) {
  const url = URL.createObjectURL(blob);
  const a = el("a", { href: url, download: name, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000); // the download reads it after click() returns
}

// ---- Markdown: the small subset workflow descriptions use ----
//
// Paragraphs (blank lines), "- " / "* " / "1. " lists, `code`, **bold**
// and [text](url) links to http(s) or relative URLs. Everything is built
// from text nodes, so no description can inject markup or script; a link
// to any other scheme (javascript:, data:) is shown as its text.

export function markdown(src) {
  const frag = document.createDocumentFragment();
  const blocks = String(src || "").replace(/\r\n?/g, "\n").split(/\n\s*\n/);
  for (const block of blocks) {
    const lines = block.split("\n").filter((l) => l.trim() !== "");
    if (lines.length === 0) continue;
    const bullet = /^\s*[-*]\s+/, numbered = /^\s*\d+[.)]\s+/;
    if (lines.every((l) => bullet.test(l)) || lines.every((l) => numbered.test(l))) {
      const ordered = numbered.test(lines[0]);
      frag.append(el(ordered ? "ol" : "ul", {},
        lines.map((l) => el("li", {}, inline(l.replace(ordered ? numbered : bullet, ""))))));
    } else {
      frag.append(el("p", {}, inline(lines.join(" "))));
    }
  }
  return frag;
}

const SAFE_HREF = /^(https?:\/\/|\/|#|\.{0,2}\/)[^\s]*$/i;

// inline turns one line of text into nodes: `code`, **bold**, [text](url).
function inline(text) {
  const out = [];
  const re = /`([^`]+)`|\*\*([^*]+)\*\*|\[([^\]]+)\]\(([^)\s]+)\)/g;
  let last = 0;
  for (let m; (m = re.exec(text));) {
    if (m.index > last) out.push(text.slice(last, m.index));
    if (m[1] !== undefined) out.push(el("code", {}, m[1]));
    else if (m[2] !== undefined) out.push(el("strong", {}, m[2]));
    else if (SAFE_HREF.test(m[4])) out.push(el("a", { href: m[4], rel: "noopener noreferrer", target: "_blank" }, m[3]));
    else out.push(m[3]);
    last = re.lastIndex;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}
