/** idvctl(1): the prose of its manual page; commands and flags come from its command table. */
import type { ManualDoc } from '../../protocol/cli-man.js';

export const IDVCTL_MANUAL: ManualDoc = {
  section: 1,
  purpose: 'manage idv users, devices, policy and login events',
  description: [
    'idvctl is the admin command line of idv, the second factor (a six-digit authenticator code) for logins to Linux and macOS machines. Every command is one call to the admin HTTP API of idv-server; --json prints the API answer unchanged, and a failure as {"error": {"code", "message"}} with a stable code.',
    'Changes that devices see (users, groups, MFA resets, unlocks, policy) are pushed to every connected machine before the command returns; machines that are offline get them when they reconnect.',
    'The admin token is a credential: give it with IDV_TOKEN or --token-file rather than --token, which other users can read in the process list.',
  ],
  environment: [
    ['IDV_SERVER', 'the server URL (instead of --server)'],
    ['IDV_TOKEN', 'the admin token (instead of --token-file)'],
  ],
  examples: [
    [
      'Add a user and send them their one-time enrollment link:',
      'idvctl user add alice --group staff\nidvctl user enroll alice',
    ],
    [
      'Five attempts, then a 15-minute lockout, on the machines of one device group:',
      'idvctl policy set --device-group servers --max-attempts 5 --lockout 15m',
    ],
    ['A lost phone:', 'idvctl user reset-mfa alice'],
    ['Follow logins as they happen:', 'idvctl events --follow'],
  ],
  seeAlso: ['idv-server(8)', 'idv-agent(8)', 'idv-pam-helper(8)', 'pam_idv(8)'],
};
