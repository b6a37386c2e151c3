/** idv-agent(8): the prose of its manual page; commands and flags come from its command table. */
import type { ManualDoc } from '../protocol/cli-man.js';

export const AGENT_MANUAL: ManualDoc = {
  section: 8,
  purpose: 'the idv daemon on every machine: decides each login locally',
  description: [
    'idv-agent registers the machine with idv-server once, then keeps a live connection to it and a local cache (SQLite, secrets sealed) of the users, their TOTP secrets and the policy. It answers the PAM module pam_idv.so and idv-pam-helper over a root-only Unix socket: whether a login needs a code, and whether a code is right. Attempt limits and lockouts are enforced here, online or offline, and every decision is queued as an event for the server.',
    'pam enable writes the PAM lines for sudo, su, login and sshd (with a backup, checked, restored on failure); pam disable takes them out again. doctor checks the whole chain and says what to fix.',
  ],
  environment: [
    ['IDV_DATA_DIR', 'the data directory (default /var/lib/idv)'],
    [
      'IDV_SOCKET',
      'the socket for status, unlock and doctor (default /run/idv/agent.sock); the PAM helper ignores it',
    ],
    ['IDV_LOG_LEVEL', 'fatal, error, warn, info (default), debug, trace or silent'],
  ],
  files: [
    ['/var/lib/idv', 'the cache, the device key and the agent configuration (0700)'],
    ['/run/idv/agent.sock', 'the socket PAM asks (root only)'],
    ['/etc/idv/agent.env', 'the environment of the idv-agent systemd unit'],
  ],
  examples: [
    [
      'Register this machine and turn idv on for sudo, su, login and sshd:',
      'idv-agent register --server https://idv.example.com --token-file /root/idv-token\nsystemctl enable --now idv-agent\nidv-agent pam enable',
    ],
    ['Is everything in order?', 'idv-agent doctor'],
  ],
  seeAlso: ['pam_idv(8)', 'idv-pam-helper(8)', 'idvctl(1)', 'pam(8)'],
};
