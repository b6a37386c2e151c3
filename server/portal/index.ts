/**
 * The user portal, served by idv-server: enrollment links (`/enroll/:token`), the authenticator
 * setup page, recovery codes, sign-in with a code or a recovery code, self-service reset.
 *
 * Server-rendered HTML, no script. Every POST needs the session's CSRF token and a same-origin
 * request; every response carries a strict CSP; secret pages are no-store; the session cookie is
 * HttpOnly + SameSite=Strict (+ Secure and `__Host-` over TLS). Enrollment tokens are single use:
 * opening the link (GET) only shows a "Start setup" button, so link previewers do not spend it;
 * its POST trades the token for a session and the URL loses the token.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { IdvError } from '../../protocol/errors.js';
import { GRACE_ENDED } from '../../protocol/messages.js';
import { ADMIN_MAX_ATTEMPTS, nameSchema } from '../../protocol/policy.js';
import {
  findRecoveryCode,
  hashRecoveryCode,
  normalizeRecoveryCode,
  recoveryCodeId,
  verifyRecoveryCode,
} from '../../protocol/recovery.js';
import { buildOtpauthUri, groupSecret, newTotpParams, verifyCode } from '../../protocol/totp.js';
import type { ServerContext } from '../context.js';
import { hashToken, newToken } from '../store/crypto.js';
import type { UserState } from '../store/store.js';
import type { Hub } from '../sync/hub.js';
import { registerPortalAdminRoutes } from './admin.js';
import { STYLESHEET_PATH } from './html.js';
import {
  clearSessionCookie,
  cookieName,
  crossSite,
  html,
  parseForm,
  readCookie,
  securityHeaders,
  see,
  setSessionCookie,
  signOutRoute,
} from './http.js';
import { SignInLimiter, type LimitState, type Limits, type Reservation } from './limiter.js';
import {
  accountPage,
  enrollPage,
  linkGonePage,
  lockedPage,
  problemPage,
  recoveryCodesPage,
  recoveryCodesText,
  sessionEndedPage,
  signInPage,
  startSetupPage,
} from './pages.js';
import { qrSvg } from './qr.js';
import { issueRecoveryCodes } from './recovery.js';
import {
  csrfMatches,
  fingerprint,
  SessionStore,
  type Session,
  type SessionInit,
} from './sessions.js';
import { PORTAL_CSS } from './style.js';

const TOKEN_RE = /^[A-Za-z0-9_-]{16,256}$/;
/** Sign-in failures one client address may make (any names) before a pause. */
export const CLIENT_LIMITS = { maxAttempts: 20, lockoutSeconds: 900, forgetAfterSeconds: 900 };
const FORM_LIMIT = 8 * 1024;

/** Registers the portal's pages and its admin API additions on the server's app. */
export function registerPortal(app: FastifyInstance, ctx: ServerContext, hub: Hub): void {
  registerPortalAdminRoutes(app, ctx, hub);
  // (A recovery code an agent reports as used is removed in server/sync/connection.ts.)
  void app.register(async (portal) => portalRoutes(portal, ctx, hub));
}

