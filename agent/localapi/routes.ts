/**
 * The local API as a route table: one small handler per request type, each declaring whether it
 * needs a privileged peer (the CLI's `status` and `unlock`). A login's state lives in the
 * connection's Session: `begin` opens it, `verify` may follow up to `prompts` times.
 */
import type { LocalReply, LocalRequest, StatusReport } from '../../protocol/messages.js';
import { unknownUserMessage, type LoginContext, type LoginEngine } from '../policy/engine.js';
import { MESSAGES } from '../policy/messages.js';

export interface Session {
  /** The login opened by `begin`, while codes may still be tried. */
  login: LoginContext | null;
  promptsLeft: number;
  /** Set once `begin` ran: one login per connection. */
  begun: boolean;
}

export interface RouteDeps {
  engine: LoginEngine;
  status: () => Promise<StatusReport>;
}

type Handler<T extends LocalRequest['type']> = (
  session: Session,
  req: Extract<LocalRequest, { type: T }>,
  deps: RouteDeps,
) => Promise<LocalReply>;

interface Route<T extends LocalRequest['type']> {
  privileged: boolean;
  handle: Handler<T>;
}

const outOfOrder = (message: string): LocalReply => ({
  type: 'error',
  code: 'OUT_OF_ORDER',
  message,
});

export const ROUTES: { [T in LocalRequest['type']]: Route<T> } = {
  begin: {
    privileged: false,
    async handle(session, req, { engine }) {
      if (session.begun) return outOfOrder('one login per connection: begin was already sent');
      session.begun = true;
      const ctx: LoginContext = {
        user: req.user,
        service: req.service,
        rhost: req.rhost,
        tty: req.tty,
      };
      const reply = await engine.begin(ctx);
      if (reply.type === 'prompt') {
        session.login = ctx;
        session.promptsLeft = reply.prompts;
      }
      return reply;
    },
  },
  verify: {
    privileged: false,
    async handle(session, req, { engine }) {
      if (!session.login)
        return outOfOrder(session.begun ? MESSAGES.noMorePrompts : MESSAGES.notPrompted);
      session.promptsLeft -= 1;
      const reply = await engine.verify(session.login, req.code);
      // The login ends on any final answer, or when its prompts are used up.
      if (reply.type !== 'invalid' || session.promptsLeft <= 0) session.login = null;
      return reply;
    },
  },
  status: {
    privileged: true,
    async handle(_session, _req, { status }) {
      return status();
    },
  },
  unlock: {
    privileged: true,
    async handle(_session, req, { engine }) {
      const r = await engine.unlock(req.user);
      if (!r.known)
        return { type: 'error', code: 'USER_NOT_FOUND', message: unknownUserMessage(req.user) };
      return {
        type: 'unlocked',
        user: req.user,
        wasLocked: r.wasLocked,
        failures: r.failures,
        ...(r.accountLocked ? { accountLocked: true } : {}),
      };
    },
  },
};

export function dispatchLocal(
  session: Session,
  req: LocalRequest,
  deps: RouteDeps,
): Promise<LocalReply> {
  const route = ROUTES[req.type] as Route<LocalRequest['type']>;
  return route.handle(session, req as never, deps);
}

export function isPrivileged(req: LocalRequest): boolean {
  return ROUTES[req.type].privileged;
}
