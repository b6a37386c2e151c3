// Builds the four programs into dist/ with esbuild: one ESM bundle per program.
// Server, idvctl and agent keep their npm dependencies external (native addons among them);
// the PAM helper is bundled whole so that a login loads a single small file.
import { build } from 'esbuild';
import { chmodSync, mkdirSync } from 'node:fs';

const programs = [
  { entry: 'server/main.ts', out: 'idv-server' },
  { entry: 'server/ctl/main.ts', out: 'idvctl' },
  { entry: 'agent/main.ts', out: 'idv-agent' },
  { entry: 'pam-helper/main.ts', out: 'idv-pam-helper', bundleAll: true },
];

mkdirSync('dist', { recursive: true });
await Promise.all(
  programs.map((p) =>
    build({
      entryPoints: [p.entry],
      outfile: `dist/${p.out}.js`,
      bundle: true,
      platform: 'node',
      target: 'node20',
      format: 'esm',
      packages: p.bundleAll ? 'bundle' : 'external',
      sourcemap: false,
      legalComments: 'none',
      logLevel: 'warning',
    }),
  ),
);
for (const p of programs) chmodSync(`dist/${p.out}.js`, 0o755);
