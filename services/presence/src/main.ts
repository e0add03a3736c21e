import 'reflect-metadata';
import { bootService } from '@siteflow/servicekit';
import { PresenceConfig } from './config.js';
import { presenceMigrations } from './migrations.js';
import { PresenceModule } from './presence.module.js';
import { PRIVATE_SESSION_EVENTS } from './sessions/session.js';

await bootService({
  name: 'presence',
  modules: [PresenceModule],
  migrations: presenceMigrations,
  configSchema: PresenceConfig,
  privateEvents: PRIVATE_SESSION_EVENTS,
});
