// The rooms and connections page (#/connections): the workspace's
// connections (identity, connected since, rooms) with send and close;
// rooms this console joined (members, live presence) or looked up; and
// the presence and messages this console received.

import { $, el, timeCell, errorText } from "./util.js";
import { session } from "./session.js";

const rooms = new Map(); // room -> { joined, li }
let timer = null;

export function init() {
  $("room-form").addEventListener("submit", (ev) => { ev.preventDefault(); joinRoom($("room-name").value.trim()); });
  $("members-form").addEventListener("submit", (ev) => { ev.preventDefault(); lookUp($("members-room").value.trim()); });
  $("send-form").addEventListener("submit", send);
  $("conn-refresh").addEventListener("click", refresh);
  $("send-message").addEventListener("input", () => { $("send-message").removeAttribute("aria-invalid"); $("send-error").textContent = ""; });
}

export function show() {
  refresh();
  clearInterval(timer);
  timer = setInterval(refresh, 5000);
}

export function hide() {
  clearInterval(timer);
  timer = null;
}

async function refresh() {
  let list;
  try {
    list = await session.weft.connections();
  } catch (err) {
    $("conn-error").textContent = err.code === "FORBIDDEN" ? "(token lacks connections:read)" : errorText(err);
    return;
  }
  $("conn-error").textContent = "";
  const me = (session.weft.info || {}).connection_id;
  list.sort((a, b) => (a.connected_at < b.connected_at ? -1 : 1));
  $("conn-rows").replaceChildren(...list.map((c) => el("tr", { "data-connection": c.connection_id },
    el("td", {}, el("code", {}, c.connection_id), c.connection_id === me ? el("span", { class: "muted" }, " (this console)") : ""),
    el("td", {}, c.identity),
    el("td", {}, timeCell(c.connected_at)),
    el("td", {}, (c.rooms || []).join(", ")),
    el("td", { class: "row-actions" },
      el("button", { type: "button", class: "send", disabled: c.connection_id === me, onclick: () => { $("send-target").value = c.connection_id; $("send-message").focus(); } }, "Send…"),
      el("button", { type: "button", class: "danger close", disabled: c.connection_id === me, onclick: () => closeConnection(c) }, "Close")))));
  $("conn-count").textContent = `· ${list.length}`;
  const keep = $("send-target").value;
  $("send-target").replaceChildren(el("option", { value: "" }, "choose a connection…"),
    ...list.filter((c) => c.connection_id !== me).map((c) => el("option", { value: c.connection_id }, `${c.identity} · ${c.connection_id}`)));
  $("send-target").value = keep;
  for (const room of rooms.keys()) showMembers(room);
}

// send delivers a JSON message to one connection (connection.send); a
// payload that is not JSON is refused here, nothing sent.
async function send(ev) {
  ev.preventDefault();
  const target = $("send-target").value;
  $("send-error").textContent = "";
  $("send-result").textContent = "";
  if (!target) { $("send-error").textContent = "choose a connection"; return; }
  let message;
  try {
    message = JSON.parse($("send-message").value);
  } catch (err) {
    $("send-message").setAttribute("aria-invalid", "true");
    $("send-error").textContent = `message is not valid JSON: ${err.message}`;
    return;
  }
  try {
    await session.weft.send(target, message);
    $("send-result").textContent = `sent to ${target}`;
  } catch (err) {
    $("send-error").textContent = err.code === "WS_CONNECTION_NOT_FOUND" ? `${target} is gone` : errorText(err);
    refresh();
  }
}

async function closeConnection(c) {
  if (!confirm(`Close connection ${c.connection_id} of ${c.identity}?`)) return;
  try {
    await session.weft.closeConnection(c.connection_id, "closed from the console");
    $("send-result").textContent = `closed ${c.connection_id}`;
  } catch (err) {
    $("conn-error").textContent = errorText(err);
  }
  refresh();
}

// ---- rooms ----

async function joinRoom(room) {
  if (!room) return;
  try {
    await session.weft.join(room, { presence: true, onJoined: onPresence("room.joined"), onLeft: onPresence("room.left") });
  } catch (err) {
    $("conn-error").textContent = errorText(err);
    return;
  }
  roomEntry(room).joined = true;
  showMembers(room);
  refresh();
}

function lookUp(room) {
  if (!room) return;
  roomEntry(room);
  showMembers(room);
}

function roomEntry(room) {
  let r = rooms.get(room);
  if (!r) {
    r = { joined: false, li: el("li", { "data-room": room }) };
    rooms.set(room, r);
    $("room-list").append(r.li);
  }
  return r;
}

async function showMembers(room) {
  const r = rooms.get(room);
  let members;
  try {
    members = await session.weft.members(room);
  } catch (err) {
    r.li.replaceChildren(el("strong", {}, room), " ", el("span", { class: "error" }, errorText(err)));
    return;
  }
  r.li.replaceChildren(
    el("div", { class: "room-head" }, el("strong", {}, room), el("span", { class: "muted" }, ` · ${members.length} member(s)${r.joined ? " · joined, with presence" : " · looked up"}`),
      el("button", { type: "button", onclick: () => showMembers(room) }, "Refresh")),
    members.length ? el("table", { class: "members" },
      el("thead", {}, el("tr", {}, el("th", {}, "Identity"), el("th", {}, "Connection"), el("th", {}, "Connected"))),
      el("tbody", {}, members.map((m) => el("tr", { "data-member": m.connection_id },
        el("td", {}, m.identity), el("td", {}, el("code", {}, m.connection_id)), el("td", {}, timeCell(m.connected_at))))))
      : el("p", { class: "muted" }, "no members"));
}

function logLine(...parts) {
  $("room-log").prepend(el("li", {}, el("time", {}, new Date().toLocaleTimeString()), " ", ...parts));
}

function onPresence(type) {
  return (p) => {
    logLine(el("span", { class: "type" }, type), ` ${p.room}: ${p.identity} (${p.connection_id})`);
    showMembers(p.room);
    refresh();
  };
}

// onPush shows the messages sent to this console (app.js registers it).
export function onPush(m) {
  if (m.type === "room.message") logLine(el("span", { class: "type" }, "room.message"), ` ${m.room} from ${m.identity || m.from || "?"}: ${JSON.stringify(m.message)}`);
  else if (m.type === "message") logLine(el("span", { class: "type" }, "message"), ` from ${m.from}: ${JSON.stringify(m.message)}`);
}
