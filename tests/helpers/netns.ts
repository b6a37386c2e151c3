/**
 * Test helper: a network namespace of the test's own, joined to this one by veth pairs, and a
 * silent network cut on one of them (iptables DROP both ways inside the namespace: no reset, no
 * ICMP, packets just vanish, as with a dead switch or a firewall change).
 *
 *   const ns = createNetns(2);          // needs root, `ip` and `iptables`
 *   ns.links[1].ns                      // the namespace's address on link 1 (10.x.y.6)
 *   ns.cut(1); ns.heal(1); ns.remove(); // remove() also runs when the file ends
 *
 * Addresses are private /30s picked from this process's pid; deleting the namespace deletes its
 * rules and both ends of every pair.
 */
import { execFileSync } from 'node:child_process';

export interface Link {
  /** This namespace's side (the address a process here connects from). */
  host: string;
  /** The test namespace's side (the address to connect to). */
  ns: string;
  /** The interface name inside the test namespace. */
  nsIf: string;
}

export interface Netns {
  name: string;
  links: Link[];
  /** Drops every packet on link `i`, both ways, without a word (again: nothing more). */
  cut(i: number): void;
  /** Lets link `i` carry packets again (a link not cut: nothing). */
  heal(i: number): void;
  remove(): void;
}

const run = (...argv: string[]) =>
  execFileSync(argv[0] as string, argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });

const live = new Set<() => void>();
process.once('exit', () => {
  for (const r of [...live]) r();
});
if (process.env.VITEST) {
  const { afterAll } = await import('vitest');
  afterAll(() => {
    for (const r of [...live]) r();
  });
}

export function createNetns(count: number): Netns {
  const id = process.pid % 1_000_000;
  const name = `idv-part-${id}`;
  const net = `10.${200 + (process.pid % 50)}.${(process.pid >> 6) % 256}`;
  const links: Link[] = [];
  const hostIfs: string[] = [];
  const remove = (): void => {
    live.delete(remove);
    try {
      run('ip', 'netns', 'del', name);
    } catch {
      // gone already
    }
    for (const h of hostIfs) {
      try {
        run('ip', 'link', 'del', h);
      } catch {
        // went with the namespace
      }
    }
  };
  live.add(remove);
  try {
    run('ip', 'netns', 'add', name);
    run('ip', 'netns', 'exec', name, 'ip', 'link', 'set', 'lo', 'up');
    for (let i = 0; i < count; i++) {
      const hostIf = `idv${id}h${i}`;
      const nsIf = `idv${id}n${i}`;
      const host = `${net}.${4 * i + 1}`;
      const ns = `${net}.${4 * i + 2}`;
      run('ip', 'link', 'add', hostIf, 'type', 'veth', 'peer', 'name', nsIf);
      hostIfs.push(hostIf);
      run('ip', 'link', 'set', nsIf, 'netns', name);
      run('ip', 'addr', 'add', `${host}/30`, 'dev', hostIf);
      run('ip', 'link', 'set', hostIf, 'up');
      run('ip', 'netns', 'exec', name, 'ip', 'addr', 'add', `${ns}/30`, 'dev', nsIf);
      run('ip', 'netns', 'exec', name, 'ip', 'link', 'set', nsIf, 'up');
      links.push({ host, ns, nsIf });
    }
  } catch (err) {
    remove();
    throw err;
  }
  const rules = (op: '-A' | '-D', i: number): void => {
    const link = links[i];
    if (!link) throw new Error(`no link ${i}`);
    run('ip', 'netns', 'exec', name, 'iptables', op, 'INPUT', '-i', link.nsIf, '-j', 'DROP');
    run('ip', 'netns', 'exec', name, 'iptables', op, 'OUTPUT', '-o', link.nsIf, '-j', 'DROP');
  };
  const cut = new Set<number>();
  return {
    name,
    links,
    cut: (i) => {
      if (cut.has(i)) return;
      rules('-A', i);
      cut.add(i);
    },
    heal: (i) => {
      if (!cut.delete(i)) return;
      rules('-D', i);
    },
    remove,
  };
}
