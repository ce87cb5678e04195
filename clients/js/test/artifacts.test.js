// Artifacts over the HTTP plane (putArtifact, getArtifact, listArtifacts,
// deleteArtifact), against the server clients/js/js_test.go boots.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import WebSocket from 'ws';

import { WeftClient, WeftError, Codes } from '../weft.js';

const env = process.env;
const skip = env.WEFT_URL ? false : 'WEFT_URL not set: run through `go test ./clients/js/`';
const timeout = 30000;

function connect(token = env.WEFT_TOKEN) {
  return WeftClient.connect(env.WEFT_URL, { WebSocket, token, reconnect: { disabled: true } });
}

test('artifacts: put, get (whole, range, ETag), list, delete', { skip, timeout }, async () => {
  const c = await connect();
  try {
    assert.match(c.httpBase, /^http:\/\/127\.0\.0\.1:\d+$/);
    const text = 'the cat and the hat and the bat\n';
    const m = await c.putArtifact('text.txt', 'text/plain', text);
    assert.match(m.artifact_id, /^art_/);
    assert.equal(m.name, 'text.txt');
    assert.equal(m.size, text.length);
    assert.equal(m.sha256, createHash('sha256').update(text).digest('hex'));
    assert.equal(m.content_type, 'text/plain');

    const resp = await c.getArtifact(m.artifact_id);
    assert.equal(resp.status, 200);
    assert.equal(resp.headers.get('etag'), `"${m.sha256}"`);
    assert.equal(resp.headers.get('x-artifact-name'), 'text.txt');
    assert.equal(await resp.text(), text);
    const part = await c.getArtifact(m.artifact_id, { range: 'bytes=4-6' });
    assert.equal(part.status, 206);
    assert.equal(await part.text(), 'cat');
    assert.equal((await c.artifactInfo(m.artifact_id)).sha256, m.sha256);

    // A stream is sent as it is read (chunked).
    const chunks = [new Uint8Array(1 << 20).fill(1), new Uint8Array(1 << 20).fill(2)];
    const stream = new ReadableStream({ pull(ctl) { const next = chunks.shift(); if (next) ctl.enqueue(next); else ctl.close(); } });
    const s = await c.putArtifact('stream.bin', 'application/octet-stream', stream);
    assert.equal(s.size, 2 << 20);
    const bytes = new Uint8Array(await c.getArtifactBytes(s.artifact_id));
    assert.equal(bytes.length, 2 << 20);
    assert.equal(bytes[0], 1);
    assert.equal(bytes[bytes.length - 1], 2);

    const ids = (await c.listArtifacts()).map((a) => a.artifact_id);
    assert.ok(ids.includes(m.artifact_id) && ids.includes(s.artifact_id), `list: ${ids}`);

    await c.deleteArtifact(s.artifact_id);
    await assert.rejects(c.getArtifact(s.artifact_id), (err) => err instanceof WeftError && err.code === Codes.ARTIFACT_NOT_FOUND);
    await assert.rejects(c.deleteArtifact(s.artifact_id), (err) => err.code === Codes.ARTIFACT_NOT_FOUND);
    assert.ok(!(await c.listArtifacts()).some((a) => a.artifact_id === s.artifact_id));
  } finally {
    c.close();
  }
});

test('artifacts: executions:read may download, not upload or delete', { skip, timeout }, async () => {
  const admin = await connect();
  const reader = await connect(env.WEFT_READER_TOKEN);
  try {
    const m = await admin.putArtifact('r.txt', 'text/plain', new TextEncoder().encode('read me'));
    assert.equal(new TextDecoder().decode(await reader.getArtifactBytes(m.artifact_id)), 'read me');
    await assert.rejects(reader.putArtifact('x', 'text/plain', 'x'), (err) => err.code === Codes.FORBIDDEN);
    await assert.rejects(reader.deleteArtifact(m.artifact_id), (err) => err.code === Codes.FORBIDDEN);
    await assert.rejects(reader.getArtifact('art_nope'), (err) => err.code === Codes.ARTIFACT_NOT_FOUND);
  } finally {
    admin.close();
    reader.close();
  }
});

test('artifacts: wordcount reads an upload and its output downloads', { skip, timeout }, async () => {
  const c = await connect();
  try {
    const m = await c.putArtifact('words.txt', 'text/plain', 'b a b c b a\n');
    const exec = await c.start('wordcount', { artifact_id: m.artifact_id });
    let created = null;
    for await (const ev of exec) if (ev.type === 'artifact_created') created = ev.details;
    assert.deepEqual(await exec.result(), { words: 6 });
    assert.ok(created && created.artifact_id, 'no artifact_created');
    const out = await (await c.getArtifact(created.artifact_id)).text();
    assert.ok(out.startsWith('3\tb\n2\ta\n1\tc'), out);
  } finally {
    c.close();
  }
});
