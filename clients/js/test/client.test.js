// Tests of weft.js against a real weft server. Run by clients/js/js_test.go
// (`go test ./clients/js/`), which boots the server, a TCP proxy whose
// connections can be cut, and a control endpoint, and passes them here:
// WEFT_URL, WEFT_PROXY_URL, WEFT_CONTROL_URL, WEFT_TOKEN, WEFT_READER_TOKEN.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';

import { WeftClient, WeftError, ExecutionError, ClosedError, Codes, reconnectDelay } from '../weft.js';

const env = process.env;
const haveServer = Boolean(env.WEFT_URL);
const skip = haveServer ? false : 'WEFT_URL not set: run through `go test ./clients/js/`';
const timeout = 30000;
const fast = { base: 10, max: 200 };

const logger = env.WEFT_DEBUG ? { debug: console.log, info: console.log, warn: console.log, error: console.log } : undefined;

function connect(url = env.WEFT_URL, options = {}) {
  return WeftClient.connect(url, { WebSocket, token: env.WEFT_TOKEN, reconnect: fast, logger, ...options });
}

/** Records state changes; wait(s) resolves when s is (or was, since the last wait) reported. */
function states() {
  const seen = [];
  let waiter = null;
  return {
    on(s) {
      seen.push(s);
      if (waiter && waiter.state === s) { waiter.resolve(); waiter = null; }
    },
    wait(s) {
      const i = seen.indexOf(s);
      if (i >= 0) { seen.splice(0, i + 1); return Promise.resolve(); }
      return new Promise((resolve) => { waiter = { state: s, resolve: () => { seen.length = 0; resolve(); } }; });
    },
  };
}

async function control(action, body) {
  const r = await fetch(`${env.WEFT_CONTROL_URL}/${action}`, { method: 'POST', body: body ? JSON.stringify(body) : undefined });
  assert.equal(r.status, 200, `control ${action}: ${await r.text()}`);
}

function checkStream(evs, last) {
  assert.ok(evs.length > 0, 'no events');
  evs.forEach((ev, i) => assert.equal(ev.seq, i + 1, `event ${i} (${ev.type}) seq ${ev.seq}`));
  assert.equal(evs[0].type, 'execution_started');
  assert.equal(evs[evs.length - 1].type, last);
}

const count = (evs, type) => evs.filter((e) => e.type === type).length;

test('reconnectDelay is min(base*2^n, max) less jitter', { skip: false }, () => {
  const none = { jitter: -1 };
  assert.deepEqual([0, 1, 2, 3, 4, 5, 6].map((n) => reconnectDelay(none, n)), [1000, 2000, 4000, 8000, 16000, 30000, 30000]);
  for (let n = 0; n < 10; n++) {
    const full = Math.min(100 * 2 ** n, 1000);
    const d = reconnectDelay({ base: 100, max: 1000, jitter: 0.5 }, n);
    assert.ok(d <= full && d >= full / 2, `delay ${d} for ${n}`);
  }
});

test('start echo with every browser auth method (and the header in Node)', { skip, timeout }, async () => {
  for (const auth of ['inband', 'query', 'subprotocol', 'header']) {
    const c = await connect(env.WEFT_URL, { auth });
    try {
      assert.equal(c.info.identity, 'alice');
      assert.ok(c.connectionId.startsWith('ws_'));
      const exec = await c.start('echo', { hello: auth });
      assert.ok(exec.id);
      const evs = [];
      for await (const ev of exec) evs.push(ev);
      checkStream(evs, 'execution_completed');
      assert.deepEqual(await exec.result(), { hello: auth });
    } finally {
      c.close();
    }
  }
});

test('a wrong token is UNAUTHENTICATED', { skip, timeout }, async () => {
  for (const auth of ['inband', 'header']) {
    await assert.rejects(connect(env.WEFT_URL, { auth, token: 'nope' }), (err) => {
      assert.ok(err instanceof WeftError, String(err));
      assert.equal(err.code, Codes.UNAUTHENTICATED);
      assert.equal(err.retryable, false);
      return true;
    });
  }
});

test('many executions on one connection, each in order', { skip, timeout }, async () => {
  const c = await connect();
  try {
    const runs = await Promise.all(Array.from({ length: 10 }, async (_, i) => {
      const exec = await c.start('countdown', { steps: 2 + (i % 4), delay_ms: 2 });
      const evs = [];
      for await (const ev of exec) evs.push(ev);
      checkStream(evs, 'execution_completed');
      assert.ok(evs.every((e) => e.execution_id === exec.id));
      return exec.result();
    }));
    assert.deepEqual(runs.map((r) => r.steps), [2, 3, 4, 5, 2, 3, 4, 5, 2, 3]);
    const sub = await c.subscribe((await c.list({ workflow: 'countdown', limit: 1 })).items[0].execution_id, 2);
    const rest = [];
    for await (const ev of sub) rest.push(ev);
    assert.equal(rest[0].seq, 3);
  } finally {
    c.close();
  }
});

