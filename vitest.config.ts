import { defineConfig } from 'vitest/config';

// One project per tier, each with the timeouts its tests need on a loaded 2-core CI machine:
// unit tests run in-process; integration tests start real servers and agents; end-to-end tests
// drive real PAM, sshd, dpkg and a browser. A timeout is a safety net, never the condition a test
// waits for. The build (the root's global setup) runs once for the whole run: the projects do not
// extend the root config, or each would run it again.
const tier = (name: string, testTimeout: number, hookTimeout: number) => ({
  test: {
    name,
    include: [`tests/${name}/**/*.test.ts`],
    pool: 'forks' as const,
    testTimeout,
    hookTimeout,
  },
});

export default defineConfig({
  test: {
    globalSetup: ['tests/helpers/global-setup.ts'],
    projects: [
      tier('unit', 30_000, 60_000),
      tier('integration', 120_000, 180_000),
      tier('e2e', 300_000, 900_000),
    ],
  },
});
