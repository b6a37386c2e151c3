/**
 * The second bundle of the single executable: idv-server, idvctl and idv-agent. It travels as an
 * SEA asset and is compiled only when one of them starts (see main.ts), so that a login, which
 * runs only idv-pam-helper, never parses these ~3 MB.
 */
export const programs = {
  'idv-server': () => import('../../server/main.js'),
  idvctl: () => import('../../server/ctl/main.js'),
  'idv-agent': () => import('../../agent/main.js'),
};
