// A tiny client of weft's socket protocol (PROTOCOL.md sections 2-4), for
// the console: one socket, many requests in flight, each with its own id.
// The shared JS client (clients/js) was not committed when the console was
// written; this module is deliberately small and has no dependencies.

export class Weft {
  constructor(url, token) {
    this.url = url;
    this.token = token;
    this.next = 0;
    this.pending = new Map(); // id -> {onFrame, resolve, reject}
    this.onPush = () => {};
    this.onClose = () => {};
  }

  // connect opens the socket, authenticates in-band (browsers cannot set
  // headers on a WebSocket) and resolves with the connected data.
  connect() {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(this.url);
      this.ws = ws;
      let ready = false;
      ws.onopen = () => ws.send(JSON.stringify({ type: "auth", token: this.token }));
      ws.onerror = () => { if (!ready) reject(new Error("cannot connect to " + this.url)); };
      ws.onclose = (ev) => {
        if (!ready) reject(new Error(ev.code === 4001 ? "wrong token" : "connection closed (" + ev.code + ")"));
        for (const p of this.pending.values()) p.reject(new Error("connection closed"));
        this.pending.clear();
        this.onClose(ev);
      };
      ws.onmessage = (msg) => {
        const f = JSON.parse(msg.data);
        if (!ready) {
          if (f.type === "connected") { ready = true; resolve(f.data); }
          else if (f.type === "auth_error") reject(new Error(f.error.message));
          return;
        }
        const p = f.id !== undefined && this.pending.get(f.id);
        if (!p) { this.onPush(f); return; }
        if (f.error) { this.pending.delete(f.id); p.reject(Object.assign(new Error(f.error.message), { code: f.error.code })); return; }
        p.onFrame(f);
        if (f.complete) { this.pending.delete(f.id); p.resolve(f.response); }
      };
    });
  }

  // request sends one request; onFrame sees every frame of it (responses
  // and events). It resolves with the last response when complete.
  request(service, request, onFrame = () => {}) {
    const id = "c" + (++this.next);
    let last;
    const done = new Promise((resolve, reject) => {
      this.pending.set(id, {
        onFrame: (f) => { if (f.response !== undefined) last = f.response; onFrame(f); },
        resolve: () => resolve(last), reject,
      });
    });
    this.ws.send(JSON.stringify({ id, service, request }));
    done.id = id;
    return done;
  }

  // call is a request that expects one answer.
  call(service, request) { return this.request(service, request); }

  // stop ends a stream this connection started (execution.unsubscribe).
  stop(id) {
    if (!this.pending.has(id)) return;
    this.pending.delete(id);
    this.request("execution.unsubscribe", { subscription: id }).catch(() => {});
  }

  close() { if (this.ws) this.ws.close(1000); }
}
