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
  /**
   * First messages for agents connecting now, per device group and the revision they have (the
   * shared snapshot, or the delta from that revision); dropped at every change.
   */
  private firsts = new Map<string, Promise<GroupMessage | null>>();
  /** Connections that got their first message since the last revision check (see catchUp). */
  private unchecked: AgentConnection[] = [];

  constructor(
    private readonly ctx: ServerContext,
    private readonly connections: () => Iterable<AgentConnection>,
  ) {}

  /**
   * The message a device that has applied `since` gets first: a delta when possible. Agents
   * reconnecting en masse (a server restart) share one per (device group, since): one read, one
   * decryption pass, one JSON rendering per session version, not one per device. A change made
   * meanwhile clears them and reaches those agents as a delta (catchUp).
   */
  async initialMessage(device: DeviceState, since: number): Promise<GroupMessage> {
    const group = device.deviceGroup;
    const now = this.ctx.clock();
    if (since > 0) {
      const delta = await this.shared(JSON.stringify(['delta', group, since]), async () => {
        const set = await this.ctx.store.changesSince(since, this.ctx.config.maxDeltaChanges, [
          group,
        ]);
        const d = deltaMessage(group, since, set, now, true);
        return d === 'snapshot' ? null : d;
      });
      if (delta) return delta;
    }
    const snap = await this.shared(JSON.stringify(['snapshot', group]), async () =>
      snapshotMessage(group, await this.ctx.store.snapshot(group), now),
    );
    return snap as GroupMessage;
  }

  /** The cached first message under `key`, built once; a failed build is not kept. */
  private shared(
    key: string,
    build: () => Promise<GroupMessage | null>,
  ): Promise<GroupMessage | null> {
    let p = this.firsts.get(key);
    if (!p) {
      const built = build();
      this.firsts.set(key, built);
      built.catch(() => {
        if (this.firsts.get(key) === built) this.firsts.delete(key);
      });
      p = built;
    }
    return p;
  }

  /** Resolves when the pass running now (if any, and any it scheduled) is done. */
  settled(): Promise<void> {
    return this.idle;
  }

  /** Something changed: push it. Resolves when the pass that includes this change is done. */
  notify(): Promise<void> {
    this.firsts.clear();
    return this.schedule();
  }

  /**
   * A connection just got its first message: if the store moved on meanwhile, run a pass. Cheap
   * when nothing changed: the connections synced in one turn of the event loop share one
   * revision read, started after all of them were ready (so none can miss a change), and a
   * thousand agents connecting do not cause a thousand passes.
   */
  catchUp(conn: AgentConnection): void {
    if (this.running) {
      this.dirty = true;
      return;
    }
    this.unchecked.push(conn);
    if (this.unchecked.length === 1) setImmediate(() => this.checkUnchecked());
  }

  private checkUnchecked(): void {
    const conns = this.unchecked;
    this.unchecked = [];
    void this.ctx.store
      .revision()
      .then((revision) => {
        if (conns.some((c) => c.state === 'ready' && revision !== c.base)) void this.schedule();
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
