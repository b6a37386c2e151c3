/**
 * The agent's Unix socket: newline-delimited JSON, one login per connection.
 *
 * Start-up (after tailscale's safesocket): connect first — a live agent answering means "already
 * running" and we refuse to start; else a stale socket file is removed; the folder is made 0700
 * and the socket 0600 (created under umask 077, so there is no window with looser bits).
 *
 * Who may talk to it: the socket's mode (0600, owned by the agent's user, root in production) is
 * the access check: the kernel lets only that user (and root) connect, so every peer is
 * privileged. Node exposes no SO_PEERCRED, so `status`/`unlock` rely on this file permission; the
 * route table still marks them privileged so a future peer-credential check has one place to go.
 *
 * Robustness: a line longer than LIMITS.localRequest, bad JSON or a schema violation gets an
 * `error` reply (and a too-long line closes the connection); a client idle too long is dropped;
 * each connection is handled on its own, so one bad client never blocks another.
 */
import { lstatSync, chmodSync, unlinkSync } from 'node:fs';
import net from 'node:net';
import { dirname } from 'node:path';
import { IdvError } from '../../protocol/errors.js';
import { ensurePrivateDir } from '../../protocol/io/files.js';
import type { Logger } from '../../protocol/io/log.js';
import { LIMITS, parseLocalRequest, type LocalReply } from '../../protocol/messages.js';
import { dispatchLocal, isPrivileged, type RouteDeps, type Session } from './routes.js';

export interface LocalApiOptions {
  socketPath: string;
  deps: RouteDeps;
  log: Logger;
  /** Drop a client that has not sent a complete request for this long (before/after a prompt). */
  idleMs?: number;
  promptIdleMs?: number;
  maxConnections?: number;
  /** Peer check for privileged routes; see the header for why the default is the file mode. */
  isPrivilegedPeer?: (socket: net.Socket) => boolean;
}

export interface LocalApi {
  close(): Promise<void>;
  connections(): number;
}

/** True when something accepts connections on `path`. */
export function probeSocket(path: string, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const s = net.connect(path);
    const done = (live: boolean, err?: Error) => {
      s.destroy();
      if (err) reject(err);
      else resolve(live);
    };
    s.setTimeout(timeoutMs, () => done(true));
    s.once('connect', () => done(true));
    s.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ECONNREFUSED' || err.code === 'ENOENT') done(false);
      else done(false, new IdvError('PERMISSION', `cannot probe ${path}: ${err.code}`));
    });
  });
}

async function prepareSocketPath(path: string): Promise<void> {
  if (await probeSocket(path)) {
    throw new IdvError('ALREADY_RUNNING', `an agent is already listening on ${path}`);
  }
  let stat;
  try {
    stat = lstatSync(path);
  } catch {
    stat = null;
  }
  if (stat) {
    // Never delete something that is not a socket (a typo'd --socket pointing at a real file).
    if (!stat.isSocket())
      throw new IdvError('CONFIG_INVALID', `${path} exists and is not a socket`);
    unlinkSync(path);
  }
  ensurePrivateDir(dirname(path));
}

export async function listenLocal(opts: LocalApiOptions): Promise<LocalApi> {
  const idleMs = opts.idleMs ?? 10_000;
  const promptIdleMs = opts.promptIdleMs ?? 120_000;
  const privilegedPeer = opts.isPrivilegedPeer ?? (() => true);
  await prepareSocketPath(opts.socketPath);

  const sockets = new Set<net.Socket>();
  // Half-open: a client may send its requests and shut its side (`nc -U`, `printf | socat`); the
  // answers still go out, then the agent closes.
  const server = net.createServer({ allowHalfOpen: true }, (socket) => handleConnection(socket));
  server.maxConnections = opts.maxConnections ?? 256;

  function handleConnection(socket: net.Socket): void {
    const session: Session = { login: null, promptsLeft: 0, begun: false };
    let buffer = '';
    let chain: Promise<void> = Promise.resolve();
    let closed = false;
    socket.setEncoding('utf8');
    socket.setTimeout(idleMs, () => socket.destroy());
    socket.on('error', () => undefined);
    sockets.add(socket);
    socket.on('close', () => {
      closed = true;
      sockets.delete(socket);
    });

    const send = (reply: LocalReply) => {
      if (!closed && socket.writable) socket.write(`${JSON.stringify(reply)}\n`);
    };

    const handleLine = async (line: string) => {
      const parsed = parseLocalRequest(line);
      if (!parsed.ok)
        return send({
          type: 'error',
          ...parsed.error,
          message: parsed.error.message.slice(0, 512),
        });
      const req = parsed.value;
      if (isPrivileged(req) && !privilegedPeer(socket)) {
        return send({ type: 'error', code: 'FORBIDDEN', message: `${req.type} is for root only` });
      }
      try {
        const reply = await dispatchLocal(session, req, opts.deps);
        send(reply);
      } catch (err) {
        opts.log.error({ err: (err as Error).message, request: req.type }, 'local request failed');
        send({
          type: 'error',
          code: 'INTERNAL',
          message: 'The agent could not handle the request.',
        });
      }
      socket.setTimeout(session.login ? promptIdleMs : idleMs);
    };

    socket.on('end', () => {
      chain = chain.then(() => {
        socket.end();
      });
    });
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl).replace(/\r$/, '');
        buffer = buffer.slice(nl + 1);
        if (line.trim() === '') continue;
        chain = chain.then(() => handleLine(line));
      }
      if (Buffer.byteLength(buffer, 'utf8') > LIMITS.localRequest) {
        buffer = '';
        chain = chain.then(() => {
          send({
            type: 'error',
            code: 'TOO_LARGE',
            message: `a request line may be at most ${LIMITS.localRequest} bytes`,
          });
          socket.end();
        });
      }
    });
  }

  const previous = process.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.socketPath, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } finally {
    process.umask(previous);
  }
  chmodSync(opts.socketPath, 0o600);
  server.on('error', (err) => opts.log.error({ err: err.message }, 'local socket error'));

  return {
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Open logins are dropped: their helpers see EOF and refuse (fail closed).
        for (const s of sockets) s.destroy();
      }),
    connections: () => sockets.size,
  };
}
