/** idv-server(8): the prose of its manual page; commands and flags come from its command table. */
import type { ManualDoc } from '../protocol/cli-man.js';

export const SERVER_MANUAL: ManualDoc = {
  section: 8,
  purpose: 'the idv server: users, devices, policy, enrollment and the admin API',
  description: [
    'idv-server keeps the users, groups, devices and policy of idv, serves the admin HTTP API (used by idvctl), the user portal where people enroll their authenticator app, and the WebSocket over which every registered machine receives its users, secrets and policy at once and uploads its login events.',
    'init creates the data directory: the database, the master key that seals every TOTP secret (0600; back it up, without it the database is useless) and the first admin token, printed once. serve runs the server. Plain http is refused off loopback unless TLS is given, or --insecure when a proxy terminates TLS.',
    'Machines decide logins from their own cache, so they keep working while the server is down; enrollment, resets, unlocks and policy changes wait for it.',
  ],
  environment: [
    ['IDV_DATA_DIR', 'the data directory (instead of --data-dir)'],
    ['IDV_LISTEN', 'HOST:PORT to listen on (instead of --listen)'],
    ['IDV_PUBLIC_URL', 'the URL users and agents reach the server at (enrollment links)'],
    ['IDV_LOG_LEVEL', 'fatal, error, warn, info (default), debug, trace or silent'],
  ],
  files: [
    [
      '/var/lib/idv-server/data',
      'the data directory of the packaged service (database, master key)',
    ],
    ['/etc/idv-server/server.env', 'the environment of the idv-server systemd unit'],
  ],
  examples: [
    [
      'A first server on this machine:',
      'idv-server init --data-dir /var/lib/idv-server/data\nidv-server serve --data-dir /var/lib/idv-server/data --listen 127.0.0.1:8443',
    ],
  ],
  seeAlso: ['idvctl(1)', 'idv-agent(8)'],
};
