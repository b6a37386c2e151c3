/**
 * `idv-agent pam enable|disable|status`: wires idv into /etc/pam.d (or --pam-dir), through the
 * native module pam_idv.so or through pam_exec + idv-pam-helper. The agent's command table
 * spreads `pamCommands` in.
 */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { EXIT, stringFlag, type Command, type Io, type Parsed } from '../../protocol/cli.js';
import type { FlagDoc } from '../../protocol/cli-help.js';
import { IdvError } from '../../protocol/errors.js';
import { agentPaths } from '../config.js';
import { coverage, createAccountHint, describeCoverage, localAccountExists } from './accounts.js';
import {
  DEFAULT_MODULE_DIRS,
  checkPrerequisites,
  disableService,
  tidyGate,
  enableService,
  existingFacts,
  moduleFile,
  serviceStatus,
  unsafeModulePath,
  type PamDirOptions,
  type ServiceResult,
} from './apply.js';
import { DEFAULT_SERVICES, HOOKS, SSH_FIRST, type Hook, type SshFirst } from './plan.js';
import { companionOf, gaps, withCompanions, type Gap } from './companions.js';
import { checkSshd, readSshdConfig, sshdEffective, type SshdSetting } from './sshd.js';

const OPTIONS = {
  service: { type: 'string' },
  hook: { type: 'string' },
  module: { type: 'boolean' },
  'module-path': { type: 'string' },
  ssh: { type: 'string' },
  'pam-dir': { type: 'string' },
  helper: { type: 'string' },
  socket: { type: 'string' },
  'backup-dir': { type: 'string' },
  'sshd-config': { type: 'string' },
  'break-glass': { type: 'string' },
} as const;

/** What each flag does, for --help and the manual page. */
const FLAGS: Record<keyof typeof OPTIONS, FlagDoc> = {
  service: {
    value: 'SERVICE[,SERVICE]',
    help: 'the PAM services (default: sshd,sudo,su,login); sudo brings sudo-i along, su-l goes through su',
  },
  hook: {
    value: 'module|exec',
    help: 'module: pam_idv.so; exec: pam_exec + idv-pam-helper (default: module where pam_idv.so is installed, else exec)',
  },
  module: { help: 'the same as --hook module' },
  'module-path': {
    value: 'PATH',
    help: 'the pam_idv.so the lines name: an absolute path, root-owned (default: pam_idv.so in the system module folder)',
  },
  ssh: {
    value: 'publickey|password',
    help: 'what sshd checks before the code (default: what the sshd block has, else publickey); password needs the module',
  },
  'pam-dir': { value: 'DIR', help: 'the PAM folder (default: /etc/pam.d)' },
  helper: {
    value: 'PATH',
    help: 'idv-pam-helper for --hook exec, absolute (default: /usr/bin/idv-pam-helper)',
  },
  socket: {
    value: 'PATH',
    help: "the agent's socket the lines name (default: /run/idv/agent.sock)",
  },
  'backup-dir': {
    value: 'DIR',
    help: 'where each file is copied (0600) before it changes (default: /var/backups/idv)',
  },
  'sshd-config': {
    value: 'FILE',
    help: 'read the sshd settings from this file and its Include files (default: sshd -T, else /etc/ssh/sshd_config)',
  },
  'break-glass': {
    value: 'USER[,USER]|none',
    help: 'local accounts never asked for the code, even with the agent down; none removes them (default: keep what is there)',
  },
};

/** The flags of one command, each with its description. */
function optionsOf(...names: (keyof typeof OPTIONS)[]): Pick<Command, 'options' | 'flags'> {
  return {
    options: Object.fromEntries(names.map((n) => [n, OPTIONS[n]])) as Command['options'],
    flags: Object.fromEntries(names.map((n) => [n, FLAGS[n]])),
  };
}

const DEFAULTS = {
  pamDir: '/etc/pam.d',
  helper: '/usr/bin/idv-pam-helper',
  module: 'pam_idv.so',
  socket: '/run/idv/agent.sock',
  backupDir: '/var/backups/idv',
  sshdConfig: '/etc/ssh/sshd_config',
};

interface Request {
  services: string[];
  /** The services as named (or the defaults), before their companions were added. */
  named: string[];
  /** True when --service named them: a missing file is then an error, not a skip. */
  explicit: boolean;
  options: PamDirOptions;
  /** Why this hook, for the report (the default depends on what is installed). */
  hookReason: string;
  sshdConfig: string | null;
}

