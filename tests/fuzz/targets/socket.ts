/**
 * The agent's local socket: one to three fuzzed lines per connection (near-valid requests, any
 * JSON, any text or bytes), sometimes cut short before the newline. Every reply must be a valid
 * local reply; `ok` without alice's real code and any `skip` (alice is enrolled, unknown users
 * are denied) are bypasses.
 */
import fc from 'fast-check';
import net from 'node:net';
import { parseLocalReply } from '../../../protocol/messages.js';
import { VALID_LOCAL_REQUESTS, lines } from '../generators.js';
import type { Outcome, TargetSpec } from '../runner.js';
import { agentWorld, isValidCode } from '../world.js';

interface Input {
  lines: string[];
  /** End the last line without its newline (a client that stops mid-request). */
  cut: boolean;
}

const arbitrary: fc.Arbitrary<Input> = fc.record({
  lines: fc.array(lines(VALID_LOCAL_REQUESTS), { minLength: 1, maxLength: 3 }),
  cut: fc.boolean(),
});

/** Sends the lines, half-closes, and collects every reply until the agent closes. */
function exchange(socket: string, input: Input): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const replies: string[] = [];
    let buffer = '';
    const s = net.connect(socket);
    s.on('error', (err: NodeJS.ErrnoException) => {
      // The agent may close on a too-long line while more is being written: that is its answer.
      if (err.code !== 'EPIPE' && err.code !== 'ECONNRESET') reject(err);
    });
    s.on('connect', () => {
      s.end(input.lines.join('\n') + (input.cut ? '' : '\n'));
    });
    s.on('data', (d: Buffer) => {
      buffer += d.toString('utf8');
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        replies.push(buffer.slice(0, nl));
        buffer = buffer.slice(nl + 1);
      }
    });
    s.on('close', () => resolve(buffer ? [...replies, buffer] : replies));
  });
}

export const socketTarget: TargetSpec = {
  name: 'agent socket',
  what: 'lines on the agent socket; bypass: `ok` without a valid code, or `skip` for an enrolled user',
  async start() {
    const w = await agentWorld();
    const socket = w.world.agent.socket;
    return {
      arbitrary,
      concurrency: 8,
      hangMs: 15_000,
      async run(input: Input): Promise<Outcome> {
        const replies = await exchange(socket, input);
        const outcome: Outcome = {};
        for (const raw of replies) {
          const r = parseLocalReply(raw);
          if (!r.ok)
            return {
              crash: `reply is not a valid local reply: ${raw.slice(0, 200)}`,
              changes: true,
            };
          const t = r.value.type;
          if (t === 'error' && r.value.code === 'INTERNAL')
            return { crash: 'the agent failed on the request (INTERNAL)', changes: true };
          // A wrong code counts, a right one moves the replay guard, an unlock resets: entitled.
          // Everything else (prompt, deny, status, error, locked to a begin) must leave the cache alone.
          if (t === 'invalid' || t === 'ok' || t === 'unlocked') outcome.changes = true;
          // The wrong code that reaches maxAttempts is answered `locked`: it counted and locked.
          if (t === 'locked' && input.lines.some((l) => l.includes('verify')))
            outcome.changes = true;
          if (t === 'skip') outcome.bypass = 'the agent answered skip for an enrolled user';
          if (t === 'ok') {
            const codes = input.lines.flatMap((l) => {
              try {
                const m = JSON.parse(l) as { code?: unknown };
                return typeof m.code === 'string' ? [m.code] : [];
              } catch {
                return [];
              }
            });
            if (!codes.some((c) => isValidCode(w.alice, c)))
              outcome.bypass = 'the agent answered ok without a valid code';
          }
        }
        return outcome;
      },
      state: () => w.state(),
      alive: () => w.alive(),
      stop: async () => undefined,
    };
  },
};