function portalRoutes(app: FastifyInstance, ctx: ServerContext, hub: Hub): void {
  const log = ctx.log.child({ part: 'portal' });
  // Sessions, counters and the replay guard are in the store: every replica shares them.
  const sessions = new SessionStore(ctx.store.portal, { clock: ctx.clock });
  const limiter = new SignInLimiter(ctx.store.portal, 'name', ctx.clock);
  /**
   * Failures per client address across all names: the per-name limit alone lets someone who
   * rotates through many user names try maxAttempts codes for each of them. A success does not
   * reset it (else one valid account would launder guesses at the others).
   */
  const clients = new SignInLimiter(ctx.store.portal, 'client', ctx.clock);
  const secure = () => ctx.config.tlsCert !== undefined || ctx.publicUrl().startsWith('https:');
  // Stands in for a user without codes, so that an unknown name costs the same scrypt time.
  let decoy: Promise<string> | null = null;

  // Forms only: this scope parses urlencoded bodies and nothing else.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(
    'application/x-www-form-urlencoded',
    { parseAs: 'string', bodyLimit: FORM_LIMIT },
    (_req, body, done) => done(null, parseForm(body as string)),
  );

  app.addHook('onRequest', async (_req, reply) => securityHeaders(reply));

  app.setErrorHandler((err, req, reply) => {
    const e = err as { code?: string; statusCode?: number; name?: string };
    const status =
      err instanceof IdvError
        ? err.status
        : e.statusCode && e.statusCode >= 400 && e.statusCode < 500
          ? e.statusCode
          : 500;
    const unavailable = err instanceof IdvError && err.code === 'STORE_UNAVAILABLE';
    if (status >= 500)
      log.error(
        {
          route: req.routeOptions.url,
          err: { name: e.name, ...(unavailable ? { code: err.code, message: err.message } : {}) },
        },
        'portal request failed',
      );
    void reply
      .code(status)
      .type('text/html; charset=utf-8')
      .send(
        unavailable
          ? problemPage(
              'Try again in a minute',
              'The server cannot save or read anything just now. Try again in a minute; a setup link that no longer works then can be replaced by your administrator.',
            )
          : status >= 500
            ? problemPage('Something went wrong', 'The server could not finish this. Try again.')
            : problemPage('That did not work', 'The request was not understood. Try again.'),
      );
  });

  function current(req: FastifyRequest): Promise<Session | null> {
    return sessions.get(readCookie(req, cookieName(secure())));
  }

  function endSession(req: FastifyRequest): Promise<void> {
    return sessions.destroy(readCookie(req, cookieName(secure())));
  }

  async function newSession(reply: FastifyReply, init: SessionInit): Promise<Session> {
    const { id, session } = await sessions.create(init);
    setSessionCookie(reply, secure(), id);
    return session;
  }

  /** The form of a POST, or null after answering: wrong origin, no session, bad CSRF token. */
  async function checkedForm(
    req: FastifyRequest,
    reply: FastifyReply,
  ): Promise<{ s: Session; form: Record<string, string> } | null> {
    if (crossSite(req, secure())) {
      html(reply, 403, problemPage('Request refused', 'This form was sent from another site.'));
      return null;
    }
    const s = await current(req);
    if (!s) {
      html(reply, 401, sessionEndedPage());
      return null;
    }
    const form = (req.body ?? {}) as Record<string, string>;
    if (!csrfMatches(s, form.csrf)) {
      html(
        reply,
        403,
        problemPage('Request refused', 'This form has expired. Go back, reload and try again.'),
      );
      return null;
    }
    return { s, form };
  }

  async function limitsFor(user: UserState | null): Promise<Limits & { window: number }> {
    // Portal sign-in follows the `default` device group's policy (docs/portal.md); admins get
    // at most five attempts whatever it says.
    const { policy } = await ctx.store.getPolicy('default');
    const max =
      user?.role === 'admin'
        ? Math.min(ADMIN_MAX_ATTEMPTS, policy.maxAttempts)
        : policy.maxAttempts;
    return { maxAttempts: max, lockoutSeconds: policy.lockoutSeconds, window: policy.window };
  }

  /** The user of a signed-in session, or null (and the session ends) when it is no longer valid. */
  async function signedInUser(req: FastifyRequest): Promise<{ s: Session; u: UserState } | null> {
    const s = await current(req);
    if (!s?.signedIn || !s.user) return null;
    const u = await ctx.store.getUser(s.user);
    // A reset, a new phone confirmed elsewhere, removal or suspension ends the session.
    if (!u || u.status !== 'active' || !u.totp || fingerprint(u.totp.secret) !== s.totpFp) {
      await endSession(req);
      return null;
    }
    return { s, u };
  }

  // -- static --------------------------------------------------------------------------------

  app.get(STYLESHEET_PATH, async (_req, reply) => {
    securityHeaders(reply, true);
    return reply
      .header('cache-control', 'public, max-age=3600')
      .type('text/css; charset=utf-8')
      .send(PORTAL_CSS);
  });

  // -- enrollment ----------------------------------------------------------------------------

  /** The user and pending secret of a link still valid, or null (unknown, used, expired). */
  async function openLink(token: string, spend: boolean) {
    if (!TOKEN_RE.test(token)) return null;
    const found = spend
      ? await ctx.store.consumeEnrollment(hashToken(token), ctx.clock())
      : await ctx.store.findEnrollment(hashToken(token), ctx.clock());
    const pending = found ? await ctx.store.getPendingTotp(found.user) : null;
    return found && pending ? { user: found.user, pending } : null;
  }

  // A GET only shows what the link is for: mail and chat previewers and link scanners fetch
  // links, and must not spend them. The person's click on "Start setup" (a POST) does.
  app.get('/enroll/:token', async (req, reply) => {
    const { token } = req.params as { token: string };
    const link = await openLink(token, false);
    if (!link) {
      log.info('enrollment link refused (unknown, used or expired)');
      return html(reply, 410, linkGonePage());
    }
    return html(reply, 200, startSetupPage({ user: link.user, issuer: ctx.config.issuer }));
  });

  app.post('/enroll/:token', async (req, reply) => {
    // No session yet, so no CSRF token: the same-origin check is what stands in for it (a
    // page elsewhere must not be able to start a setup in this browser).
    if (crossSite(req, secure())) {
      return html(
        reply,
        403,
        problemPage('Request refused', 'This form was sent from another site.'),
      );
    }
    const { token } = req.params as { token: string };
    const link = await openLink(token, true);
    if (!link) {
      log.info('enrollment link refused (unknown, used or expired)');
      return html(reply, 410, linkGonePage());
    }
    await newSession(reply, { user: link.user, enrolling: fingerprint(link.pending.secret) });
    log.info({ user: link.user }, 'enrollment link opened');
    // The token leaves the address bar (and history's next entry) here.
    return see(reply, '/portal/enroll');
  });

  /** The user's pending secret, or null when there is none (or no user); a store failure throws. */
  function pendingTotp(user: string) {
    return ctx.store.getPendingTotp(user).catch((err: unknown) => {
      if (err instanceof IdvError && err.code === 'USER_NOT_FOUND') return null;
      throw err;
    });
  }

  async function renderEnroll(
    reply: FastifyReply,
    s: Session,
    status: number,
    error: string | null,
  ): Promise<FastifyReply> {
    const user = s.user as string;
    const pending = await pendingTotp(user);
    if (!pending || fingerprint(pending.secret) !== s.enrolling) {
      await sessions.update(s, { enrolling: null });
      return html(reply, 410, linkGonePage());
    }
    const u = await ctx.store.getUser(user);
    const uri = buildOtpauthUri(ctx.config.issuer, user, pending);
    // The grace deadline of the `default` device group (other groups may differ; the agent
    // applies its own group's policy at each login).
    const { policy } = await ctx.store.getPolicy('default');
    const graceUntil =
      u && !u.totp && policy.mfa === 'required'
        ? u.graceStartedAt === GRACE_ENDED
          ? GRACE_ENDED
          : u.graceStartedAt + policy.enrollmentGraceDays * 86_400_000
        : null;
    return html(
      reply,
      status,
      enrollPage({
        user,
        issuer: ctx.config.issuer,
        qrSvg: await qrSvg(uri, `QR code to add ${user} to your authenticator app`),
        groupedSecret: groupSecret(pending.secret),
        digits: pending.digits,
        csrf: s.csrf,
        replacing: u?.totp !== null && u?.totp !== undefined,
        graceUntil,
        now: ctx.clock(),
        error,
      }),
    );
  }

  app.get('/portal/enroll', async (req, reply) => {
    const s = await current(req);
    if (!s?.user || !s.enrolling) return html(reply, 401, sessionEndedPage());
    return renderEnroll(reply, s, 200, null);
  });

  app.post('/portal/enroll', async (req, reply) => {
    const checked = await checkedForm(req, reply);
    if (!checked) return reply;
    const { s, form } = checked;
    if (!s.user || !s.enrolling) return html(reply, 401, sessionEndedPage());
    const user = s.user;
    const u = await ctx.store.getUser(user);
    const limits = await limitsFor(u);
    const now = ctx.clock();
    // Checked and counted in one transaction before the judging below (see limiter.ts).
    const reserved = await limiter.reserve(user, limits, now, u?.unlockedAt ?? null);
    if (!reserved.ok) return html(reply, 429, lockedPage(reserved.state.until));
    const { hold } = reserved;
    try {
      const pending = await pendingTotp(user);
      if (!pending || fingerprint(pending.secret) !== s.enrolling)
        return html(reply, 410, linkGonePage());
      const code = (form.code ?? '').replace(/\s/g, '');
      const result = verifyCode(pending, code, now, 1);
      if (!result.ok) {
        const after = await hold.fail();
        log.info({ user, reason: result.reason }, 'portal enrollment code refused');
        if (after.locked) return html(reply, 429, lockedPage(after.until));
        return renderEnroll(reply, s, 400, wrongCodeText(after, 'That code does not match.'));
      }
      await hold.succeed();
      return await activate(req, reply, user, pending.secret, result.step, now);
    } finally {
      await hold.release(); // not judged (the link was gone, or the store failed): not counted
    }
  });

  async function activate(
    req: FastifyRequest,
    reply: FastifyReply,
    user: string,
    secret: string,
    step: number,
    now: number,
  ): Promise<FastifyReply> {
    await ctx.store.updateUser(user, { kind: 'activate', expectedSecret: secret }, now);
    await ctx.store.portal.claimTotpStep(user, step);
    const codes = await issueRecoveryCodes(ctx, hub, user); // pushes activation and codes at once
    log.info({ user }, 'enrollment confirmed in the portal');
    // A fresh session id after the privilege change (no fixation).
    await endSession(req);
    await newSession(reply, {
      user,
      signedIn: true,
      totpFp: fingerprint(secret),
      freshCodes: codes,
    });
    return see(reply, '/portal/recovery-codes');
  }

  // -- recovery codes ------------------------------------------------------------------------

  app.get('/portal/recovery-codes', async (req, reply) => {
    const s = await current(req);
    if (!s?.user || !s.freshCodes) return see(reply, '/portal/account');
    return html(reply, 200, recoveryCodesPage(s.user, s.freshCodes, s.csrf));
  });

  app.get('/portal/recovery-codes.txt', async (req, reply) => {
    const s = await current(req);
    if (!s?.user || !s.freshCodes) return html(reply, 401, sessionEndedPage());
    // The name is NAME_RE-safe ([A-Za-z0-9_.@-]), so it can go in the header as is.
    return reply
      .code(200)
      .type('text/plain; charset=utf-8')
      .header('content-disposition', `attachment; filename="idv-recovery-codes-${s.user}.txt"`)
      .send(recoveryCodesText(s.user, ctx.config.issuer, s.freshCodes, ctx.clock()));
  });

  app.post('/portal/recovery-codes/done', async (req, reply) => {
    const checked = await checkedForm(req, reply);
    if (!checked) return reply;
    await sessions.update(checked.s, { freshCodes: null });
    return see(reply, checked.s.signedIn ? '/portal/account' : '/portal/signin');
  });

  app.post('/portal/recovery-codes/regenerate', async (req, reply) => {
    const checked = await checkedForm(req, reply);
    if (!checked) return reply;
    const who = await signedInUser(req);
    if (!who) return html(reply, 401, sessionEndedPage());
    await sessions.update(who.s, { freshCodes: await issueRecoveryCodes(ctx, hub, who.u.name) });
    return see(reply, '/portal/recovery-codes');
  });

  // -- sign-in -------------------------------------------------------------------------------

  app.get('/portal', async (req, reply) =>
    see(reply, (await signedInUser(req)) ? '/portal/account' : '/portal/signin'),
  );

  app.get('/portal/signin', async (req, reply) => {
    if (await signedInUser(req)) return see(reply, '/portal/account');
    const s = (await current(req)) ?? (await newSession(reply, {}));
    return html(reply, 200, signInPage(s.csrf));
  });

  app.post('/portal/signin', async (req, reply) => {
    const checked = await checkedForm(req, reply);
    if (!checked) return reply;
    const { s, form } = checked;
    const name = nameSchema.safeParse((form.user ?? '').trim());
    const code = (form.code ?? '').trim();
    if (!name.success || code === '') {
      return html(
        reply,
        400,
        signInPage(s.csrf, 'Enter your user name and a code.', form.user ?? ''),
      );
    }
    const user = name.data;
    // Every attempt is checked and counted in one transaction before it is judged (limiter.ts):
    // per client address first, then per name as soon as that name's limits are known.
    const byClient = await clients.reserve(req.ip, CLIENT_LIMITS, ctx.clock(), null);
    if (!byClient.ok) {
      log.info({ client: req.ip }, 'portal sign-in refused: too many failures from this client');
      return html(reply, 429, lockedPage(byClient.state.until));
    }
    const clientHold = byClient.hold;
    try {
      return await judgeSignIn(req, reply, s, form, user, code, clientHold);
    } finally {
      await clientHold.release(); // not judged, or a success (which does not reset this count)
    }
  });

  /** Judges one sign-in whose client-address attempt is already reserved. */
  async function judgeSignIn(
    req: FastifyRequest,
    reply: FastifyReply,
    s: Session,
    form: Record<string, string>,
    user: string,
    code: string,
    clientHold: Reservation,
  ): Promise<FastifyReply> {
    const u = await ctx.store.getUser(user);
    const limits = await limitsFor(u);
    const now = ctx.clock();
    const byName = await limiter.reserve(user, limits, now, u?.unlockedAt ?? null);
    if (!byName.ok) {
      log.info({ user }, 'portal sign-in refused: locked');
      return html(reply, 429, lockedPage(byName.state.until));
    }
    const { hold } = byName;
    try {
      const usable = u !== null && u.status === 'active' && u.totp !== null;
      let ok = false;
      let usedRecovery = false;
      const digits = code.replace(/\s/g, '');
      if (/^[0-9]{6,8}$/.test(digits)) {
        if (usable && u.totp) {
          const last = await ctx.store.portal.lastTotpStep(user);
          const r = verifyCode(u.totp, digits, now, limits.window, last);
          // Claimed in the store: the same code cannot sign in twice, on any replica.
          if (r.ok && (await ctx.store.portal.claimTotpStep(user, r.step))) ok = true;
        }
      } else if (normalizeRecoveryCode(code) !== null) {
        const hashes = usable ? u.recoveryCodes : [];
        const index = hashes.length
          ? await findRecoveryCode(code, hashes)
          : (await verifyRecoveryCode(code, await (decoy ??= hashRecoveryCode('aaaa-aaaa-aaaa'))),
            -1);
        const id = index >= 0 ? recoveryCodeId(hashes[index] as string) : null;
        if (id && (await ctx.store.useRecoveryCode(user, id, now))) {
          await hub.changed(); // the code stops working on every device at once
          ok = true;
          usedRecovery = true;
        }
      }
      if (!ok) {
        await clientHold.fail();
        const after = await hold.fail();
        log.info({ user }, 'portal sign-in refused: wrong code');
        if (after.locked) return html(reply, 429, lockedPage(after.until));
        return html(
          reply,
          400,
          signInPage(
            s.csrf,
            wrongCodeText(after, 'The user name or the code is not right.'),
            form.user ?? '',
          ),
        );
      }
      await hold.succeed();
      log.info({ user, recovery: usedRecovery }, 'portal sign-in');
      await endSession(req);
      const left = (u as UserState).recoveryCodes.length - 1;
      await newSession(reply, {
        user,
        signedIn: true,
        totpFp: fingerprint((u as UserState).totp?.secret ?? ''),
        notice: usedRecovery
          ? `You used a recovery code; it will not work again. ${left} left.${left <= 3 ? ' Make new ones below.' : ''}`
          : null,
      });
      return see(reply, '/portal/account');
    } finally {
      await hold.release();
    }
  }

  app.get('/portal/account', async (req, reply) => {
    const who = await signedInUser(req);
    if (!who) return html(reply, 401, sessionEndedPage());
    const notice = who.s.notice;
    if (notice !== null) await sessions.update(who.s, { notice: null });
    return html(
      reply,
      200,
      accountPage({
        user: who.u.name,
        enrolled: who.u.totp !== null,
        recoveryLeft: who.u.recoveryCodes.length,
        csrf: who.s.csrf,
        notice,
      }),
    );
  });

  app.post('/portal/reset', async (req, reply) => {
    const checked = await checkedForm(req, reply);
    if (!checked) return reply;
    const who = await signedInUser(req);
    if (!who) return html(reply, 401, sessionEndedPage());
    // A new pending secret; the old one keeps working until the new one is confirmed. Its link
    // token is never shown: this session is the only way to it (and it voids older links).
    const totp = newTotpParams();
    const now = ctx.clock();
    await ctx.store.updateUser(
      who.u.name,
      {
        kind: 'pending',
        totp,
        tokenHash: hashToken(newToken()),
        tokenExpiresAt: now + ctx.config.enrollmentTtlSeconds * 1000,
      },
      now,
    );
    await sessions.update(who.s, { enrolling: fingerprint(totp.secret) });
    log.info({ user: who.u.name }, 'self-service reset started');
    return see(reply, '/portal/enroll');
  });

  signOutRoute(app, '/portal/signout', {
    check: checkedForm,
    end: (req) => endSession(req),
    clear: (reply) => clearSessionCookie(reply, secure()),
    signin: '/portal/signin',
  });
}

function wrongCodeText(state: LimitState, first: string): string {
  if (state.locked) return first;
  return `${first} ${state.attemptsLeft} ${state.attemptsLeft === 1 ? 'attempt' : 'attempts'} left.`;
}
