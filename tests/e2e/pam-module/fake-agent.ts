/**
 * A stand-in for idv-agent on a temporary Unix socket, for the answers a real agent never gives
 * (garbage, a close mid-login, a slow drip). Each connection is handed to `serve` with its index;
 * the handler reads the module's lines and writes whatever bytes it likes.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

export interface FakeConnection {
  /** The next line the module sent (without its newline), or null once it closed. */
  line(timeoutMs?: number): Promise<string | null>;
  write(bytes: string | Buffer): void;
  /** Closes our side after what was written. */
  end(): void;
  readonly closed: Promise<void>;
}

export interface FakeAgent {
  socket: string;
  /** Connections accepted so far. */
  connections(): number;
  stop(): Promise<void>;
}

export async function startFakeAgent(
  serve: (conn: FakeConnection, index: number) => Promise<void>,
): Promise<FakeAgent> {
  const dir = mkdtempSync(path.join(tmpdir(), 'idv-fake-agent-'));
  const socket = path.join(dir, 'agent.sock');
  const open = new Set<net.Socket>();
  let count = 0;
  const server = net.createServer((s) => {
    open.add(s);
    s.on('error', () => undefined);
    let buffer = '';
    const lines: string[] = [];
    let ended = false;
    let wake: (() => void) | null = null;
    const closed = new Promise<void>((resolve) =>
      s.once('close', () => {
        open.delete(s);
        ended = true;
        wake?.();
        resolve();
      }),
    );
    s.on('data', (d: Buffer) => {
      buffer += d.toString('latin1');
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        lines.push(buffer.slice(0, nl));
        buffer = buffer.slice(nl + 1);
      }
      wake?.();
    });
    s.on('end', () => {
      ended = true;
      wake?.();
    });
    const conn: FakeConnection = {
      async line(timeoutMs = 10_000) {
        const end = Date.now() + timeoutMs;
        while (lines.length === 0 && !ended && Date.now() < end) {
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, Math.max(1, end - Date.now()));
            wake = () => {
              clearTimeout(timer);
              resolve();
            };
          });
          wake = null;
        }
        return lines.shift() ?? null;
      },
      write(bytes) {
        if (!s.destroyed) s.write(bytes);
      },
      end() {
        if (!s.destroyed) s.end();
      },
      closed,
    };
    const index = count++;
    serve(conn, index).then(
      () => conn.end(),
      () => s.destroy(),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socket, () => resolve());
  });
  return {
    socket,
    connections: () => count,
    stop: () =>
      new Promise<void>((resolve) => {
        for (const s of open) s.destroy();
        server.close(() => {
          rmSync(dir, { recursive: true, force: true });
          resolve();
        });
      }),
  };
}
