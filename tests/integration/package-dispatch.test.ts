// The multi-call rules of the single executable: which program a name or first argument picks.
import { describe, expect, it } from 'vitest';
import { choose } from '../../packaging/sea/dispatch.js';

describe('multi-call dispatch', () => {
  it('picks the program from the link name, keeping every argument', () => {
    expect(choose('/usr/bin/idv-pam-helper', ['--authtok'])).toEqual({
      kind: 'program',
      program: 'idv-pam-helper',
      args: ['--authtok'],
    });
    expect(choose('idvctl', ['user', 'list'])).toMatchObject({
      program: 'idvctl',
      args: ['user', 'list'],
    });
  });

  it('picks the program from the first argument when started as idv', () => {
    expect(choose('/usr/lib/idv/idv', ['idv-agent', 'status', '--json'])).toEqual({
      kind: 'program',
      program: 'idv-agent',
      args: ['status', '--json'],
    });
  });

  it('refuses an unknown program with usage (exit 2) and answers --help (exit 0)', () => {
    const unknown = choose('idv', ['idv-shell']);
    expect(unknown).toMatchObject({ kind: 'usage', exitCode: 2 });
    expect(unknown.kind === 'usage' && unknown.text).toContain('unknown program "idv-shell"');
    expect(choose('idv', [])).toMatchObject({ kind: 'usage', exitCode: 2 });
    expect(choose('idv', ['--help'])).toMatchObject({ kind: 'usage', exitCode: 0 });
  });

  it('does not treat a program name given later as a choice', () => {
    expect(choose('idv', ['status', 'idv-agent'])).toMatchObject({ kind: 'usage', exitCode: 2 });
  });
});
