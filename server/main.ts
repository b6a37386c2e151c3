/** idv-server: argv → config → start → signals; nothing else. */
import { EXIT, dispatch, runProgram, stringFlag, type ProgramSpec } from '../protocol/cli.js';
import { IdvError } from '../protocol/errors.js';
import { keepRunningWithoutOutput } from '../protocol/io/stdout.js';
import { IDV_VERSION } from '../protocol/version.js';
import { isDatabaseUrl, loadConfig } from './config.js';
import { NAME_RE } from '../protocol/policy.js';
import { initDataDir, openDataDir } from './datadir.js';
import { SETUP_PATH } from './http/admins.js';
import { startServer } from './serve.js';
import { loadSigningKey, openSigningKey, rotateSigningKey } from './signingkey.js';
import { hashToken, newToken } from './store/crypto.js';
import { SERVER_MANUAL } from './manual.js';

function dataDirOf(values: Record<string, unknown>): string {
  const dir = (values['data-dir'] as string | undefined) ?? process.env.IDV_DATA_DIR;
  if (!dir) throw new IdvError('USAGE', '--data-dir is required (or IDV_DATA_DIR)');
  return dir;
}

function databaseOf(values: Record<string, unknown>): string | undefined {
  const url = (values.database as string | undefined) ?? process.env.IDV_DATABASE_URL;
  if (url !== undefined && !isDatabaseUrl(url))
    throw new IdvError('USAGE', '--database must be a postgres://USER@HOST:PORT/DATABASE URL');
  return url;
}

const DATA_DIR_FLAG = { value: 'DIR', help: 'the data directory (or IDV_DATA_DIR)' };
const DATABASE_FLAG = {
  value: 'URL',
  help: 'PostgreSQL shared by every replica, postgres://USER@HOST:PORT/DB (or IDV_DATABASE_URL); default: SQLite in the data directory',
};