/** The module a checkout builds (dist/pam/pam_idv.so beside dist/idv-agent.js, via bin/). */
function checkoutModule(): string {
  return resolve(dirname(process.argv[1] ?? '.'), '../dist/pam/pam_idv.so');
}

/**
 * --hook, --module and --module-path; without them: the module when it is installed in the
 * system's PAM module folder, else the checkout's build when it is root-owned, else pam_exec.
 */
function chooseHook(values: Parsed['values']): { hook: Hook; module: string; reason: string } {
  const flag = stringFlag(values, 'hook');
  if (flag !== undefined && !(HOOKS as readonly string[]).includes(flag))
    throw new IdvError('USAGE', `--hook must be exec or module, not ${JSON.stringify(flag)}`);
  const path = stringFlag(values, 'module-path');
  const wantModule = flag === 'module' || values.module === true || path !== undefined;
  if (flag === 'exec') {
    if (values.module === true)
      throw new IdvError('USAGE', '--module and --hook exec contradict each other');
    // With pam_exec, --module-path names the pam_idv.so that the password gate runs.
    return { hook: 'exec', module: path ?? DEFAULTS.module, reason: 'chosen with --hook exec' };
  }
  if (path !== undefined) return { hook: 'module', module: path, reason: 'from --module-path' };
  const installed = moduleFile({ module: DEFAULTS.module, moduleDirs: DEFAULT_MODULE_DIRS });
  if (installed) return { hook: 'module', module: DEFAULTS.module, reason: installed };
  const built = checkoutModule();
  if (existsSync(built) && (wantModule || unsafeModulePath(built) === null))
    return { hook: 'module', module: built, reason: 'built in this checkout' };
  // Asked for explicitly but nowhere: checkPrerequisites refuses with where it looked.
  if (wantModule) return { hook: 'module', module: DEFAULTS.module, reason: 'not installed' };
  return {
    hook: 'exec',
    module: DEFAULTS.module,
    reason: 'pam_idv.so is not installed, so pam_exec runs the helper; see docs/pam.md',
  };
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
  const ssh = stringFlag(values, 'ssh');
  if (ssh !== undefined && !(SSH_FIRST as readonly string[]).includes(ssh))
    throw new IdvError('USAGE', `--ssh must be publickey or password, not ${JSON.stringify(ssh)}`);
  const hook = chooseHook(values);
  const pamDir = stringFlag(values, 'pam-dir') ?? DEFAULTS.pamDir;
  return {
    // sudo brings sudo-i along, su brings su-l: one way in must not skip what the other asks.
    services: withCompanions(services, (s) => existsSync(join(pamDir, s))),
    named: services,
    explicit: list !== undefined,
    sshdConfig: sshdConfig ?? null,
    hookReason: hook.reason,
    options: {
      hook: hook.hook,
      module: hook.module,
      pamDir,
      helper: stringFlag(values, 'helper') ?? DEFAULTS.helper,
      socket: stringFlag(values, 'socket') ?? process.env.IDV_SOCKET ?? DEFAULTS.socket,
      backupDir: stringFlag(values, 'backup-dir') ?? DEFAULTS.backupDir,
      breakGlass,
      ssh: ssh as SshFirst | undefined,
      moduleDirs: DEFAULT_MODULE_DIRS,
      now: () => new Date(),
    },
  };
}

/** What sshd checks before the code: --ssh, else what the sshd block has, else the key. */
function sshFirst(r: Request): SshFirst {
  return r.options.ssh ?? existingFacts('sshd', r.options)?.ssh ?? 'publickey';
}

/** With --sshd-config, that file (and its Include files); else `sshd -T`, else the default file. */
function sshdSettings(r: Request): { source: string; settings: SshdSetting[] } {
  const first = sshFirst(r);
  if (r.sshdConfig)
    return { source: r.sshdConfig, settings: checkSshd(readSshdConfig(r.sshdConfig), first) };
  const effective = sshdEffective();
  if (effective) return { source: 'sshd -T', settings: checkSshd(effective, first) };
  return {
    source: DEFAULTS.sshdConfig,
    settings: checkSshd(readSshdConfig(DEFAULTS.sshdConfig), first),
  };
}

