import { describe, expect, it } from 'vitest';
import {
  autoSaveDue,
  ELSEWHERE,
  mayStartEditing,
  openEditor,
  problemText,
  reduceEditor,
  rejoinStep,
  saveIntent,
  savePayload,
  savingLabel,
  startEditingPayload,
  takenOverElsewhere,
  unlockEndsMyEdit,
  withContent,
  type EditorAction,
  type EditorState,
} from './editorState.js';

const t0 = '2025-01-01T10:00:00.000Z';
const given = (...actions: EditorAction[]): EditorState => actions.reduce(reduceEditor, openEditor(10, 3));
const loaded: EditorAction = { type: 'loaded', content: '# Spec', version: 3 };
const update = (version: number, content: string, updated_by_id = 2): EditorAction => ({
  type: 'remote_update',
  selfId: 1,
  payload: { document_id: 10, version, updated_by: updated_by_id === 1 ? 'alice' : 'bob', updated_by_id, updated_at: t0, content },
});

describe('document editor state', () => {
  it('given a viewer, when someone else saves, then the new text is shown', () => {
    const s = given(loaded, update(4, '# New'));
    expect(s).toMatchObject({ content: '# New', version: 4, draft: '# New', dirty: false, problem: null });
  });

  it('given an editor, when typing, then the draft is dirty and saves against the base version', () => {
    const s = given(loaded, { type: 'edit_started' }, { type: 'typed', text: '# Spec v2' });
    expect(s.dirty).toBe(true);
    expect(autoSaveDue(s)).toBe(true);
    expect(savePayload(s)).toEqual({ document_id: 10, content: '# Spec v2', base_version: 3 });
  });

  it('given typing back to the saved text, then nothing is due', () => {
    const s = given(loaded, { type: 'edit_started' }, { type: 'typed', text: 'x' }, { type: 'typed', text: '# Spec' });
    expect(s.dirty).toBe(false);
    expect(autoSaveDue(s)).toBe(false);
  });

  it('given a save in flight, when more is typed, then the newer text stays unsaved after the reply', () => {
    const s = given(
      loaded,
      { type: 'edit_started' },
      { type: 'typed', text: 'a' },
      { type: 'save_started' },
      { type: 'typed', text: 'ab' },
      { type: 'saved', version: 4, content: 'a', at: t0 },
    );
    expect(s).toMatchObject({ version: 4, draftBase: 4, content: 'a', draft: 'ab', dirty: true, saving: 'saved' });
    expect(savePayload(s)?.base_version).toBe(4);
  });

  it("given an editor, when its own save's broadcast overtakes the reply, then it is no conflict", () => {
    const s = given(loaded, { type: 'edit_started' }, { type: 'typed', text: 'mine' }, { type: 'save_started' }, update(4, 'mine', 1));
    expect(s).toMatchObject({ version: 4, draftBase: 4, dirty: false, problem: null });
    const after = reduceEditor(s, { type: 'saved', version: 4, content: 'mine', at: t0 });
    expect(after).toMatchObject({ version: 4, dirty: false, saving: 'saved' });
  });

  it('given unsaved text, when the lock is lost, then the text is kept and not saved', () => {
    const s = given(loaded, { type: 'edit_started' }, { type: 'typed', text: 'precious' }, { type: 'lock_lost', why: 'gone' });
    expect(s).toMatchObject({ editing: false, draft: 'precious', dirty: true, problem: { kind: 'lock_lost' } });
    expect(savePayload(s)).toBeNull();
    // A later save by someone else does not overwrite it either.
    const later = reduceEditor(s, update(4, 'theirs'));
    expect(later).toMatchObject({ content: 'theirs', draft: 'precious', dirty: true, problem: { kind: 'lock_lost' } });
  });

  it('given a kept draft on an older version, when editing again, then the conflict is stated before any save', () => {
    const s = given(
      loaded,
      { type: 'edit_started' },
      { type: 'typed', text: 'precious' },
      { type: 'lock_lost', why: 'gone' },
      update(4, 'theirs'),
      { type: 'edit_started' },
    );
    expect(s).toMatchObject({ editing: true, draft: 'precious', problem: { kind: 'conflict', currentVersion: 4 } });
    expect(savePayload(s)).toBeNull();
    const rebased = reduceEditor(s, { type: 'rebase' });
    expect(savePayload(rebased)).toEqual({ document_id: 10, content: 'precious', base_version: 4 });
    const discarded = reduceEditor(s, { type: 'discard' });
    expect(discarded).toMatchObject({ draft: 'theirs', dirty: false, problem: null });
  });

  it('given a save, when the server answers version_conflict or not_lock_holder, then the text is kept', () => {
    const typing = given(loaded, { type: 'edit_started' }, { type: 'typed', text: 'mine' });
    const conflicted = reduceEditor(typing, { type: 'save_failed', code: 'version_conflict', reason: 'base 3, now 5', currentVersion: 5 });
    expect(conflicted).toMatchObject({ editing: true, draft: 'mine', version: 5, problem: { kind: 'conflict', currentVersion: 5 } });
    const lost = reduceEditor(typing, { type: 'save_failed', code: 'not_lock_holder', reason: 'you do not hold the lock' });
    expect(lost).toMatchObject({ editing: false, draft: 'mine', problem: { kind: 'lock_lost' } });
    const tooBig = reduceEditor(typing, { type: 'save_failed', code: 'payload_too_large', reason: 'content is 600000 bytes' });
    expect(tooBig).toMatchObject({ editing: true, problem: { kind: 'save_failed', message: 'Not saved: content is 600000 bytes' } });
  });

  it('given a reconnect, when the reloaded document is older than what is shown, then it is ignored', () => {
    const s = given(loaded, update(5, 'five'));
    expect(reduceEditor(s, { type: 'loaded', content: 'three', version: 3 })).toBe(s);
  });

  it('given unsaved text, when a reconnect reloads a newer version, then the conflict is stated and the text kept', () => {
    const s = given(loaded, { type: 'edit_started' }, { type: 'typed', text: 'mine' }, { type: 'loaded', content: 'theirs', version: 5 });
    expect(s).toMatchObject({ draft: 'mine', content: 'theirs', problem: { kind: 'conflict', currentVersion: 5 } });
  });

  it('given a restore, then the draft becomes the restored text', () => {
    const s = given(loaded, { type: 'edit_started' }, { type: 'typed', text: 'x' }, { type: 'restored', version: 4, content: 'old text' });
    expect(s).toMatchObject({ draft: 'old text', content: 'old text', version: 4, dirty: false });
  });

  it('says what the saving indicator shows', () => {
    const fmt = () => '10:00';
    expect(savingLabel(given(loaded), fmt)).toBe('No changes');
    expect(savingLabel(given(loaded, { type: 'edit_started' }, { type: 'typed', text: 'x' }), fmt)).toBe('Unsaved changes');
    expect(savingLabel(given(loaded, { type: 'edit_started' }, { type: 'save_started' }), fmt)).toBe('Saving…');
    expect(savingLabel(given(loaded, { type: 'edit_started' }, { type: 'saved', version: 4, content: '# Spec', at: t0 }), fmt)).toBe(
      'Saved 10:00',
    );
  });

  it('ends the edit on an expiry or revocation of my lock, not on a release of an earlier connection of mine', () => {
    const editing = given(loaded, { type: 'edit_started' });
    expect(unlockEndsMyEdit({ document_id: 10, user_id: 1, reason: 'expired' }, editing, 1)).toMatch(/expired/);
    expect(unlockEndsMyEdit({ document_id: 10, user_id: 1, reason: 'revoked' }, editing, 1)).toMatch(/admin/);
    expect(unlockEndsMyEdit({ document_id: 10, user_id: 1, reason: 'released' }, editing, 1)).toBeNull();
    expect(unlockEndsMyEdit({ document_id: 11, user_id: 1, reason: 'expired' }, editing, 1)).toBeNull();
  });

  it('given a lost lock, then editing again waits until the notice was read, and the draft stays', () => {
    const lost = given(
      loaded,
      { type: 'edit_started' },
      { type: 'typed', text: 'half a sentence' },
      { type: 'lock_lost', why: 'alice released it' },
    );
    expect(mayStartEditing(lost)).toBe(false);
    const read = reduceEditor(lost, { type: 'dismiss' });
    expect(read).toMatchObject({ problem: null, draft: 'half a sentence', dirty: true });
    expect(mayStartEditing(read)).toBe(true);
    // A conflict is not dismissed this way: it needs a choice about the text.
    const conflicted = given(
      loaded,
      { type: 'edit_started' },
      { type: 'typed', text: 'x' },
      { type: 'save_failed', code: 'version_conflict', reason: 'moved', currentVersion: 5 },
    );
    expect(reduceEditor(conflicted, { type: 'dismiss' })).toBe(conflicted);
    expect(mayStartEditing(given())).toBe(false);
    expect(mayStartEditing(given(loaded))).toBe(true);
  });

  it('says what became of the text when the lock is lost: kept below and unsaved, or all saved', () => {
    const unsaved = given(
      loaded,
      { type: 'edit_started' },
      { type: 'typed', text: 'mine' },
      { type: 'lock_lost', why: 'alice released it' },
    );
    expect(problemText(unsaved)).toBe(
      'You no longer hold the edit lock (alice released it). Your unsaved text is kept below: edit again to save it, or discard it.',
    );
    const saved = given(
      loaded,
      { type: 'edit_started' },
      { type: 'typed', text: 'mine' },
      { type: 'saved', version: 4, content: 'mine', at: t0 },
      { type: 'lock_lost', why: 'alice released it' },
    );
    expect(problemText(saved)).toBe('You no longer hold the edit lock (alice released it). Everything you wrote is saved (version 4).');
    expect(problemText(saved)).not.toContain('below');
    // Discarding the kept text changes what the notice says.
    expect(problemText(reduceEditor(unsaved, { type: 'discard' }))).toBeNull();
    expect(problemText(given(loaded))).toBeNull();
  });

  it("tells a take-over by another tab of the same user from this tab's own lock", () => {
    const editing = given(loaded, { type: 'edit_started', lockedAt: t0 });
    const locked = (user_id: number, locked_at: string, document_id = 10) => ({
      document_id,
      user_id,
      username: user_id === 1 ? 'alice' : 'bob',
      locked_at,
      expires_at: t0,
    });
    const later = '2025-01-01T10:05:00.000Z';
    expect(takenOverElsewhere(locked(1, later), editing, 1)).toBe(true);
    expect(takenOverElsewhere(locked(1, t0), editing, 1)).toBe(false);
    // The same instant written another way is this tab's own lock.
    expect(takenOverElsewhere(locked(1, '2025-01-01T11:00:00.000+01:00'), editing, 1)).toBe(false);
    expect(takenOverElsewhere(locked(2, later), editing, 1)).toBe(false);
    expect(takenOverElsewhere(locked(1, later, 11), editing, 1)).toBe(false);
    expect(takenOverElsewhere(locked(1, later), given(loaded), 1)).toBe(false);
    // After a rejoin this tab holds the lock since the re-take's time.
    const retaken = reduceEditor(editing, { type: 'lock_retaken', lockedAt: later });
    expect(takenOverElsewhere(locked(1, later), retaken, 1)).toBe(false);
    const lost = reduceEditor(editing, { type: 'lock_lost', why: ELSEWHERE });
    expect(problemText(lost)).toContain('another tab or window');
    expect(lost.lockedAt).toBeNull();
  });
});

