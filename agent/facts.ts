/**
 * The machine's facts for registration and hello, from systeminformation: hostname, OS and
 * version, architecture, serial and hardware UUID where the machine has them, and the OS machine
 * id (/etc/machine-id) otherwise. Placeholder values firmware often reports are dropped. Never
 * throws: a probe that fails or hangs falls back to what node:os knows.
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import si from 'systeminformation';
import type { DeviceFacts } from '../protocol/messages.js';

const PLACEHOLDER =
  /^(|-|none|n\/a|unknown|not specified|default string|to be filled by o\.e\.m\.|system serial number|0+|[0-]+)$/i;

function clean(value: unknown, max: number): string | undefined {
  if (typeof value !== 'string') return undefined;
  const v = value.trim();
  return PLACEHOLDER.test(v) ? undefined : v.slice(0, max);
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T | null> {
  return Promise.race([
    p.catch(() => null),
    new Promise<null>((resolve) => setTimeout(() => resolve(null), ms).unref()),
  ]);
}

function machineId(): string | undefined {
  for (const f of ['/etc/machine-id', '/var/lib/dbus/machine-id']) {
    try {
      const id = clean(readFileSync(f, 'utf8'), 256);
      if (id) return id;
    } catch {
      // try the next one
    }
  }
  return undefined;
}

export async function collectFacts(timeoutMs = 5000): Promise<DeviceFacts> {
  const [osInfo, system, uuid] = await Promise.all([
    withTimeout(si.osInfo(), timeoutMs),
    withTimeout(si.system(), timeoutMs),
    withTimeout(si.uuid(), timeoutMs),
  ]);
  const serial = clean(system?.serial, 256) ?? clean(osInfo?.serial, 256);
  const hardwareUuid = clean(system?.uuid, 256) ?? clean(uuid?.hardware, 256);
  const facts: DeviceFacts = {
    hostname: (clean(osInfo?.hostname, 256) ?? os.hostname()).slice(0, 256),
    os: (clean(osInfo?.distro, 256) ?? os.type()).slice(0, 256),
    osVersion: (clean(osInfo?.release, 256) ?? os.release()).slice(0, 256),
    arch: (clean(osInfo?.arch, 64) ?? os.arch()).slice(0, 64),
  };
  if (serial) facts.serial = serial;
  if (hardwareUuid) facts.hardwareUuid = hardwareUuid;
  if (!serial && !hardwareUuid) {
    const id = machineId();
    if (id) facts.machineId = id;
  }
  return facts;
}
