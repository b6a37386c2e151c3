/**
 * Fuzzing the real server: random HTTP bodies on every admin route and random WebSocket frames,
 * before and after the handshake. The server must never crash or answer 5xx, a refused request
 * must change nothing (state dump before/after), and a bad frame closes only its connection.
 */
import fc from 'fast-check';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROTOCOL_VERSION } from '../../protocol/version.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { SimAgent, adminApi, registerDevice, type Identity } from '../helpers/sim-agent.js';

let server: TestServer;
let identity: Identity;

beforeAll(async () => {
  server = await startServer({ config: { helloTimeoutSeconds: 2 } });
  await adminApi(server, 'POST', '/v1/users', { name: 'alice', groups: ['eng'] });
  await adminApi(server, 'PATCH', '/v1/policies/default', { maxAttempts: 4 });
  identity = await registerDevice(server);
});
afterAll(async () => {
  await server?.stop();
});

async function dump(): Promise<string> {
  const parts = await Promise.all(
    [
      '/v1/users',
      '/v1/devices',
      '/v1/policies/default',
      '/v1/groups',
      '/v1/events?limit=10000',
    ].map((p) => adminApi(server, 'GET', p)),
  );
  // Last-seen moves with every connection; it is not state an attacker could change.
  return JSON.stringify(parts, (k, v: unknown) =>
    k === 'lastSeenAt' || k === 'online' ? undefined : v,
  );
}

const ROUTES: [string, string][] = [
  ['POST', '/v1/users'],
  ['PUT', '/v1/users/alice/groups'],
  ['POST', '/v1/users/alice/enroll'],
  ['POST', '/v1/users/alice/confirm'],
  ['POST', '/v1/users/alice/reset-mfa'],
  ['POST', '/v1/users/alice/unlock'],
  ['POST', '/v1/device-tokens'],
  ['PATCH', '/v1/policies/default'],
  ['POST', '/v1/register'],
  ['POST', `/v1/devices/${randomUUID()}/revoke`],
];

const body = fc.oneof(
  fc.string(),
  fc.jsonValue().map((v) => JSON.stringify(v)),
  fc
    .dictionary(
      fc.constantFrom(
        'name',
        'groups',
        'code',
        'device',
        'maxAttempts',
        'mfa',
        'token',
        '__proto__',
        'constructor',
      ),
      fc.jsonValue(),
    )
    .map((v) => JSON.stringify(v)),
  fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b).toString('latin1')),
);

describe('fuzzed HTTP bodies', () => {
  it('never crash the server or answer 5xx, and a refusal changes nothing', async () => {
    let before = await dump();
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...ROUTES),
        body,
        fc.constantFrom('application/json', 'text/plain', 'application/x-www-form-urlencoded'),
        async ([method, path], text, type) => {
          const res = await fetch(`${server.url}${path}`, {
            method,
            headers: { authorization: `Bearer ${server.adminToken}`, 'content-type': type },
            body: text,
          });
          expect(res.status).toBeLessThan(500);
          const json = (await res.json()) as { code?: string };
          const after = await dump();
          if (res.status >= 400) {
            expect(typeof json.code).toBe('string');
            expect(after).toBe(before);
          }
          before = after;
        },
      ),
      { numRuns: 150 },
    );
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
  });
});

const frame = fc.oneof(
  fc.string({ maxLength: 200 }),
  fc.jsonValue().map((v) => JSON.stringify(v)),
  fc
    .record(
      {
        type: fc.constantFrom('hello', 'ack', 'events', 'snapshot', 'challenge', 'HELLO'),
        v: fc.oneof(fc.constant(PROTOCOL_VERSION), fc.integer(), fc.string()),
        deviceId: fc.oneof(fc.uuid(), fc.string()),
        signature: fc.string({ minLength: 86, maxLength: 86 }),
        revision: fc.oneof(fc.integer(), fc.double(), fc.string()),
        events: fc.array(fc.record({ id: fc.string(), at: fc.integer(), user: fc.string() })),
        extra: fc.jsonValue(),
      },
      { requiredKeys: ['type'] },
    )
    .map((v) => JSON.stringify(v)),
);

describe('fuzzed WebSocket frames', () => {
  it('close only that connection with a 4xxx code, never crash, change nothing', async () => {
    // One good sync first, so the device's acked revision is current before the dump.
    const first = new SimAgent(server.url, identity);
    await first.connect();
    await first.nextSync();
    await first.close();
    // Device activity (acked revision) is written in batches once a second.
    await new Promise((r) => setTimeout(r, 1500));
    const before = await dump();
    await fc.assert(
      fc.asyncProperty(frame, fc.boolean(), async (text, afterHello) => {
        const a = new SimAgent(server.url, identity);
        await a.connect({ noHello: !afterHello });
        if (afterHello) await a.nextSync();
        a.sendRaw(text);
        const { code } = await a.closed;
        expect(code).toBeGreaterThanOrEqual(4000);
        expect(code).toBeLessThan(5000);
      }),
      { numRuns: 120 },
    );
    // A good agent still gets served, and nothing an attacker sent was stored.
    const ok = new SimAgent(server.url, identity);
    await ok.connect();
    expect((await ok.nextSync()).type).toBe('snapshot');
    await ok.close();
    await new Promise((r) => setTimeout(r, 1500));
    expect(await dump()).toBe(before);
  });
});
