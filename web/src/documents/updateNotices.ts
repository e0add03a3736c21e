/** One editor's run of saves on one document that a viewer was told about. */
export interface UpdateNoticeSeen {
  userId: number | undefined;
  at: number;
}

/**
 * Auto-save writes a version every few seconds while someone types: a viewer is told once when
 * someone starts changing the document, again only when another person saves or after a quiet
 * spell this long.
 */
export const UPDATE_NOTICE_QUIET_MS = 60_000;

export function updateNoticeDue(last: UpdateNoticeSeen | undefined, updatedById: number | undefined, now: number): boolean {
  if (!last) return true;
  return last.userId !== updatedById || now - last.at >= UPDATE_NOTICE_QUIET_MS;
}

/** The notice's text: who changed which document. */
export const updateNoticeText = (updatedBy: string, title: string, version: number): string =>
  `Updated by ${updatedBy}: ${title} is now v${version}`;
