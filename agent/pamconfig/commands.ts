/**
 * `idv-agent pam enable|disable|status`: wires idv-pam-helper into /etc/pam.d (or --pam-dir).
 * The agent's command table spreads `pamCommands` in.
 */
import { join } from 'node:path';
import { EXIT, stringFlag, type Command, type Io, type Parsed } from '../../protocol/cli.js';
import { IdvError } from '../../protocol/errors.js';
import {
  DEFAULT_MODULE_DIRS,
  checkPrerequisites,
  disableService,
  enableService,
  serviceStatus,
  type PamDirOptions,
  type ServiceResult,
} from './apply.js';
import { DEFAULT_SERVICES } from './plan.js';
import { checkSshd, readSshdConfig, sshdEffective, type SshdSetting } from './sshd.js';

const OPTIONS = {
  service: { type: 'string' },
  'pam-dir': { type: 'string' },
  helper: { type: 'string' },
  socket: { type: 'string' },
  'backup-dir': { type: 'string' },
  'sshd-config': { type: 'string' },
  'break-glass': { type: 'string' },
} as const;

const DEFAULTS = {
  pamDir: '/etc/pam.d',
  helper: '/usr/bin/idv-pam-helper',
  socket: '/run/idv/agent.sock',
  backupDir: '/var/backups/idv',
  sshdConfig: '/etc/ssh/sshd_config',
};

interface Request {
  services: string[];
  /** True when --service named them: a missing file is then an error, not a skip. */
  explicit: boolean;
  options: PamDirOptions;
  sshdConfig: string | null;
}

function request(values: Parsed['values']): Request {
  const list = stringFlag(values, 'service');
  const services =
    list === undefined ? [...DEFAULT_SERVICES] : list.split(',').map((s) => s.trim());
  for (const s of services)
    if (!/^[a-z0-9][a-z0-9._-]*$/i.test(s))
      throw new IdvError('USAGE', `--service: ${JSON.stringify(s)} is not a PAM service name`);
  const sshdConfig = stringFlag(values, 'sshd-config');
  const bg = stringFlag(values, 'break-glass');
  // "none" removes the break-glass line; no flag keeps whatever the block has.
  const breakGlass =
    bg === undefined ? undefined : bg === 'none' ? [] : bg.split(',').map((u) => u.trim());
  for (const u of breakGlass ?? [])
    if (!/^[a-z_][a-z0-9_.-]{0,31}$/i.test(u))
      throw new IdvError('USAGE', `--break-glass: ${JSON.stringify(u)} is not a user name`);
  return {
    services: [...new Set(services)],
    explicit: list !== undefined,
    sshdConfig: sshdConfig ?? null,
    options: {
      pamDir: stringFlag(values, 'pam-dir') ?? DEFAULTS.pamDir,
      helper: stringFlag(values, 'helper') ?? DEFAULTS.helper,
      socket: stringFlag(values, 'socket') ?? process.env.IDV_SOCKET ?? DEFAULTS.socket,
      backupDir: stringFlag(values, 'backup-dir') ?? DEFAULTS.backupDir,
      breakGlass,
      moduleDirs: DEFAULT_MODULE_DIRS,
      now: () => new Date(),
    },
  };
}

/** With --sshd-config, that file (and its Include files); else `sshd -T`, else the default file. */
function sshdSettings(r: Request): { source: string; settings: SshdSetting[] } {
  if (r.sshdConfig)
    return { source: r.sshdConfig, settings: checkSshd(readSshdConfig(r.sshdConfig)) };
  const effective = sshdEffective();
  if (effective) return { source: 'sshd -T', settings: checkSshd(effective) };
  return { source: DEFAULTS.sshdConfig, settings: checkSshd(readSshdConfig(DEFAULTS.sshdConfig)) };
}

function printSshd(io: Io, source: string, settings: SshdSetting[]): void {
  io.out(`sshd_config (read from ${source}) needs:`);
  for (const s of settings)
    io.out(
      `  ${s.ok ? 'ok     ' : 'MISSING'} ${s.line}${s.ok ? '' : `   (now: ${s.actual ?? 'not set'}; ${s.why})`}`,
    );
  if (settings.some((s) => !s.ok))
    io.out(
      '  Set the missing lines in /etc/ssh/sshd_config, check with `sshd -t`, then reload sshd.',
    );
}

