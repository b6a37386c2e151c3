/**
 * bench:pam — a whole `pamtester SERVICE USER authenticate` login with a wrong code, the agent
 * warm, through (a) pam_idv.so, (b) the pam_exec helper (the shipped key + code stack's line),
 * (c) pam_google_authenticator.so with the same secret, (d) pam_permit.so; plus a begin → skip
 * login through the module and the helper (a user idv does not manage). One run, interleaved
 * rounds, each under `env -i`, the code on pamtester's stdin. Run as root (PAM service files).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startWorld, type EnrolledUser } from '../tests/integration/helper-world.js';
import { MODULE } from '../tests/e2e/pam-module/paths.js';
import { Cleanup, HELPER_COMMAND, createUser, installService } from '../tests/e2e/system.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 40);
const USERS = Math.ceil((2 * RUNS) / 90);

function pct(values: number[], p: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] as number;
}

function login(service: string, user: string, input: string, want: number): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync('/usr/bin/env', ['-i', '/usr/bin/pamtester', service, user, 'authenticate'], {
    input,
    stdio: ['pipe', 'ignore', 'ignore'],
  });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== want) throw new Error(`${service} ${user}: exit ${r.status}, expected ${want}`);
  return ms;
}

if (process.getuid?.() !== 0) throw new Error('bench:pam needs root (it writes /etc/pam.d files)');
const cleanup = new Cleanup();
try {
  const world = await startWorld({ maxAttempts: 100, prompts: 1 });
  cleanup.add(() => world.stop());
  const secrets = mkdtempSync(path.join(tmpdir(), 'idv-bench-ga-'));
  cleanup.add(() => rmSync(secrets, { recursive: true, force: true }));
  const users: { name: string; idv: EnrolledUser }[] = [];
  for (let i = 0; i < USERS; i++) {
    const os = createUser();
    cleanup.add(() => os.remove());
    const idv = await world.enrolled(os.name);
    writeFileSync(path.join(secrets, os.name), `${idv.totp.secret}\n" TOTP_AUTH\n`, {
      mode: 0o400,
    });
    users.push({ name: os.name, idv });
  }
  const unmanaged = createUser();
  cleanup.add(() => unmanaged.remove());
  const sock = world.agent.socket;
  const svc = (tag: string, lines: string[]): string => {
    const s = installService(tag, `${lines.join('\n')}\n`);
    cleanup.add(() => s.remove());
    return s.name;
  };
  const account = 'account required pam_permit.so';
  const services = {
    module: svc('bmod', [`auth required ${MODULE} socket=${sock}`, account]),
    helper: svc('bexec', [
      `auth requisite pam_exec.so quiet stdout expose_authtok ${HELPER_COMMAND} --authtok --socket ${sock}`,
      'auth optional pam_permit.so',
      account,
    ]),
    ga: svc('bga', [
      `auth required pam_google_authenticator.so secret=${secrets}/\${USER} user=root`,
      account,
    ]),
    permit: svc('bpermit', ['auth required pam_permit.so', account]),
  };
  const series: Record<string, number[]> = {
    module: [],
    helper: [],
    ga: [],
    permit: [],
    moduleSkip: [],
    helperSkip: [],
  };
  const round = (i: number, record: boolean): void => {
    const u = users[i % USERS]!;
    const wrong = `${u.idv.wrong()}\n`;
    const add = (k: string, ms: number): void => void (record && series[k]!.push(ms));
    add('permit', login(services.permit, u.name, '', 0));
    add('module', login(services.module, u.name, wrong, 1));
    add('ga', login(services.ga, u.name, wrong, 1));
    add('helper', login(services.helper, u.name, wrong, 1));
    add('moduleSkip', login(services.module, unmanaged.name, '', 0));
    add('helperSkip', login(services.helper, unmanaged.name, '\n', 0));
  };
  for (let i = 0; i < 3; i++) round(i, false); // warm-up: page cache, the agent's first queries
  for (let i = 0; i < RUNS; i++) round(i, true);
  const p50 = (k: string): number => pct(series[k]!, 50);
  const rows: [string, string][] = [
    ['(a) pam_idv.so: begin → prompt → verify (wrong code)', 'module'],
    ['(b) pam_exec + idv-pam-helper (wrong code)', 'helper'],
    ['(c) pam_google_authenticator.so (wrong code)', 'ga'],
    ['(d) pam_permit.so', 'permit'],
    ['pam_idv.so: begin → skip (unmanaged user)', 'moduleSkip'],
    ['pam_exec + helper: begin → skip (unmanaged user)', 'helperSkip'],
  ];
  console.log(
    [
      `bench:pam — ${RUNS} interleaved rounds, whole pamtester logins under env -i; ${new Date().toISOString().slice(0, 10)}; Node ${process.version}`,
      '',
      '| login | p50 ms | p95 ms | p50 / google-authenticator | p50 / permit |',
      '|---|---:|---:|---:|---:|',
      ...rows.map(
        ([name, k]) =>
          `| ${name} | ${p50(k).toFixed(1)} | ${pct(series[k]!, 95).toFixed(1)} | ${(p50(k) / p50('ga')).toFixed(2)} | ${(p50(k) / p50('permit')).toFixed(2)} |`,
      ),
    ].join('\n'),
  );
} finally {
  await cleanup.run();
}
