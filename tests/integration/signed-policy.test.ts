/**
 * Signed policy through a real man in the middle: a real agent talks to a real server through a
 * WebSocket relay that alters one field of a signed delta. The agent refuses it (log, status),
 * keeps deciding logins from its last good cache, reconnects and accepts the unaltered delta.
 * Then the key is rotated: the agent pins the new key, and the old key no longer verifies.
 */
import { sign } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { loadSigningKey } from '../../server/signingkey.js';
import { syncSigningInput, payloadHash } from '../../protocol/signing.js';
import { SERVER_BIN, idvctl, run, startServer, type TestServer } from '../helpers/server.js';
import {
  addEnrolledUser,
  agentStatus,
  askAgent,
  begin,
  codeFor,
  startAgent,
  waitConnected,
  waitFor,
  type TestAgent,
} from '../helpers/agent.js';
import { startMitm, type Mitm } from '../helpers/mitm.js';

let server: TestServer | undefined;
let agent: TestAgent | undefined;
let mitm: Mitm | undefined;
afterEach(async () => {
  await agent?.stop();
  await mitm?.close();
  server?.kill();
  agent = server = mitm = undefined;
});

interface SigningStatus {
  revision: number;
  signingKey: string | null;
  refusedUpdates?: number;
  lastRefusal: { at: string; reason: string } | null;
}
const status = async (a: TestAgent) => (await agentStatus(a)) as unknown as SigningStatus;

/** A `signed` frame holding a delta, with one field of the delta's policy changed. */
function alterDelta(text: string): string {
  const frame = JSON.parse(text) as { type: string; payload?: string };
  if (frame.type !== 'signed' || !frame.payload) return text;
  const inner = JSON.parse(frame.payload) as { type: string; policy?: { maxAttempts: number } };
  if (inner.type !== 'delta' || !inner.policy) return text;
  inner.policy.maxAttempts = 50;
  return JSON.stringify({ ...frame, payload: JSON.stringify(inner) });
}

async function wrongCode(a: TestAgent): Promise<unknown> {
  const [, r] = await askAgent(a.socket, [begin('alice'), { type: 'verify', code: '000000' }]);
  return r;
}

describe('signed policy', () => {
  it('refuses a delta altered in transit, keeps its cache, and accepts it unaltered; rotation moves the pin', async () => {
    server = await startServer();
    const { totp } = await addEnrolledUser(server, 'alice');
    const key = loadSigningKey(server.dataDir);
    mitm = await startMitm(server.url);
    agent = await startAgent({
      server: { url: mitm.url, adminToken: server.adminToken },
      policy: { maxAttempts: 5 },
      agentConfig: { backoffBaseMs: 100, backoffCapMs: 500 },
    });
    await waitConnected(agent, true);
    const before = await status(agent);
    expect(before.signingKey).toBe(key.publicKey);
    expect(before.lastRefusal).toBeNull();
    expect(mitm.fromServer.some((f) => f.startsWith('{"type":"signed"'))).toBe(true);

    // The man in the middle raises maxAttempts 5 → 50 in the delta that sets it to 2.
    let altered = 0;
    mitm.tamper = (t) => {
      const out = alterDelta(t);
      if (out !== t) altered++;
      return out;
    };
    const set = await idvctl(server, ['policy', 'set', '--max-attempts', '2']);
    expect(set.code).toBe(0);
    const refused = await waitFor(async () => {
      const s = await status(agent!);
      return (s.refusedUpdates ?? 0) >= 1 ? s : null;
    }, 'the altered delta refused');
    expect(altered).toBeGreaterThanOrEqual(1);
    expect(refused.lastRefusal?.reason).toMatch(/signature does not verify/);
    expect(refused.revision).toBe(before.revision);
    expect(agent.logs()).toContain('refused a policy update from the server');
    // The last good cache keeps deciding: a good code works, and a wrong one still has the old
    // budget (5: four attempts left), neither the altered 50 nor the refused 2.
    const [, ok] = await askAgent(agent.socket, [
      begin('alice'),
      { type: 'verify', code: codeFor(totp) },
    ]);
    expect(ok).toEqual({ type: 'ok' });
    expect(await wrongCode(agent)).toMatchObject({ type: 'invalid', attemptsLeft: 4 });
    const human = await agent.cli(['status']);
    expect(human.stdout).toMatch(/refused: +\d+ update\(s\) whose signature did not verify/);

    // The same relay, now honest: the agent reconnects, asks again and applies maxAttempts 2.
    mitm.tamper = null;
    await waitFor(async () => (await status(agent!)).revision > before.revision, 'delta applied');
    expect(await wrongCode(agent)).toMatchObject({ type: 'locked' });
    await idvctl(server, ['user', 'unlock', 'alice']);

    // Rotation: the server restarts with a new key, announced by the old one.
    const rotated = await run(SERVER_BIN, [
      'rotate-signing-key',
      '--data-dir',
      server.dataDir,
      '--json',
    ]);
    expect(rotated.code).toBe(0);
    const next = (rotated.json as { signingKey: string; previous: string }).signingKey;
    expect((rotated.json as { previous: string }).previous).toBe(key.publicKey);
    await server.restart();
    await waitFor(async () => (await status(agent!)).signingKey === next, 'new key pinned');
    expect(agent.logs()).toContain('the server rotated its signing key');

    // An attacker holding the OLD key re-signs the next frame correctly for this very
    // connection (device, both nonces, seq): only the new key verifies now.
    const hello = JSON.parse(
      [...mitm.fromAgent].reverse().find((f) => f.includes('"type":"hello"'))!,
    ) as { nonce: string; deviceId: string };
    const challenge = JSON.parse(
      [...mitm.fromServer].reverse().find((f) => f.includes('"type":"challenge"'))!,
    ) as { nonce: string };
    const pinned = await status(agent);
    const refusedBefore = pinned.refusedUpdates ?? 0;
    mitm.tamper = (t) => {
      const f = JSON.parse(t) as { type: string; seq: number; payload: string };
      if (f.type !== 'signed') return t;
      const sig = sign(
        null,
        syncSigningInput({
          deviceId: hello.deviceId,
          serverNonce: challenge.nonce,
          agentNonce: hello.nonce,
          seq: f.seq,
          payloadHash: payloadHash(f.payload),
        }),
        key.privateKey,
      ).toString('base64url');
      return JSON.stringify({ ...f, key: key.publicKey, sig });
    };
    await idvctl(server, ['policy', 'set', '--max-attempts', '3']);
    const last = await waitFor(async () => {
      const s = await status(agent!);
      return (s.refusedUpdates ?? 0) > refusedBefore ? s : null;
    }, 'old-key frame refused');
    expect(last.lastRefusal?.reason).toMatch(/not the pinned key/);
    expect(last.revision).toBe(pinned.revision);
    mitm.tamper = null;
    await waitFor(async () => (await status(agent!)).revision > pinned.revision, 'resent delta');
    expect(await wrongCode(agent)).toMatchObject({ type: 'invalid', attemptsLeft: 2 });
  }, 120_000);
});
