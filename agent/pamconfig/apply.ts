/**
 * Applies `idv-agent pam enable|disable` to the files of a PAM directory, safely: a timestamped
 * backup (0600) before any change, an atomic replace keeping the file's mode and owner, the
 * result read back and checked, and the backup put back on any failure. One service at a time,
 * so a failure leaves every service either as it was or fully enabled.
 */
import {
  accessSync,
  chownSync,
  constants,
  existsSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import { ensurePrivateDir, writePrivateFile } from '../../protocol/io/files.js';
import { IdvError } from '../../protocol/errors.js';
import { parseStack } from './stack.js';
import { authVia } from './companions.js';
import {
  factsOf,
  findBlock,
  GATE_LINE,
  GATE_SERVICE,
  gateFile,
  isGateFile,
  inspect,
  managedBlock,
  modeFor,
  modulesFor,
  planDisable,
  type Hook,
  planEnable,
  verifyEnabled,
  type LineOptions,
  type BlockFacts,
  type Plan,
  type ServiceState,
} from './plan.js';

export interface PamDirOptions extends LineOptions {
  pamDir: string;
  backupDir: string;
  /** Where PAM modules may live; the first that holds a module counts. */
  moduleDirs: string[];
  now: () => Date;
}

export type Outcome =
  'added' | 'updated' | 'unchanged' | 'removed' | 'refused' | 'failed' | 'missing';

export interface ServiceResult {
  service: string;
  outcome: Outcome;
  message: string;
  backup?: string;
  /** For a refusal: the lines an administrator can add by hand. */
  byHand?: string[];
}

export const DEFAULT_MODULE_DIRS = [
  '/lib/x86_64-linux-gnu/security',
  '/usr/lib/x86_64-linux-gnu/security',
  '/lib/aarch64-linux-gnu/security',
  '/usr/lib/aarch64-linux-gnu/security',
  '/usr/lib64/security',
  '/lib64/security',
  '/usr/lib/security',
  '/lib/security',
];

function readOrNull(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

/**
 * Why a module file at an absolute path must not be used, or null. PAM loads it into sudo, su
 * and sshd as root: whoever can replace the file (or rename a folder above it) owns every login.
 */
export function unsafeModulePath(path: string): string | null {
  for (let p = path; ; p = dirname(p)) {
    let st;
    try {
      st = statSync(p);
    } catch {
      return `${p} does not exist`;
    }
    if (st.uid !== 0) return `${p} is owned by uid ${st.uid}, not root`;
    if ((st.mode & 0o022) !== 0 && !(st.isDirectory() && (st.mode & 0o1000) !== 0 && p !== path))
      return `${p} is writable by group or others (mode ${(st.mode & 0o7777).toString(8)})`;
    if (p === dirname(p)) return null;
  }
}

/** Where PAM would load the module from: an absolute path, or the first module folder holding it. */
export function moduleFile(o: Pick<PamDirOptions, 'module' | 'moduleDirs'>): string | null {
  if (isAbsolute(o.module)) return existsSync(o.module) ? o.module : null;
  const dir = o.moduleDirs.find((d) => existsSync(join(d, o.module)));
  return dir === undefined ? null : join(dir, o.module);
}

function checkModule(o: PamDirOptions): void {
  if (!/^(\/[^\s]+|[A-Za-z0-9_.-]+)\.so$/.test(o.module))
    throw new IdvError(
      'USAGE',
      `--module-path must be an absolute path or a file name ending in .so: ${o.module}`,
    );
  const file = moduleFile(o);
  if (file === null)
    throw new IdvError(
      'VALIDATION_FAILED',
      isAbsolute(o.module)
        ? `the module ${o.module} does not exist`
        : `${o.module} was not found in ${o.moduleDirs.join(', ')}; install the idv-agent package, give --module-path, or use --hook exec`,
    );
  if (isAbsolute(o.module)) {
    const unsafe = unsafeModulePath(o.module);
    if (unsafe)
      throw new IdvError(
        'VALIDATION_FAILED',
        `refusing to load ${o.module} into logins: ${unsafe}; install it in the system's PAM module folder, root-owned`,
      );
  }
}

/** Refuses before any file is touched when the lines would point at something missing. */
export function checkPrerequisites(services: string[], o: PamDirOptions): void {
  if (o.hook === 'module') checkModule(o);
  else checkHelper(o);
  checkCommon(services, o);
}

function checkHelper(o: PamDirOptions): void {
  if (!isAbsolute(o.helper))
    throw new IdvError(
      'USAGE',
      `--helper must be an absolute path (pam_exec runs without PATH): ${o.helper}`,
    );
  try {
    accessSync(o.helper, constants.X_OK);
  } catch {
    throw new IdvError(
      'VALIDATION_FAILED',
      `the helper ${o.helper} does not exist or is not executable`,
    );
  }
}

function checkCommon(services: string[], o: PamDirOptions): void {
  if (!isAbsolute(o.socket) || /\s/.test(o.socket))
    throw new IdvError('USAGE', `--socket must be an absolute path without spaces: ${o.socket}`);
  if (!existsSync(o.pamDir))
    throw new IdvError('VALIDATION_FAILED', `no PAM directory at ${o.pamDir}`);
  const modules = new Set(
    services.flatMap((s) =>
      modulesFor(
        modeFor(s) ?? 'terminal',
        o.hook,
        o.ssh ?? 'publickey',
        (o.breakGlass ?? []).length > 0,
      ),
    ),
  );
  for (const m of modules) {
    if (!o.moduleDirs.some((d) => existsSync(join(d, m))))
      throw new IdvError(
        'VALIDATION_FAILED',
        `${m} was not found in ${o.moduleDirs.join(', ')}; install it first (Debian: libpam-modules), or the login stack would break`,
      );
  }
}

function stamp(d: Date): string {
  return d.toISOString().replace(/[-:]/g, '');
}

/** Replaces a file atomically, keeping its mode and owner. */
function replaceFile(path: string, text: string): void {
  const st = statSync(path);
  const tmp = join(path, '..', `.${path.split('/').pop() ?? 'pam'}.idv-tmp`);
  writeFileSync(tmp, text, { mode: st.mode & 0o7777 });
  try {
    chownSync(tmp, st.uid, st.gid);
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}

export function applyPlan(
  service: string,
  path: string,
  before: string,
  plan: Plan,
  o: PamDirOptions,
  verify: (after: string) => string | null,
  done: Outcome,
): ServiceResult {
  if (plan.kind === 'refuse')
    return {
      service,
      outcome: 'refused',
      message: plan.reason,
      ...(plan.byHand ? { byHand: plan.byHand } : {}),
    };
  if (plan.kind === 'unchanged') return { service, outcome: 'unchanged', message: plan.note };
  ensurePrivateDir(o.backupDir);
  const backup = join(o.backupDir, `${service}.${stamp(o.now())}`);
  writePrivateFile(backup, before);
  try {
    replaceFile(path, plan.text);
    const problem = verify(readFileSync(path, 'utf8'));
    if (problem) throw new Error(problem);
    return { service, outcome: done, message: plan.note, backup };
  } catch (err) {
    let restored = 'restored from the backup';
    try {
      replaceFile(path, readFileSync(backup, 'utf8'));
    } catch {
      restored = `COULD NOT BE RESTORED: copy ${backup} back by hand`;
    }
    return {
      service,
      outcome: 'failed',
      message: `${(err as Error).message}; the file was ${restored}`,
      backup,
    };
  }
}

/** True when the text holds an idv block that runs the password gate. */
export function usesGate(text: string): boolean {
  const block = findBlock(parseStack(text));
  return block.state === 'present' && block.lines.includes(GATE_LINE);
}

/**
 * Writes the password gate file (plan.ts gateFile) beside the services before a service names
 * it, so PAM never meets a reference to a missing file. Why it cannot, or null.
 */
function ensureGate(o: PamDirOptions): string | null {
  // The gate's mark is set by pam_idv.so whichever hook asks for the code.
  const file = moduleFile(o);
  if (file === null)
    return `this layout needs pam_idv.so for the password gate (a failed password must end the login before the code), and ${o.module} was not found in ${o.moduleDirs.join(', ')}; install the idv-agent package or give --module-path`;
  const unsafe = isAbsolute(o.module) ? unsafeModulePath(o.module) : null;
  if (unsafe) return `refusing to load ${o.module} into logins: ${unsafe}`;
  const path = join(o.pamDir, GATE_SERVICE);
  const want = gateFile(o.module);
  const have = readOrNull(path);
  if (have === want) return null;
  if (have !== null && !isGateFile(have))
    return `${path} exists and was not written by idv; move it away, then run again`;
  const tmp = join(o.pamDir, `.${GATE_SERVICE}.idv-tmp`);
  writeFileSync(tmp, want, { mode: 0o644 });
  renameSync(tmp, path);
  return null;
}

/**
 * Removes the gate file once no service in the PAM directory runs it any more (after `pam
 * disable`, or after switching every service to a layout without it).
 */
export function tidyGate(o: Pick<PamDirOptions, 'pamDir'>): void {
  const path = join(o.pamDir, GATE_SERVICE);
  const have = readOrNull(path);
  if (have === null || !isGateFile(have)) return;
  for (const name of readdirSync(o.pamDir)) {
    if (name === GATE_SERVICE || name.startsWith('.')) continue;
    const text = readOrNull(join(o.pamDir, name));
    if (text !== null && usesGate(text)) return;
  }
  rmSync(path, { force: true });
}

/** A file that runs another service's auth lines (su-l: `auth include su`) asks what that one asks. */
function coveredThrough(text: string, o: PamDirOptions): { service: string; line: string } | null {
  if (findBlock(parseStack(text)).state !== 'absent') return null;
  return authVia(text, (name) => readOrNull(join(o.pamDir, name)));
}

export function enableService(service: string, o: PamDirOptions): ServiceResult {
  const path = join(o.pamDir, service);
  const before = readOrNull(path);
  const via = before === null ? null : coveredThrough(before, o);
  if (via)
    return {
      service,
      outcome: 'unchanged',
      message: `runs the auth lines of ${via.service} ("${via.line}"): it asks for the code whenever ${via.service} does`,
    };
  const mode = modeFor(service);
  if (mode === null)
    return {
      service,
      outcome: 'refused',
      message: `idv knows where its line goes only for sudo, sudo-i, su, su-l, login and sshd; add it to ${service} by hand`,
      byHand: managedBlock('terminal', o),
    };
  if (before === null) return { service, outcome: 'missing', message: `no ${path}` };
  const readIncluded = (name: string): string | null => readOrNull(join(o.pamDir, name));
  const plan = planEnable(before, mode, o, readIncluded);
  if (plan.kind !== 'refuse' && usesGate(plan.text)) {
    const problem = ensureGate(o);
    if (problem) return { service, outcome: 'refused', message: problem };
  }
  const outcome: Outcome = plan.kind === 'write' && plan.replacesBlock ? 'updated' : 'added';
  return applyPlan(
    service,
    path,
    before,
    plan,
    o,
    (after) => verifyEnabled(before, after, mode, o, readIncluded),
    outcome,
  );
}

export function disableService(service: string, o: PamDirOptions): ServiceResult {
  const path = join(o.pamDir, service);
  const before = readOrNull(path);
  if (before === null) return { service, outcome: 'missing', message: `no ${path}` };
  const plan = planDisable(before);
  return applyPlan(
    service,
    path,
    before,
    plan,
    o,
    (after) => (planDisable(after).kind === 'unchanged' ? null : 'idv lines are still present'),
    'removed',
  );
}

/** What the service's current idv block says (hook, sshd mode, break-glass), or null. */
export function existingFacts(service: string, o: PamDirOptions): BlockFacts | null {
  const text = readOrNull(join(o.pamDir, service));
  return text === null ? null : factsOf(findBlock(parseStack(text)));
}

export interface ServiceStatus {
  service: string;
  state: ServiceState | 'missing';
  hook?: Hook;
  note: string;
}

export function serviceStatus(service: string, o: PamDirOptions, depth = 0): ServiceStatus {
  const path = join(o.pamDir, service);
  const text = readOrNull(path);
  if (text === null) return { service, state: 'missing', note: `no ${path}` };
  const via = depth < 4 ? coveredThrough(text, o) : null;
  if (via) {
    const parent = serviceStatus(via.service, o, depth + 1);
    return {
      ...parent,
      service,
      note: `through ${via.service} ("${via.line}"): ${parent.note}`,
    };
  }
  const found = inspect(text, modeFor(service), o, (n) => readOrNull(join(o.pamDir, n)));
  const gate = readOrNull(join(o.pamDir, GATE_SERVICE));
  if (usesGate(text) && (gate === null || !isGateFile(gate)))
    return {
      service,
      ...found,
      state: 'broken',
      note: `the idv lines run ${join(o.pamDir, GATE_SERVICE)}, which is missing or not idv's: every login of this service fails; run pam enable again`,
    };
  return { service, ...found };
}
