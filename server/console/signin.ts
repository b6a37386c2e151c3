/**
 * Admin set-up and sign-in: the set-up link (GET shows a button, its POST spends the token),
 * password + authenticator enrollment, then sign-in with name and password, then a code or a
 * recovery code. At most five failed attempts (password or code, counted in the store before
 * they are judged), then the account is locked for the policy's lockout.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { NAME_RE } from '../../protocol/policy.js';
import {
  findRecoveryCode,
  generateRecoveryCodes,
  hashRecoveryCode,
  normalizeRecoveryCode,
  recoveryCodeId,
} from '../../protocol/recovery.js';
import { buildOtpauthUri, groupSecret, newTotpParams, verifyCode } from '../../protocol/totp.js';
import type { ServerContext } from '../context.js';
import { adminLimits } from '../http/admins.js';
import { audit } from '../http/audit.js';
import { addressKey } from '../http/guard.js';
import { crossSite, html, readCookie, see } from '../portal/http.js';
import { qrSvg } from '../portal/qr.js';
import { hashToken } from '../store/crypto.js';
import { hashPassword, passwordProblem, verifyDecoy, verifyPassword } from './password.js';
import type { ConsoleSessions } from './session.js';
import {
  codePage,
  goneLinkPage,
  lockedPage,
  refusedPage,
  setupDonePage,
  setupPage,
  setupStartPage,
  signInPage,
} from './signin-pages.js';

const TOKEN_RE = /^[A-Za-z0-9_-]{16,256}$/;
/** The sign-in form's CSRF token before there is a session (double-submit cookie). */
const FORM_COOKIE = 'idv_console_form';

function same(a: unknown, b: unknown): boolean {
  if (typeof a !== 'string' || typeof b !== 'string' || a.length !== b.length || a === '')
    return false;
  return timingSafeEqual(Buffer.from(a), Buffer.from(b));
}

