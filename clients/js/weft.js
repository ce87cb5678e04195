// weft.js: the JavaScript client for weft's WebSocket protocol (PROTOCOL.md).
// An ES module with no dependencies, for browsers and Node (pass a WebSocket
// constructor, e.g. from the `ws` package, where there is no global one).
//
// One connection carries many executions, rooms and requests. When it drops,
// the client dials again with exponential backoff and jitter, authenticates,
// re-joins its rooms and resubscribes every live execution after the last
// seq it received, deduplicating by seq: each consumer sees every event once,
// in order, across drops.

/** Protocol error codes (PROTOCOL.md section 7). */
export const Codes = Object.freeze({
  UNAUTHENTICATED: 'UNAUTHENTICATED',
  FORBIDDEN: 'FORBIDDEN',
  INVALID_REQUEST: 'INVALID_REQUEST',
  UNKNOWN_SERVICE: 'UNKNOWN_SERVICE',
  DUPLICATE_REQUEST_ID: 'DUPLICATE_REQUEST_ID',
  WORKFLOW_NOT_FOUND: 'WORKFLOW_NOT_FOUND',
  EXECUTION_NOT_FOUND: 'EXECUTION_NOT_FOUND',
  ARTIFACT_NOT_FOUND: 'ARTIFACT_NOT_FOUND',
  CONFLICT: 'CONFLICT',
  /** Retryable: frames over the connection's rate; slow down. */
  RATE_LIMITED: 'RATE_LIMITED',
  /**
   * Not retryable (the client never retries it): a quota (requests in
   * flight per connection, streams included; rooms per connection; stored
   * signals per execution; unfinished executions per workspace).
   */
  LIMIT_EXCEEDED: 'LIMIT_EXCEEDED',
  WS_MESSAGE_TOO_LARGE: 'WS_MESSAGE_TOO_LARGE',
  WS_CONNECTION_NOT_FOUND: 'WS_CONNECTION_NOT_FOUND',
  WS_MAX_CONNECTIONS_REACHED: 'WS_MAX_CONNECTIONS_REACHED',
  WS_CONNECTION_FAILED: 'WS_CONNECTION_FAILED',
  UNAVAILABLE: 'UNAVAILABLE',
  INTERNAL: 'INTERNAL',
});

/** A protocol error: from the server, or made by the client for connection trouble. */
export class WeftError extends Error {
  constructor(code, message, retryable = false) {
    super(`${code}: ${message}`);
    this.name = 'WeftError';
    this.code = code;
    this.retryable = Boolean(retryable);
  }
}

/** The outcome of an execution that failed or was cancelled. */
export class ExecutionError extends Error {
  constructor(executionId, status, code, message) {
    super(`execution ${executionId} ${status}${code ? `: ${code}` : ''}${message ? `: ${message}` : ''}`);
    this.name = 'ExecutionError';
    this.executionId = executionId;
    this.status = status;
    this.code = code || '';
    this.reason = message || '';
  }
}

/** Thrown by every method once close() has been called. */
export class ClosedError extends Error {
  constructor() {
    super('weft client closed');
    this.name = 'ClosedError';
  }
}

/** Ends an execution's events after Execution.close(). */
export class UnsubscribedError extends Error {
  constructor() {
    super('unsubscribed');
    this.name = 'UnsubscribedError';
  }
}

const notConnected = () => new WeftError(Codes.UNAVAILABLE, 'not connected (reconnecting)', true);
const connectionLost = () =>
  new WeftError(Codes.UNAVAILABLE, 'connection lost before the answer; the request may have been applied', true);

/** Services sent again when the connection drops before their answer. */
const IDEMPOTENT = new Set([
  'ping', 'server.info', 'workflow.list', 'execution.get', 'executions.list', 'room.members',
  'connections.list', 'execution.cancel', 'room.join', 'room.leave',
]);

const TERMINAL = new Set(['execution_completed', 'execution_failed', 'execution_cancelled']);

/**
 * The wait before reconnect attempt n (0-based): min(base * 2^n, max), less a
 * random part of up to `jitter` of it.
 */
export function reconnectDelay(policy = {}, n = 0) {
  const base = policy.base > 0 ? policy.base : 1000;
  const max = Math.max(policy.max > 0 ? policy.max : 30000, base);
  let jitter = policy.jitter ?? 0.5;
  jitter = Math.min(Math.max(jitter, 0), 1);
  const d = Math.min(base * 2 ** Math.min(n, 30), max);
  return d - Math.random() * jitter * d;
}

const SOCKET_PATH = '/api/v1/socket';

/**
 * The server's socket URL and HTTP base from its address, read as every
 * weft client reads one (Go: client.ParseAddress; the cases all are held to
 * are clients/testdata/addresses.json): http[s]://host[:port][/prefix], the
 * socket URL ws[s]://host[:port][/prefix]/api/v1/socket, or a bare
 * host[:port] (http). The scheme only says whether TLS is used; a path
 * other than /api/v1/socket is the prefix of a server behind a reverse
 * proxy; the host is lower-cased. Anything else (another scheme, a user,
 * a query or fragment, no host, a port not 1-65535) throws a WeftError
 * INVALID_REQUEST naming the address.
 */
