/**
 * A private OpenSSH server for one test: its own config, host key, port on 127.0.0.1 and PAM
 * service. sshd names its PAM service after its program name, so it runs through a symlink named
 * like the test's service file (idv-test-sshd-*) → /usr/sbin/sshd. The system sshd and its
 * files are never touched.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import {
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { PtySession } from './pty.js';
import { REPO, installService, type TestUser } from './system.js';

export interface Sshd {
  port: number;
  /** The client key authorized for the user. */
  clientKey: string;
  /** Replaces the PAM service file (read again at each connection). */
  setPam(text: string): void;
  logs(): string;
  stop(): Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/**
 * Starts sshd with the shipped sshd_config lines (packaging/pam/debian/<configName>) and the given
 * PAM service text, for one user whose authorized key is created here.
 */
export async function startSshd(opts: {
  pamService: string;
  configName: string;
  user: TestUser;
}): Promise<Sshd> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'idv-sshd-'));
  const cleanups: (() => void)[] = [() => rmSync(dir, { recursive: true, force: true })];
  let child: ChildProcess | null = null;
  let logs = '';
  const stop = async (): Promise<void> => {
    if (child && child.exitCode === null && child.signalCode === null) {
      const c = child;
      const gone = new Promise((r) => c.once('exit', r));
      c.kill('SIGTERM');
      await Promise.race([gone, new Promise((r) => setTimeout(r, 3000))]);
      if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    }
    for (const step of cleanups.splice(0).reverse()) {
      try {
        step();
      } catch {
        // keep cleaning
      }
    }
  };
  try {
    const service = installService('sshd', opts.pamService);
    cleanups.push(() => service.remove());
    // sshd refuses to start without its privilege-separation directory; create it only if absent.
    if (!existsSync('/run/sshd')) {
      mkdirSync('/run/sshd', { mode: 0o755 });
      cleanups.push(() => rmSync('/run/sshd', { recursive: true, force: true }));
    }
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', `${dir}/host_key`]);
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', `${dir}/client_key`]);
    const ssh = path.join(opts.user.home, '.ssh');
    mkdirSync(ssh, { mode: 0o700, recursive: true });
    writeFileSync(`${ssh}/authorized_keys`, readFileSync(`${dir}/client_key.pub`), {
      mode: 0o600,
    });
    chownSync(ssh, opts.user.uid, opts.user.uid);
    chownSync(`${ssh}/authorized_keys`, opts.user.uid, opts.user.uid);

    const port = await freePort();
    const shipped = readFileSync(path.join(REPO, 'packaging/pam/debian', opts.configName), 'utf8');
    writeFileSync(
      `${dir}/sshd_config`,
      [
        `Port ${port}`,
        'ListenAddress 127.0.0.1',
        `HostKey ${dir}/host_key`,
        `PidFile ${dir}/sshd.pid`,
        'AuthorizedKeysFile .ssh/authorized_keys',
        'StrictModes yes',
        `AllowUsers ${opts.user.name}`,
        'PrintMotd no',
        'LogLevel VERBOSE',
        shipped,
      ].join('\n'),
    );
    const program = path.join(dir, service.name);
    symlinkSync('/usr/sbin/sshd', program);
    execFileSync(program, ['-t', '-f', `${dir}/sshd_config`]);
    const started = spawn(program, ['-D', '-e', '-f', `${dir}/sshd_config`], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child = started;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`sshd did not start:\n${logs}`)), 10_000);
      const onData = (d: Buffer): void => {
        logs += d.toString();
        if (logs.includes(`Server listening on 127.0.0.1 port ${port}`)) {
          clearTimeout(timer);
          resolve();
        }
      };
      started.stdout?.on('data', onData);
      started.stderr?.on('data', onData);
      started.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`sshd exited with ${code}:\n${logs}`));
      });
    });
    return {
      port,
      clientKey: `${dir}/client_key`,
      setPam: (text) => writeFileSync(`/etc/pam.d/${service.name}`, text),
      logs: () => logs,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** The real ssh client under a pty, logging in as the user and running `command`. */
export function sshClient(sshd: Sshd, user: string, command: string): PtySession {
  return PtySession.spawn('/usr/bin/ssh', [
    '-F',
    '/dev/null',
    '-p',
    String(sshd.port),
    '-i',
    sshd.clientKey,
    '-o',
    'IdentitiesOnly=yes',
    '-o',
    'StrictHostKeyChecking=no',
    '-o',
    'UserKnownHostsFile=/dev/null',
    // LogLevel stays INFO: ssh shows a keyboard-interactive message without a prompt (the
    // helper's verdict after a failed code) only at that level.
    '-o',
    'PreferredAuthentications=publickey,keyboard-interactive',
    // One keyboard-interactive round per connection: one helper run, one code.
    '-o',
    'NumberOfPasswordPrompts=1',
    `${user}@127.0.0.1`,
    command,
  ]);
}
