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
import {
  chmodSync,
  existsSync,
  lstatSync,
  realpathSync,
  statSync,
  unlinkSync,
  type Stats,
} from 'node:fs';
import net from 'node:net';
import { dirname } from 'node:path';
import { IdvError } from '../../protocol/errors.js';
import { ensurePrivateDir } from '../../protocol/io/files.js';
import type { Logger } from '../../protocol/io/log.js';
import { LIMITS, parseLocalRequest, type LocalReply } from '../../protocol/messages.js';
import { MESSAGES } from '../policy/messages.js';
import { foldName } from '../policy/names.js';
import { dispatchLocal, isPrivileged, type RouteDeps, type Session } from './routes.js';

export interface LocalApiOptions {
  socketPath: string;
  deps: RouteDeps;
  log: Logger;
  /** Drop a client that has not sent a complete request for this long (before/after a prompt). */
  idleMs?: number;
  promptIdleMs?: number;
  /** Open connections at once; one more is told "busy" (RATE_LIMITED), which the helper refuses. */
  maxConnections?: number;
  /**
   * Logins of one user waiting at the code prompt at once. Someone who knows a password (not the
   * code) could otherwise hold every connection and lock everyone else out.
   */
  maxLoginsPerUser?: number;
  /** Peer check for privileged routes; see the header for why the default is the file mode. */
  isPrivilegedPeer?: (socket: net.Socket) => boolean;
  /**
   * A listening socket systemd made for us (socket activation: `activatedSocket()`), used
   * instead of creating `socketPath`; it outlives this process, so logins that arrive during a
   * restart wait in its queue instead of finding no socket.
   */
  listenFd?: number | null;
}

/** The first file descriptor systemd passes (sd_listen_fds(3)). */
const SD_LISTEN_FDS_START = 3;

/**
 * The listening socket passed by systemd socket activation (idv-agent.socket), or null. Only
 * when LISTEN_PID names this process (the variables are meant for it, not inherited from a
 * parent) and LISTEN_FDS is exactly 1; the variables are then removed so that no child sees them.
 */
export function activatedSocket(
  env: NodeJS.ProcessEnv = process.env,
  pid = process.pid,
): number | null {
  if (env.LISTEN_FDS === undefined) return null;
  const mine = env.LISTEN_PID === String(pid);
  const count = env.LISTEN_FDS;
  delete env.LISTEN_PID;
  delete env.LISTEN_FDS;
  delete env.LISTEN_FDNAMES;
  if (!mine) return null;
  if (count !== '1')
    throw new IdvError(
      'CONFIG_INVALID',
      `socket activation passed ${count} sockets; idv-agent.socket must have exactly one ListenStream=`,
    );
  return SD_LISTEN_FDS_START;
}

/**
 * A socket made by systemd must be what the agent would have made: a socket at the configured
 * path, owned by this agent's user, reachable by nobody else (SocketMode=0600), in a folder that
 * passes checkSocketDir. Anything else (a unit edited to 0666, another path) refuses to start.
 */
