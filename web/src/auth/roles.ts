import type { Role } from '@siteflow/contracts';

export const roleLabel: Record<Role, string> = { admin: 'Admin', customer: 'Customer' };
