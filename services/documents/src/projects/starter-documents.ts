import type { DocumentType } from '@siteflow/contracts';

/** Titles of the 9 planning documents (docs/architecture.md, "The room"). */
export const DOCUMENT_TITLES: Record<DocumentType, string> = {
  technical_spec: 'Technical Specification',
  design_system: 'Design System',
  content_structure: 'Content Structure',
  feature_list: 'Feature List',
  timeline: 'Timeline',
  budget: 'Budget',
  risk_analysis: 'Risk Analysis',
  success_metrics: 'Success Metrics',
  deployment_plan: 'Deployment Plan',
};

/** What a new project's document starts with: its heading, ready to be written. */
export const emptyDocument = (type: DocumentType) => `# ${DOCUMENT_TITLES[type]}\n`;
