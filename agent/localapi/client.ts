/**
 * A small client for the agent's socket (the CLI's status/unlock, tests): one connection, one
 * reply line per request, in order.
 */
import net from 'node:net';
import { IdvError } from '../../protocol/errors.js';
import { parseLocalReply, type LocalReply } from '../../protocol/messages.js';
import { isDenied, needsRoot } from '../access.js';

export function askSocket(
  socketPath: string,
  requests: readonly object[],
  timeoutMs = 10_000,
): Promise<LocalReply[]> {
  return new Promise((resolve, reject) => {
    const replies: LocalReply[] = [];
    let buffer = '';
    const s = net.connect(socketPath);
    const fail = (err: IdvError) => {
      s.destroy();
      reject(err);
    };
    s.setTimeout(timeoutMs, () =>
      fail(new IdvError('TIMEOUT', `no answer from the agent on ${socketPath}`)),
    );
    s.setEncoding('utf8');
    s.on('error', (err: NodeJS.ErrnoException) =>
      fail(
        // A root-only socket refusing this user is not an agent that is down.
        isDenied(err)
          ? needsRoot(socketPath)
          : new IdvError(
              'AGENT_UNAVAILABLE',
              `the agent is not running on ${socketPath} (${err.code ?? err.message})`,
            ),
      ),
    );
    s.on('connect', () => {
      for (const r of requests) s.write(`${JSON.stringify(r)}\n`);
      if (requests.length === 0) s.end();
    });
    s.on('data', (chunk: string) => {
      buffer += chunk;
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        const parsed = parseLocalReply(line);
        if (!parsed.ok)
          return fail(
            new IdvError(
              'INVALID_MESSAGE',
              `garbled answer from the agent: ${parsed.error.message}`,
            ),
          );
        replies.push(parsed.value);
        if (replies.length === requests.length) {
          s.end();
          return resolve(replies);
        }
      }
    });
    s.on('close', () => {
      if (replies.length < requests.length)
        fail(new IdvError('AGENT_UNAVAILABLE', 'the agent closed the connection'));
    });
  });
}
