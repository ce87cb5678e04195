// Starts search-candidates with the weft JavaScript client and prints its
// events as they stream, then the result.
//
//   cd clients/js && npm ci      # once: installs `ws`, Node's WebSocket
//   WEFT_TOKEN=<token> node examples/jsclient/main.js "senior Go engineer, Berlin"
//
// Node 22+ has a global WebSocket; on Node 20 the `ws` package is used.
import { WeftClient } from '../../clients/js/weft.js';

const server = process.env.WEFT_SERVER || 'ws://127.0.0.1:8080/api/v1/socket';
const token = process.env.WEFT_TOKEN;
const query = process.argv[2] || 'senior Go engineer, Berlin';

if (!token) {
  console.error('set WEFT_TOKEN (weft serve prints an admin token on first start)');
  process.exit(2);
}

async function webSocket() {
  if (globalThis.WebSocket) return globalThis.WebSocket;
  const ws = await import('../../clients/js/node_modules/ws/wrapper.mjs');
  return ws.default;
}

const client = await WeftClient.connect(server, {
  token,
  WebSocket: await webSocket(),
  queueWhileDisconnected: 100,
  onStateChange: (state, err) => console.error(`[connection ${state}${err ? `: ${err.message}` : ''}]`),
});

try {
  const exec = await client.start('search-candidates', {
    user_query: query,
    organization_id: 'org_demo',
    filters: {},
  });
  console.log('execution', exec.id);
  for await (const ev of exec) {
    const details = ev.type === 'llm_delta' ? JSON.stringify(ev.details.text) : JSON.stringify(ev.details ?? {}).slice(0, 100);
    console.log(String(ev.seq).padStart(4), ev.type.padEnd(20), details);
  }
  console.log('result', JSON.stringify(await exec.result()));
} catch (err) {
  console.error('jsclient:', err.message);
  process.exitCode = 1;
} finally {
  client.close();
}
