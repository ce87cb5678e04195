// execution.replay re-sends an execution's stored events on the request's
// id. The shared client (weft.js) answers a call with its last frame only,
// so a replay gets a short-lived socket of its own (same origin, the
// operator's token in-band), read until the replay's complete frame.

import { ownSocket } from "./session.js";

const HANDSHAKE_MS = 10000;

// replay resolves with the replayed events ({type, seq, timestamp,
// details}), each passed to onEvent as it arrives; speed 0 sends them as
// fast as they are read, 1 with their original gaps (capped by the server).
export function replay(token, executionId, speed, onEvent = () => {}) {
  return new Promise((resolve, reject) => {
    const sock = new WebSocket(ownSocket());
    const got = [];
    let done = false;
    const finish = (err) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.close();
      if (err) reject(err); else resolve(got);
    };
    const timer = setTimeout(() => finish(new Error("replay: no answer from the server")), HANDSHAKE_MS);
    sock.onopen = () => sock.send(JSON.stringify({ type: "auth", token }));
    sock.onmessage = (m) => {
      let f;
      try { f = JSON.parse(m.data); } catch { return; }
      if (f.type === "connected") {
        clearTimeout(timer);
        sock.send(JSON.stringify({ id: "replay", service: "execution.replay", request: { execution_id: executionId, speed } }));
        return;
      }
      if (f.type === "auth_error" || (f.error && (f.id === "replay" || !f.id))) {
        const e = f.error || {};
        const err = new Error(e.message || "replay refused");
        err.code = e.code;
        finish(err);
        return;
      }
      if (f.id !== "replay") return;
      if (f.type) {
        const d = f.data || {};
        const ev = { type: f.type, seq: d.seq, timestamp: d.timestamp, details: d.details || {}, replay: Boolean(d.replay) };
        got.push(ev);
        onEvent(ev);
      }
      if (f.complete) finish();
    };
    sock.onclose = () => finish(new Error("replay: the connection closed before the replay ended"));
  });
}
