import { randomUUID } from 'node:crypto';
import { computeProgress, type Broadcast, type ChecklistItem, type Progress } from '@siteflow/contracts';
import { isConcurrencyError, type EventStoreTx, type NewEvent } from '@siteflow/eventstore';
import { retryOnConcurrency, type ServiceKit } from '@siteflow/servicekit';
import {
  checklistStreamId,
  DEFAULT_TEMPLATE,
  evolve,
  initialChecklistState,
  type ChecklistEvent,
  type ChecklistState,
} from './checklist.js';
import { loadItems, saveChecklist } from './checklist.read-model.js';
import { decide, type ChecklistCommand } from './decide.js';
import { SerialByKey } from '@siteflow/servicekit';

export interface ChecklistOutcome {
  items: ChecklistItem[];
  progress: Progress;
  version: number;
}

/**
 * Load → decide → append → project, in one transaction, retried when another writer appended
 * first. A project without a checklist gets the default template in the same append (the lazy path
 * for a project whose `ProjectCreated` the consumer has not seen yet).
 */
export function runChecklistCommand(kit: ServiceKit, projectId: number, command: ChecklistCommand): Promise<ChecklistOutcome> {
  return perChecklist.run(projectId, () => retryOnConcurrency(() => kit.store.transaction((tx) => applyCommand(tx, projectId, command))));
}

/** Writes to one checklist queue here before they queue on its stream row (see SerialByKey). */
const perChecklist = new SerialByKey<number>();

async function applyCommand(tx: EventStoreTx, projectId: number, command: ChecklistCommand): Promise<ChecklistOutcome> {
  const streamId = checklistStreamId(projectId);
  const { state, version } = await loadState(tx, projectId, streamId);
  const now = 'now' in command.data ? command.data.now : new Date();
  const events: ChecklistEvent[] = [];
  let current = state;
  if (current.status === 'empty' && command.type !== 'CreateChecklist') {
    const created = decide({ type: 'CreateChecklist', data: { projectId, template: DEFAULT_TEMPLATE, now } }, current);
    events.push(...created);
    current = created.reduce(evolve, current);
  }
  events.push(...decide(command, current));

  // Each event carries what clients see after it: the broadcast of the state it leads to.
  const toAppend: NewEvent[] = [];
  let after = state;
  for (const e of events) {
    after = evolve(after, e);
    toAppend.push({ id: randomUUID(), type: e.type, data: e.data, projectId, broadcast: broadcastOf(e, after) });
  }
  const before = state.status === 'created' ? state.items : [];
  const items = after.status === 'created' ? after.items : [];
  const progress = computeProgress(items.filter((i) => i.checked).length, items.length);
  if (toAppend.length === 0) return { items, progress, version };

  // Append first, then project: only the stream-row lock comes before the append.
  const { nextVersion } = await tx.append(streamId, toAppend, { expectedVersion: version === 0 ? 'no_stream' : version, now });
  await saveChecklist(tx.client, projectId, before, items, progress, nextVersion, now);
  return { items, progress, version: nextVersion };
}

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
    await runChecklistCommand(kit, projectId, {
      type: 'CreateChecklist',
      data: { projectId, template: DEFAULT_TEMPLATE, now: new Date() },
    });
  } catch (e) {
    // Another instance created it between our look and our append: that is the outcome we wanted.
    if (!isConcurrencyError(e)) throw e;
  }
}

async function loadState(tx: EventStoreTx, projectId: number, streamId: string): Promise<{ state: ChecklistState; version: number }> {
  // Locks the stream row first, so concurrent commands on one checklist queue instead of failing
  // and retrying (and the lock, like the append, orders writers by commit).
  const version = await tx.lockStream(streamId);
  if (version === 0) return { state: initialChecklistState, version };
  return { state: { status: 'created', items: await loadItems(tx.client, projectId) }, version };
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
