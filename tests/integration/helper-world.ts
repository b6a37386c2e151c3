/**
 * What helper integration and end-to-end tests share: a real idv-server and idv-agent
 * (tests/helpers/server.ts, agent.ts), enrolled users, and the real helper as a child process
 * with the bare environment pam_exec gives it.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import type { TotpParams } from '../../protocol/messages.js';
import type { Policy } from '../../protocol/policy.js';
import { generateCode } from '../../protocol/totp.js';
import {
  addEnrolledUser,
  askAgent,
  begin,
  startAgent,
  waitFor,
  type TestAgent,
} from '../helpers/agent.js';
import { startServer, type TestServer } from '../helpers/server.js';

export const HELPER_JS = path.resolve(import.meta.dirname, '../../dist/idv-pam-helper.cjs');

export interface World {
  server: TestServer;
  agent: TestAgent;
  /** Adds and enrolls a user, and waits until the agent asks this user for a code. */
  enrolled(name: string): Promise<EnrolledUser>;
  stop(): Promise<void>;
}

export interface EnrolledUser {
  name: string;
  totp: TotpParams;
  /**
   * A valid code. Each accepted code must be of a newer time step than the last (replay guard),
   * so successive logins of one user take successive steps: `step` -1, 0, +1 with window 1.
   */
  code(step?: number): string;
  /** A code that is certainly wrong (not valid in any accepted step). */
  wrong(): string;
}

export async function startWorld(policy: Partial<Policy> = {}): Promise<World> {
  const server = await startServer();
  let agent: TestAgent;
  try {
    agent = await startAgent({ server, policy });
  } catch (err) {
    await server.stop();
    throw err;
  }
  return {
    server,
    agent,
    async enrolled(name) {
      const { totp } = await addEnrolledUser(server, name);
      await waitFor(async () => {
        const [r] = await askAgent(agent.socket, [begin(name, 'sudo')]);
        return r?.type === 'prompt';
      }, `the agent to ask ${name} for a code`);
      const at = (step: number): number => Date.now() + step * totp.period * 1000;
      return {
        name,
        totp,
        code: (step = 0) => generateCode(totp, at(step)),
        wrong: () => {
          const valid = new Set([-2, -1, 0, 1, 2].map((s) => generateCode(totp, at(s))));
          for (let n = 0; ; n++) {
            const c = String(100000 + n * 7919).padStart(totp.digits, '0');
            if (!valid.has(c)) return c;
          }
        },
      };
    },
    async stop() {
      await agent.stop();
      await server.stop();
    },
  };
}

export interface HelperRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs the built helper as pam_exec would: explicit node, absolute path, only PAM_* variables.
 * `stdin`: the token pam_exec's expose_authtok writes (no newline, then closed); 'open' keeps
 * stdin open and silent.
 */
export function runHelper(
  args: string[],
  env: Record<string, string | undefined>,
  stdin: string | 'open' = '',
): Promise<HelperRun> {
  return new Promise((resolve, reject) => {
    const clean: Record<string, string> = {};
    for (const [k, v] of Object.entries(env)) if (v !== undefined) clean[k] = v;
    const child = spawn(process.execPath, [HELPER_JS, ...args], {
      env: clean,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdin.on('error', () => undefined);
    if (stdin !== 'open') child.stdin.end(stdin);
    const timer = setTimeout(() => child.kill('SIGKILL'), 90_000);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** The environment pam_exec sets for an auth run. */
export function pamEnv(user: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    PAM_TYPE: 'auth',
    PAM_USER: user,
    PAM_SERVICE: 'sshd',
    PAM_RHOST: '127.0.0.1',
    PAM_TTY: 'ssh',
    ...extra,
  };
}
