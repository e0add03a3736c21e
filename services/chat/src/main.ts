import 'reflect-metadata';
import { bootService } from '@siteflow/servicekit';
import { ChatModule } from './chat.module.js';
import { chatMigrations } from './migrations.js';

await bootService({ name: 'chat', modules: [ChatModule], migrations: chatMigrations });
