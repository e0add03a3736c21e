import type { z } from 'zod';
import type {
  ChecklistCreated as ChecklistCreatedSchema,
  ChecklistEvent as ChecklistEventSchema,
  ChecklistItem,
  ItemAdded as ItemAddedSchema,
  ItemEdited as ItemEditedSchema,
  ItemRemoved as ItemRemovedSchema,
  ItemsReordered as ItemsReorderedSchema,
  ItemToggled as ItemToggledSchema,
  ProgressChanged as ProgressChangedSchema,
} from '@siteflow/contracts';

/** One project's checklist is one event stream, so every change to it serialises on its version. */
export const checklistStreamId = (projectId: number) => `checklist-project-${projectId}`;

export type ChecklistCreated = z.infer<typeof ChecklistCreatedSchema>;
export type ItemToggled = z.infer<typeof ItemToggledSchema>;
export type ProgressChanged = z.infer<typeof ProgressChangedSchema>;
export type ItemAdded = z.infer<typeof ItemAddedSchema>;
export type ItemEdited = z.infer<typeof ItemEditedSchema>;
export type ItemsReordered = z.infer<typeof ItemsReorderedSchema>;
export type ItemRemoved = z.infer<typeof ItemRemovedSchema>;
export type ChecklistEvent = z.infer<typeof ChecklistEventSchema>;

/** What deciding needs: whether the checklist exists, and its items in display order (order_index = position). */
export type ChecklistState = { status: 'empty' } | { status: 'created'; items: ChecklistItem[] };
export const initialChecklistState: ChecklistState = { status: 'empty' };

/** The template a new project starts with: the topics of the 9 planning documents. */
export const DEFAULT_TEMPLATE: ReadonlyArray<{ title: string; description: string }> = [
  { title: 'Agree on the technical specification', description: 'Stack, hosting and integrations are written down in the technical spec.' },
  { title: 'Approve the design system', description: 'Colours, typography and components are signed off.' },
  { title: 'Map the content structure', description: 'Pages, navigation and who delivers which content.' },
  { title: 'Prioritise the feature list', description: 'Must-haves for launch are separated from later wishes.' },
  { title: 'Set the timeline and milestones', description: 'Dates for design, build, review and launch.' },
  { title: 'Approve the budget', description: 'Scope and cost agreed with the customer.' },
  { title: 'Review the risk analysis', description: 'Known risks have an owner and a mitigation.' },
  { title: 'Define the success metrics', description: 'How we will know the project worked.' },
  { title: 'Write the deployment plan', description: 'Environments, domains, go-live steps and rollback.' },
  { title: 'Collect access and credentials', description: 'Domains, hosting and third-party accounts the team needs.' },
  { title: 'Hold the planning review meeting', description: 'Everyone walks through the nine documents together.' },
  { title: 'Customer sign-off of the plan', description: 'The customer approves the plan; building can start.' },
];

export function evolve(state: ChecklistState, event: ChecklistEvent): ChecklistState {
  switch (event.type) {
    case 'ChecklistCreated':
      return {
        status: 'created',
        items: event.data.items.map((i, order_index) => ({
          id: i.item_id,
          title: i.title,
          description: i.description,
          order_index,
          checked: false,
          checked_by: null,
          checked_at: null,
        })),
      };
    case 'ProgressChanged':
      return state;
    default:
      if (state.status !== 'created') return state;
      return { status: 'created', items: evolveItems(state.items, event) };
  }
}

function evolveItems(items: ChecklistItem[], event: Exclude<ChecklistEvent, ChecklistCreated | ProgressChanged>): ChecklistItem[] {
  switch (event.type) {
    case 'ItemToggled': {
      const d = event.data;
      return items.map((i) =>
        i.id === d.item_id
          ? { ...i, checked: d.checked, checked_by: d.checked ? d.user_id : null, checked_at: d.checked ? d.toggled_at : null }
          : i,
      );
    }
    case 'ItemAdded': {
      const d = event.data;
      const next = [...items];
      next.splice(d.order_index, 0, {
        id: d.item_id,
        title: d.title,
        description: d.description,
        order_index: d.order_index,
        checked: false,
        checked_by: null,
        checked_at: null,
      });
      return renumber(next);
    }
    case 'ItemEdited': {
      const d = event.data;
      return items.map((i) => (i.id === d.item_id ? { ...i, title: d.title, description: d.description } : i));
    }
    case 'ItemsReordered': {
      const byId = new Map(items.map((i) => [i.id, i]));
      return renumber(event.data.item_ids.flatMap((id) => byId.get(id) ?? []));
    }
    case 'ItemRemoved':
      return renumber(items.filter((i) => i.id !== event.data.item_id));
    default: {
      const unknown: never = event;
      return unknown;
    }
  }
}

const renumber = (items: ChecklistItem[]): ChecklistItem[] =>
  items.map((i, order_index) => (i.order_index === order_index ? i : { ...i, order_index }));
