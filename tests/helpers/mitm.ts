/**
 * Test helper: a real man in the middle between an agent and a server. HTTP requests are piped
 * through unchanged; WebSocket frames on /v1/agent are relayed both ways, and `tamper` may
 * rewrite (or drop, by returning null) each text frame the server sends. With
 * `stripProtocolHeader` it is the proxy that passes only headers it knows; with
 * `stripProtocolQuery` as well, one that also rewrites the URL's query.
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

/** Close codes an endpoint may send (RFC 6455 7.4; 1005, 1006 and 1015 are never sent). */
const sendable = (code: number): boolean =>
  (code >= 1000 && code <= 1014 && ![1004, 1005, 1006].includes(code)) ||
  (code >= 3000 && code <= 4999);

export interface MitmOptions {
  /**
   * Drop the agent's `idv-protocol` upgrade header, as a proxy or load balancer that passes only
   * the headers it knows does: the server then takes the agent for one from before ranges (v1).
   */
  stripProtocolHeader?: boolean;
  /**
   * Drop the `protocol` parameter of the upgrade URL's query too (with the header: a proxy that
   * rewrites the URL as well; the server then takes every agent for one from before ranges).
   */
  stripProtocolQuery?: boolean;
}

/** `url` without its `protocol` query parameter. */
function withoutProtocolQuery(url: string): string {
  const u = new URL(url, 'ws://relay');
  u.searchParams.delete('protocol');
  return `${u.pathname}${u.search}`;
}

export async function startMitm(target: string, opts: MitmOptions = {}): Promise<Mitm> {
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
      const range = opts.stripProtocolHeader ? undefined : req.headers['idv-protocol'];
      const path = opts.stripProtocolQuery ? withoutProtocolQuery(req.url ?? '/') : req.url;
      const server = new WebSocket(`ws://${up.host}${path ?? '/'}`, {
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
      // A close frame is passed on with its code and reason, as a proxy's tunnel does.
      const relayClose = (to: WebSocket) => (code: number, reason: Buffer) => {
        if (to.readyState !== WebSocket.OPEN || !sendable(code)) return end();
        to.close(code, reason);
        setTimeout(end, 1000).unref();
      };
      agent.on('close', relayClose(server));
      server.on('close', relayClose(agent));
      agent.on('error', end);
      server.on('error', end);
    });
  });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  mitm.url = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  return mitm;
}