/** openssh-server installs /etc/pam.d/sshd; without it there is no sshd to wire. */
function sshdInstalled(r: Request): boolean {
  return existsSync(join(r.options.pamDir, 'sshd'));
}

function sshdMissing(r: Request): ServiceResult {
  return {
    service: 'sshd',
    outcome: 'missing',
    message: `sshd is not installed here (no ${join(r.options.pamDir, 'sshd')}; Debian: apt install openssh-server), so there is nothing to wire for ssh`,
  };
}

function printSshd(io: Io, source: string, settings: SshdSetting[]): void {
  io.out(`sshd_config (read from ${source}) needs:`);
  for (const s of settings)
    io.out(
      `  ${s.ok ? 'ok     ' : 'MISSING'} ${s.line}${s.ok ? '' : `   (now: ${s.actual ?? 'not set'}; ${s.why})`}`,
    );
  if (settings.some((s) => !s.ok))
    io.out(
      "  Set the missing lines in /etc/ssh/sshd_config.d/idv.conf (read first: Debian's sshd_config includes that folder at its top), check with `sshd -t`, then reload sshd.",
    );
}

/**
 * sshd is wired only once sshd_config sends every login through keyboard-interactive (and, for
 * key + code, a key first): else a key or the password method would log in without the code, or
 * the code would be the only factor.
 */
function sshdNotReady(settings: SshdSetting[], first: SshFirst): ServiceResult {
  const missing = settings.filter((s) => !s.ok).map((s) => s.line);
  return {
    service: 'sshd',
    outcome: 'refused',
    message: `sshd_config must require ${first === 'publickey' ? 'a key and then the code' : 'keyboard-interactive (password, then code)'} first; set ${missing.map((m) => `"${m}"`).join(', ')}, check with \`sshd -t\`, reload sshd, then run this again`,
  };
}

/** Refuses break-glass accounts that do not exist: their skip line would protect no one. */
function checkBreakGlass(r: Request): void {
  for (const name of r.options.breakGlass ?? [])
    if (!localAccountExists(name))
      throw new IdvError(
        'VALIDATION_FAILED',
        `--break-glass: there is no local account ${name} (not in /etc/passwd). Create it first, with a long random password kept offline: ${createAccountHint(name)}; then run this again`,
      );
}

function ok(r: Request, res: ServiceResult): boolean {
  if (res.outcome === 'missing') return !r.explicit;
  return !['refused', 'failed'].includes(res.outcome);
}

function hookLine(r: Request): string {
  const o = r.options;
  return o.hook === 'module'
    ? `hook: module, ${o.module} (${r.hookReason})`
    : `hook: exec, pam_exec + ${o.helper} (${r.hookReason})`;
}

/** For a companion the administrator did not name: which command runs that file. */
function uses(r: Request, service: string): string {
  const c = companionOf(service);
  return c && r.named.includes(c.parent) && !r.named.includes(service)
    ? ` (\`${c.how}\` runs this file)`
    : '';
}

function printGaps(io: Io, holes: Gap[]): void {
  for (const g of holes) io.out(`WARNING: ${g.service}: ${g.message}`);
}