test('errors carry the protocol code', { skip, timeout }, async () => {
  const c = await connect();
  const reader = await connect(env.WEFT_URL, { token: env.WEFT_READER_TOKEN });
  try {
    const code = (want) => (err) => { assert.ok(err instanceof WeftError, String(err)); assert.equal(err.code, want); return true; };
    await assert.rejects(c.start('no-such-workflow'), code(Codes.WORKFLOW_NOT_FOUND));
    await assert.rejects(c.get('exec_missing'), code(Codes.EXECUTION_NOT_FOUND));
    await assert.rejects(c.subscribe('exec_missing'), code(Codes.EXECUTION_NOT_FOUND));
    await assert.rejects(c.call('no.such.service'), code(Codes.UNKNOWN_SERVICE));
    await assert.rejects(reader.start('echo'), code(Codes.FORBIDDEN));
    const exec = await c.start('flaky', { fail_times: 11 });
    await assert.rejects(exec.result(), (err) => {
      assert.ok(err instanceof ExecutionError);
      assert.equal(err.status, 'failed');
      return true;
    });
    const wait = await c.start('approval', { delay_ms: 1 });
    assert.equal(await c.cancel(wait.id, 'bye'), 'cancelling');
    await assert.rejects(wait.result(), (err) => err instanceof ExecutionError && err.status === 'cancelled' && err.reason === 'bye');
  } finally {
    c.close();
    reader.close();
  }
});

test('delete removes an ended execution; a live one is CONFLICT', { skip, timeout }, async () => {
  const c = await connect();
  const reader = await connect(env.WEFT_URL, { token: env.WEFT_READER_TOKEN });
  try {
    const code = (want) => (err) => { assert.ok(err instanceof WeftError, String(err)); assert.equal(err.code, want); assert.equal(err.retryable, false); return true; };
    const key = `js-delete-${Date.now()}`;
    const done = await c.start('echo', { n: 1 }, { idempotencyKey: key });
    assert.deepEqual(await done.result(), { n: 1 });
    await assert.rejects(reader.delete(done.id), code(Codes.FORBIDDEN));
    assert.equal((await c.get(done.id)).status, 'completed');

    assert.equal(await c.delete(done.id), undefined);
    await assert.rejects(c.get(done.id), code(Codes.EXECUTION_NOT_FOUND));
    await assert.rejects(c.subscribe(done.id), code(Codes.EXECUTION_NOT_FOUND));
    await assert.rejects(c.delete(done.id), code(Codes.EXECUTION_NOT_FOUND));
    const { items } = await c.list({ limit: 1000 });
    assert.ok(!items.some((x) => x.execution_id === done.id), 'list still has the deleted execution');
    // Its idempotency key went with it: the same key starts a new execution.
    const again = await c.start('echo', { n: 1 }, { idempotencyKey: key });
    assert.notEqual(again.id, done.id);
    await again.result();

    const live = await c.start('approval', {});
    for await (const ev of live) if (ev.type === 'signal_waiting') break;
    await assert.rejects(c.delete(live.id), code(Codes.CONFLICT));
    await c.cancel(live.id, 'to delete it');
    await assert.rejects(live.result(), (err) => err instanceof ExecutionError && err.status === 'cancelled');
    await c.delete(live.id);
    await assert.rejects(c.get(live.id), code(Codes.EXECUTION_NOT_FOUND));
  } finally {
    c.close();
    reader.close();
  }
});

test('signal resumes a waiting execution', { skip, timeout }, async () => {
  const c = await connect();
  try {
    const exec = await c.start('approval', { delay_ms: 1 });
    for await (const ev of exec) if (ev.type === 'signal_waiting') break;
    assert.equal(await c.signal(exec.id, 'approve', { by: 'js' }), true);
    assert.deepEqual(await exec.result(), { by: 'js' });
  } finally {
    c.close();
  }
});

test('rooms: presence, broadcast, direct messages', { skip, timeout }, async () => {
  const a = await connect();
  const b = await connect();
  try {
    const joined = [];
    const msgs = [];
    let gotJoin, gotMsg, gotDirect;
    const joinP = new Promise((r) => { gotJoin = r; });
    const msgP = new Promise((r) => { gotMsg = r; });
    const directP = new Promise((r) => { gotDirect = r; });
    const room = await a.join('js-room', {
      onJoined: (p) => { joined.push(p); gotJoin(); },
      onMessage: (m) => { msgs.push(m); gotMsg(); },
    });
    assert.equal(room.members, 1);
    const broom = await b.join('js-room');
    assert.equal(broom.members, 2);
    await joinP;
    assert.equal(joined[0].connection_id, b.connectionId);
    const res = await broom.broadcast({ text: 'hi' });
    assert.equal(res.delivered_to, 1);
    await msgP;
    assert.deepEqual(msgs[0].message, { text: 'hi' });
    assert.equal(msgs[0].from, b.connectionId);
    const off = a.onMessage((m) => { if (m.type === 'message') gotDirect(m); });
    await b.send(a.connectionId, { n: 1 });
    assert.deepEqual((await directP).message, { n: 1 });
    off();
    assert.equal((await room.listMembers()).length, 2);
  } finally {
    a.close();
    b.close();
  }
});