export const spec: ProgramSpec = {
  name: 'idv-server',
  version: IDV_VERSION,
  commands: {
    init: {
      summary:
        'Create the data directory, its database (or the PostgreSQL schema), master key (0600) and the first admin token',
      options: {
        'data-dir': { type: 'string' },
        database: { type: 'string' },
        admin: { type: 'string' },
        'public-url': { type: 'string' },
      },
      flags: {
        'data-dir': DATA_DIR_FLAG,
        database: DATABASE_FLAG,
        admin: { value: 'NAME', help: 'the first console admin (default: admin)' },
        'public-url': {
          value: 'URL',
          help: 'the URL the server will be reached at, for the set-up link (or IDV_PUBLIC_URL)',
        },
      },
      run: async ({ values }, io) => {
        const dir = dataDirOf(values);
        const admin = stringFlag(values, 'admin') ?? 'admin';
        if (!NAME_RE.test(admin)) throw new IdvError('USAGE', '--admin: not a valid name');
        const { token, setupToken } = await initDataDir(dir, Date.now(), {
          database: databaseOf(values),
          firstAdmin: admin,
        });
        const base = (stringFlag(values, 'public-url') ?? process.env.IDV_PUBLIC_URL ?? '').replace(
          /\/+$/,
          '',
        );
        const link = `${base}${SETUP_PATH}${setupToken}`;
        if (values.json)
          io.out(
            JSON.stringify({
              adminToken: token,
              signingKey: loadSigningKey(dir).publicKey,
              adminSetupLink: link,
            }),
          );
        else
          io.out(
            `Admin token (shown once, keep it safe; idvctl reads it from IDV_TOKEN):\n${token}\n\n` +
              `Console set-up link for admin ${admin} (shown once, works once, for 24 h${base ? '' : "; open it on the server's address"}):\n${link}`,
          );
        return EXIT.OK;
      },
    },
    'admin-token create': {
      summary: 'Add another admin token (for a second admin, or after losing one)',
      options: { 'data-dir': { type: 'string' }, database: { type: 'string' } },
      flags: { 'data-dir': DATA_DIR_FLAG, database: DATABASE_FLAG },
      run: async ({ values }, io) => {
        const store = await openDataDir(dataDirOf(values), { database: databaseOf(values) });
        const token = newToken();
        try {
          await store.addAdminToken(hashToken(token), Date.now());
        } finally {
          await store.close();
        }
        io.out(values.json ? JSON.stringify({ adminToken: token }) : token);
        return EXIT.OK;
      },
    },
    'rotate-signing-key': {
      summary:
        'Replace the policy signing key; the old key signs the announcement of the new one (restart serve to use it)',
      options: { 'data-dir': { type: 'string' } },
      flags: { 'data-dir': DATA_DIR_FLAG },
      run: ({ values }, io) => {
        const dir = dataDirOf(values);
        openSigningKey(dir);
        const { previous, next } = rotateSigningKey(dir);
        if (values.json) io.out(JSON.stringify({ previous, signingKey: next.publicKey }));
        else
          io.out(
            `New signing key ${next.publicKey} (replaces ${previous}). Restart idv-server serve (every replica, with this signing.json) to sign with it; agents pin it at their next connection.`,
          );
        return Promise.resolve(EXIT.OK);
      },
    },
    serve: {
      summary: 'Run the server (admin API, agent sync channel, metrics)',
      options: {
        'data-dir': { type: 'string' },
        database: { type: 'string' },
        listen: { type: 'string' },
        'tls-cert': { type: 'string' },
        'tls-key': { type: 'string' },
        insecure: { type: 'boolean' },
        config: { type: 'string' },
        'public-url': { type: 'string' },
      },
      flags: {
        'data-dir': DATA_DIR_FLAG,
        database: DATABASE_FLAG,
        listen: {
          value: 'HOST:PORT',
          help: 'where to listen (or IDV_LISTEN; default 127.0.0.1:8443)',
        },
        'tls-cert': { value: 'FILE', help: 'TLS certificate (PEM); with --tls-key' },
        'tls-key': { value: 'FILE', help: 'TLS private key (PEM)' },
        insecure: {
          help: 'allow plain http off loopback (a proxy terminates TLS); warned about at start, in /healthz and /metrics',
        },
        config: {
          value: 'FILE',
          help: 'a JSON config file (defaults < file < environment < flags)',
        },
        'public-url': {
          value: 'URL',
          help: 'the URL users and agents reach this server at, for enrollment links (or IDV_PUBLIC_URL)',
        },
      },
      run: async ({ values }, io) => {
        const config = loadConfig({
          ...(stringFlag(values, 'config') !== undefined
            ? { file: stringFlag(values, 'config') as string }
            : {}),
          env: process.env,
          flags: {
            dataDir: stringFlag(values, 'data-dir'),
            database: stringFlag(values, 'database'),
            listen: stringFlag(values, 'listen'),
            tlsCert: stringFlag(values, 'tls-cert'),
            tlsKey: stringFlag(values, 'tls-key'),
            publicUrl: stringFlag(values, 'public-url'),
            ...(values.insecure ? { insecure: true } : {}),
          },
        });
        let server;
        try {
          server = await startServer(config);
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL') {
            throw new IdvError('CONFIG_INVALID', `cannot listen on ${config.listen}: ${code}`);
          }
          throw err;
        }
        const running = server;
        keepRunningWithoutOutput();
        io.out(`idv-server listening on ${running.url}`);
        await new Promise<void>((resolve) => {
          const stop = () => {
            process.off('SIGTERM', stop);
            process.off('SIGINT', stop);
            void running.stop().finally(resolve);
          };
          process.on('SIGTERM', stop);
          process.on('SIGINT', stop);
        });
        return EXIT.OK;
      },
    },
  },
  manual: SERVER_MANUAL,
  epilog:
    '\nEnvironment: IDV_DATA_DIR, IDV_DATABASE_URL, IDV_LISTEN, IDV_PUBLIC_URL, IDV_LOG_LEVEL.\n',
};

process.exitCode = await runProgram(spec.name, process.argv.slice(2), (argv, io) =>
  dispatch(spec, argv, io),
);