describe('after a rejoin', () => {
  const editing = given(loaded, { type: 'edit_started', lockedAt: t0 });
  const mine = { user_id: 1, username: 'alice', locked_at: '2025-01-01T10:00:00Z' };

  it('a viewer does nothing', () => {
    expect(rejoinStep(given(loaded), { ...mine, user_id: 2, username: 'bob' }, 1)).toEqual({ kind: 'none' });
  });

  it("an editor whose lock is someone else's now has lost it to them", () => {
    expect(rejoinStep(editing, { ...mine, user_id: 2, username: 'bob' }, 1)).toEqual({ kind: 'lost', why: 'bob is editing it now' });
  });

  it('an editor whose lock has another start time lost it to another tab of theirs', () => {
    expect(rejoinStep(editing, { ...mine, locked_at: '2025-01-01T10:05:00Z' }, 1)).toEqual({ kind: 'lost', why: ELSEWHERE });
  });

  it("an editor takes over its own old connection's lock (the same instant, however written), or takes a free one", () => {
    expect(rejoinStep(editing, mine, 1)).toEqual({ kind: 'retake', takeOver: true });
    expect(rejoinStep(editing, null, 1)).toEqual({ kind: 'retake', takeOver: false });
  });

  it('start_editing asks to take over only when told to', () => {
    expect(startEditingPayload(10, false)).toEqual({ document_id: 10 });
    expect(startEditingPayload(10, true)).toEqual({ document_id: 10, take_over: true });
  });
});

