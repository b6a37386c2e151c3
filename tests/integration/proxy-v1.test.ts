/**
 * A proxy that drops the `idv-protocol` upgrade header (one that passes only the headers it
 * knows), between real agents and a real server: the server takes each agent for one from
 * before version ranges and serves it sync protocol 1, without refusing it. The agent then sends
 * nothing newer than 1 (no hello nonce).
 *
 * - An agent that pinned the server's signing key cannot get signed policy on a version-1
 *   session: it refuses the session (fail closed: no unsigned policy applied, its cache keeps
 *   deciding logins) and `status` and the server log say why and what to fix.
 * - An agent with no key pinned (registered before signed policy) syncs at 1, unsigned.
 * - An agent of the previous build (a hello nonce on a version-1 session) is served unsigned and
 *   the server log says why; it never gets a `signed` frame on a session that has no such kind.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  addEnrolledUser,
  askAgent,
  begin,
  codeFor,
  startAgent,
  waitFor,
  type TestAgent,
} from '../helpers/agent.js';
import { startMitm, type Mitm } from '../helpers/mitm.js';
import { idvctl, startServer, type TestServer } from '../helpers/server.js';
import { registerDevice, SimAgent } from '../helpers/sim-agent.js';

interface Status {
  connected: boolean;
  users: number;
  revision: number;
  protocol?: number | null;
  signingKey: string | null;
  refusedUpdates?: number;
  syncError?: { code: string; message: string } | null;
}
const status = async (a: TestAgent) => (await a.cli(['status', '--json'])).json as Status;

const started: { stop(): Promise<void> }[] = [];
afterEach(async () => {
  for (const s of started.splice(0).reverse()) await s.stop();
});

async function world(): Promise<{ server: TestServer; proxy: Mitm }> {
  const server = await startServer();
  started.push(server);
  const proxy = await startMitm(server.url, { stripProtocolHeader: true });
  started.push({ stop: () => proxy.close() });
  return { server, proxy };
}

/** Points a registered agent at another URL (agent.json `server`) and starts it again. */
async function moveTo(agent: TestAgent, url: string): Promise<void> {
  await agent.kill('SIGTERM');
  const file = join(agent.dataDir, 'agent.json');
  const cfg = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  writeFileSync(file, JSON.stringify({ ...cfg, server: url }), { mode: 0o600 });
  await agent.restart();
}

describe('behind a proxy that drops the idv-protocol header', () => {
  it('a signing-pinned agent refuses the version-1 session, says why, and keeps deciding from its cache', async () => {
    const { server, proxy } = await world();
    const { totp } = await addEnrolledUser(server, 'alice');
    // In sync directly first (version 2, signed), then behind the proxy.
    const agent = await startAgent({ server });
    started.push(agent);
    const direct = await waitFor(async () => {
      const s = await status(agent);
      return s.connected && s.users === 1 ? s : null;
    }, 'the agent in sync directly');
    expect(direct.protocol).toBe(2);
    expect(direct.signingKey).not.toBeNull();
    await moveTo(agent, proxy.url);
    const refused = await waitFor(
      async () => {
        const s = await status(agent);
        return s.syncError ? s : null;
      },
      'the refusal in status',
      30_000,
    );
    expect(refused.connected).toBe(false);
    expect(refused.syncError?.code).toBe('PROTOCOL_VERSION');
    expect(refused.syncError?.message).toContain('signed policy needs 2');
    expect(refused.syncError?.message).toContain('drops the idv-protocol header');
    const human = await agent.cli(['status']);
    expect(human.stdout).toContain('drops the idv-protocol header');
    // The server served it version 1 (no refusal of its own), and logged why the agent left.
    await waitFor(
      () =>
        /"closeCode":4406,"state":"challenged","reason":"PROTOCOL_VERSION: signed policy needs sync protocol 2, served 1/.test(
          server.logs(),
        ),
      'the reason in the server log',
    );
    expect(server.logs()).not.toContain('refusing agent');
    // Nothing newer than 1 went either way: no nonce asked for, nothing signed sent.
    const hellos = proxy.fromAgent.filter((f) => f.includes('"type":"hello"'));
    expect(hellos).toEqual([]);
    expect(proxy.fromServer.some((f) => f.startsWith('{"type":"signed"'))).toBe(false);

    // Fail closed, not open: a policy change made meanwhile is not applied unsigned...
    expect((await idvctl(server, ['policy', 'set', '--max-attempts', '2'])).code).toBe(0);
    const [, ok] = await askAgent(agent.socket, [
      begin('alice'),
      { type: 'verify', code: codeFor(totp) },
    ]);
    expect(ok).toEqual({ type: 'ok' });
    const later = await status(agent);
    expect(later.revision).toBe(direct.revision);
    expect(later.refusedUpdates ?? 0).toBe(0);
    // ...and the same agent, with the header passed again, syncs signed at 2 and takes it.
    await moveTo(agent, server.url);
    const back = await waitFor(async () => {
      const s = await status(agent);
      return s.connected && s.revision > direct.revision ? s : null;
    }, 'the agent back in sync directly');
    expect(back.protocol).toBe(2);
    expect(back.syncError).toBeNull();
  });

  it('an agent with no key pinned syncs at 1, unsigned; one of the previous build is served unsigned and the server says why', async () => {
    const { server, proxy } = await world();
    await addEnrolledUser(server, 'bob');
    // Registered before signed policy: no key in agent.json, none in the cache.
    const agent = await startAgent({
      server: { url: proxy.url, adminToken: server.adminToken },
      agentConfig: { signingKey: undefined },
    });
    started.push(agent);
    const s = await waitFor(async () => {
      const st = await status(agent);
      return st.connected && st.users === 1 ? st : null;
    }, 'the unpinned agent in sync through the proxy');
    expect(s.protocol).toBe(1);
    expect(s.syncError).toBeNull();
    const hello = proxy.fromAgent.find((f) => f.includes('"type":"hello"')) as string;
    expect(JSON.parse(hello)).not.toHaveProperty('nonce');

    // The previous build sent its nonce whatever the session: now ignored on version 1.
    const old = new SimAgent(proxy.url, await registerDevice(server));
    // (Not checked against this build's schemas: a version-1 policy lacks the newer fields.)
    await old.connect({ signed: true, validate: false });
    const first = await old.nextSync(20_000);
    expect(first.type).toBe('snapshot');
    expect(old.users.has('bob')).toBe(true);
    expect(proxy.fromServer.some((f) => f.startsWith('{"type":"signed"'))).toBe(false);
    expect(server.logs()).toContain(
      'the agent asked for signed policy on a sync protocol 1 session',
    );
    await old.close();
  });
});
