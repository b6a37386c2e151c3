/**
 * One connection to idv-agent's Unix socket for one login: newline-delimited JSON, one reply per
 * request, every wait bounded. Any failure (cannot connect, closed, timeout, oversized or
 * malformed line) rejects with LinkError; the caller decides what that means (fail closed).
 */
import { createConnection, type Socket } from 'node:net';
import { MAX_REPLY_BYTES, parseHelperReply, type HelperReply } from './reply.js';

export class LinkError extends Error {
  constructor(
    readonly reason: 'connect' | 'closed' | 'timeout' | 'garbage',
    detail: string,
  ) {
    super(detail);
    this.name = 'LinkError';
  }
}

export class AgentLink {
  private buffer = '';
  private readonly lines: string[] = [];
  private waiter: ((line: string | LinkError) => void) | null = null;
  private failure: LinkError | null = null;

  private constructor(private readonly socket: Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => this.onData(chunk));
    socket.on('error', (err) => this.fail(new LinkError('closed', err.message)));
    socket.on('close', () => this.fail(new LinkError('closed', 'the agent closed the connection')));
  }

  /** Connects within timeoutMs. */
  static connect(path: string, timeoutMs: number): Promise<AgentLink> {
    return new Promise((resolve, reject) => {
      const socket = createConnection({ path });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new LinkError('timeout', 'connecting to the agent timed out'));
      }, timeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        resolve(new AgentLink(socket));
      });
      socket.once('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        reject(new LinkError('connect', err.code ?? err.message));
      });
    });
  }

  /**
   * Connects, and while the agent is not there (no socket file: ENOENT; a socket nobody listens
   * on: ECONNREFUSED — an agent restarting) tries again every 100 ms until `remaining()` reaches
   * 0, calling `onWait` once at the first miss. Any other failure (EACCES above all) is final.
   */
  static async connectWaiting(
    path: string,
    remaining: () => number,
    onWait: () => void,
  ): Promise<AgentLink> {
    let waited = false;
    for (;;) {
      try {
        return await AgentLink.connect(path, Math.max(1, remaining()));
      } catch (err) {
        const absent =
          err instanceof LinkError &&
          err.reason === 'connect' &&
          (err.message === 'ENOENT' || err.message === 'ECONNREFUSED');
        if (!absent || remaining() <= 0) throw err;
        if (!waited) onWait();
        waited = true;
        await new Promise((r) => setTimeout(r, Math.min(100, remaining())));
      }
    }
  }

  /** Sends one request and waits at most timeoutMs for its reply. */
  async request(message: object, timeoutMs: number): Promise<HelperReply> {
    if (this.failure) throw this.failure;
    this.socket.write(`${JSON.stringify(message)}\n`);
    const line = await this.nextLine(timeoutMs);
    const parsed = parseHelperReply(line);
    if (!parsed.ok) throw this.fail(new LinkError('garbage', parsed.reason));
    return parsed.value;
  }

  close(): void {
    this.waiter = null;
    this.socket.destroy();
  }

  private nextLine(timeoutMs: number): Promise<string> {
    const ready = this.lines.shift();
    if (ready !== undefined) return Promise.resolve(ready);
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = null;
        reject(this.fail(new LinkError('timeout', 'the agent did not answer in time')));
      }, timeoutMs);
      this.waiter = (line) => {
        clearTimeout(timer);
        this.waiter = null;
        if (line instanceof LinkError) reject(line);
        else resolve(line);
      };
    });
  }

  private onData(chunk: string): void {
    this.buffer += chunk;
    let nl: number;
    while ((nl = this.buffer.indexOf('\n')) >= 0) {
      this.lines.push(this.buffer.slice(0, nl));
      this.buffer = this.buffer.slice(nl + 1);
    }
    // A reply longer than the protocol allows is garbage, not something to keep buffering.
    if (Buffer.byteLength(this.buffer, 'utf8') > MAX_REPLY_BYTES) {
      this.fail(new LinkError('garbage', 'reply too large'));
      return;
    }
    if (this.waiter && this.lines.length) this.waiter(this.lines.shift() as string);
  }

  private fail(err: LinkError): LinkError {
    if (!this.failure) {
      this.failure = err;
      this.socket.destroy();
    }
    if (this.waiter && this.lines.length === 0) this.waiter(this.failure);
    return this.failure;
  }
}
