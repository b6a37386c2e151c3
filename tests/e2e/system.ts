/**
 * The parts of the machine an end-to-end test borrows, each returned with its own removal:
 * a PAM service file of the test's own (/etc/pam.d/idv-test-*), a throw-away user account, the
 * shipped PAM snippets with test paths. Nothing existing is ever modified.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import type { Policy } from '../../protocol/policy.js';
import { startWorld, type EnrolledUser, type World } from '../integration/helper-world.js';

export type { EnrolledUser };

export const REPO = path.resolve(import.meta.dirname, '../..');
/**
 * What the stacks run: the checkout's launcher, which starts node by its absolute path with only
 * the PAM_* variables (pam_exec clears PATH; pam-helper/launcher.c).
 */
export const HELPER_COMMAND = path.join(REPO, 'bin/idv-pam-helper');

export function suffix(): string {
  return randomBytes(4).toString('hex');
}

/**
 * A shipped snippet (packaging/pam/<distro>/<name>) with the installed paths replaced by this
 * checkout's: the helper binary and the agent socket. `extra` is appended to the helper's flags.
 */
export function snippet(name: string, socket: string, extra = ''): string {
  const text = readFileSync(path.join(REPO, 'packaging/pam', name), 'utf8');
  if (!text.includes('/usr/bin/idv-pam-helper')) throw new Error(`${name} runs no helper`);
  return text
    .replaceAll('/usr/bin/idv-pam-helper', HELPER_COMMAND)
    .replaceAll('--socket /run/idv/agent.sock', `--socket ${socket}${extra ? ` ${extra}` : ''}`);
}

/** The module this checkout builds (scripts/build.mjs), loaded by PAM from its absolute path. */
export const MODULE = path.join(REPO, 'dist/pam/pam_idv.so');

/**
 * A shipped module snippet (packaging/pam/<distro>/<name>-module) with this checkout's module
 * and the test's agent socket; `extra` is appended to the module's options.
 */
export function moduleSnippet(name: string, socket: string, extra = ''): string {
  const text = readFileSync(path.join(REPO, 'packaging/pam', name), 'utf8');
  if (!text.includes('pam_idv.so socket=/run/idv/agent.sock'))
    throw new Error(`${name} runs no module`);
  return text.replaceAll(
    'pam_idv.so socket=/run/idv/agent.sock',
    `${MODULE} socket=${socket}${extra ? ` ${extra}` : ''}`,
  );
}

export interface Removable {
  remove(): void;
}

/** Writes /etc/pam.d/idv-test-<tag>-<random>; refuses to overwrite anything. */
export function installService(tag: string, text: string): Removable & { name: string } {
  const name = `idv-test-${tag}-${suffix()}`;
  const file = `/etc/pam.d/${name}`;
  if (existsSync(file)) throw new Error(`${file} exists`);
  writeFileSync(file, text, { mode: 0o644, flag: 'wx' });
  return { name, remove: () => rmSync(file, { force: true }) };
}

export interface TestUser extends Removable {
  name: string;
  home: string;
  uid: number;
  password: string;
}

/** A local account with a home and a password, removed (with its home) by remove(). */
export function createUser(): TestUser {
  const name = `idvt${suffix()}`;
  const password = `pw-${suffix()}-${suffix()}`;
  execFileSync('useradd', ['--create-home', '--shell', '/bin/sh', name], { stdio: 'pipe' });
  execFileSync('chpasswd', [], { input: `${name}:${password}\n`, stdio: ['pipe', 'pipe', 'pipe'] });
  const uid = Number(execFileSync('id', ['-u', name], { encoding: 'utf8' }).trim());
  return {
    name,
    home: `/home/${name}`,
    uid,
    password,
    remove: () => {
      try {
        execFileSync('userdel', ['--remove', '--force', name], { stdio: 'pipe' });
      } catch {
        // userdel exits 12 when the mail spool is missing, after removing the rest.
      }
    },
  };
}

/** Runs cleanups in reverse order, each even if an earlier one failed. */
export class Cleanup {
  private readonly steps: (() => void | Promise<void>)[] = [];
  add(step: () => void | Promise<void>): void {
    this.steps.push(step);
  }
  async run(): Promise<void> {
    for (const step of this.steps.splice(0).reverse()) {
      try {
        await step();
      } catch {
        // keep cleaning
      }
    }
  }
}

/**
 * The shared set-up of the PAM end-to-end files: a real server and agent for the whole describe
 * block (policy as given), one Cleanup run after it, and person(): a local account with a
 * password that idv knows and has enrolled. Call it at the top of a describe block.
 */
export function usePamWorld(policy: Partial<Policy>): {
  readonly world: World;
  readonly cleanup: Cleanup;
  person(): Promise<{ os: TestUser; idv: EnrolledUser }>;
} {
  let world: World | undefined;
  const cleanup = new Cleanup();
  beforeAll(async () => {
    const w = await startWorld(policy);
    world = w;
    cleanup.add(() => w.stop());
  });
  afterAll(() => cleanup.run());
  const started = (): World => {
    if (!world) throw new Error('usePamWorld: the world starts in beforeAll');
    return world;
  };
  return {
    get world(): World {
      return started();
    },
    cleanup,
    async person() {
      const os = createUser();
      cleanup.add(() => os.remove());
      return { os, idv: await started().enrolled(os.name) };
    },
  };
}
