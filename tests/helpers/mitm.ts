/**
 * Test helper: a real man in the middle between an agent and a server. HTTP requests are piped
 * through unchanged; WebSocket frames on /v1/agent are relayed both ways, and `tamper` may
 * rewrite (or drop, by returning null) each text frame the server sends.
 */
import { createServer, request, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';

export interface Mitm {
  url: string;
  /** Rewrites a server → agent frame; null drops it. Unset: relay as is. */
  tamper: ((text: string) => string | null) | null;
  /** Every agent → server frame seen (the hellos carry the agent's nonce). */
  fromAgent: string[];
  /** Every server → agent frame as received from the server. */
  fromServer: string[];
  close(): Promise<void>;
}

export async function startMitm(target: string): Promise<Mitm> {
  const up = new URL(target);
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
  const sockets = new Set<WebSocket>();
  const http = createServer((req, res) => {
    const out = request(
      { host: up.hostname, port: up.port, path: req.url, method: req.method, headers: req.headers },
      (r: IncomingMessage) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      },
    );
    out.on('error', () => res.destroy());
    req.pipe(out);
  });
  const mitm: Mitm = {
    url: '',
    tamper: null,
    fromAgent: [],
    fromServer: [],
    close: async () => {
      for (const s of sockets) s.terminate();
      wss.close();
      await new Promise<void>((r) => http.close(() => r()));
    },
  };
  http.on('upgrade', (req, socket, head) => {
    wss.handleUpgrade(req, socket, head, (agent) => {
      // The agent's protocol range goes through, as any proxy in front of replicas passes it.
      const range = req.headers['idv-protocol'];
      const server = new WebSocket(`ws://${up.host}${req.url ?? '/'}`, {
        perMessageDeflate: false,
        ...(typeof range === 'string' ? { headers: { 'idv-protocol': range } } : {}),
      });
      sockets.add(agent);
      sockets.add(server);
      const early: string[] = [];
      agent.on('message', (data) => {
        const text = data.toString();
        mitm.fromAgent.push(text);
        if (server.readyState === WebSocket.OPEN) server.send(text);
        else early.push(text);
      });
      server.on('open', () => {
        for (const t of early.splice(0)) server.send(t);
      });
      server.on('message', (data) => {
        const text = data.toString();
        mitm.fromServer.push(text);
        const out = mitm.tamper ? mitm.tamper(text) : text;
        if (out !== null && agent.readyState === WebSocket.OPEN) agent.send(out);
      });
      const end = () => {
        agent.terminate();
        server.terminate();
      };
      agent.on('close', end);
      server.on('close', end);
      agent.on('error', end);
      server.on('error', end);
    });
  });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  mitm.url = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  return mitm;
}
