/**
 * `npm run demo`: idv end to end on this machine, unprivileged, in a temporary folder, on
 * loopback: a server, a registered agent, a user enrolled with the QR code shown here, then a
 * login through idv-pam-helper on this terminal with the code from your phone.
 *
 * `npm run demo -- --auto` computes the codes itself and narrates: a good code, the same code
 * refused (replay), wrong codes until lockout, unlock from the server, a login with the server
 * stopped (cached), and the queued events arriving when the server is back.
 *
 * Everything it starts is stopped and the folder removed, also on Ctrl-C. A failure names the
 * step and the reason, and exits 1.
 */
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline/promises';
import QRCode from 'qrcode';
import { TEXT } from '../pam-helper/text.js';
import { groupSecret, parseOtpauthUri } from '../protocol/totp.js';
import { CodeClock } from './demo/codes.js';
import { Processes, type RunResult, type Started } from './demo/processes.js';

const USER = 'alice';
const MAX_ATTEMPTS = 3;

const args = process.argv.slice(2);
const unknown = args.filter((a) => a !== '--auto' && a !== '--help');
if (unknown.length || args.includes('--help')) {
  process.stdout.write(
    'Usage: npm run demo [-- --auto]\n\n  --auto  compute the codes and narrate every step, without a phone\n',
  );
  process.exit(unknown.length ? 2 : 0);
}
const AUTO = args.includes('--auto');

const root = resolve(import.meta.dirname, '..');
const tmp = mkdtempSync(join(tmpdir(), 'idv-demo-'));
const logs = join(tmp, 'logs');
mkdirSync(logs);
const procs = new Processes(join(root, 'bin'), logs, {
  ...process.env,
  IDV_LOG_LEVEL: process.env.IDV_LOG_LEVEL ?? 'info',
});

let step = 'start';
let cleaned = false;

async function cleanup(): Promise<void> {
  if (cleaned) return;
  cleaned = true;
  await procs.stopAll();
  rmSync(tmp, { recursive: true, force: true });
}

function say(text: string): void {
  process.stdout.write(`${text}\n`);
}

function heading(name: string): void {
  step = name;
  say(`\n== ${name}`);
}

function check(condition: boolean, why: string): void {
  if (!condition) throw new Error(why);
}

function lines(text: string): string {
  return text
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => `   | ${l}`)
    .join('\n');
}

/**
 * Ctrl-C is how a person ends the demo: a normal end with one line, exit 0. The terminal sends
 * SIGINT to the whole process group, so the server and agent stop too and the step in progress
 * fails a moment later: that failure is not reported (see the catch below).
 */
let interrupted: NodeJS.Signals | null = null;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (interrupted) return;
    interrupted = signal;
    void cleanup().then(() => {
      say(
        `\ndemo: stopped (${signal === 'SIGINT' ? 'Ctrl-C' : signal}) during "${step}"; everything it started is stopped and its temp folder removed`,
      );
      process.exit(signal === 'SIGINT' ? 0 : 143);
    });
  });
}

/** One question on the terminal; Ctrl-C there (readline keeps it from the kernel) ends the demo. */
async function ask(question: string): Promise<string> {
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  rl.on('SIGINT', () => process.kill(process.pid, 'SIGINT'));
  try {
    return await rl.question(question);
  } finally {
    rl.close();
  }
}
process.on('exit', () => {
  procs.killAllNow();
  rmSync(tmp, { recursive: true, force: true });
});

