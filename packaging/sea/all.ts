/**
 * Entry for builders that cannot use Node SEA assets (the pkg configuration in packaging/pkg/):
 * one script with the dispatch and all four programs, each still loaded only when chosen.
 */
import { programs } from './programs.js';
import { start } from './start.js';

start((program) =>
  program === 'idv-pam-helper' ? () => import('../../pam-helper/main.js') : programs[program],
);
