/**
 * Directory sync: read the directory, check the answer is plausible, plan, and (unless a dry
 * run) apply the plan and push it to the devices. One sync at a time; on a schedule and on
 * demand (POST /v1/directory/sync). A failure at any step before applying changes nothing.
 */
import { IdvError } from '../../protocol/errors.js';
import { readPemFile, readSecretFile } from '../config.js';
import type { ServerContext } from '../context.js';
import { startEnrollment } from '../enrollment.js';
import type { Hub } from '../sync/hub.js';
import type { DirectoryConfig } from './config.js';
import { readDirectory } from './ldap.js';
import { checkPlausible, planIsEmpty, planSync, type SyncPlan } from './plan.js';

export interface SyncOptions {
  dryRun: boolean;
  prune: boolean;
  /** Accept a result smaller than half of last time's. */
  force: boolean;
}

export interface SyncReport {
  dryRun: boolean;
  /** Users the directory returned (the count the next sync is compared with). */
  users: number;
  lastUsers: number | null;
  changed: boolean;
  plan: SyncPlan;
  /** Enrollment mails queued for new users. */
  mailed: string[];
}

const LAST_COUNT = 'directory.lastCount';

export class DirectorySync {
  private running: Promise<SyncReport> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private readonly password: string;
  private readonly ca: Buffer | undefined;

  /** Reads the password and CA files now, so a bad one stops the server at start. */
  constructor(
    private readonly ctx: ServerContext,
    private readonly hub: Hub,
    private readonly config: DirectoryConfig,
  ) {
    this.password = readSecretFile(config.bindPasswordFile, 'directory.bindPasswordFile');
    this.ca = config.caFile ? readPemFile(config.caFile, 'directory.caFile') : undefined;
  }

  /** Runs a sync unless one is running (then ALREADY_RUNNING). */
  sync(options: SyncOptions): Promise<SyncReport> {
    if (this.running)
      throw new IdvError('ALREADY_RUNNING', 'a directory sync is running; try again when it ends');
    this.running = this.run(options).finally(() => (this.running = null));
    return this.running;
  }

  private async run(options: SyncOptions): Promise<SyncReport> {
    const { store, log } = this.ctx;
    const read = await readDirectory(this.config, this.password, this.ca);
    const lastText = await store.integrations.getState(LAST_COUNT);
    const lastUsers = lastText === null ? null : Number(lastText);
    checkPlausible(read.entries.length, lastUsers, options.force);
    const plan = planSync({
      ...read,
      users: await store.listUsers(),
      links: await store.integrations.directoryLinks(),
      emails: await store.integrations.userEmails(),
      prune: options.prune,
    });
    const report: SyncReport = {
      dryRun: options.dryRun,
      users: read.entries.length,
      lastUsers,
      changed: !planIsEmpty(plan),
      plan,
      mailed: [],
    };
    if (options.dryRun) return report;
    await this.apply(plan, read.entries, report);
    await store.integrations.setState(LAST_COUNT, String(read.entries.length), this.ctx.clock());
    if (report.changed) await this.hub.changed();
    log.info(
      {
        users: report.users,
        added: plan.add.length,
        groups: plan.groups.length,
        suspended: plan.suspend.length,
        resumed: plan.resume.length,
        removed: plan.remove.length,
        skipped: plan.skipped.length,
      },
      'directory sync applied',
    );
    return report;
  }

  private async apply(
    plan: SyncPlan,
    entries: { login: string; dn: string }[],
    report: SyncReport,
  ): Promise<void> {
    const { store } = this.ctx;
    const now = () => this.ctx.clock();
    const dnOf = new Map(entries.map((e) => [e.login, e.dn]));
    const links = new Map((await store.integrations.directoryLinks()).map((l) => [l.name, l]));
    const link = async (name: string, suspendedBySync: boolean) => {
      const dn = dnOf.get(name) ?? links.get(name)?.dn ?? '';
      const old = links.get(name);
      if (old && old.dn === dn && old.suspendedBySync === suspendedBySync) return;
      await store.integrations.setDirectoryLink({ name, dn, suspendedBySync, syncedAt: now() });
    };
    for (const a of plan.add) {
      await store.addUser(a.name, a.groups, now());
      await link(a.name, false);
    }
    for (const a of plan.adopt) await link(a.name, links.get(a.name)?.suspendedBySync ?? false);
    for (const g of plan.groups)
      await store.updateUser(g.name, { kind: 'groups', groups: g.to }, now());
    for (const s of plan.suspend) {
      await store.updateUser(s.name, { kind: 'status', status: 'suspended' }, now());
      await link(s.name, true);
    }
    for (const r of plan.resume) {
      await store.updateUser(r.name, { kind: 'status', status: 'active' }, now());
      await link(r.name, false);
    }
    for (const r of plan.remove) await store.removeUser(r.name, now());
    for (const m of plan.mail) await store.integrations.setUserEmail(m.name, m.address, now());
    const mail = this.ctx.mail;
    if (this.config.enrollmentMail && mail) {
      for (const a of plan.add) {
        if (!a.mail) continue;
        const e = await startEnrollment(this.ctx, a.name);
        await mail.queueEnrollment({
          user: a.name,
          address: a.mail,
          kind: 'enroll',
          link: e.link,
          expiresAt: e.expiresAt,
        });
        report.mailed.push(a.name);
      }
    }
  }

  /** Syncs at start and every intervalSeconds (0: only on demand); failures are logged. */
  start(): void {
    if (this.config.intervalSeconds === 0) return;
    const scheduled = () => {
      if (this.running || this.timer === null) return; // running, or stopped
      this.sync({ dryRun: false, prune: false, force: false }).catch((err: Error) =>
        this.ctx.log.warn(
          { err: { code: (err as IdvError).code, message: err.message } },
          'scheduled directory sync failed; nothing was changed',
        ),
      );
    };
    setImmediate(scheduled);
    this.timer = setInterval(scheduled, this.config.intervalSeconds * 1000);
    this.timer.unref();
  }

  /** Stops the schedule and waits for a running sync. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running?.catch(() => undefined);
  }
}
