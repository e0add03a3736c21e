import { z } from 'zod';
import { Role, UserId } from './ids.js';

/** The scope that lets a token's bearer manage projects and members (the Projects API). */
export const PROJECTS_ADMIN_SCOPE = 'projects:admin';
/** Scopes dev login may grant: the ones this system acts on, nothing else. */
export const DevLoginScope = z.enum([PROJECTS_ADMIN_SCOPE], {
  error: (issue) => `dev login grants only ${PROJECTS_ADMIN_SCOPE}, not ${JSON.stringify(issue.input)}`,
});
export type DevLoginScope = z.infer<typeof DevLoginScope>;

/** The scopes in an OAuth 2 `scope` value (RFC 6749 §3.3: space-separated, order irrelevant). */
export function scopesOf(scope: string | undefined): string[] {
  return [...new Set((scope ?? '').split(' ').filter((s) => s !== ''))];
}

/**
 * Claims the gateway expects in a session JWT (besides iss/aud/exp/iat, which jose checks).
 * Siteflow's issuer puts `username`; `name` is what tokens minted before it carried and is still
 * accepted in its place.
 */
export const TokenClaims = z
  .object({
    sub: z.string().regex(/^[1-9][0-9]{0,15}$/),
    username: z.string().min(1).max(100).optional(),
    name: z.string().min(1).max(100).optional(),
    role: Role,
    avatar_url: z.string().max(500).optional(),
    /** OAuth 2 scopes, space-separated, e.g. `projects:admin`. */
    scope: z.string().max(1000).optional(),
  })
  .refine((c) => c.username !== undefined || c.name !== undefined, { path: ['username'], error: 'is required' });
export type TokenClaims = z.infer<typeof TokenClaims>;

/**
 * `POST /api/auth/dev-login` body. `scope` asks for scopes (space-separated, only those of
 * `DevLoginScope`); parsed, it is the list of them. Dev login exists only in development, so any
 * demo user may ask.
 */
export const DevLoginRequest = z.object({
  username: z.string().min(1).max(100),
  scope: z.string().max(200).optional().transform(scopesOf).pipe(z.array(DevLoginScope)),
});
/** The body as a client sends it. */
export type DevLoginRequest = z.input<typeof DevLoginRequest>;

export const DevLoginResponse = z.object({
  token: z.string(),
  user: z.object({ id: UserId, username: z.string(), role: Role, avatar_url: z.string() }),
  expires_at: z.string(),
});
export type DevLoginResponse = z.infer<typeof DevLoginResponse>;

/** `GET /api/auth/dev-login`: whom dev login offers (the demo users, with SEED_DEMO=true; otherwise none). */
export const DevLoginUsers = z.object({ users: z.array(DevLoginResponse.shape.user) });
export type DevLoginUsers = z.infer<typeof DevLoginUsers>;