async function streamAcrossDrops(drop, steps = 30) {
  const st = states();
  const c = await connect(env.WEFT_PROXY_URL, { onStateChange: st.on });
  const admin = await connect();
  try {
    const exec = await c.start('countdown', { steps, delay_ms: 15 });
    const evs = [];
    let drops = 0;
    for await (const ev of exec) {
      evs.push(ev);
      if (ev.type === 'task_end' && drops < 3 && evs.length % 8 === 0) {
        drops++;
        await drop(c, admin);
        await st.wait('reconnecting');
        await st.wait('connected'); // the next drop needs a live connection to drop
      }
    }
    assert.ok(drops > 0, 'no drop happened');
    checkStream(evs, 'execution_completed');
    assert.equal(count(evs, 'task_end'), steps);
    assert.deepEqual(await exec.result(), { steps });
  } finally {
    c.close();
    admin.close();
  }
}

test('exactly once, in order, across TCP proxy cuts', { skip, timeout }, async () => {
  await streamAcrossDrops(() => control('cut'));
});

test('exactly once, in order, after the server closes the connection', { skip, timeout }, async () => {
  await streamAcrossDrops((c, admin) => admin.closeConnection(c.connectionId, 'test'));
});

test('rooms are joined again after a reconnect', { skip, timeout }, async () => {
  const st = states();
  const c = await connect(env.WEFT_PROXY_URL, { onStateChange: st.on });
  const admin = await connect();
  try {
    let got;
    const msg = new Promise((r) => { got = r; });
    await c.join('js-rejoin', { onMessage: (m) => got(m) });
    await control('cut');
    await st.wait('reconnecting');
    await st.wait('connected');
    for (;;) {
      const members = await admin.members('js-rejoin');
      if (members.some((m) => m.connection_id === c.connectionId)) {
        assert.equal(members.length, 1);
        break;
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    await admin.broadcast('js-rejoin', { after: 'cut' });
    assert.deepEqual((await msg).message, { after: 'cut' });
  } finally {
    c.close();
    admin.close();
  }
});

test('queue while disconnected, or fail fast', { skip, timeout }, async () => {
  const st = states();
  const q = await connect(env.WEFT_PROXY_URL, { queueWhileDisconnected: 1, onStateChange: st.on });
  const ff = await connect(env.WEFT_PROXY_URL);
  try {
    await control('block');
    await control('cut');
    await st.wait('reconnecting');
    const queued = q.start('echo', { queued: true });
    await assert.rejects(q.ping(), (err) => err.code === Codes.UNAVAILABLE && err.retryable);
    // ff may not have noticed the cut yet; once it has, it fails fast
    for (;;) {
      try {
        await ff.ping();
      } catch (err) {
        assert.equal(err.code, Codes.UNAVAILABLE);
        assert.equal(err.retryable, true);
        break;
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    await control('unblock');
    const exec = await queued;
    assert.deepEqual(await exec.result(), { queued: true });
  } finally {
    await control('unblock');
    q.close();
    ff.close();
  }
});

test('giving up ends executions with WS_CONNECTION_FAILED; close ends them with ClosedError', { skip, timeout }, async () => {
  const st = states();
  const c = await connect(env.WEFT_PROXY_URL, { reconnect: { ...fast, maxAttempts: 2 }, onStateChange: st.on });
  const exec = await c.start('approval', { delay_ms: 1 });
  try {
    await control('block');
    await control('cut');
    await st.wait('failed');
    await assert.rejects(exec.result(), (err) => err.code === Codes.WS_CONNECTION_FAILED && err.retryable);
    await assert.rejects(c.ping(), (err) => err.code === Codes.WS_CONNECTION_FAILED);
  } finally {
    await control('unblock');
    c.close();
  }
  const d = await connect();
  const live = await d.start('approval', { delay_ms: 1 });
  d.close();
  await assert.rejects(live.result(), (err) => err instanceof ClosedError);
  await assert.rejects(d.ping(), (err) => err instanceof ClosedError);
});

test('exactly once, in order, across a server restart', { skip, timeout }, async () => {
  const st = states();
  const c = await connect(env.WEFT_URL, { onStateChange: st.on });
  try {
    const exec = await c.start('countdown', { steps: 30, delay_ms: 20 });
    const evs = [];
    let restarted = false;
    for await (const ev of exec) {
      evs.push(ev);
      if (!restarted && ev.type === 'task_end' && evs.length > 8) {
        restarted = true;
        await control('restart');
        await st.wait('reconnecting');
      }
    }
    checkStream(evs, 'execution_completed');
    assert.equal(count(evs, 'task_end'), 30);
  } finally {
    c.close();
  }
});
