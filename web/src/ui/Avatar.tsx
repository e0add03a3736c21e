import type { CSSProperties } from 'react';
import { avatarHue, initials } from './initials.js';

/** An initials avatar. Decorative: the name is always written next to it or in its container's label. */
export function Avatar({ userId, name, size = 'md' }: { userId: number; name: string; size?: 'sm' | 'md' }) {
  const style = { '--avatar-hue': avatarHue(userId) } as CSSProperties;
  return (
    <span className={`avatar avatar-${size}`} style={style} aria-hidden="true">
      {initials(name)}
    </span>
  );
}
