import { createHash } from 'node:crypto';
import type { z } from 'zod';
import {
  DocumentType,
  type DocumentLockAcquired,
  type DocumentLockReleased,
  type DocumentType as DocumentTypeName,
} from '@siteflow/contracts';

/**
 * One planning document is one event stream: its content versions and its edit lock live together,
 * so "only the lock holder may save" is decided against one stream version and cannot interleave
 * with a force-unlock or a new acquire.
 */
export const documentStreamId = (documentId: number) => `document-${documentId}`;

export const DOCUMENT_TYPES: readonly DocumentTypeName[] = DocumentType.options;

export type DocumentCreated = {
  type: 'DocumentCreated';
  data: {
    document_id: number;
    project_id: number;
    document_type: DocumentTypeName;
    title: string;
    content: string;
    created_by: number | null;
    created_at: string;
  };
};
/** The lock events are a cross-service contract (presence consumes them): their types come from it. */
export type LockAcquired = z.infer<typeof DocumentLockAcquired>;
/** A heartbeat or a re-acquire by the holding connection: the lease moves on, nobody else is told. */
export type LockRenewed = {
  type: 'LockRenewed';
  data: { document_id: number; project_id: number; user_id: number; connection_id: string; renewed_at: string; expires_at: string };
};
export type LockReleased = z.infer<typeof DocumentLockReleased>;
export type UnlockReason = LockReleased['data']['reason'];
/** Tells the former holder (on their `user:<id>` topic) that an admin took the lock away. */
export type LockRevoked = {
  type: 'LockRevoked';
  data: {
    document_id: number;
    project_id: number;
    user_id: number;
    by_user_id: number;
    by_username: string;
    reason?: string;
    revoked_at: string;
  };
};
/** A new content version: a save, an auto-save or a restore of an older version. */
export type DocumentSaved = {
  type: 'DocumentSaved';
  data: {
    document_id: number;
    project_id: number;
    version: number;
    content: string;
    size: number;
    saved_by: number;
    saved_by_name: string;
    connection_id: string;
    saved_at: string;
    auto: boolean;
    restored_from: number | null;
    /** A save renews the holder's lease. */
    lock_expires_at: string;
  };
};
export type DocumentEvent = DocumentCreated | LockAcquired | LockRenewed | LockReleased | LockRevoked | DocumentSaved;

export type Lock = {
  userId: number;
  username: string;
  connectionId: string;
  lockedAt: string;
  expiresAt: string;
  /** Since when the holder has not saved: the idle cap counts from here. */
  idleSince: string;
};

export type DocumentState =
  | { status: 'absent' }
  | {
      status: 'exists';
      documentId: number;
      projectId: number;
      documentType: DocumentTypeName;
      title: string;
      version: number;
      /**
       * The current content's SHA-256 (hex, of its UTF-8): deciding a save compares against it (an
       * unchanged auto-save is no version). The content itself is in the events and the row, never
       * loaded to decide: a lock command on a 512 KiB document reads and writes none of it.
       */
      contentSha256: string;
      createdBy: number | null;
      lastEditedBy: number | null;
      createdAt: string;
      updatedAt: string;
      lock: Lock | null;
    };

export const initialDocumentState: DocumentState = { status: 'absent' };

/** The last content hashed, and its hash. */
let lastHashed: { content: string; sha256: string } | null = null;

/**
 * SHA-256 of the content's UTF-8, hex: what `documents.content_sha256` holds (Postgres'
 * `sha256(convert_to(content, 'UTF8'))`). The last one is remembered: an auto-save of changed text
 * hashes its content to decide, then again to evolve its state (the same string, up to 512 KiB).
 */
export function contentSha256(content: string): string {
  if (lastHashed?.content !== content) lastHashed = { content, sha256: createHash('sha256').update(content, 'utf8').digest('hex') };
  return lastHashed.sha256;
}

export function evolve(state: DocumentState, event: DocumentEvent): DocumentState {
  if (event.type === 'DocumentCreated') {
    const d = event.data;
    return {
      status: 'exists',
      documentId: d.document_id,
      projectId: d.project_id,
      documentType: d.document_type,
      title: d.title,
      version: 1,
      contentSha256: contentSha256(d.content),
      createdBy: d.created_by,
      lastEditedBy: d.created_by,
      createdAt: d.created_at,
      updatedAt: d.created_at,
      lock: null,
    };
  }
  if (state.status === 'absent') return state;
  switch (event.type) {
    case 'LockAcquired': {
      const d = event.data;
      return {
        ...state,
        lock: {
          userId: d.user_id,
          username: d.username,
          connectionId: d.connection_id,
          lockedAt: d.locked_at,
          expiresAt: d.expires_at,
          idleSince: d.locked_at,
        },
      };
    }
    case 'LockRenewed':
      return state.lock ? { ...state, lock: { ...state.lock, expiresAt: event.data.expires_at } } : state;
    case 'LockReleased':
      return { ...state, lock: null };
    case 'LockRevoked':
      return state;
    case 'DocumentSaved': {
      const d = event.data;
      return {
        ...state,
        version: d.version,
        contentSha256: contentSha256(d.content),
        lastEditedBy: d.saved_by,
        updatedAt: d.saved_at,
        lock: state.lock ? { ...state.lock, expiresAt: d.lock_expires_at, idleSince: d.saved_at } : null,
      };
    }
    default: {
      const unknown: never = event;
      return unknown;
    }
  }
}

/** Lock timing, from the service's configuration. */
export type LockPolicy = { leaseMs: number; idleCapMs: number };

/** A lock lapses at its lease end, or at the idle cap counted from the last save, whichever comes first. */
export function leaseEnd(now: Date, idleSince: string, policy: LockPolicy): string {
  const cap = Date.parse(idleSince) + policy.idleCapMs;
  return new Date(Math.min(now.getTime() + policy.leaseMs, cap)).toISOString();
}

export function isLapsed(lock: Lock, now: Date): boolean {
  return Date.parse(lock.expiresAt) <= now.getTime();
}

export function utf8Bytes(text: string): number {
  return Buffer.byteLength(text, 'utf8');
}