export function serverURLs(address) {
  const given = String(address ?? '');
  const bad = (why) => new WeftError(Codes.INVALID_REQUEST, `server address ${JSON.stringify(given)}: ${why}`, false);
  let s = given.trim();
  if (s === '') throw bad('empty; want http://host:port, ws://host:port/api/v1/socket or host:port');
  if (s.includes('#')) throw bad('has a fragment (#...): the address is scheme://host:port[/prefix] only');
  if (/[\x00-\x1f\x7f]/.test(s)) throw bad('has a control character');
  if (!s.includes('://')) s = `http://${s}`;
  const m = /^([a-z][a-z0-9+.-]*):\/\/([^/?]*)([^?]*)(\?.*)?$/is.exec(s);
  if (!m) throw bad('want scheme://host:port[/prefix]');
  const [, scheme, authority, path, query] = m;
  const tls = { http: false, ws: false, https: true, wss: true }[scheme.toLowerCase()];
  if (tls === undefined) throw bad(`scheme "${scheme}": want http, https, ws or wss`);
  if (authority.includes('@')) throw bad('has a user or password: give the token as an option, never in the address');
  if (query !== undefined) throw bad('has a query: the address is scheme://host:port[/prefix] only; give the token as an option');
  const host = hostPort(authority, bad);
  let prefix = escapedPath(path, bad).replace(/\/+$/, '');
  if (prefix.endsWith(SOCKET_PATH)) prefix = prefix.slice(0, -SOCKET_PATH.length).replace(/\/+$/, '');
  if (prefix.endsWith(SOCKET_PATH)) throw bad(`the path repeats ${SOCKET_PATH}`);
  return {
    socket: `${tls ? 'wss' : 'ws'}://${host}${prefix}${SOCKET_PATH}`,
    http: `${tls ? 'https' : 'http'}://${host}${prefix}`,
  };
}

/**
 * path as a URL spells it, the way Go's url.URL.EscapedPath does (so both
 * clients name the same prefix): kept as given when every character may
 * stand in a path, else percent-decoded and encoded again (a space is %20,
 * ä is %C3%A4). A % not followed by two hex digits throws bad(why).
 */
