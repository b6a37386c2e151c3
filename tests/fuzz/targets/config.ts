/**
 * The configuration files, read by the real loaders from a real file: the server's `--config`
 * JSON (server/config.ts) and the agent's agent.json (agent/config.ts). Near-valid files (one key
 * changed, dropped or added), any JSON, any text and bytes. A loader may only accept or throw its
 * IdvError (CONFIG_INVALID / NOT_REGISTERED); anything else thrown is a crash. Accepted
 * configurations are frozen and keep the rules the loaders promise (a bypass otherwise): no
 * unknown key, plain http only on loopback unless `insecure`, both TLS files or neither. The state
 * is the loaders' shared defaults and the file itself: reading must change neither.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { agentFileSchema, loadAgentFile } from '../../../agent/config.js';
import { IdvError } from '../../../protocol/errors.js';
import {
  CONFIG_DEFAULTS,
  configSchema,
  isLoopback,
  loadConfig,
  splitListen,
} from '../../../server/config.js';
import { lines, toJson } from '../generators.js';
import type { Outcome, Target, TargetSpec } from '../runner.js';

const SERVER_VALID: Record<string, unknown>[] = [
  { version: 1, listen: '127.0.0.1:0', logLevel: 'warn' },
  { listen: '[::1]:8443', heartbeatSeconds: 5, helloTimeoutSeconds: 2, bodyLimit: 65536 },
  {
    listen: '0.0.0.0:443',
    tlsCert: '/etc/idv/cert.pem',
    tlsKey: '/etc/idv/key.pem',
    publicUrl: 'https://idv.example',
  },
  { listen: '10.0.0.1:80', insecure: true, issuer: 'Example', enrollmentTtlSeconds: 3600 },
];

const AGENT_VALID: Record<string, unknown>[] = [
  {
    version: 1,
    server: 'https://idv.example',
    deviceId: '3b241101-e2bb-4255-8caf-4136c566a962',
    deviceGroup: 'default',
    registeredAt: '2026-11-28T10:00:00.000Z',
  },
  {
    version: 1,
    server: 'http://127.0.0.1:8443',
    deviceId: '3b241101-e2bb-4255-8caf-4136c566a962',
    deviceGroup: 'eng',
    name: 'host',
    ca: '/etc/idv/ca.pem',
    registeredAt: '2026-11-28T10:00:00.000Z',
    heartbeatSeconds: 30,
    backoffBaseMs: 500,
    backoffCapMs: 30000,
  },
];

function keysKnown(value: object, known: readonly string[]): boolean {
  return Object.keys(value).every((k) => known.includes(k));
}

function configTarget(
  name: string,
  valid: Record<string, unknown>[],
  load: (path: string) => object,
  rules: (config: Record<string, unknown>) => string | null,
): TargetSpec {
  return {
    name,
    what: `${name} read by its loader; bypass: a file accepted that breaks the loader's rules`,
    async start(): Promise<Target<string>> {
      const dir = mkdtempSync(join(tmpdir(), 'idv-fuzz-config-'));
      const path = join(dir, 'config.json');
      return {
        arbitrary: lines(valid),
        concurrency: 1,
        hangMs: 10_000,
        async run(text) {
          writeFileSync(path, text, { mode: 0o600 });
          const outcome: Outcome = {};
          try {
            const config = load(path) as Record<string, unknown>;
            if (!Object.isFrozen(config)) outcome.bypass = 'accepted configuration is not frozen';
            const broken = rules(config);
            if (broken) outcome.bypass = broken;
          } catch (err) {
            if (!(err instanceof IdvError))
              outcome.crash = `threw ${(err as Error)?.name}: ${(err as Error)?.message}`;
            else if (!err.message) outcome.crash = 'an IdvError without a message';
          }
          if (readFileSync(path, 'latin1') !== Buffer.from(text).toString('latin1'))
            outcome.crash = 'the loader changed the file';
          return outcome;
        },
        // The shared defaults and schemas the loaders read must come out as they went in.
        state: async () =>
          toJson({
            CONFIG_DEFAULTS,
            server: Object.keys(configSchema.shape),
            agent: Object.keys(agentFileSchema.shape),
          }),
        alive: async () => true,
        async stop() {
          rmSync(dir, { recursive: true, force: true });
        },
      };
    },
  };
}

export const serverConfigTarget = configTarget(
  'server config file',
  SERVER_VALID,
  (path) => loadConfig({ file: path, env: {}, flags: {} }),
  (c) => {
    if (!keysKnown(c, Object.keys(configSchema.shape))) return 'an unknown key was accepted';
    const { host } = splitListen(String(c.listen));
    if (!c.tlsCert && !c.insecure && !isLoopback(host)) return `plain http accepted on ${host}`;
    if ((c.tlsCert === undefined) !== (c.tlsKey === undefined))
      return 'one TLS file without the other';
    return null;
  },
);

export const agentConfigTarget = configTarget(
  'agent config file',
  AGENT_VALID,
  (path) => loadAgentFile(path),
  (c) => {
    if (!keysKnown(c, Object.keys(agentFileSchema.shape))) return 'an unknown key was accepted';
    if (!/^https?:\/\//.test(String(c.server))) return `server URL ${String(c.server)} accepted`;
    return null;
  },
);
