import { randomUUID } from 'node:crypto';
import { computeProgress, type Broadcast, type ChecklistItem, type Progress } from '@siteflow/contracts';
import { isConcurrencyError } from '@siteflow/eventstore';
import { runStreamCommand, type ServiceKit, type StreamCommand } from '@siteflow/servicekit';
import {
  checklistStreamId,
  DEFAULT_TEMPLATE,
  evolve,
  initialChecklistState,
  type ChecklistEvent,
  type ChecklistState,
} from './checklist.js';
import { checklistWrites, itemsFrom, itemsQuery } from './checklist.read-model.js';
import { decide, type ChecklistCommand } from './decide.js';

export interface ChecklistOutcome {
  items: ChecklistItem[];
  progress: Progress;
  version: number;
}

/**
 * A command on a project's checklist (run it with `runStreamCommand`): the state is the read model's
 * items at the locked stream version. A project without a checklist gets the default template in
 * the same append (the lazy path for a project whose `ProjectCreated` the consumer has not seen yet).
 * `command` is given the time taken once the stream is locked.
 */
export function checklistCommand(
  projectId: number,
  command: (now: Date) => ChecklistCommand,
): StreamCommand<ChecklistState, ChecklistEvent, ChecklistOutcome> {
  return {
    streamId: checklistStreamId(projectId),
    // The items, read with BEGIN and the stream's lock (after it: exact), in one round trip.
    first: () => itemsQuery(projectId),
    load: async (tx, version, first) =>
      version === 0
        ? initialChecklistState
        : { status: 'created', items: itemsFrom(first ?? (await tx.client.query(itemsQuery(projectId)))) },
    decide: (state, { now }) => {
      const asked = command(now);
      if (state.status !== 'empty' || asked.type === 'CreateChecklist') return decide(asked, state);
      const created = decide({ type: 'CreateChecklist', data: { projectId, template: DEFAULT_TEMPLATE, now } }, state);
      return [...created, ...decide(asked, created.reduce(evolve, state))];
    },
    evolve,
    // Each event carries what clients see after it: the broadcast of the state it leads to.
    toNewEvent: (e, after) => ({ id: randomUUID(), type: e.type, data: e.data, projectId, broadcast: broadcastOf(e, after) }),
    // With COMMIT, in its round trip: nothing later in the transaction reads the read model.
    project: (tx, { before, after, version, now }) => {
      const items = itemsOf(after);
      for (const write of checklistWrites(projectId, itemsOf(before), items, progressOf(items), version, now)) tx.atCommit(write);
      return Promise.resolve();
    },
    reply: ({ after, version }) => {
      const items = itemsOf(after);
      return { items, progress: progressOf(items), version };
    },
  };
}

const itemsOf = (state: ChecklistState): ChecklistItem[] => (state.status === 'created' ? state.items : []);
const progressOf = (items: ChecklistItem[]): Progress => computeProgress(items.filter((i) => i.checked).length, items.length);

/** The checklist a project without one gets on its first command (nothing is written). */
export function templatePreview(projectId: number): { items: ChecklistItem[]; progress: Progress } {
  const events = decide(
    { type: 'CreateChecklist', data: { projectId, template: DEFAULT_TEMPLATE, now: new Date() } },
    initialChecklistState,
  );
  const state = events.reduce(evolve, initialChecklistState);
  const items = state.status === 'created' ? state.items : [];
  return { items, progress: computeProgress(0, items.length) };
}

/** Gives a project its default checklist unless it has one; safe to call any number of times, anywhere. */
export async function ensureChecklist(kit: ServiceKit, projectId: number): Promise<void> {
  if ((await kit.store.streamVersion(checklistStreamId(projectId))) > 0) return;
  try {
    await runStreamCommand(
      kit.store,
      checklistCommand(projectId, (now) => ({ type: 'CreateChecklist', data: { projectId, template: DEFAULT_TEMPLATE, now } })),
    );
  } catch (e) {
    // Another instance created it between our look and our append: that is the outcome we wanted.
    if (!isConcurrencyError(e)) throw e;
  }
}

function broadcastOf(e: ChecklistEvent, after: ChecklistState): Broadcast {
  switch (e.type) {
    case 'ItemToggled':
      return {
        event: 'checklist:updated',
        payload: { item_id: e.data.item_id, checked: e.data.checked, updated_by: e.data.username, timestamp: e.data.toggled_at },
      };
    case 'ProgressChanged':
      return {
        event: 'progress:updated',
        payload: { progress: e.data.progress, completed_items: e.data.completed_items, total_items: e.data.total_items },
      };
    default:
      return { event: 'checklist:changed', payload: { items: after.status === 'created' ? after.items : [] } };
  }
}
