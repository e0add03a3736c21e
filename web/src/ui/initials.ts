/** Up to two letters for an initials avatar: "alice" → "A", "Alice Berg" → "AB", "john.doe" → "JD". */
export function initials(name: string): string {
  const parts = name
    .trim()
    .split(/[\s._-]+/u)
    .filter((p) => p !== '');
  const letters = parts.length > 1 ? [parts[0], parts[parts.length - 1]] : [parts[0]];
  const result = letters.map((p) => (p ? (Array.from(p)[0] ?? '') : '')).join('');
  return result === '' ? '?' : result.toLocaleUpperCase();
}

/** A stable hue per user, so a person keeps their colour across sessions and screens. */
export function avatarHue(userId: number): number {
  return (Math.imul(userId, 2654435761) >>> 0) % 360;
}
