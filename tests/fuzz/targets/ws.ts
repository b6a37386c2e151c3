/**
 * The agent WebSocket, before and after hello. Each input is one connection of a registered
 * simulated device (one device per connection in flight: a second hello replaces the first):
 * - before hello: the challenge arrives, a fuzzed frame goes back instead of a signed hello.
 *   Any snapshot, delta or command is a bypass; the server must close with a 4xxx code or keep
 *   waiting;
 * - after hello: the first sync arrives, then the fuzzed frame. A refused frame closes only that
 *   connection with a 4xxx code; an accepted one (an ack, a batch of events) may be stored.
 * A WebSocket ping after the frame tells when the server has read it; 1006 (the socket dropped
 * without a close frame) or any close code outside 4000-4999 counts as a crash.
 */
import fc from 'fast-check';
import WebSocket from 'ws';
import { SimAgent, type Identity } from '../../helpers/sim-agent.js';
import { wsFrame } from '../generators.js';
import type { Outcome, Target, TargetSpec } from '../runner.js';
import { serverWorld } from '../world.js';

interface Input {
  frame: string;
  binary: boolean;
}

const arbitrary: fc.Arbitrary<Input> = fc.record({
  frame: wsFrame,
  binary: fc.boolean(),
});

/** Devices not in use by a connection in flight. */
class Pool {
  private free: Identity[];
  private waiting: ((id: Identity) => void)[] = [];
  constructor(ids: Identity[]) {
    this.free = [...ids];
  }
  take(): Promise<Identity> {
    const id = this.free.pop();
    return id ? Promise.resolve(id) : new Promise((r) => this.waiting.push(r));
  }
  give(id: Identity): void {
    const w = this.waiting.shift();
    if (w) w(id);
    else this.free.push(id);
  }
}

/** After the frame: a close, or the pong that shows the server read it and kept the connection. */
function settle(a: SimAgent): Promise<{ closed: number | null }> {
  return new Promise((resolve) => {
    const ws = a.ws as WebSocket;
    void a.closed.then(({ code }) => resolve({ closed: code }));
    ws.once('pong', () => {
      // The server handles a frame asynchronously; a moment more for a refusal's close.
      setTimeout(() => resolve({ closed: null }), 20);
    });
    try {
      ws.ping();
    } catch {
      // already closing: the close resolves
    }
  });
}

function wsTarget(afterHello: boolean): TargetSpec {
  return {
    name: afterHello ? 'WebSocket after hello' : 'WebSocket before hello',
    what: afterHello
      ? 'a frame after a good hello and sync; crash: a close outside 4000-4999'
      : 'a frame instead of hello; bypass: any sync or command sent to an unauthenticated peer',
    async start(): Promise<Target<Input>> {
      const w = await serverWorld();
      const pool = new Pool(w.devices);
      return {
        arbitrary,
        concurrency: Math.min(8, w.devices.length),
        hangMs: 20_000,
        async run(input) {
          const id = await pool.take();
          const a = new SimAgent(w.server.url, id);
          try {
            await a.connect({ noHello: !afterHello });
            if (afterHello) await a.nextSync();
            const synced = a.messages.length;
            a.sendRaw(input.frame, input.binary);
            const { closed } = await settle(a);
            const outcome: Outcome = {};
            if (closed === null)
              outcome.changes = true; // accepted: an ack or events may be stored
            else if (closed < 4000 || closed > 4999) outcome.crash = `closed with ${closed}`;
            const later = a.messages.slice(afterHello ? synced : 0);
            if (!afterHello && later.some((m) => m.type !== 'challenge'))
              outcome.bypass = `sent ${later.map((m) => m.type).join(',')} before hello`;
            if (a.invalidFrames.length)
              outcome.crash = `invalid frame from server: ${a.invalidFrames[0]}`;
            return outcome;
          } finally {
            await a.close().catch(() => undefined);
            pool.give(id);
          }
        },
        state: () => w.state(),
        alive: async () => {
          try {
            return (await fetch(`${w.server.url}/healthz`)).status === 200;
          } catch {
            return false;
          }
        },
        stop: async () => undefined,
      };
    },
  };
}

export const wsBeforeHello = wsTarget(false);
export const wsAfterHello = wsTarget(true);
