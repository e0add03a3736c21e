import 'reflect-metadata';
import { bootService } from '@siteflow/servicekit';
import { DocumentsConfig } from './config.js';
import { DocumentsModule } from './documents.module.js';
import { documentsMigrations } from './migrations.js';

await bootService({ name: 'documents', modules: [DocumentsModule], migrations: documentsMigrations, configSchema: DocumentsConfig });
