import 'reflect-metadata';
import { bootService } from '@siteflow/servicekit';
import { PresenceModule } from './presence.module.js';

await bootService({ name: 'presence', modules: [PresenceModule], migrations: [] });
