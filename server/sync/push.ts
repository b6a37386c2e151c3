/**
 * Fan-out: after a change, every ready connection gets at most one message, computed once per
 * (device group, base revision) and rendered once per distinct content. Runs one pass at a time;
 * changes arriving during a pass trigger one more pass.
 */
import type { ServerContext } from '../context.js';
import type { DeviceState } from '../store/store.js';
import type { AgentConnection } from './connection.js';
import { deltaMessage, snapshotMessage, type GroupMessage } from './view.js';

export class Pusher {
  private running = false;
  private dirty = false;
  private idle: Promise<void> = Promise.resolve();
  /** Snapshots for agents connecting now, per device group; dropped at every change. */
  private snapshots = new Map<string, Promise<GroupMessage>>();

  constructor(
    private readonly ctx: ServerContext,
    private readonly connections: () => Iterable<AgentConnection>,
  ) {}

  /** The message a device that has applied `since` gets first: a delta when possible. */
  async initialMessage(device: DeviceState, since: number): Promise<GroupMessage> {
    const now = this.ctx.clock();
    if (since > 0) {
      const set = await this.ctx.store.changesSince(since, this.ctx.config.maxDeltaChanges, [
        device.deviceGroup,
      ]);
      const delta = deltaMessage(device.deviceGroup, since, set, now, true);
      if (delta !== 'snapshot' && delta !== null) return delta;
    }
    // Agents reconnecting en masse (a server restart) share one snapshot per group: one read,
    // one decryption pass, one JSON rendering. A change made meanwhile reaches them as a delta.
    let snap = this.snapshots.get(device.deviceGroup);
    if (!snap) {
      snap = this.ctx.store
        .snapshot(device.deviceGroup)
        .then((data) => snapshotMessage(device.deviceGroup, data, now));
      this.snapshots.set(device.deviceGroup, snap);
      snap.catch(() => this.snapshots.delete(device.deviceGroup));
    }
    return snap;
  }

  /** Resolves when the pass running now (if any, and any it scheduled) is done. */
  settled(): Promise<void> {
    return this.idle;
  }

  /** Something changed: push it. Resolves when the pass that includes this change is done. */
  notify(): Promise<void> {
    this.snapshots.clear();
    return this.schedule();
  }

  /**
   * A connection just got its first message: if the store moved on meanwhile, run a pass. Cheap
   * when nothing changed, so a thousand agents connecting do not cause a thousand passes.
   */
  catchUp(conn: AgentConnection): void {
    if (this.running) {
      this.dirty = true;
      return;
    }
    void this.ctx.store
      .revision()
      .then((revision) => {
        if (conn.state === 'ready' && revision !== conn.base) void this.schedule();
      })
      .catch(() => undefined);
  }

  private schedule(): Promise<void> {
    this.dirty = true;
    if (!this.running) {
      this.running = true;
      this.idle = this.loop();
    }
    return this.idle;
  }

  private async loop(): Promise<void> {
    try {
      while (this.dirty) {
        this.dirty = false;
        await this.pass().catch((err: unknown) => {
          this.ctx.log.error(
            { err: { name: (err as Error)?.name, message: (err as Error)?.message } },
            'push failed',
          );
        });
      }
    } finally {
      this.running = false;
    }
  }

  private async pass(): Promise<void> {
    const byBase = new Map<number, Map<string, AgentConnection[]>>();
    for (const c of this.connections()) {
      if (c.state !== 'ready' || !c.device) continue;
      const groups = byBase.get(c.base) ?? new Map<string, AgentConnection[]>();
      const list = groups.get(c.device.deviceGroup) ?? [];
      list.push(c);
      groups.set(c.device.deviceGroup, list);
      byBase.set(c.base, groups);
    }
    const now = this.ctx.clock();
    const snapshots = new Map<string, GroupMessage>();
    for (const [base, groups] of byBase) {
      const set = await this.ctx.store.changesSince(base, this.ctx.config.maxDeltaChanges, [
        ...groups.keys(),
      ]);
      for (const [group, conns] of groups) {
        let message = deltaMessage(group, base, set, now);
        if (message === 'snapshot') {
          message =
            snapshots.get(group) ??
            snapshotMessage(group, await this.ctx.store.snapshot(group), now);
          snapshots.set(group, message);
        }
        if (message === null) continue;
        const sentAt = performance.now();
        let sent = 0;
        for (const c of conns) if (c.base === base && c.push(message, sentAt)) sent++;
        this.ctx.metrics.pushes.inc({ kind: message.kind }, sent);
      }
    }
  }
}
