// Builds the four programs into dist/ with esbuild: one bundle per program.
// Server, idvctl and agent are ESM and keep their npm dependencies external (native addons among
// them). The PAM helper is bundled whole as CommonJS: a login then loads one small file through
// Node's CommonJS loader, which starts measurably faster than the ESM loader (docs/benchmarks.md).
import { build } from 'esbuild';
import { chmodSync, mkdirSync } from 'node:fs';

const programs = [
  { entry: 'server/main.ts', out: 'idv-server.js' },
  { entry: 'server/ctl/main.ts', out: 'idvctl.js' },
  { entry: 'agent/main.ts', out: 'idv-agent.js' },
  { entry: 'pam-helper/main.ts', out: 'idv-pam-helper.cjs', helper: true },
];

mkdirSync('dist', { recursive: true });
await Promise.all(
  programs.map((p) =>
    build({
      entryPoints: [p.entry],
      outfile: `dist/${p.out}`,
      bundle: true,
      platform: 'node',
      target: 'node20',
      format: p.helper ? 'cjs' : 'esm',
      packages: p.helper ? 'bundle' : 'external',
      sourcemap: false,
      legalComments: 'none',
      logLevel: 'warning',
    }),
  ),
);
for (const p of programs) chmodSync(`dist/${p.out}`, 0o755);