/**
 * The sshd block asks for the code instead of the password: with keyboard-interactive alone
 * allowed, the code would be the only factor. So sshd is wired only once sshd_config requires a
 * key first.
 */
function sshdNotReady(settings: SshdSetting[]): ServiceResult {
  const missing = settings.filter((s) => !s.ok).map((s) => s.line);
  return {
    service: 'sshd',
    outcome: 'refused',
    message: `sshd_config must require a key and then the code first; set ${missing.map((m) => `"${m}"`).join(', ')}, check with \`sshd -t\`, reload sshd, then run this again`,
  };
}

function ok(r: Request, res: ServiceResult): boolean {
  if (res.outcome === 'missing') return !r.explicit;
  return !['refused', 'failed'].includes(res.outcome);
}

function report(
  io: Io,
  json: boolean,
  r: Request,
  results: ServiceResult[],
  verb: 'enable' | 'disable',
): number {
  const sshd = r.services.includes('sshd') && verb === 'enable' ? sshdSettings(r) : null;
  const good = results.every((res) => ok(r, res));
  if (json) {
    io.out(
      JSON.stringify({
        ok: good,
        services: results,
        ...(sshd ? { sshdConfig: { source: sshd.source, settings: sshd.settings } } : {}),
      }),
    );
    return good ? EXIT.OK : EXIT.FAILED;
  }
  for (const res of results) {
    const backup = res.backup && res.outcome !== 'failed' ? ` (backup: ${res.backup})` : '';
    io.out(`${res.service}: ${res.outcome}: ${res.message}${backup}`);
    if (res.byHand) {
      io.out(
        `  Add these lines to ${join(r.options.pamDir, res.service)} by hand, in the auth section`,
      );
      io.out(
        '  (after the password step; for sshd in its place), see /usr/share/idv/pam and docs/pam.md:',
      );
      for (const l of res.byHand) io.out(`    ${l}`);
    }
  }
  if (sshd) printSshd(io, sshd.source, sshd.settings);
  if (
    verb === 'enable' &&
    results.some((res) => res.outcome === 'added' || res.outcome === 'updated')
  )
    io.out('Keep this root shell open and try a login in another terminal before you close it.');
  return good ? EXIT.OK : EXIT.FAILED;
}

export const pamCommands: Record<string, Command> = {
  'pam enable': {
    summary: 'Add idv-pam-helper to the PAM services (backup first, checked, idempotent)',
    options: OPTIONS,
    run: async ({ values }, io) => {
      const r = request(values);
      checkPrerequisites(r.services, r.options);
      const sshd = r.services.includes('sshd') ? sshdSettings(r) : null;
      const results = r.services.map((s) =>
        s === 'sshd' && sshd && sshd.settings.some((x) => !x.ok)
          ? sshdNotReady(sshd.settings)
          : enableService(s, r.options),
      );
      return report(io, values.json === true, r, results, 'enable');
    },
  },
  'pam disable': {
    summary: 'Remove the idv lines from the PAM services (backup first)',
    options: OPTIONS,
    run: async ({ values }, io) => {
      const r = request(values);
      const results = r.services.map((s) => disableService(s, r.options));
      return report(io, values.json === true, r, results, 'disable');
    },
  },
  'pam status': {
    summary: 'Show which PAM services ask for the idv code, and the sshd_config lines it needs',
    options: OPTIONS,
    run: async ({ values }, io) => {
      const r = request(values);
      const statuses = r.services.map((s) => serviceStatus(s, r.options));
      const sshd = r.services.includes('sshd') ? sshdSettings(r) : null;
      if (values.json === true) {
        io.out(JSON.stringify({ services: statuses, ...(sshd ? { sshdConfig: sshd } : {}) }));
        return EXIT.OK;
      }
      for (const s of statuses) io.out(`${s.service}: ${s.state}: ${s.note}`);
      if (sshd) printSshd(io, sshd.source, sshd.settings);
      return EXIT.OK;
    },
  },
};
