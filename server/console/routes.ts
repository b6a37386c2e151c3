/**
 * The console's route table: each page with the least role that may open it, and every form
 * action (whose API call enforces the API's own role rule too). Tests walk both tables.
 */
import type { Role } from '../http/roles.js';
import type { Action, PageRenderer } from './kit.js';
import { ADMIN_ACTIONS, adminsPage } from './pages/admins.js';
import { auditPage } from './pages/audit.js';
import { DEVICE_ACTIONS, devicesPage } from './pages/devices.js';
import { eventsPage } from './pages/events.js';
import { overviewPage } from './pages/overview.js';
import { POLICY_ACTIONS, policyPage } from './pages/policy.js';
import { USER_ACTIONS, usersPage } from './pages/users.js';

export interface PageRule {
  path: string;
  role: Role;
  render: PageRenderer;
}

export const PAGES: readonly PageRule[] = [
  { path: '/admin', role: 'helpdesk', render: overviewPage },
  { path: '/admin/users', role: 'helpdesk', render: usersPage },
  { path: '/admin/devices', role: 'helpdesk', render: devicesPage },
  { path: '/admin/policy', role: 'helpdesk', render: policyPage },
  { path: '/admin/events', role: 'helpdesk', render: eventsPage },
  { path: '/admin/audit', role: 'admin', render: auditPage },
  { path: '/admin/admins', role: 'admin', render: adminsPage },
];

export const ACTIONS: readonly Action[] = [
  ...USER_ACTIONS,
  ...DEVICE_ACTIONS,
  ...POLICY_ACTIONS,
  ...ADMIN_ACTIONS,
];
