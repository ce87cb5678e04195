// Starts search-candidates with the weft JavaScript client and prints its
// events as they stream, then the result.
//
//   cd clients/js && npm ci      # once on Node 20: installs `ws`, its WebSocket
//   node examples/jsclient/main.js --token <token> "senior Go engineer, Berlin"
//
// --server takes the server's address in any form the weft CLI takes
// (http://127.0.0.1:8080, the default; ws://host:port/api/v1/socket;
// host:port); WEFT_SERVER and WEFT_TOKEN stand in for the flags.
import { parseArgs } from 'node:util';

import { WeftClient } from '../../clients/js/weft.js';

const usage = 'usage: node examples/jsclient/main.js [--server http://127.0.0.1:8080] [--token T] [query]';

function options() {
  try {
    const { values, positionals } = parseArgs({
      options: {
        server: { type: 'string', default: process.env.WEFT_SERVER || 'http://127.0.0.1:8080' },
        token: { type: 'string', default: process.env.WEFT_TOKEN || '' },
        help: { type: 'boolean', short: 'h' },
      },
      allowPositionals: true,
    });
    if (values.help) {
      console.log(usage);
      process.exit(0);
    }
    return { ...values, query: positionals.join(' ') || 'senior Go engineer, Berlin' };
  } catch (err) {
    console.error(`jsclient: ${err.message}\n${usage}`);
    process.exit(2);
  }
}

async function webSocket() {
  if (globalThis.WebSocket) return globalThis.WebSocket;
  const ws = await import('../../clients/js/node_modules/ws/wrapper.mjs');
  return ws.default;
}

const { server, token, query } = options();
if (!token) {
  console.error('jsclient: set --token or WEFT_TOKEN (weft serve prints an admin token on first start)');
  process.exit(2);
}

let client;
try {
  client = await WeftClient.connect(server, {
    token,
    WebSocket: await webSocket(),
    queueWhileDisconnected: 100,
    onStateChange: (state, err) => console.error(`[connection ${state}${err ? `: ${err.message}` : ''}]`),
  });
} catch (err) {
  console.error(`jsclient: ${server}: ${err.message}`);
  process.exit(1);
}

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
