/**
 * Manual pages and completion cannot drift from the programs: every command's --help (the real
 * built program) says nothing the manual page leaves out; the pages the build wrote are what the
 * programs print now; groff renders every page without a warning; the hand-written pages of the
 * helper and the module list exactly the options their parsers accept; bash completes idvctl's
 * commands and flags from the same table.
 */
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { OPTIONS as HELPER_OPTIONS } from '../../pam-helper/options.js';
import { missing } from '../helpers/require.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const DIST = join(ROOT, 'dist');
const PROGRAMS = [
  { bin: 'idvctl', page: 'idvctl.1' },
  { bin: 'idv-server', page: 'idv-server.8' },
  { bin: 'idv-agent', page: 'idv-agent.8' },
];
const ALL_PAGES = [...PROGRAMS.map((p) => p.page), 'idv-pam-helper.8', 'pam_idv.8'];

const execFileAsync = promisify(execFile);
async function runAsync(bin: string, args: string[]): Promise<string> {
  const r = await execFileAsync(process.execPath, [join(DIST, `${bin}.js`), ...args], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
  });
  return r.stdout;
}

function run(bin: string, args: string[]): string {
  const r = spawnSync(process.execPath, [join(DIST, `${bin}.js`), ...args], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
  });
  return r.stdout;
}

/** The text a reader sees, without roff's font changes and escapes, one space between words. */
function plain(roff: string): string {
  return roff
    .split('\n')
    .filter((l) => !/^\.(TH|SH|TP|PP|RS|RE|nf|fi|B|I)\b/.test(l) || /^\.(B|I) /.test(l))
    .map((l) => l.replace(/^\.(B|I) /, ''))
    .join(' ')
    .replace(/\\f[BIRP]/g, '')
    .replace(/\\-/g, '-')
    .replace(/\\&/g, '')
    .replace(/\\e/g, '\\')
    .replace(/\s+/g, ' ');
}

/** Command keys from a program's help: the lines under "Commands:". */
function commandsOf(help: string): string[] {
  const block = help.split('Commands:\n')[1]?.split('\n\n')[0] ?? '';
  return (
    block
      .split('\n')
      // A summary continued on its own line (after a command too long for the column).
      .filter((l) => !/^\s{20,}/.test(l))
      .map((l) => l.trim().split(/\s{2,}/)[0] as string)
      .filter(Boolean)
      .map((c) =>
        c
          .split(' ')
          .filter((w) => /^[a-z][a-z-]*$/.test(w))
          .join(' '),
      )
  );
}

describe('manual pages', () => {
  for (const { bin, page } of PROGRAMS) {
    it(`${page} says everything ${bin} --help says, for every command`, async () => {
      const man = plain(run(bin, ['--manpage']));
      const top = run(bin, ['--help']);
      const commands = commandsOf(top);
      expect(commands.length).toBeGreaterThan(1);
      const helps = await Promise.all(
        commands.map((c) => runAsync(bin, [...c.split(' '), '--help'])),
      );
      for (const [i, command] of commands.entries()) {
        const help = helps[i] as string;
        const usage = /^Usage: (.*)$/m.exec(help)?.[1] as string;
        expect(man, `${bin} ${command}: usage`).toContain(usage.replace(/\s+/g, ' '));
        // Each option line: the flag and its help text.
        for (const line of (help.split('Options:\n')[1] ?? '').split('\n').filter(Boolean)) {
          for (const part of line.trim().split(/\s{2,}/)) {
            expect(man, `${bin} ${command}: ${part}`).toContain(part.replace(/\s+/g, ' '));
          }
        }
      }
    });

    it(`the built dist/man/${page} is what ${bin} prints now`, () => {
      expect(readFileSync(join(DIST, 'man', page), 'utf8')).toBe(run(bin, ['--manpage']));
    });
  }

  const noGroff = missing({ commands: ['groff'] });
  it.skipIf(noGroff !== null)('every page renders without a groff warning', () => {
    for (const page of ALL_PAGES) {
      const r = spawnSync('groff', ['-man', '-ww', '-z', join(DIST, 'man', page)], {
        encoding: 'utf8',
      });
      expect(r.stderr, page).toBe('');
      expect(r.status, page).toBe(0);
    }
  });

  it('idv-pam-helper.8 lists exactly the options the helper accepts, with its defaults', () => {
    const man = plain(readFileSync(join(ROOT, 'packaging/man/idv-pam-helper.8'), 'utf8'));
    const documented = new Set([...man.matchAll(/--([a-z][a-z-]+)/g)].map((m) => m[1]));
    expect([...documented].sort()).toEqual(Object.keys(HELPER_OPTIONS).sort());
    expect(man).toContain('(default /run/idv/agent.sock)');
    expect(man).toContain('(default 60)');
  });

  it('pam_idv.8 lists exactly the options pam_idv.c accepts', () => {
    const source = readFileSync(join(ROOT, 'pam-module/pam_idv.c'), 'utf8');
    const accepted = new Set(
      [...source.matchAll(/str(?:n)?cmp\(a, "([a-z_]+=?)"/g)].map((m) => m[1] as string),
    );
    const man = readFileSync(join(ROOT, 'packaging/man/pam_idv.8'), 'utf8');
    const section = man.split('.SH OPTIONS')[1]?.split('.SH ')[0] ?? '';
    // Each option is a .TP item whose tag starts with its bold name.
    const documented = new Set(
      [...section.matchAll(/^\.TP\n\\fB([a-z_]+=?)/gm)].map((m) => m[1] as string),
    );
    expect(accepted.size).toBeGreaterThanOrEqual(4);
    expect([...documented].sort()).toEqual([...accepted].sort());
  });
});

describe('bash completion for idvctl', () => {
  const script = join(DIST, 'completion', 'idvctl');
  const complete = (line: string): string[] => {
    const words = line.split(' ');
    const out = execFileSync(
      'bash',
      [
        '-c',
        `source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _idvctl; printf '%s\\n' "\${COMPREPLY[@]}"`,
        'complete',
        script,
        ...words,
      ],
      { encoding: 'utf8', cwd: ROOT },
    );
    return out.split('\n').filter(Boolean);
  };

  it('completes command words level by level', () => {
    expect(complete('idvctl us')).toEqual(['user']);
    expect(complete('idvctl user ')).toEqual(expect.arrayContaining(['add', 'enroll', 'unlock']));
    expect(complete('idvctl device token ')).toEqual(['create', 'list', 'revoke']);
  });

  it("completes a command's own flags and the global ones, after its arguments", () => {
    const flags = complete('idvctl user add alice --');
    expect(flags).toEqual(expect.arrayContaining(['--group', '--admin', '--json', '--server']));
    expect(flags).not.toContain('--show-secret');
    expect(complete('idvctl --server https://x user unlock bob --d')).toEqual(['--device']);
  });

  it('completes file names after --token-file, nothing after a value flag', () => {
    expect(complete('idvctl --token-file packa')).toContain('package.json');
    expect(complete('idvctl policy set --max-attempts ')).toEqual([]);
  });
});