function checkActivatedPath(path: string): void {
  checkSocketDir(dirname(path));
  let st: Stats;
  try {
    st = lstatSync(path);
  } catch {
    throw new IdvError(
      'CONFIG_INVALID',
      `socket activation: ${path} does not exist; ListenStream= in idv-agent.socket must be the agent's --socket`,
    );
  }
  const uid = process.geteuid?.() ?? 0;
  if (!st.isSocket()) throw new IdvError('CONFIG_INVALID', `${path} exists and is not a socket`);
  if (st.uid !== uid || (st.mode & 0o077) !== 0)
    throw new IdvError(
      'PERMISSION',
      `socket activation: ${path} must be owned by uid ${uid} with mode 0600 (SocketMode=0600 in idv-agent.socket); it is uid ${st.uid}, mode ${(st.mode & 0o777).toString(8)}`,
    );
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

/**
 * The socket's folder must be ours alone, or whoever controls it could replace the socket with
 * one of their own (a fake agent answering `skip`) or make us chmod something else through a
 * symlink. So: the folder itself, if it exists, is a real directory (not a symlink) owned by us;
 * every folder above it (symlinks resolved) is owned by root or us and not writable by others
 * unless sticky (like /tmp). The rule of OpenSSH's StrictModes.
 */
export function checkSocketDir(dir: string): void {
  const uid = process.geteuid?.() ?? 0;
  const refuse = (why: string): never => {
    throw new IdvError('PERMISSION', `the socket folder ${dir} ${why}`);
  };
  let own: Stats | null = null;
  try {
    own = lstatSync(dir);
  } catch {
    own = null;
  }
  if (own) {
    if (own.isSymbolicLink()) refuse('is a symbolic link');
    if (!own.isDirectory()) refuse('is not a folder');
    if (own.uid !== uid) refuse(`is owned by uid ${own.uid}, not by this agent's user (${uid})`);
  }
  let above = dirname(dir);
  try {
    above = realpathSync(above);
  } catch {
    // Not there yet: it is created 0700 below; check what exists of it.
    while (!existsSync(above) && dirname(above) !== above) above = dirname(above);
    above = realpathSync(above);
  }
  for (let d = above; ; d = dirname(d)) {
    const st = statSync(d);
    if (st.uid !== 0 && st.uid !== uid) refuse(`is inside ${d}, owned by uid ${st.uid}`);
    if ((st.mode & 0o022) !== 0 && (st.mode & 0o1000) === 0)
      refuse(`is inside ${d}, which others may write to`);
    if (dirname(d) === d) break;
  }
}

async function prepareSocketPath(path: string): Promise<void> {
  checkSocketDir(dirname(path));
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
  const maxConnections = opts.maxConnections ?? 256;
  const maxLoginsPerUser = opts.maxLoginsPerUser ?? 8;
  /** Per user: connections whose login is at the code prompt (session.login set). */
  const openLogins = new Map<string, number>();
  const holdLogin = (user: string, delta: 1 | -1): void => {
    const n = (openLogins.get(user) ?? 0) + delta;
    if (n > 0) openLogins.set(user, n);
    else openLogins.delete(user);
  };
  const listenFd = opts.listenFd ?? null;
  if (listenFd === null) await prepareSocketPath(opts.socketPath);
  else checkActivatedPath(opts.socketPath);

  const sockets = new Set<net.Socket>();
  /** The socket's load as `status` reports it (tests wait on it; an admin sees a flood). */
  const localSocket = (asking: net.Socket) => ({
    connections: [...sockets].filter((s) => s !== asking).length,
    prompts: Object.fromEntries(openLogins),
  });
  // Half-open: a client may send its requests and shut its side (`nc -U`, `printf | socat`); the
  // answers still go out, then the agent closes.
  const server = net.createServer({ allowHalfOpen: true }, (socket) => handleConnection(socket));

  function handleConnection(socket: net.Socket): void {
    socket.on('error', () => undefined);
    // Over the cap, an explicit "busy" rather than a silent drop: a dropped connection looks like
    // an agent that is down, which --fail-mode safe would let through.
    if (sockets.size >= maxConnections) {
      opts.log.warn({ connections: sockets.size }, 'local socket: too many connections');
      socket.end(
        `${JSON.stringify({ type: 'error', code: 'RATE_LIMITED', message: 'The agent is busy: too many logins at once.' })}\n`,
      );
      socket.setTimeout(1000, () => socket.destroy());
      return;
    }
    const session: Session = { login: null, promptsLeft: 0, begun: false };
    /**
     * The account whose prompt slot this connection holds, if any. Reserved when `begin` arrives,
     * before the first await (parallel begins must see each other's slots), and released as soon
     * as the login is no longer waiting at the prompt. Counted under the case-folded name:
     * `Alice` and `alice` may be one account (agent/policy/names.ts) and share one budget.
     */
    let slot: string | null = null;
    const syncSlot = (): void => {
      const user = session.login ? foldName(session.login.user) : null;
      if (slot === user) return;
      if (slot !== null) holdLogin(slot, -1);
      if (user !== null) holdLogin(user, 1);
      slot = user;
    };
    let buffer = '';
    let chain: Promise<void> = Promise.resolve();
    let closed = false;
    socket.setEncoding('utf8');
    socket.setTimeout(idleMs, () => socket.destroy());
    sockets.add(socket);
    socket.on('close', () => {
      closed = true;
      sockets.delete(socket);
      // After any request still being handled: a login it did not conclude was abandoned at the
      // prompt (helper timeout, Ctrl-C, dropped connection) and gets its outcome event.
      chain = chain.then(async () => {
        const open = session.login;
        session.login = null;
        syncSlot();
        if (!open) return;
        await opts.deps.engine.abandon(open).catch((err: unknown) => {
          opts.log.warn({ err: (err as Error).message }, 'could not record an abandoned login');
        });
      });
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
      if (req.type === 'begin' && !session.begun && slot === null) {
        const key = foldName(req.user);
        if ((openLogins.get(key) ?? 0) >= maxLoginsPerUser) {
          session.begun = true;
          opts.log.warn({ user: req.user }, 'local socket: too many logins of one user at once');
          return send({ type: 'deny', message: MESSAGES.tooManyLogins });
        }
        // Check and count in one step: the slot is held from here, through the await below.
        holdLogin(key, 1);
        slot = key;
      }
      try {
        const reply = await dispatchLocal(session, req, opts.deps);
        if (closed) session.login = null;
        syncSlot();
        send(reply.type === 'status' ? { ...reply, localSocket: localSocket(socket) } : reply);
      } catch (err) {
        session.login = null;
        syncSlot();
        opts.log.error({ err: (err as Error).message, request: req.type }, 'local request failed');
        // This machine's full disk is named (DISK_FULL); anything else stays unexplained.
        send(
          err instanceof IdvError && err.code === 'DISK_FULL'
            ? { type: 'error', code: err.code, message: err.message }
            : {
                type: 'error',
                code: 'INTERNAL',
                message: 'The agent could not handle the request.',
              },
        );
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
      const listening = () => {
        server.off('error', reject);
        resolve();
      };
      if (listenFd === null) server.listen(opts.socketPath, listening);
      else server.listen({ fd: listenFd }, listening);
    });
  } finally {
    process.umask(previous);
  }
  if (listenFd === null) chmodSync(opts.socketPath, 0o600);
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
