/**
 * Sends records to a syslog receiver: UDP (a datagram each, best effort: nothing tells a sender
 * that a datagram was lost), TCP or TLS (one connection kept open, octet-counted framing
 * `LEN SP MSG` of RFC 6587 / RFC 5425). A send resolves once the bytes are written to the
 * connection; a closed or failed connection is opened again on the next send.
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { connect as netConnect, type Socket } from 'node:net';
import { hostname } from 'node:os';
import { connect as tlsConnect } from 'node:tls';
import { readPemFile } from '../config.js';
import { FACILITIES, type SyslogDestination } from './config.js';
import { syslogLine, type ForwardRecord } from './record.js';

export interface Sender {
  readonly name: string;
  send(records: readonly ForwardRecord[]): Promise<void>;
  close(): void;
}

export function syslogName(d: SyslogDestination): string {
  return `syslog+${d.transport}://${d.host}:${d.port}`;
}

export class SyslogSender implements Sender {
  readonly name: string;
  private stream: Socket | null = null;
  private udp: UdpSocket | null = null;
  private readonly ca: Buffer | undefined;
  private readonly header: { facility: number; hostname: string; appName: string; procId: string };

  constructor(
    private readonly d: SyslogDestination,
    private readonly timeoutMs: number,
  ) {
    this.name = syslogName(d);
    this.ca = d.caFile ? readPemFile(d.caFile, 'forward.syslog.caFile') : undefined;
    this.header = {
      facility: FACILITIES[d.facility],
      hostname: d.hostname ?? (hostname().replace(/[^!-~]/g, '') || '-'),
      appName: d.appName,
      procId: String(process.pid),
    };
  }

  async send(records: readonly ForwardRecord[]): Promise<void> {
    const lines = records.map((r) => Buffer.from(syslogLine(r, this.header), 'utf8'));
    if (this.d.transport === 'udp') return this.sendUdp(lines);
    const socket = await this.connected();
    const frames = Buffer.concat(lines.flatMap((l) => [Buffer.from(`${l.length} `), l]));
    await new Promise<void>((resolve, reject) => {
      socket.write(frames, (err) => (err ? reject(err) : resolve()));
    });
  }

  private async sendUdp(lines: Buffer[]): Promise<void> {
    if (!this.udp) {
      const s = createSocket(this.d.host.includes(':') ? 'udp6' : 'udp4');
      s.on('error', () => this.closeUdp());
      s.unref();
      this.udp = s;
    }
    const s = this.udp;
    for (const l of lines) {
      await new Promise<void>((resolve, reject) =>
        s.send(l, this.d.port, this.d.host, (err) => (err ? reject(err) : resolve())),
      );
    }
  }

  private closeUdp(): void {
    this.udp?.close();
    this.udp = null;
  }

  private connected(): Promise<Socket> {
    const live = this.stream;
    if (live && !live.destroyed && live.writable) return Promise.resolve(live);
    return new Promise((resolve, reject) => {
      const opts = { host: this.d.host, port: this.d.port };
      const socket =
        this.d.transport === 'tls'
          ? tlsConnect({
              ...opts,
              servername: this.d.host,
              minVersion: 'TLSv1.2',
              ...(this.ca ? { ca: this.ca } : {}),
            })
          : netConnect(opts);
      const ready = this.d.transport === 'tls' ? 'secureConnect' : 'connect';
      const timer = setTimeout(
        () => socket.destroy(new Error(`no connection within ${this.timeoutMs} ms`)),
        this.timeoutMs,
      );
      socket.once(ready, () => {
        clearTimeout(timer);
        this.stream = socket;
        resolve(socket);
      });
      socket.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      // The receiver closing (a restart) must be noticed before the next batch is written.
      socket.on('end', () => socket.destroy());
      socket.on('close', () => {
        if (this.stream === socket) this.stream = null;
      });
      socket.on('error', () => undefined);
      socket.on('data', () => undefined);
      socket.unref();
    });
  }

  close(): void {
    this.stream?.destroy();
    this.stream = null;
    this.closeUdp();
  }
}