function escapedPath(path, bad) {
  if (/%(?![0-9a-f]{2})/i.test(path)) throw bad('the path has a % that is not an escape (%XX)');
  if (/^[-a-z0-9._~!$&'()*+,;=:@[\]%/]*$/i.test(path)) return path;
  const bytes = [];
  const utf8 = new TextEncoder();
  for (let i = 0; i < path.length; i++) {
    if (path[i] === '%') {
      bytes.push(parseInt(path.slice(i + 1, i + 3), 16));
      i += 2;
      continue;
    }
    const cp = path.codePointAt(i);
    if (cp > 0xffff) i++;
    bytes.push(...utf8.encode(String.fromCodePoint(cp)));
  }
  return bytes.map((b) => {
    const c = String.fromCharCode(b);
    return b < 0x80 && /[-a-z0-9._~$&+,/:;=@]/i.test(c) ? c : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }).join('');
}

/** host[:port] of an address, lower case; throws bad(why) when it is not one. */
function hostPort(authority, bad) {
  const m = /^(\[[0-9a-f:.]+\]|[^:[\]]*)(?::(.*))?$/i.exec(authority);
  if (!m || m[1] === '') throw bad('no host');
  const [, host, port] = m;
  if (!/^(\[[0-9a-f:.]+\]|[-a-z0-9._~!$&'()*+,;=]+)$/i.test(host)) throw bad(`host ${JSON.stringify(host)}: not a host name or address`);
  if (port !== undefined) {
    if (port === '') throw bad("no port after ':'");
    if (!/^[0-9]+$/.test(port) || Number(port) < 1 || Number(port) > 65535) throw bad(`port ${port}: want 1 to 65535`);
  }
  return authority.toLowerCase();
}

function randomKey() {
  const b = new Uint8Array(16);
  globalThis.crypto.getRandomValues(b);
  return 'client-' + Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

function deferred() {
  let resolve, reject;
  const promise = new Promise((res, rej) => { resolve = res; reject = rej; });
  return { promise, resolve, reject };
}

const noopLogger = { debug() {}, info() {}, warn() {}, error() {} };

/**
 * A weft client. Create it with `await WeftClient.connect(url, options)`.
 */
export class WeftClient {
  #urls; // { socket, http }: serverURLs of the address given
  #opts;
  #log;
  #nextId = 0;
  #sock = null; // current socket, null while disconnected
  #info = null;
  #closed = false;
  #failed = null;
  #ops = new Map(); // request id -> op, on the current socket
  #queue = []; // ops waiting for a connection
  #execs = new Set(); // live executions
  #rooms = new Map(); // joined rooms, re-joined after a drop
  #handlers = new Set();
  #timers = new Set();
  #sleep = null; // the pending reconnect wait

  /**
   * Connects and authenticates once; drops after that are handled by the
   * reconnect policy. url is the server's address in any form serverURLs
   * takes (http://127.0.0.1:8080, its socket URL, or host:port).
   */
  static async connect(url, options = {}) {
    const c = new WeftClient(url, options);
    const { sock, info } = await c.#dial();
    c.#attach(sock, info);
    return c;
  }

  constructor(url, options = {}) {
    this.#urls = serverURLs(url);
    this.#opts = {
      auth: 'inband',
      queueWhileDisconnected: 0,
      handshakeTimeout: 10000,
      ...options,
      reconnect: { ...(options.reconnect || {}) },
    };
    this.#log = options.logger || noopLogger;
  }

  /** The server's "connected" data of the current (or last) connection. */
  get info() { return this.#info; }

  /** The server's id of the current (or last) connection. */
  get connectionId() { return this.#info ? this.#info.connection_id : ''; }

  /** True while a connection is up. */
  get connected() { return this.#sock !== null; }

  // ---- connection ----

  #WebSocket() {
    const WS = this.#opts.WebSocket || globalThis.WebSocket;
    if (!WS) throw new Error('weft: no WebSocket: pass options.WebSocket (e.g. from the "ws" package)');
    return WS;
  }

  /** Dials and authenticates once: resolves { sock, info }. */
  #dial() {
    return new Promise((resolve, reject) => {
      const { auth, token } = this.#opts;
      const WS = this.#WebSocket();
      const url = new URL(this.#urls.socket);
      let protocols;
      if (auth === 'query') url.searchParams.set('token', token);
      if (auth === 'subprotocol') protocols = ['weft.v1', `x-api-key.${token}`];
      let sock;
      try {
        sock = auth === 'header'
          ? new WS(url.toString(), protocols, { headers: { Authorization: `Bearer ${token}` } })
          : new WS(url.toString(), protocols);
      } catch (err) {
        reject(new WeftError(Codes.WS_CONNECTION_FAILED, String(err && err.message || err), true));
        return;
      }
      let settled = false;
      const fail = (err) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        try { sock.close(); } catch { /* already closed */ }
        reject(err);
      };
      const timer = setTimeout(
        () => fail(new WeftError(Codes.WS_CONNECTION_FAILED, 'handshake timed out', true)),
        this.#opts.handshakeTimeout,
      );
      sock.onopen = () => {
        if (auth === 'inband') sock.send(JSON.stringify({ type: 'auth', token }));
      };
      sock.onmessage = (ev) => {
        const f = parse(ev.data);
        if (!f) return;
        if (f.type === 'connected') {
          settled = true;
          clearTimeout(timer);
          resolve({ sock, info: f.data || {} });
        } else if (f.type === 'auth_error') {
          const e = f.error || {};
          fail(new WeftError(e.code || Codes.UNAUTHENTICATED, e.message || 'authentication failed', false));
        }
      };
      sock.onerror = (ev) => {
        // Node's "ws" tells the HTTP status of a refused upgrade; browsers do not.
        const msg = String((ev && (ev.message || (ev.error && ev.error.message))) || '');
        if (/\b401\b/.test(msg)) fail(new WeftError(Codes.UNAUTHENTICATED, msg, false));
        else if (/\b403\b/.test(msg)) fail(new WeftError(Codes.FORBIDDEN, msg, false));
        else if (/\b503\b/.test(msg)) fail(new WeftError(Codes.WS_MAX_CONNECTIONS_REACHED, msg, true));
      };
      sock.onclose = (ev) => {
        if (ev && ev.code === 4001) fail(new WeftError(Codes.UNAUTHENTICATED, ev.reason || 'unauthenticated', false));
        else fail(new WeftError(Codes.WS_CONNECTION_FAILED, `connection closed during the handshake (${ev ? ev.code : '?'})`, true));
      };
    });
  }

  /** Makes sock current: rooms re-joined, executions resubscribed, queue sent. */
  #attach(sock, info) {
    if (this.#closed) {
      try { sock.close(1000, 'client closed'); } catch { /* ignore */ }
      return;
    }
    this.#sock = sock;
    this.#info = info;
    this.#log.debug('weft: connected', info.connection_id);
    const heartbeat = info.heartbeat_interval_ms > 0 ? info.heartbeat_interval_ms : 30000;
    const readTimeout = this.#opts.readTimeout > 0 ? this.#opts.readTimeout : 2 * heartbeat + 1000;
    const pingInterval = this.#opts.pingInterval ?? heartbeat / 2;
    let last = Date.now();
    sock.onmessage = (ev) => {
      last = Date.now();
      const f = parse(ev.data);
      if (f) this.#route(sock, f);
    };
    sock.onerror = () => {};
    sock.onclose = (ev) => this.#onDrop(sock, new WeftError(Codes.WS_CONNECTION_FAILED, `connection closed (${ev ? ev.code : '?'}${ev && ev.reason ? ` ${ev.reason}` : ''})`, true));
    const tick = Math.max(Math.min(pingInterval > 0 ? pingInterval : readTimeout, readTimeout / 2), 10);
    sock._weftTimer = setInterval(() => {
      if (Date.now() - last > readTimeout) {
        this.#onDrop(sock, new WeftError(Codes.WS_CONNECTION_FAILED, 'server silent: no frame within the read timeout', true));
        return;
      }
      if (pingInterval > 0) this.#write(sock, '{"type":"ping"}');
    }, tick);
    for (const room of this.#rooms.values()) this.#sendOp(room._joinOp());
    for (const exec of this.#execs) this.#subscribe(exec);
    const queue = this.#queue;
    this.#queue = [];
    for (const op of queue) this.#sendOp(op);
    this.#state('connected');
  }

  #write(sock, frame) {
    try {
      sock.send(frame);
    } catch (err) {
      this.#onDrop(sock, new WeftError(Codes.WS_CONNECTION_FAILED, String(err && err.message || err), true));
    }
  }

  /** The current socket dropped: forget it, then reconnect. */
  #onDrop(sock, err) {
    if (sock !== this.#sock) return;
    clearInterval(sock._weftTimer);
    sock.onmessage = sock.onclose = sock.onerror = null;
    try { sock.close(); } catch { /* ignore */ }
    this.#sock = null;
    const ops = this.#ops;
    this.#ops = new Map();
    const requeue = [];
    for (const op of ops.values()) {
      if (op.exec) op.exec._reqId = '';
      else if (op.idempotent && this.#opts.queueWhileDisconnected > 0) requeue.push(op);
      else op.reject(connectionLost());
    }
    this.#queue = requeue.concat(this.#queue);
    if (this.#closed) return;
    this.#log.info('weft: connection lost', err.message);
    if (this.#opts.reconnect.disabled) {
      this.#giveUp(new WeftError(Codes.WS_CONNECTION_FAILED, `connection lost (reconnect disabled): ${err.message}`, true));
      return;
    }
    this.#state('reconnecting', err);
    this.#reconnect();
  }

  async #reconnect() {
    const policy = this.#opts.reconnect;
    let last;
    for (let n = 0; !(policy.maxAttempts > 0) || n < policy.maxAttempts; n++) {
      await new Promise((resolve) => {
        const t = setTimeout(resolve, reconnectDelay(policy, n));
        this.#sleep = { t, resolve };
      });
      this.#sleep = null;
      if (this.#closed) return;
      try {
        const { sock, info } = await this.#dial();
        this.#attach(sock, info);
        return;
      } catch (err) {
        if (this.#closed) return;
        this.#log.info('weft: reconnect failed', n + 1, err.message);
        last = err;
        if (err instanceof WeftError && !err.retryable) {
          this.#giveUp(err);
          return;
        }
      }
    }
    this.#giveUp(new WeftError(Codes.WS_CONNECTION_FAILED,
      `gave up reconnecting after ${policy.maxAttempts} attempts: ${last ? last.message : ''}`, true));
  }

  #giveUp(err) {
    if (this.#closed) return;
    this.#failed = err;
    this.#failAll(err);
    this.#state('failed', err);
  }

  #failAll(err) {
    for (const op of this.#ops.values()) if (!op.exec) op.reject(err);
    for (const op of this.#queue) op.reject(err);
    for (const exec of this.#execs) exec._end(err);
    this.#ops = new Map();
    this.#queue = [];
    this.#execs = new Set();
  }

  #state(state, err) {
    const f = this.#opts.onStateChange;
    if (f) {
      try { f(state, err); } catch (e) { this.#log.error('weft: onStateChange threw', e); }
    }
  }

  /**
   * Closes the connection. Pending requests and live executions fail with
   * ClosedError; every timer is cleared.
   */
  close() {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#sleep) {
      clearTimeout(this.#sleep.t);
      this.#sleep.resolve();
    }
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    this.#failAll(new ClosedError());
    const sock = this.#sock;
    if (sock) {
      clearInterval(sock._weftTimer);
      this.#sock = null;
      sock.onmessage = sock.onclose = sock.onerror = null;
      try { sock.close(1000, 'client closed'); } catch { /* ignore */ }
    }
    this.#state('closed');
  }

  // ---- requests ----

  #usable() {
    if (this.#closed) return new ClosedError();
    return this.#failed;
  }

  #sendOp(op) {
    op.id = `c${++this.#nextId}`;
    this.#ops.set(op.id, op);
    const frame = { id: op.id, service: op.service };
    if (op.request !== undefined) frame.request = op.request;
    this.#write(this.#sock, JSON.stringify(frame));
  }

  #queueRoom() {
    let pending = this.#queue.length;
    for (const e of this.#execs) if (!e._readyDone) pending++;
    const max = this.#opts.queueWhileDisconnected;
    if (!(max > 0)) return notConnected();
    if (pending >= max) return new WeftError(Codes.UNAVAILABLE, `not connected and ${pending} requests already queued`, true);
    return null;
  }

  /**
   * Sends any service request and resolves with its final answer.
   * @param {string} service
   * @param {object} [request]
   * @param {{signal?: AbortSignal}} [options]
   */
  call(service, request, options = {}) {
    const err = this.#usable();
    if (err) return Promise.reject(err);
    const d = deferred();
    const op = { service, request, idempotent: IDEMPOTENT.has(service), resolve: d.resolve, reject: d.reject };
    if (this.#sock) this.#sendOp(op);
    else {
      const full = this.#queueRoom();
      if (full) return Promise.reject(full);
      this.#queue.push(op);
    }
    const signal = options.signal;
    if (signal) {
      const abort = () => {
        if (this.#ops.get(op.id) === op) this.#ops.delete(op.id);
        this.#queue = this.#queue.filter((q) => q !== op);
        d.reject(signal.reason ?? new Error('aborted'));
      };
      if (signal.aborted) abort();
      else signal.addEventListener('abort', abort, { once: true });
    }
    return d.promise;
  }

  #route(sock, f) {
    if (sock !== this.#sock) return;
    if (f.id === undefined || f.id === null || f.id === '') {
      if (!f.error) this.#push(f);
      return;
    }
    const op = this.#ops.get(f.id);
    if (!op) return;
    if (op.exec) {
      if (op.exec._onFrame(f)) this.#ops.delete(f.id);
      return;
    }
    if (!f.error && !f.complete) return;
    this.#ops.delete(f.id);
    if (f.error) op.reject(new WeftError(f.error.code, f.error.message, f.error.retryable));
    else op.resolve(f.response);
  }

  #push(f) {
    const d = f.data || {};
    const safe = (fn, arg) => {
      try { fn(arg); } catch (e) { this.#log.error('weft: callback threw', e); }
    };
    switch (f.type) {
      case 'message':
      case 'room.message': {
        const m = { type: f.type, room: d.room || '', from: d.from, identity: d.identity, message: d.message };
        const room = f.type === 'room.message' ? this.#rooms.get(d.room) : undefined;
        if (room && room._onMessage) safe(room._onMessage, m);
        for (const h of this.#handlers) safe(h, m);
        break;
      }
      case 'room.joined':
      case 'room.left': {
        const room = this.#rooms.get(d.room);
        const h = room && (f.type === 'room.joined' ? room._onJoined : room._onLeft);
        if (h) safe(h, { room: d.room, connection_id: d.connection_id, identity: d.identity });
        break;
      }
      default:
    }
  }

  /** Registers f for "message" and "room.message" pushes; returns a remover. */
  onMessage(f) {
    this.#handlers.add(f);
    return () => this.#handlers.delete(f);
  }

  // ---- executions ----

  /**
   * Starts a workflow; resolves once the server answered with the id.
   * Without an idempotencyKey the client makes one, so a start sent again
   * after a drop starts one execution.
   */
  start(workflow, parameters = {}, options = {}) {
    const exec = new Execution(this);
    exec._start = {
      name: workflow,
      parameters: parameters ?? {},
      metadata: options.metadata ?? {},
      idempotency_key: options.idempotencyKey || randomKey(),
    };
    return this.#open(exec, options.signal);
  }

  /** Follows an existing execution: stored events after afterSeq, then live ones. */
  subscribe(executionId, afterSeq = 0, options = {}) {
    const exec = new Execution(this);
    exec.id = executionId;
    exec.lastSeq = afterSeq;
    return this.#open(exec, options.signal);
  }

  async #open(exec, signal) {
    const err = this.#usable();
    if (err) throw err;
    if (!this.#sock) {
      const full = this.#queueRoom();
      if (full) throw full;
      this.#execs.add(exec);
    } else {
      this.#execs.add(exec);
      this.#subscribe(exec);
    }
    if (signal) {
      const abort = () => exec._close(signal.reason ?? new UnsubscribedError());
      if (signal.aborted) abort();
      else signal.addEventListener('abort', abort, { once: true });
    }
    await exec._ready.promise;
    return exec;
  }

  /** Sends exec's stream request: the start, or a subscribe after lastSeq. */
  #subscribe(exec) {
    const op = { exec };
    if (!exec.id) {
      op.service = 'workflow.start';
      op.request = exec._start;
    } else {
      op.service = 'execution.subscribe';
      op.request = { execution_id: exec.id, after_seq: exec.lastSeq };
    }
    this.#sendOp(op);
    exec._reqId = op.id;
    this.#log.debug('weft: follow', op.service, exec.id, exec.lastSeq);
  }

  // Called by Execution.
  _forget(exec) {
    if (!this.#execs.delete(exec)) return false;
    if (exec._reqId) {
      this.#ops.delete(exec._reqId);
      if (this.#sock) this.#sendOp({ service: 'execution.unsubscribe', request: { subscription: exec._reqId }, resolve() {}, reject() {} });
      exec._reqId = '';
    }
    return true;
  }

  _ended(exec) { this.#execs.delete(exec); }

  _resubscribe(exec) {
    // a gap (never expected): follow again from the last event seen
    this.#sendOp({ service: 'execution.unsubscribe', request: { subscription: exec._reqId }, resolve() {}, reject() {} });
    this.#subscribe(exec);
  }

  _retryLater(exec) {
    exec._retries++;
    const t = setTimeout(() => {
      this.#timers.delete(t);
      if (!this.#execs.has(exec) || !this.#sock || exec._reqId) return;
      this.#subscribe(exec);
    }, reconnectDelay(this.#opts.reconnect, Math.min(exec._retries - 1, 5)));
    this.#timers.add(t);
  }

  /** An execution's snapshot. */
  get(executionId, options) { return this.call('execution.get', { execution_id: executionId }, options); }

  /** Lists executions: { items, next_cursor }. */
  list(filter = {}, options) { return this.call('executions.list', filter, options); }

  /** Asks an execution to stop; resolves with the status ("cancelling" or its end status). */
  async cancel(executionId, reason = '', options) {
    const r = await this.call('execution.cancel', { execution_id: executionId, reason }, options);
    return r.status;
  }

  /** Sends a signal; resolves false when the execution had already ended. */
  async signal(executionId, name, payload = null, options) {
    const r = await this.call('execution.signal', { execution_id: executionId, name, payload }, options);
    return r.delivered;
  }

  /**
   * Deletes an ended execution (completed, failed or cancelled) with its
   * events, steps, pending signals and idempotency key (execution.delete,
   * scope executions:write). Rejects with CONFLICT while it has not ended
   * (cancel it first) and EXECUTION_NOT_FOUND when it is unknown, another
   * workspace's or already deleted. Not re-sent after a drop: it then
   * rejects with a retryable UNAVAILABLE (it may have been applied).
   */
  async delete(executionId, options) {
    await this.call('execution.delete', { execution_id: executionId }, options);
  }

  /** The registered workflows. */
  async workflows(options) { return (await this.call('workflow.list', undefined, options)).workflows; }

  /** A round trip through the server's request path. */
  async ping(options) { await this.call('ping', undefined, options); }

  // ---- rooms and connections ----

  /**
   * Joins a room (again after every reconnect, until leave()). Resolves
   * with a Room whose `members` is the count after joining.
   */
  async join(room, options = {}) {
    const r = new Room(this, room, options);
    const prev = this.#rooms.get(room);
    this.#rooms.set(room, r); // before the answer: no presence push is missed
    try {
      const resp = await this.call('room.join', { room, presence: r._presence }, options);
      r.members = resp.members;
      return r;
    } catch (err) {
      if (this.#rooms.get(room) === r) {
        if (prev) this.#rooms.set(room, prev);
        else this.#rooms.delete(room);
      }
      throw err;
    }
  }

  _leave(r) {
    if (this.#rooms.get(r.name) === r) this.#rooms.delete(r.name);
  }

  /** Sends message to every member of room but this connection (no room: the whole workspace). */
  broadcast(room, message, options) {
    const req = { message };
    if (room) req.room = room;
    return this.call('room.broadcast', req, options);
  }

  /** A room's members. */
  async members(room, options) { return (await this.call('room.members', { room }, options)).members; }

  /** Sends message to another connection (connection.send). */
  async send(connectionId, message, options) {
    await this.call('connection.send', { connection_id: connectionId, message }, options);
  }

  /** Closes a connection of the workspace with 4000 (connection.close). */
  async closeConnection(connectionId, reason = '', options) {
    await this.call('connection.close', { connection_id: connectionId, reason }, options);
  }

  /** The workspace's connections. */
  async connections(options) { return (await this.call('connections.list', undefined, options)).connections; }

  // ---- artifacts (PROTOCOL.md section 8) ----
  //
  // Their bytes go over the HTTP plane, never the socket: at the server
  // address's HTTP base (serverURLs), with the token in an Authorization
  // header whatever `auth` says, through options.fetch (default
  // globalThis.fetch).

  /** The root of the server's HTTP plane (http://host:port[/prefix]). */
  get httpBase() { return this.#urls.http; }

  /** The socket URL dialled (ws://host:port[/prefix]/api/v1/socket). */
  get socketURL() { return this.#urls.socket; }

  async #http(method, path, init = {}, options = {}) {
    const f = this.#opts.fetch || globalThis.fetch;
    if (!f) throw new Error('weft: no fetch: pass options.fetch');
    const headers = { Authorization: `Bearer ${this.#opts.token}`, ...(init.headers || {}) };
    let resp;
    try {
      resp = await f(this.httpBase + path, { ...init, method, headers, signal: options.signal });
    } catch (err) {
      if (options.signal && options.signal.aborted) throw err;
      throw new WeftError(Codes.UNAVAILABLE, String(err && err.message || err), true);
    }
    if (resp.ok) return resp;
    let body = null;
    try { body = await resp.json(); } catch { /* not JSON */ }
    if (body && body.error && body.error.code) {
      throw new WeftError(body.error.code, body.error.message || '', body.error.retryable);
    }
    const byStatus = {
      400: [Codes.INVALID_REQUEST, false], 401: [Codes.UNAUTHENTICATED, false], 403: [Codes.FORBIDDEN, false],
      404: [Codes.ARTIFACT_NOT_FOUND, false], 409: [Codes.CONFLICT, false], 413: [Codes.WS_MESSAGE_TOO_LARGE, false],
      429: [Codes.RATE_LIMITED, true], 502: [Codes.UNAVAILABLE, true], 503: [Codes.UNAVAILABLE, true], 504: [Codes.UNAVAILABLE, true],
    };
    const [code, retryable] = byStatus[resp.status] || [Codes.INTERNAL, false];
    throw new WeftError(code, `HTTP ${resp.status} ${resp.statusText}`, retryable);
  }

  /**
   * Uploads body (a string, ArrayBuffer, typed array, Blob/File or a
   * ReadableStream, streamed as read) as a new artifact of the workspace
   * (scope artifacts:write). Resolves with its metadata
   * { artifact_id, name, size, sha256, content_type, created_at }. Over the
   * server's --max-artifact-bytes: WS_MESSAGE_TOO_LARGE, nothing kept.
   */
  async putArtifact(name, contentType, body, options = {}) {
    const q = name ? `?name=${encodeURIComponent(name)}` : '';
    const init = { body, headers: { 'Content-Type': contentType || 'application/octet-stream' } };
    if (typeof ReadableStream !== 'undefined' && body instanceof ReadableStream) init.duplex = 'half';
    const resp = await this.#http('POST', `/api/v1/artifacts${q}`, init, options);
    return resp.json();
  }

  /**
   * Downloads an artifact (scope executions:read): resolves with the fetch
   * Response, whose body is not read yet (resp.arrayBuffer(), resp.body as
   * a stream); its headers have Content-Type, ETag (the sha256),
   * X-Artifact-Name and X-Artifact-Size. options.range ('bytes=0-99') asks
   * for part of it (206). Unknown or another workspace's:
   * ARTIFACT_NOT_FOUND.
   */
  getArtifact(id, options = {}) {
    const headers = options.range ? { Range: options.range } : {};
    return this.#http('GET', `/api/v1/artifacts/${encodeURIComponent(id)}`, { headers }, options);
  }

  /** getArtifact's bytes as an ArrayBuffer. */
  async getArtifactBytes(id, options = {}) {
    return (await this.getArtifact(id, options)).arrayBuffer();
  }

  /** Deletes an artifact of the workspace (scope artifacts:write). */
  async deleteArtifact(id, options = {}) {
    const resp = await this.#http('DELETE', `/api/v1/artifacts/${encodeURIComponent(id)}`, {}, options);
    await resp.body?.cancel?.();
  }

  /** The workspace's artifacts' metadata, newest first. */
  async listArtifacts(options = {}) {
    return (await (await this.#http('GET', '/api/v1/artifacts', {}, options)).json()).items;
  }

  /** An artifact's metadata over the socket (artifact.get). */
  artifactInfo(id, options) { return this.call('artifact.get', { artifact_id: id }, options); }
}

/** A joined room. */
export class Room {
  constructor(client, name, options = {}) {
    this.client = client;
    this.name = name;
    this.members = 0;
    this._presence = options.presence ?? true;
    this._onJoined = options.onJoined;
    this._onLeft = options.onLeft;
    this._onMessage = options.onMessage;
  }

  _joinOp() {
    return {
      service: 'room.join', idempotent: true,
      request: { room: this.name, presence: this._presence },
      resolve() {}, reject() {},
    };
  }

  /** Leaves the room; resolves with the count after leaving. */
  async leave(options) {
    this.client._leave(this);
    return (await this.client.call('room.leave', { room: this.name }, options)).members;
  }

  broadcast(message, options) { return this.client.broadcast(this.name, message, options); }

  /** The room's members. */
  listMembers(options) { return this.client.members(this.name, options); }
}

/**
 * A live view of one execution: its events once each, in order, across
 * reconnects (`for await (const ev of exec)`), then its outcome (`result()`).
 */
export class Execution {
  #client;
  #queue = [];
  #wake = null;
  #ended = false;
  #err = null;
  #terminal = null;
  #finished = deferred();

  constructor(client) {
    this.#client = client;
    /** The execution id. */
    this.id = '';
    /** The seq of the last event received. */
    this.lastSeq = 0;
    this.status = '';
    this._start = null;
    this._reqId = '';
    this._retries = 0;
    this._ready = deferred();
    this._readyDone = false;
    this._ready.promise.catch(() => {});
  }

  #markReady(err) {
    if (this._readyDone) return;
    this._readyDone = true;
    if (err) this._ready.reject(err);
    else this._ready.resolve();
  }

  /** Handles a frame of this execution's stream; true ends the request id. */
  _onFrame(f) {
    const c = this.#client;
    if (f.error) {
      const err = new WeftError(f.error.code, f.error.message, f.error.retryable);
      this._reqId = '';
      if (!this._readyDone) {
        c._ended(this);
        this._end(err);
      } else if (err.retryable) {
        c._retryLater(this);
      } else {
        c._ended(this);
        this._end(err);
      }
      return true;
    }
    if (f.type) {
      const d = f.data || {};
      const ev = {
        type: f.type, execution_id: d.execution_id, workflow: d.workflow, seq: d.seq,
        timestamp: d.timestamp, details: d.details, replay: Boolean(d.replay),
      };
      if (ev.seq <= this.lastSeq) return false; // seen before a reconnect
      if (ev.seq !== this.lastSeq + 1) {
        c._resubscribe(this);
        return true;
      }
      if (!this.id) this.id = ev.execution_id;
      this.lastSeq = ev.seq;
      this._retries = 0;
      this.#markReady();
      this.#queue.push(ev);
      if (TERMINAL.has(ev.type)) this.#terminal = ev;
      this.#signal();
      if (f.complete || TERMINAL.has(ev.type)) {
        this._reqId = '';
        c._ended(this);
        this._end(null);
        return true;
      }
      return false;
    }
    const r = f.response || {};
    if (!this.id) {
      this.id = r.execution_id;
      this._start = null;
    }
    if (r.status) this.status = r.status;
    this.#markReady();
    if (f.complete) {
      this._reqId = '';
      c._ended(this);
      this._end(null);
      return true;
    }
    return false;
  }

  #signal() {
    if (this.#wake) {
      const w = this.#wake;
      this.#wake = null;
      w();
    }
  }

  /** Ends the stream: err is null after the terminal event. */
  _end(err) {
    this.#markReady(err || undefined);
    if (this.#ended) return;
    this.#ended = true;
    this.#err = err;
    this.#finished.resolve();
    this.#signal();
  }

  _close(err) {
    if (this.#client._forget(this)) this._end(err);
  }

  /** Stops following the execution (it keeps running on the server). */
  close() { this._close(new UnsubscribedError()); }

  /** Why the stream stopped (null while running and after a normal end). */
  get error() { return this.#err; }

  /** Resolves when the stream has ended (never rejects). */
  get done() { return this.#finished.promise; }

  /**
   * The next event, or null after the last one of an ended execution.
   * Rejects with the reason the stream stopped otherwise.
   */
  async next() {
    for (;;) {
      if (this.#queue.length > 0) return this.#queue.shift();
      if (this.#ended) {
        if (this.#err) throw this.#err;
        return null;
      }
      await new Promise((resolve) => { this.#wake = resolve; });
    }
  }

  [Symbol.asyncIterator]() {
    return {
      next: async () => {
        const ev = await this.next();
        return ev === null ? { value: undefined, done: true } : { value: ev, done: false };
      },
      return: async () => ({ value: undefined, done: true }),
    };
  }

  /**
   * Waits for the end and resolves with the result; rejects with an
   * ExecutionError when it failed or was cancelled, or with the reason the
   * stream stopped. Does not consume events.
   */
  async result() {
    await this.#finished.promise;
    if (this.#err) throw this.#err;
    const t = this.#terminal;
    if (!t) { // subscribed after the end: ask for the outcome
      const s = await this.#client.get(this.id);
      if (s.status === 'completed') return s.result;
      if (s.status === 'failed' || s.status === 'cancelled') {
        throw new ExecutionError(this.id, s.status, s.error && s.error.code, s.error && s.error.message);
      }
      throw new WeftError(Codes.INTERNAL, `execution ${this.id} has not ended (${s.status})`, true);
    }
    const d = t.details || {};
    if (t.type === 'execution_completed') return d.result;
    if (t.type === 'execution_failed') {
      throw new ExecutionError(this.id, 'failed', d.error && d.error.code, d.error && d.error.message);
    }
    throw new ExecutionError(this.id, 'cancelled', '', d.reason);
  }
}

function parse(data) {
  if (typeof data !== 'string') {
    try {
      data = new TextDecoder().decode(data);
    } catch {
      return null;
    }
  }
  try {
    const f = JSON.parse(data);
    return f && typeof f === 'object' ? f : null;
  } catch {
    return null;
  }
}