export function registerSignIn(
  app: FastifyInstance,
  ctx: ServerContext,
  sessions: ConsoleSessions,
  secure: () => boolean,
): void {
  const log = ctx.log.child({ part: 'console' });
  const source = (req: FastifyRequest) => addressKey(req.ip);
  const record = (req: FastifyRequest, name: string, action: string, result: string) =>
    audit(ctx, {
      actor: `admin:${name}`,
      role: '-',
      source: source(req),
      action,
      target: name,
      detail: {},
      result,
    });

  function formToken(reply: FastifyReply): string {
    const t = randomBytes(32).toString('base64url');
    void reply.header(
      'set-cookie',
      `${FORM_COOKIE}=${t}; Path=/admin; HttpOnly; SameSite=Strict${secure() ? '; Secure' : ''}`,
    );
    return t;
  }

  function refusedCrossSite(req: FastifyRequest, reply: FastifyReply): boolean {
    if (!crossSite(req, secure())) return false;
    html(reply, 403, refusedPage(403, 'This form was sent from another site.'));
    return true;
  }

  // -- set-up --------------------------------------------------------------------------------

  app.get('/admin/setup/:token', async (req, reply) => {
    const { token } = req.params as { token: string };
    const name = TOKEN_RE.test(token)
      ? await ctx.store.admins.openSetup(hashToken(token), ctx.clock(), false)
      : null;
    if (!name) return html(reply, 410, goneLinkPage());
    return html(reply, 200, setupStartPage(name));
  });

  app.post('/admin/setup/:token', async (req, reply) => {
    if (refusedCrossSite(req, reply)) return reply;
    const { token } = req.params as { token: string };
    const name = TOKEN_RE.test(token)
      ? await ctx.store.admins.openSetup(hashToken(token), ctx.clock(), true)
      : null;
    if (!name) return html(reply, 410, goneLinkPage());
    await ctx.store.admins.setPendingTotp(name, newTotpParams());
    await sessions.start(req, reply, name, 'setup');
    log.info({ admin: name }, 'admin set-up link opened');
    return see(reply, '/admin/setup');
  });

  async function renderSetup(
    reply: FastifyReply,
    name: string,
    csrf: string,
    status: number,
    error: string | null,
    field: 'password' | 'code' | null,
  ): Promise<FastifyReply> {
    const admin = await ctx.store.admins.get(name);
    if (!admin?.pendingTotp || admin.status !== 'setup') return html(reply, 410, goneLinkPage());
    const uri = buildOtpauthUri(`${ctx.config.issuer} console`, name, admin.pendingTotp);
    return html(
      reply,
      status,
      setupPage({
        name,
        issuer: `${ctx.config.issuer} console`,
        qrSvg: await qrSvg(
          uri,
          `QR code to add the console account ${name} to your authenticator app`,
        ),
        groupedSecret: groupSecret(admin.pendingTotp.secret),
        csrf,
        error,
        field,
      }),
    );
  }

  app.get('/admin/setup', async (req, reply) => {
    const s = await sessions.current(req);
    if (!s || s.stage !== 'setup' || !s.admin) return html(reply, 410, goneLinkPage());
    return renderSetup(reply, s.admin, s.csrf, 200, null, null);
  });

  app.post('/admin/setup', async (req, reply) => {
    if (refusedCrossSite(req, reply)) return reply;
    const s = await sessions.current(req);
    if (!s || s.stage !== 'setup' || !s.admin) return html(reply, 410, goneLinkPage());
    const form = (req.body ?? {}) as Record<string, string>;
    if (!same(form.csrf, s.csrf))
      return html(
        reply,
        403,
        refusedPage(403, 'This form has expired. Reload the page and try again.'),
      );
    const name = s.admin;
    const password = form.password ?? '';
    const problem = passwordProblem(password, name);
    if (problem) return renderSetup(reply, name, s.csrf, 400, problem, 'password');
    if (password !== (form.password2 ?? ''))
      return renderSetup(
        reply,
        name,
        s.csrf,
        400,
        'The two passwords are not the same.',
        'password',
      );
    const admin = await ctx.store.admins.get(name);
    if (!admin?.pendingTotp) return html(reply, 410, goneLinkPage());
    const result = verifyCode(
      admin.pendingTotp,
      (form.code ?? '').replace(/\s/g, ''),
      ctx.clock(),
      1,
    );
    if (!result.ok)
      return renderSetup(
        reply,
        name,
        s.csrf,
        400,
        'That code does not match. Check that the app shows the console account, and that the phone sets its clock automatically.',
        'code',
      );
    const codes = generateRecoveryCodes();
    const done = await ctx.store.admins.completeSetup(
      name,
      {
        passwordHash: await hashPassword(password),
        expectedSecret: admin.pendingTotp.secret,
        recoveryHashes: await Promise.all(codes.map((c) => hashRecoveryCode(c))),
        step: result.step,
      },
      ctx.clock(),
    );
    await record(req, name, 'admin.setup', 'ok');
    log.info({ admin: name }, 'admin set-up finished');
    // Signed in from here, with a new session id.
    await sessions.start(req, reply, done.name, 'in');
    return html(reply, 200, setupDonePage(name, codes));
  });

  // -- sign-in -------------------------------------------------------------------------------

  app.get('/admin/signin', async (_req, reply) =>
    html(reply, 200, signInPage(formToken(reply), null)),
  );

  app.post('/admin/signin', async (req, reply) => {
    if (refusedCrossSite(req, reply)) return reply;
    const form = (req.body ?? {}) as Record<string, string>;
    if (!same(form.csrf, readCookie(req, FORM_COOKIE)))
      return html(
        reply,
        403,
        refusedPage(403, 'This form has expired. Reload the page and try again.'),
      );
    const name = (form.name ?? '').trim();
    const password = form.password ?? '';
    const wrong = () =>
      html(
        reply,
        400,
        signInPage(
          formToken(reply),
          { kind: 'error', text: 'The name or the password is not right.' },
          name,
        ),
      );
    const admin = NAME_RE.test(name) ? await ctx.store.admins.get(name) : null;
    if (!admin || admin.status !== 'active' || !admin.passwordHash) {
      await verifyDecoy(password);
      log.info('console sign-in refused: unknown name or not set up');
      return wrong();
    }
    const limits = await adminLimits(ctx);
    const reserved = await ctx.store.admins.reserveAttempt(name, limits, ctx.clock());
    if (!reserved.ok) {
      await record(req, name, 'admin.signin', 'LOCKED');
      return html(reply, 429, lockedPage(reserved.until));
    }
    let ok = false;
    try {
      ok = await verifyPassword(password, admin.passwordHash);
    } catch (err) {
      await ctx.store.admins.releaseAttempt(name, limits);
      throw err;
    }
    if (!ok) {
      await record(req, name, 'admin.signin', 'PASSWORD_WRONG');
      log.info({ admin: name }, 'console sign-in refused: wrong password');
      if (reserved.failuresBefore + 1 >= limits.maxAttempts) {
        const after = await ctx.store.admins.get(name);
        return html(
          reply,
          429,
          lockedPage(lockUntil(after?.lockedAt ?? ctx.clock(), limits.lockoutSeconds)),
        );
      }
      return wrong();
    }
    // A right password neither counts nor resets the count: only a right code does.
    await ctx.store.admins.releaseAttempt(name, limits);
    await sessions.start(req, reply, name, 'code');
    return see(reply, '/admin/signin/code');
  });

  app.get('/admin/signin/code', async (req, reply) => {
    const s = await sessions.current(req);
    if (!s || s.stage !== 'code' || !s.admin) return see(reply, '/admin/signin');
    return html(reply, 200, codePage(s.csrf, s.admin, null));
  });

  app.post('/admin/signin/code', async (req, reply) => {
    if (refusedCrossSite(req, reply)) return reply;
    const s = await sessions.current(req);
    if (!s || s.stage !== 'code' || !s.admin) return see(reply, '/admin/signin');
    const form = (req.body ?? {}) as Record<string, string>;
    if (!same(form.csrf, s.csrf))
      return html(
        reply,
        403,
        refusedPage(403, 'This form has expired. Reload the page and try again.'),
      );
    const name = s.admin;
    const limits = await adminLimits(ctx);
    const now = ctx.clock();
    const reserved = await ctx.store.admins.reserveAttempt(name, limits, now);
    if (!reserved.ok) {
      await record(req, name, 'admin.signin', 'LOCKED');
      await sessions.end(req);
      return html(reply, 429, lockedPage(reserved.until));
    }
    let how: 'code' | 'recovery' | null = null;
    try {
      how = await judgeCode(ctx, name, form.code ?? '', now);
    } catch (err) {
      await ctx.store.admins.releaseAttempt(name, limits);
      throw err;
    }
    if (!how) {
      await record(req, name, 'admin.signin', 'CODE_INVALID');
      log.info({ admin: name }, 'console sign-in refused: wrong code');
      const left = limits.maxAttempts - (reserved.failuresBefore + 1);
      if (left <= 0) {
        // The session stays: a further code on it is refused as locked, not judged.
        return html(reply, 429, lockedPage(lockUntil(now, limits.lockoutSeconds)));
      }
      return html(
        reply,
        400,
        codePage(
          s.csrf,
          name,
          `That code is not right. ${left} ${left === 1 ? 'attempt' : 'attempts'} left.`,
        ),
      );
    }
    await ctx.store.admins.attemptSucceeded(name, now);
    await record(req, name, 'admin.signin', how === 'recovery' ? 'ok (recovery code)' : 'ok');
    log.info({ admin: name, recovery: how === 'recovery' }, 'console sign-in');
    const admin = await ctx.store.admins.get(name);
    const left = admin?.recoveryCodes.length ?? 0;
    await sessions.start(
      req,
      reply,
      name,
      'in',
      how === 'recovery'
        ? {
            kind: 'success',
            text: `You used a recovery code; it will not work again. ${left} left.`,
          }
        : null,
    );
    return see(reply, '/admin');
  });
}

function lockUntil(lockedAt: number, lockoutSeconds: number): number | null {
  return lockoutSeconds === 0 ? null : lockedAt + lockoutSeconds * 1000;
}

/** A TOTP code (each step once) or a recovery code (each once): how it signed in, or null. */
async function judgeCode(
  ctx: ServerContext,
  name: string,
  code: string,
  now: number,
): Promise<'code' | 'recovery' | null> {
  const admin = await ctx.store.admins.get(name);
  if (!admin?.totp) return null;
  const digits = code.replace(/\s/g, '');
  if (/^[0-9]{6,8}$/.test(digits)) {
    const r = verifyCode(admin.totp, digits, now, 1, admin.lastStep);
    return r.ok && (await ctx.store.admins.acceptStep(name, r.step)) ? 'code' : null;
  }
  if (normalizeRecoveryCode(code) === null || admin.recoveryCodes.length === 0) return null;
  const index = await findRecoveryCode(code, admin.recoveryCodes);
  const id = index >= 0 ? recoveryCodeId(admin.recoveryCodes[index] as string) : null;
  return id && (await ctx.store.admins.useRecoveryCode(name, id)) ? 'recovery' : null;
}
