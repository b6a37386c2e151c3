// A bounded connection flood, run as its own process by tests (node tests/helpers/flood.mjs):
// opens `perAddress` sockets from each of `addresses` (loopback source addresses such as
// 127.0.0.2) to host:port and holds them open without ever finishing:
//   http — a request whose headers never end;
//   ws   — a complete WebSocket upgrade, then silence (no hello).
// When every socket has been tried it prints one JSON line: {"opened", "refused", "failed",
// "overloaded"} (refused: the server answered 503 or closed at once; overloaded: a WebSocket
// close 4503 or an HTTP 503 OVERLOADED was read), then keeps holding until stdin closes or
// `holdMs` pass, and exits. Everything it opens dies with it.
import { connect } from 'node:net';
import { randomBytes } from 'node:crypto';
import { setTimeout } from 'node:timers';

const [mode, host, port, addressList, perAddressText, holdMsText] = process.argv.slice(2);
const addresses = (addressList ?? '').split(',').filter(Boolean);
const perAddress = Math.min(Number(perAddressText), 5000);
const holdMs = Math.min(Number(holdMsText), 120_000);
if ((mode !== 'http' && mode !== 'ws') || !host || !port || addresses.length === 0 || !perAddress) {
  console.error('usage: flood.mjs http|ws HOST PORT ADDR[,ADDR...] PER_ADDRESS HOLD_MS');
  process.exit(2);
}

const stats = { opened: 0, refused: 0, failed: 0, overloaded: 0 };
const sockets = [];

function attempt(localAddress) {
  return new Promise((resolve) => {
    const s = connect({ host, port: Number(port), localAddress });
    sockets.push(s);
    let data = '';
    let settled = false;
    let overloaded = false;
    const done = (what) => {
      if (settled) return;
      settled = true;
      stats[what] += 1;
      resolve();
    };
    s.on('connect', () => {
      if (mode === 'http') {
        s.write(`GET /healthz HTTP/1.1\r\nHost: ${host}\r\nX-Slow: `);
        // Nothing more: the header block never ends.
        setTimeout(() => done('opened'), 1000);
      } else {
        const key = randomBytes(16).toString('base64');
        s.write(
          `GET /v1/agent HTTP/1.1\r\nHost: ${host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
            `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
        );
        setTimeout(() => done('opened'), 3000); // held, whatever it was told
      }
    });
    s.on('data', (chunk) => {
      data += chunk.toString('latin1');
      if (!overloaded && (data.includes('OVERLOADED') || closeCode(data) === 4503)) {
        overloaded = true;
        stats.overloaded += 1;
      }
      if (mode === 'ws' && data.startsWith('HTTP/1.1 101') && data.includes('challenge')) {
        done('opened');
      }
    });
    s.on('error', () => done('failed'));
    s.on('end', () => done('refused'));
    s.on('close', () => done('refused'));
  });
}

/** The close code of a server close frame after the 101 answer, if one arrived. */
function closeCode(text) {
  const end = text.indexOf('\r\n\r\n');
  if (end < 0) return null;
  const bytes = Buffer.from(text.slice(end + 4), 'latin1');
  for (let i = 0; i + 3 < bytes.length; i++) {
    if (bytes[i] === 0x88 && bytes[i + 1] >= 2 && bytes[i + 1] < 126) {
      return bytes.readUInt16BE(i + 2);
    }
  }
  return null;
}

// A few hundred at a time, so the listen backlog is not what refuses them.
const BATCH = 200;
const queue = [];
for (let i = 0; i < perAddress; i++) for (const a of addresses) queue.push(a);
while (queue.length > 0) {
  const batch = queue.splice(0, BATCH);
  await Promise.all(batch.map((a) => attempt(a)));
}
process.stdout.write(`${JSON.stringify(stats)}\n`);

const stop = () => {
  for (const s of sockets) s.destroy();
  process.exit(0);
};
setTimeout(stop, holdMs);
process.stdin.on('end', stop);
process.stdin.on('close', stop);
process.stdin.resume();
