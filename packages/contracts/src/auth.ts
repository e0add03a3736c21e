import { z } from 'zod';
import { Role, UserId } from './ids.js';

/** Claims the gateway expects in a session JWT (besides iss/aud/exp/iat, which jose checks). */
export const TokenClaims = z.object({
  sub: z.string().regex(/^[1-9][0-9]{0,15}$/),
  name: z.string().min(1).max(100),
  role: Role,
  avatar_url: z.string().max(500).optional(),
});
export type TokenClaims = z.infer<typeof TokenClaims>;

/** `POST /api/auth/dev-login` body. */
export const DevLoginRequest = z.object({ username: z.string().min(1).max(100) });
export type DevLoginRequest = z.infer<typeof DevLoginRequest>;

export const DevLoginResponse = z.object({
  token: z.string(),
  user: z.object({ id: UserId, username: z.string(), role: Role, avatar_url: z.string() }),
  expires_at: z.string(),
});
export type DevLoginResponse = z.infer<typeof DevLoginResponse>;