async function main(): Promise<void> {
  heading('server: init and serve on loopback');
  const dataDir = join(tmp, 'server');
  const init = await procs.run('idv-server', ['init', '--data-dir', dataDir, '--json']);
  check(init.code === 0, `idv-server init failed: ${init.stderr.trim()}`);
  const { adminToken } = JSON.parse(init.stdout) as { adminToken: string };
  const listen = (addr: string): Promise<Started> =>
    procs.start(
      'idv-server',
      ['serve', '--data-dir', dataDir, '--listen', addr],
      /idv-server listening on (http:\/\/\S+)/,
    );
  let server = await listen('127.0.0.1:0');
  const url = server.match[1] as string;
  say(`   idv-server listening on ${url} (data in ${dataDir})`);

  // idvctl reads the server and token from the environment (a token may start with "-").
  const ctlEnv = { IDV_SERVER: url, IDV_TOKEN: adminToken };
  const ctl = async (a: string[]): Promise<RunResult> => {
    const r = await procs.run('idvctl', a, { env: ctlEnv });
    check(r.code === 0, `idvctl ${a.join(' ')} failed: ${(r.stdout + r.stderr).trim()}`);
    return r;
  };
  await ctl(['policy', 'set', '--max-attempts', String(MAX_ATTEMPTS), '--lockout', '15m']);
  say(`   policy: ${MAX_ATTEMPTS} attempts, then locked for 15 minutes`);

  heading(`user: add ${USER} and enroll an authenticator app`);
  await ctl(['user', 'add', USER]);
  const enrolled = JSON.parse(
    (await ctl(['--json', 'user', 'enroll', USER, '--show-secret'])).stdout,
  ) as {
    otpauthUri: string;
  };
  const parsed = parseOtpauthUri(enrolled.otpauthUri);
  check(parsed !== null, 'the server gave no valid otpauth URI');
  const clock = new CodeClock(parsed!.params);
  if (AUTO) {
    say('   (--auto: the demo computes the codes an authenticator app would show)');
    // A fresh code for each try: a machine loaded enough to take a whole step to start idvctl
    // gets the next step's code.
    for (let attempt = 1; ; attempt++) {
      const r = await procs.run('idvctl', ['user', 'confirm', USER, clock.enrollment()], {
        env: ctlEnv,
      });
      if (r.code === 0) break;
      check(attempt < 3, `idvctl user confirm failed: ${(r.stdout + r.stderr).trim()}`);
    }
  } else {
    say('   Scan this with your authenticator app (Google Authenticator, Authy, ...):\n');
    say(await QRCode.toString(enrolled.otpauthUri, { type: 'terminal', small: true }));
    // This is the demo's own throw-away user: showing its key here is what the QR code does too.
    say(`   No camera? Add the key by hand in the app: ${groupSecret(parsed!.params.secret)}\n`);
    for (;;) {
      const code = (await ask('   Type the 6-digit code the app shows, to confirm: ')).trim();
      const r = await procs.run('idvctl', ['user', 'confirm', USER, code], { env: ctlEnv });
      if (r.code === 0) break;
      say(`   ${(r.stdout + r.stderr).trim()}`);
    }
    process.stdin.pause();
  }
  say(`   ${USER} is enrolled`);

  heading('agent: register this machine and run the agent on a temp socket');
  const agentDir = join(tmp, 'agent');
  const socket = join(tmp, 'run', 'agent.sock');
  const { token } = JSON.parse((await ctl(['--json', 'device', 'token', 'create'])).stdout) as {
    token: string;
  };
  // `--token=T`: a token may start with "-".
  const reg = await procs.run('idv-agent', [
    'register',
    '--server',
    url,
    `--token=${token}`,
    '--data-dir',
    agentDir,
  ]);
  check(reg.code === 0, `idv-agent register failed: ${(reg.stdout + reg.stderr).trim()}`);
  await procs.start(
    'idv-agent',
    ['run', '--data-dir', agentDir, '--socket', socket],
    /idv-agent listening on/,
  );
  const status = async (): Promise<{
    connected: boolean;
    users: number;
    locked: string[];
    outbox: number;
  }> => {
    const r = await procs.run('idv-agent', [
      'status',
      '--json',
      '--data-dir',
      agentDir,
      '--socket',
      socket,
    ]);
    check(r.code === 0, `idv-agent status failed: ${(r.stdout + r.stderr).trim()}`);
    return JSON.parse(r.stdout) as {
      connected: boolean;
      users: number;
      locked: string[];
      outbox: number;
    };
  };
  const waitFor = async (
    what: string,
    ok: (s: Awaited<ReturnType<typeof status>>) => boolean,
  ): Promise<void> => {
    for (let i = 0; i < 150; i++) {
      if (ok(await status())) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`timed out waiting until ${what}`);
  };
  await waitFor(`the agent has synced ${USER}`, (s) => s.connected && s.users >= 1);
  say(`   idv-agent listening on ${socket}, synced (${USER} cached)`);

  const pamEnv = { PAM_USER: USER, PAM_SERVICE: 'sudo', PAM_TYPE: 'auth' };
  /** One login through the helper, the code given as pam_exec expose_authtok would. */
  const login = async (code: string): Promise<RunResult> => {
    const r = await procs.run('idv-pam-helper', ['--authtok', '--socket', socket], {
      env: pamEnv,
      input: code,
    });
    if (r.stdout.trim()) say(lines(r.stdout));
    return r;
  };

  if (!AUTO) {
    heading('login: type the code from your phone, as at a sudo prompt');
    const tty = process.stdin.isTTY ? readlinkSync('/proc/self/fd/0') : null;
    for (;;) {
      let code: number;
      if (tty) {
        // The helper opens the terminal PAM_TTY names and asks there, as under sudo.
        code = await procs.interactive('idv-pam-helper', ['--socket', socket], {
          ...pamEnv,
          PAM_TTY: tty,
        });
      } else {
        const typed = await ask(`   ${TEXT.prompt}`);
        code = (await login(typed.trim())).code;
      }
      say(code === 0 ? '   => login allowed (exit 0)' : `   => login refused (exit ${code})`);
      const again = (await ask('   Try again? [y/N] ')).trim().toLowerCase();
      process.stdin.pause();
      if (again !== 'y') break;
    }
    heading('events the server received');
    say(lines((await ctl(['events', '--user', USER])).stdout));
    return;
  }

  const waitNote = (s: number): void =>
    say(`   (waiting ${s} s for the app's next code: each code works once)`);

  heading('a good code is accepted');
  const good = await clock.fresh(waitNote);
  const first = await login(good);
  check(first.code === 0, `a valid code was refused (exit ${first.code})`);
  say('   => login allowed');

  heading('the same code again is refused (replay)');
  const replay = await login(good);
  check(replay.code !== 0, 'a code was accepted twice');
  say('   => login refused');

  // The replay above was a failed attempt too: the lockout comes after MAX_ATTEMPTS - 1 more.
  heading(
    `wrong codes until lockout (${MAX_ATTEMPTS} failed attempts in a row; the replay was the first)`,
  );
  let locked = '';
  let wrong = 0;
  for (; wrong < MAX_ATTEMPTS + 2 && !locked; wrong++) {
    const r = await login(clock.wrong());
    check(r.code !== 0, 'a wrong code was accepted');
    if (/locked/i.test(r.stdout)) locked = r.stdout.trim();
  }
  check(locked !== '', `no lockout after ${MAX_ATTEMPTS + 2} wrong codes`);
  say(`   => locked after the replay and ${wrong} wrong code(s)`);
  const whileLocked = await login(await clock.fresh(waitNote));
  check(whileLocked.code !== 0, 'a valid code was accepted during the lockout');
  say('   => locked: even a valid code is refused now');

  heading('unlock from the server (idvctl user unlock)');
  await ctl(['user', 'unlock', USER]);
  await waitFor('the unlock reached the agent', (s) => !s.locked.includes(USER));
  const afterUnlock = await login(await clock.fresh(waitNote));
  check(afterUnlock.code === 0, `login after unlock refused (exit ${afterUnlock.code})`);
  say('   => unlocked; login allowed');

  heading('server stopped: the cached login still works');
  // Everything decided so far reaches the server first, so that what is queued below and what
  // arrives later are the same events: the offline login's.
  await waitFor('the agent uploaded its events', (s) => s.outbox === 0);
  const before = (
    JSON.parse((await ctl(['--json', 'events', '--user', USER])).stdout) as { events: unknown[] }
  ).events.length;
  const port = new URL(url).port;
  await server.stop();
  await waitFor('the agent noticed the server is gone', (s) => !s.connected);
  say('   idv-server stopped; agent offline');
  const offline = await login(await clock.fresh(waitNote));
  check(offline.code === 0, `offline login refused (exit ${offline.code})`);
  const queued = (await status()).outbox;
  check(queued > 0, 'the offline login left no queued event');
  say(`   => login allowed offline; ${queued} event(s) queued on the agent`);

  heading('server back: the queued events arrive');
  server = await listen(`127.0.0.1:${port}`);
  await waitFor(
    'the agent reconnected and uploaded its queue',
    (s) => s.connected && s.outbox === 0,
  );
  const after = (
    JSON.parse((await ctl(['--json', 'events', '--user', USER])).stdout) as { events: unknown[] }
  ).events;
  check(after.length > before, 'no new events reached the server');
  say(
    `   ${after.length - before} event(s) arrived (the ones queued offline); the last ones (idvctl events --user ${USER}):`,
  );
  const table = (await ctl(['events', '--user', USER])).stdout.trim().split('\n');
  say(lines([table[0] ?? '', ...table.slice(1).slice(-4)].join('\n')));
}

main()
  .then(async () => {
    await cleanup();
    say('\ndemo: done; everything it started is stopped and its temp folder removed');
  })
  .catch(async (err: unknown) => {
    // A Ctrl-C stops the server and agent at the same moment as the demo: their end can fail
    // the step just before the demo's own SIGINT handler runs. Give that signal a moment.
    if (!interrupted) await new Promise((r) => setTimeout(r, 300));
    if (interrupted) return;
    process.stderr.write(`\ndemo: step "${step}" failed: ${(err as Error).message}\n`);
    // The logs go with the temp folder: show their last lines first.
    for (const f of readdirSync(logs)) {
      const tail = readFileSync(join(logs, f), 'utf8').trim().split('\n').slice(-5).join('\n   ');
      if (tail) process.stderr.write(`   last lines of ${f}:\n   ${tail}\n`);
    }
    await cleanup();
    process.exitCode = 1;
  });