describe('save intents', () => {
  it('are the same for the same text on the same base, and differ by kind, base or text', () => {
    const payload = { content: '# A', base_version: 3 };
    expect(saveIntent('auto', payload)).toBe(saveIntent('auto', { ...payload }));
    expect(saveIntent('auto', payload)).not.toBe(saveIntent('manual', payload));
    expect(saveIntent('auto', payload)).not.toBe(saveIntent('auto', { ...payload, base_version: 4 }));
    expect(saveIntent('auto', payload)).not.toBe(saveIntent('auto', { ...payload, content: '# B' }));
  });
});

describe('an update pushed without its content (a gateway of the earlier release)', () => {
  const bare = (version: number) => {
    const { payload } = update(version, '') as Extract<EditorAction, { type: 'remote_update' }>;
    return Object.fromEntries(Object.entries(payload).filter(([key]) => key !== 'content')) as typeof payload;
  };

  it('leaves the text shown, and its version, as they were', () => {
    const s = given(loaded, { type: 'remote_update', selfId: 1, payload: bare(4) });
    expect(s).toMatchObject({ content: '# Spec', version: 3, draft: '# Spec', dirty: false, problem: null });
  });

  it('gets its content read, with the version read, and then shows it', async () => {
    const reads: number[] = [];
    const read = (id: number) => {
      reads.push(id);
      return Promise.resolve({ content: '# Read', version: 5 });
    };
    const filled = await withContent(bare(4), read);
    expect(reads).toEqual([10]);
    expect(filled).toMatchObject({ document_id: 10, content: '# Read', version: 5, updated_by_id: 2 });
    expect(given(loaded, { type: 'remote_update', selfId: 1, payload: filled! })).toMatchObject({ content: '# Read', version: 5 });
  });

  it('is not read again when it has its content', async () => {
    const withText = (update(4, '# New') as Extract<EditorAction, { type: 'remote_update' }>).payload;
    const filled = await withContent(withText, () => Promise.reject(new Error('not to be read')));
    expect(filled).toBe(withText);
  });

  it('is dropped, not thrown, when the read fails', async () => {
    await expect(withContent(bare(4), () => Promise.reject(new Error('unavailable')))).resolves.toBeNull();
  });
});
