/**
 * Agent registration against a real server: a one-use token registers exactly one device even
 * when many agents race for it, and keys that cannot prove anything are refused without using
 * the token.
 */
import { generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from '../helpers/server.js';
import { FACTS, adminApi, createRegistrationToken } from '../helpers/sim-agent.js';

let server: TestServer;

beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => {
  await server?.stop();
});

function newKey(): string {
  return generateKeyPairSync('ed25519').publicKey.export({ format: 'jwk' }).x as string;
}

async function register(token: string, publicKey: string) {
  const res = await fetch(`${server.url}/v1/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ token, publicKey, agentVersion: 't/1', facts: FACTS }),
  });
  return { status: res.status, body: (await res.json()) as { code?: string } };
}

async function deviceCount(): Promise<number> {
  return (await adminApi<{ devices: unknown[] }>(server, 'GET', '/v1/devices')).devices.length;
}

describe('registration', () => {
  it('gives a one-use token to exactly one of twenty parallel registrations', async () => {
    const before = await deviceCount();
    const token = await createRegistrationToken(server, { uses: 1 });
    const results = await Promise.all(Array.from({ length: 20 }, () => register(token, newKey())));
    expect(results.filter((r) => r.status === 200)).toHaveLength(1);
    for (const r of results.filter((x) => x.status !== 200))
      expect(r.body.code).toBe('TOKEN_INVALID');
    expect(await deviceCount()).toBe(before + 1);
  });

  it('refuses small-order and non-canonical public keys, keeping the token', async () => {
    const hex = (h: string) => Buffer.from(h, 'hex').toString('base64url');
    const bad = [
      'A'.repeat(43), // all zero: a point of order 4
      hex(`01${'00'.repeat(31)}`), // the identity
      hex(`01${'00'.repeat(30)}80`), // the identity with the sign bit
      hex(`ec${'ff'.repeat(30)}7f`), // order 2
      hex('26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05'), // order 8
      `${newKey().slice(0, 42)}_`, // padding bits set: not the canonical encoding
    ];
    const before = await deviceCount();
    const token = await createRegistrationToken(server, { uses: 1 });
    for (const key of bad) {
      const r = await register(token, key);
      expect(r.status, key).toBe(400);
      expect(r.body.code).toBe('VALIDATION_FAILED');
    }
    expect(await deviceCount()).toBe(before);
    expect((await register(token, newKey())).status).toBe(200);
  });
});
