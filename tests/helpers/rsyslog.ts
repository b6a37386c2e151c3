/**
 * Test helper: a real rsyslogd (Debian's rsyslog, with rsyslog-openssl for TLS) in the
 * foreground with its own config in a temp folder: imudp, imtcp and imtcp over TLS (ossl, a
 * self-signed certificate) on free 127.0.0.1 ports, everything written by omfile to one file in
 * RFC 5424 form. stop() and start() again keep the ports (a receiver that goes down and comes back).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './slapd.js';
import { selfSignedCert } from './tls.js';

export const RSYSLOGD =
  ['/usr/sbin/rsyslogd', '/sbin/rsyslogd'].find((p) => existsSync(p)) ?? 'rsyslogd';
/** rsyslog's TLS driver lives in its own package (rsyslog-openssl). */
export const RSYSLOG_OSSL = '/usr/lib/x86_64-linux-gnu/rsyslog/lmnsd_ossl.so';

export interface Rsyslog {
  udpPort: number;
  tcpPort: number;
  tlsPort: number;
  caFile: string;
  lines(): string[];
  start(): Promise<void>;
  stop(): Promise<void>;
  remove(): Promise<void>;
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port }, () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });
}

export async function startRsyslog(): Promise<Rsyslog> {
  const dir = mkdtempSync(join(tmpdir(), 'idv-rsyslog-'));
  mkdirSync(join(dir, 'work'));
  const { cert, key } = selfSignedCert(dir);
  const [udpPort, tcpPort, tlsPort] = [await freePort(), await freePort(), await freePort()];
  const out = join(dir, 'received.log');
  const conf = join(dir, 'rsyslog.conf');
  writeFileSync(
    conf,
    `global(workDirectory="${join(dir, 'work')}"
  defaultNetstreamDriverCertFile="${cert}" defaultNetstreamDriverKeyFile="${key}"
  defaultNetstreamDriverCAFile="${cert}")
module(load="imudp")
module(load="imtcp" maxSessions="100")
input(type="imudp" address="127.0.0.1" port="${udpPort}")
input(type="imtcp" address="127.0.0.1" port="${tcpPort}" name="tcp")
input(type="imtcp" address="127.0.0.1" port="${tlsPort}" name="tls"
  streamDriver.name="ossl" streamDriver.mode="1" streamDriver.authMode="anon")
template(name="withInput" type="string" string="%inputname% %rawmsg-after-pri%\\n")
*.* action(type="omfile" file="${out}" template="withInput")
`,
  );
  let child: ChildProcess | null = null;
  const r: Rsyslog = {
    udpPort,
    tcpPort,
    tlsPort,
    caFile: cert,
    lines: () =>
      existsSync(out)
        ? readFileSync(out, 'utf8')
            .split('\n')
            .filter((l) => l !== '')
        : [],
    start: async () => {
      let log = '';
      const c = spawn(RSYSLOGD, ['-n', '-f', conf, '-i', join(dir, 'rsyslogd.pid')], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      child = c;
      c.stdout?.on('data', (d: Buffer) => (log += d.toString()));
      c.stderr?.on('data', (d: Buffer) => (log += d.toString()));
      const deadline = Date.now() + 30_000;
      while (!((await accepts(tcpPort)) && (await accepts(tlsPort)))) {
        if (c.exitCode !== null) throw new Error(`rsyslogd exited: ${log}`);
        if (Date.now() > deadline) throw new Error(`rsyslogd did not listen: ${log}`);
        await new Promise((x) => setTimeout(x, 100));
      }
    },
    stop: async () => {
      const c = child;
      child = null;
      if (!c || c.exitCode !== null) return;
      const gone = new Promise((x) => c.once('exit', x));
      c.kill('SIGTERM');
      await gone;
    },
    remove: async () => {
      await r.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await r.start();
  return r;
}