async function report(
  io: Io,
  values: Parsed['values'],
  r: Request,
  results: ServiceResult[],
  verb: 'enable' | 'disable',
): Promise<number> {
  const json = values.json === true;
  const sshd =
    verb === 'enable' && r.services.includes('sshd') && sshdInstalled(r) ? sshdSettings(r) : null;
  const changed = results.some((res) => res.outcome === 'added' || res.outcome === 'updated');
  const accounts =
    verb === 'enable'
      ? await coverage(
          agentPaths({ dataDir: stringFlag(values, 'data-dir'), socket: r.options.socket }),
        )
      : null;
  const good = results.every((res) => ok(r, res));
  const holes = verb === 'enable' ? gaps(r.options.pamDir) : [];
  if (json) {
    io.out(
      JSON.stringify({
        ok: good,
        ...(verb === 'enable'
          ? {
              hook: r.options.hook,
              ...(r.options.hook === 'module'
                ? { module: r.options.module }
                : { helper: r.options.helper }),
            }
          : {}),
        services: results,
        ...(verb === 'enable' ? { gaps: holes } : {}),
        ...(sshd ? { sshdConfig: { source: sshd.source, settings: sshd.settings } } : {}),
        ...(verb === 'enable'
          ? {
              accounts: accounts && {
                unknownUsers: accounts.unknownUsers,
                unmanaged: accounts.unmanaged.map((a) => a.name),
                exempt: accounts.exempt,
              },
            }
          : {}),
      }),
    );
    return good ? EXIT.OK : EXIT.FAILED;
  }
  if (verb === 'enable') io.out(hookLine(r));
  for (const res of results) {
    const backup = res.backup && res.outcome !== 'failed' ? ` (backup: ${res.backup})` : '';
    // disable says what happened in words: "sudo: idv lines removed; ..."
    const word =
      verb === 'disable' && (res.outcome === 'removed' || res.outcome === 'unchanged')
        ? ''
        : `${res.outcome}: `;
    io.out(`${res.service}: ${word}${res.message}${backup}${uses(r, res.service)}`);
    if (res.byHand) {
      io.out(
        `  Add these lines to ${join(r.options.pamDir, res.service)} by hand, in the auth section`,
      );
      io.out(
        '  (after the password step; for sshd key + code in its place), see /usr/share/idv/pam and docs/pam.md:',
      );
      for (const l of res.byHand) io.out(`    ${l}`);
    }
  }
  if (sshd) printSshd(io, sshd.source, sshd.settings);
  printGaps(io, holes);
  if (verb === 'enable') for (const l of describeCoverage(accounts).lines) io.out(l);
  if (verb === 'enable' && changed)
    io.out('Keep this root shell open and try a login in another terminal before you close it.');
  return good ? EXIT.OK : EXIT.FAILED;
}

export const pamCommands: Record<string, Command> = {
  'pam enable': {
    summary:
      'Ask for the idv code in the PAM services (pam_idv.so or pam_exec; backup first, checked, idempotent)',
    ...optionsOf(...(Object.keys(OPTIONS) as (keyof typeof OPTIONS)[])),
    run: async ({ values }, io) => {
      const r = request(values);
      const wanted = r.services.filter((s) => s !== 'sshd' || sshdInstalled(r));
      if (r.services.includes('sshd')) r.options.ssh = sshFirst(r);
      checkBreakGlass(r);
      checkPrerequisites(wanted, r.options);
      const sshd = wanted.includes('sshd') ? sshdSettings(r) : null;
      const results = r.services.map((s) =>
        s !== 'sshd'
          ? enableService(s, r.options)
          : sshd === null
            ? sshdMissing(r)
            : sshd.settings.some((x) => !x.ok)
              ? sshdNotReady(sshd.settings, sshFirst(r))
              : enableService(s, r.options),
      );
      tidyGate(r.options);
      return report(io, values, r, results, 'enable');
    },
  },
  'pam disable': {
    summary: 'Remove the idv lines from the PAM services (backup first)',
    ...optionsOf('service', 'pam-dir', 'backup-dir'),
    run: async ({ values }, io) => {
      const r = request(values);
      const results = r.services.map((s) => disableService(s, r.options));
      tidyGate(r.options);
      return report(io, values, r, results, 'disable');
    },
  },
  'pam status': {
    summary:
      'Show which PAM services ask for the idv code, through which hook, and what sshd needs',
    // The line options: a block naming another helper, module or socket is reported outdated.
    ...optionsOf('service', 'pam-dir', 'module-path', 'helper', 'socket', 'ssh', 'sshd-config'),
    run: async ({ values }, io) => {
      const r = request(values);
      const statuses = r.services.map((s) => serviceStatus(s, r.options));
      const sshd = r.services.includes('sshd') && sshdInstalled(r) ? sshdSettings(r) : null;
      const holes = gaps(r.options.pamDir);
      if (values.json === true) {
        io.out(
          JSON.stringify({
            services: statuses,
            gaps: holes,
            ...(sshd ? { sshdConfig: sshd } : {}),
          }),
        );
        return EXIT.OK;
      }
      for (const s of statuses)
        io.out(
          `${s.service}: ${s.state}${s.hook ? ` (${s.hook === 'module' ? 'pam_idv.so' : 'pam_exec + idv-pam-helper'})` : ''}: ${s.note}`,
        );
      if (sshd) printSshd(io, sshd.source, sshd.settings);
      printGaps(io, holes);
      return EXIT.OK;
    },
  },
};
