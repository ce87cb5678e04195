// The server address forms every weft client takes: the cases of
// clients/testdata/addresses.json, which the Go client's tests read too.
// Needs no server.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

import { WeftClient, WeftError, Codes, serverURLs } from '../weft.js';

const invalid = (err) => err instanceof WeftError && err.code === Codes.INVALID_REQUEST && !err.retryable;
const table = JSON.parse(readFileSync(new URL('../../testdata/addresses.json', import.meta.url), 'utf8'));

test('serverURLs reads every address of clients/testdata/addresses.json', () => {
  assert.ok(table.cases.length > 0, 'no cases');
  for (const c of table.cases) {
    if (c.invalid) {
      assert.throws(() => serverURLs(c.in), invalid, `${JSON.stringify(c.in)} (${c.invalid}) was accepted`);
      continue;
    }
    assert.deepEqual(serverURLs(c.in), { socket: c.socket, http: c.http }, `address ${JSON.stringify(c.in)}`);
  }
});

test('a refused address names itself and what is wrong with it', () => {
  assert.throws(() => serverURLs('ftp://127.0.0.1:8080'), /INVALID_REQUEST: server address "ftp:\/\/127\.0\.0\.1:8080": scheme "ftp": want http, https, ws or wss/);
  assert.throws(() => serverURLs(''), /server address "": empty; want http:\/\/host:port/);
  assert.throws(() => serverURLs('http://:8080'), /no host/);
  assert.throws(() => serverURLs('ws://h/api/v1/socket?token=abc'), /has a query/);
  assert.throws(() => serverURLs('h:0'), /port 0: want 1 to 65535/);
});

test('a client takes the address in any form: its socketURL and httpBase follow', () => {
  for (const c of table.cases.filter((x) => !x.invalid)) {
    const client = new WeftClient(c.in, { token: 't' });
    assert.equal(client.socketURL, c.socket, `socketURL of ${JSON.stringify(c.in)}`);
    assert.equal(client.httpBase, c.http, `httpBase of ${JSON.stringify(c.in)}`);
  }
});

test('connect refuses a bad address before dialling', async () => {
  await assert.rejects(WeftClient.connect('ftp://127.0.0.1:1', { token: 't' }), invalid);
});

test('any string gives two URLs of the same host or INVALID_REQUEST, never another failure', () => {
  const alphabet = ['h', 't', 'p', 's', 'w', ':', '/', '[', ']', '@', '?', '#', '.', '1', '8', '0', ' ', '%', 'ä', 'api', 'v1', 'socket'];
  let seed = 1;
  const rand = (n) => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed % n; };
  for (let i = 0; i < 20000; i++) {
    let s = '';
    for (let j = rand(24); j > 0; j--) s += alphabet[rand(alphabet.length)];
    let urls;
    try { urls = serverURLs(s); } catch (err) {
      assert.ok(invalid(err), `${JSON.stringify(s)}: ${err}`);
      continue;
    }
    const parse = (u) => { try { return new URL(u); } catch { assert.fail(`${JSON.stringify(s)} gave ${u}, not a URL`); } };
    const socket = parse(urls.socket);
    const http = parse(urls.http);
    assert.equal(socket.host, http.host, `hosts of ${JSON.stringify(s)}`);
    assert.ok(socket.pathname.endsWith('/api/v1/socket'), `socket path of ${JSON.stringify(s)}: ${urls.socket}`);
    assert.deepEqual(serverURLs(urls.socket).http, urls.http, `the socket URL of ${JSON.stringify(s)} gives back its HTTP base`);
  }
});
