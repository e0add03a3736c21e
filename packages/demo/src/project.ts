import type { DocumentType } from '@siteflow/contracts';
import { asMember, DEMO_USERS } from './users.js';

/** Demo project 1, with the three demo users as members. */
export const DEMO_PROJECT = { id: 1, name: 'Demo project', members: DEMO_USERS.map(asMember) } as const;

/** Starter markdown of the demo project, so a first look at the planning room shows real documents. */
export const DEMO_CONTENT: Record<DocumentType, string> = {
  technical_spec: `# Technical Specification

## Stack
- Frontend: React with server-side rendering for marketing pages
- Backend: REST API, PostgreSQL
- Hosting: managed containers, CDN for static assets

## Integrations
- Payment provider (card + invoice)
- Newsletter tool via webhook
`,
  design_system: `# Design System

## Colours
- Primary: #1F6FEB
- Text: #1B1F24

## Typography
- Headings: Inter, 600
- Body: Inter, 400, 16 px
`,
  content_structure: `# Content Structure

1. Home
2. Services
   - Consulting
   - Implementation
3. References
4. About us
5. Contact
`,
  feature_list: `# Feature List

- [ ] Contact form with spam protection
- [ ] Blog with categories
- [ ] Customer logins for invoices
- [ ] Multilingual (sv, en)
`,
  timeline: `# Timeline

| Phase | Weeks |
|---|---|
| Planning | 1–2 |
| Design | 3–4 |
| Build | 5–9 |
| Launch | 10 |
`,
  budget: `# Budget

| Item | Estimate |
|---|---|
| Design | 60 h |
| Development | 180 h |
| Content migration | 20 h |
`,
  risk_analysis: `# Risk Analysis

- **Late content delivery**: agree a content freeze date in week 6.
- **Third-party API changes**: pin versions, monitor changelogs.
`,
  success_metrics: `# Success Metrics

- Contact form conversions +30 % within 3 months
- Largest Contentful Paint under 2.5 s on mobile
`,
  deployment_plan: `# Deployment Plan

1. Staging review with the customer
2. DNS switch in a low-traffic window
3. Monitoring and rollback plan for the first 48 h
`,
};
