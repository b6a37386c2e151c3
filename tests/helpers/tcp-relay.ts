/**
 * Test helper: a plain TCP relay to a server that can go silent. `partition()` stops forwarding
 * in both directions without closing anything (bytes are swallowed, as a firewall that starts
 * dropping or a NAT entry that vanished would), and connections made during it get nowhere;
 * `heal()` lets new connections through again. Connections caught in a partition stay dead, as
 * their TCP state would on a real path.
 */
import { connect, createServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

export interface TcpRelay {
  /** http://127.0.0.1:PORT of the relay. */
  url: string;
  partition(): void;
  heal(): void;
  close(): Promise<void>;
}

export async function startTcpRelay(target: string): Promise<TcpRelay> {
  const up = new URL(target);
  let partitioned = false;
  const sockets = new Set<Socket>();
  const live = new Set<{ dead: boolean }>();
  const server = createServer((client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => client.destroy());
    const link = { dead: partitioned };
    if (link.dead) {
      client.on('data', () => undefined); // swallowed: no answer, no close
      return;
    }
    live.add(link);
    const upstream = connect(Number(up.port), up.hostname);
    sockets.add(upstream);
    upstream.on('close', () => sockets.delete(upstream));
    const forward = (from: Socket, to: Socket) => {
      from.on('data', (d: Buffer) => {
        if (!link.dead) to.write(d);
      });
      from.on('end', () => {
        if (!link.dead) to.end();
      });
      from.on('error', () => {
        if (!link.dead) to.destroy();
      });
    };
    forward(client, upstream);
    forward(upstream, client);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    partition() {
      partitioned = true;
      for (const l of live) l.dead = true;
      live.clear();
    },
    heal() {
      partitioned = false;
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
